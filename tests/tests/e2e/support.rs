//! The harness: a real `weir` process on a loopback port, over a real data
//! directory, with real plugin components, driven over HTTP.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, ErrorKind, Read};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long weir may take to start (it compiles its plugins first).
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// Routes every event to `test-ack`.
pub const ACK_EVERYTHING: &str = r#"
[[route]]
name = "ack"
match = { type = "*" }
plugins = ["test-ack"]
"#;

/// How long a test waits for the pipeline to reach what it expects.
pub const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Numbers the log files of the processes a test starts.
static STARTS: AtomicUsize = AtomicUsize::new(0);

/// Where the test build put the plugin components.
pub fn plugin_component(name: &str) -> PathBuf {
    Path::new(env!("WEIR_TEST_PLUGINS")).join(format!("{name}.wasm"))
}

/// A data directory with a plugin directory holding `plugins` and a `weir.toml`.
pub struct Workspace {
    dir: tempfile::TempDir,
}

impl Workspace {
    /// Creates the directory, copies the plugins in and writes the config.
    pub fn new(plugins: &[&str], config: &str) -> Workspace {
        let named: Vec<(&str, &str)> = plugins.iter().map(|name| (*name, *name)).collect();
        Workspace::with_named_plugins(&named, config)
    }

    /// Like [`Workspace::new`], with each (component, name) pair installed under
    /// its name: one component can then run as several plugins.
    pub fn with_named_plugins(plugins: &[(&str, &str)], config: &str) -> Workspace {
        let dir = tempfile::tempdir().expect("temp dir");
        let plugins_dir = dir.path().join("plugins");
        std::fs::create_dir_all(&plugins_dir).expect("plugins dir");
        for (component, name) in plugins {
            std::fs::copy(
                plugin_component(component),
                plugins_dir.join(format!("{name}.wasm")),
            )
            .expect("copy plugin");
        }
        std::fs::write(dir.path().join("weir.toml"), config).expect("write config");
        Workspace { dir }
    }

    /// The workspace root.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The arguments that point weir at this workspace.
    pub fn serve_args(&self) -> Vec<String> {
        let path = |p: PathBuf| p.display().to_string();
        vec![
            "serve".into(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--config".into(),
            path(self.path().join("weir.toml")),
            "--data-dir".into(),
            path(self.path().join("data")),
            "--plugins-dir".into(),
            path(self.path().join("plugins")),
        ]
    }

    /// Starts weir on this workspace and waits until it listens.
    pub fn start(&self) -> Weir {
        self.start_with_env(&[])
    }

    /// Starts weir with extra environment variables (failpoints, for one).
    pub fn start_with_env(&self, envs: &[(&str, &str)]) -> Weir {
        Weir::start(&self.serve_args(), envs, self.path())
    }
}

/// A running weir process.
pub struct Weir {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    agent: ureq::Agent,
    log: PathBuf,
}

/// An HTTP answer: status and JSON body (or `Value::Null` if the body is not JSON).
#[derive(Debug)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The parsed body.
    pub body: Value,
    /// The raw body.
    pub text: String,
    /// The Content-Type header.
    pub content_type: String,
    /// The Retry-After header, if any.
    pub retry_after: Option<String>,
    /// The x-request-id header, if any.
    pub request_id: Option<String>,
    /// The WWW-Authenticate header, if any.
    pub www_authenticate: Option<String>,
    /// The Idempotent-Replayed header, if any.
    pub replayed: Option<String>,
}

impl Weir {
    /// Starts `weir ARGS` in `cwd`, and waits for its "listening" log line
    /// and for its plugins to be loaded.
    pub fn start(args: &[String], envs: &[(&str, &str)], cwd: &Path) -> Weir {
        Weir::launch(args, envs, cwd, true)
    }

    /// Starts `weir ARGS` in `cwd`, and waits only for its "listening" log
    /// line: its plugins may still be compiling.
    pub fn start_listening(args: &[String], envs: &[(&str, &str)], cwd: &Path) -> Weir {
        Weir::launch(args, envs, cwd, false)
    }

    fn launch(args: &[String], envs: &[(&str, &str)], cwd: &Path, wait_for_plugins: bool) -> Weir {
        let log = cwd.join(format!(
            "weir-{}.log",
            STARTS.fetch_add(1, Ordering::Relaxed)
        ));
        let mut child = Command::new(env!("CARGO_BIN_EXE_weir-e2e"))
            .args(args)
            .current_dir(cwd)
            .env("WEIR_LOG_FORMAT", "json")
            .env("WEIR_LOG", "info,fjall=warn,lsm_tree=warn")
            .envs(envs.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start weir");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (address_tx, address_rx) = mpsc::channel();
        let (loaded_tx, loaded_rx) = mpsc::channel();
        let log_path = log.clone();
        // Copies the log to a file (shown when a test fails) and reports the address.
        std::thread::spawn(move || {
            let mut file = std::fs::File::create(&log_path).expect("log file");
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                use std::io::Write;
                let _ = writeln!(file, "{line}");
                if let Some(addr) = listening_address(&line) {
                    let _ = address_tx.send(addr);
                }
                if has_message(&line, "plugins loaded") {
                    let _ = loaded_tx.send(());
                }
            }
        });
        let started = Instant::now();
        let ready = address_rx.recv_timeout(START_TIMEOUT).ok().filter(|_| {
            !wait_for_plugins
                || loaded_rx
                    .recv_timeout(START_TIMEOUT.saturating_sub(started.elapsed()))
                    .is_ok()
        });
        let Some(addr) = ready else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "weir did not start within {START_TIMEOUT:?}; log:\n{}",
                read_log(&log)
            );
        };
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            // Under weir's 10 s header timeout, which closes idle connections.
            .max_idle_age(Duration::from_secs(5))
            .build()
            .into();
        Weir {
            child,
            addr,
            agent,
            log,
        }
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> Answer {
        let response = self
            .agent
            .get(&self.url(path))
            .call()
            .expect("GET reaches weir");
        answer(response)
    }

    /// `DELETE path`.
    pub fn delete(&self, path: &str) -> Answer {
        let response = self
            .agent
            .delete(&self.url(path))
            .call()
            .expect("DELETE reaches weir");
        answer(response)
    }

    /// `POST path` with a JSON body (`application/json`).
    pub fn post_json(&self, path: &str, body: &str) -> Answer {
        self.post(path, "application/json", body)
    }

    /// `POST path` with any content type (none if empty).
    pub fn post(&self, path: &str, content_type: &str, body: &str) -> Answer {
        self.try_post(path, content_type, body)
            .expect("POST reaches weir")
    }

    /// `POST path`, or `None` if the connection fails (weir died, say).
    pub fn try_post(&self, path: &str, content_type: &str, body: &str) -> Option<Answer> {
        let headers: &[(&str, &str)] = if content_type.is_empty() {
            &[]
        } else {
            &[("content-type", content_type)]
        };
        self.try_post_with(path, headers, body)
    }

    /// What weir has logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The log once `check` holds for it. Lines reach the log file through a
    /// pipe, a moment after weir writes them, so a line logged before an
    /// answer may not be in the file when the answer arrives.
    pub fn wait_for_log(&self, what: &str, check: impl Fn(&str) -> bool) -> String {
        self.wait_for(what, |weir| {
            let log = weir.log_text();
            check(&log).then_some(log)
        })
    }

    /// `POST path` with `headers`.
    pub fn post_with(&self, path: &str, headers: &[(&str, &str)], body: &str) -> Answer {
        self.try_post_with(path, headers, body)
            .expect("POST reaches weir")
    }

    fn try_post_with(&self, path: &str, headers: &[(&str, &str)], body: &str) -> Option<Answer> {
        let mut request = self.agent.post(&self.url(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send(body).ok()?;
        Some(answer(response))
    }

    /// `METHOD path` with `headers` and `body` (empty for none).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Answer {
        let mut request = ureq::http::Request::builder()
            .method(method)
            .uri(self.url(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(body.to_owned()).expect("a valid request");
        answer(self.agent.run(request).expect("the request reaches weir"))
    }

    /// The process id, to signal it from another thread.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the process to exit by itself; its exit code, or `None` if it
    /// was still running after `timeout` (then it is killed) or died of a signal.
    pub fn wait_exit(mut self, timeout: Duration) -> Option<i32> {
        wait_with_timeout(&mut self.child, timeout)
    }

    /// The value of a metric sample, e.g. `weir_events_ingested_total`, or
    /// `weir_deliveries_dead_total{plugin="x"}`; 0 if absent.
    pub fn metric(&self, sample: &str) -> f64 {
        let text = self.get("/metrics").text;
        text.lines()
            .find_map(|line| {
                line.strip_prefix(sample)?
                    .strip_prefix(' ')?
                    .trim()
                    .parse()
                    .ok()
            })
            .unwrap_or(0.0)
    }

    /// Polls `check` until it returns `Some`, or panics after [`SETTLE_TIMEOUT`]
    /// with `what` and the log.
    pub fn wait_for<T>(&self, what: &str, check: impl FnMut(&Weir) -> Option<T>) -> T {
        self.wait_for_within(what, SETTLE_TIMEOUT, check)
    }

    /// [`Weir::wait_for`], for up to `timeout`.
    pub fn wait_for_within<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut(&Weir) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(value) = check(self) {
                return value;
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out waiting for {what}; log:\n{}",
                    read_log(&self.log)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends `signal` (`TERM`, `STOP`, `CONT`, ...) to weir's process.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} {}", self.child.id());
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn stop(mut self) {
        self.signal("TERM");
        let exit = wait_with_timeout(&mut self.child, Duration::from_secs(30));
        assert_eq!(
            exit,
            Some(0),
            "weir did not exit cleanly; log:\n{}",
            read_log(&self.log)
        );
    }

    /// Kills the process with SIGKILL, as a crash would.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Weir {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // A failed assertion says what weir answered; its log says why.
        if std::thread::panicking() {
            let log = read_log(&self.log);
            let lines: Vec<&str> = log.lines().collect();
            let tail = &lines[lines.len().saturating_sub(FAILED_LOG_LINES)..];
            eprintln!(
                "the last lines weir at {} logged:\n{}",
                self.addr,
                tail.join("\n")
            );
        }
    }
}

/// How much of a weir's log a failed test prints.
const FAILED_LOG_LINES: usize = 60;

/// The `event` JSON of `GET /v1/events/{id}` once every delivery is `done` or `dead`.
pub fn settled_event(weir: &Weir, id: &str) -> Value {
    weir.wait_for(&format!("event {id} to settle"), |weir| {
        let answer = weir.get(&format!("/v1/events/{id}"));
        let deliveries = answer.body["deliveries"].as_array()?;
        deliveries
            .iter()
            .all(|d| d["state"] == "done" || d["state"] == "dead")
            .then_some(answer.body)
    })
}

/// The delivery of `event` to `plugin`.
pub fn delivery<'a>(event: &'a Value, plugin: &str) -> &'a Value {
    event["deliveries"]
        .as_array()
        .and_then(|all| all.iter().find(|d| d["plugin"] == plugin))
        .unwrap_or_else(|| panic!("no delivery to {plugin} in {event:#}"))
}

/// This machine's clock, in ms since the Unix epoch, as weir stamps times.
pub fn now_ms() -> u64 {
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    since_epoch.expect("clock after 1970").as_millis() as u64
}

/// Runs weir to completion with `args` and extra environment `envs` (for
/// start-up errors) and returns (exit code, stderr).
pub fn run_to_exit(args: &[String], envs: &[(&str, &Path)], cwd: &Path) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_weir-e2e"))
        .args(args)
        .envs(envs.iter().copied())
        .current_dir(cwd)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start weir");
    let code = wait_with_timeout(&mut child, START_TIMEOUT);
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        use std::io::Read;
        let _ = pipe.read_to_string(&mut stderr);
    }
    (code, stderr)
}

/// Runs `python3 ARGS`, its output going to `output`, for at most `limit`
/// (then it is killed): its exit code, `None` past the limit, and what it printed.
pub fn run_python(args: &[&str], output: &Path, limit: Duration) -> (Option<i32>, String) {
    let file = std::fs::File::create(output).expect("output file");
    let mut child = Command::new("python3")
        .args(args)
        .stdout(file.try_clone().expect("output file"))
        .stderr(file)
        .spawn()
        .expect("python3 runs (install it, or run .ci/run)");
    let code = wait_with_timeout(&mut child, limit);
    (code, std::fs::read_to_string(output).unwrap_or_default())
}

/// The repository's plugin folders.
pub const PLUGIN_SOURCES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../plugins");

/// A toolchain run (componentize-py, componentize-js, cargo) takes seconds to
/// a minute on two cores; past this it is stuck.
const BUILD_LIMIT: Duration = Duration::from_secs(600);

/// The examples built in this run: each is built once, by whichever test needs it first.
static BUILT: Mutex<BTreeMap<String, PathBuf>> = Mutex::new(BTreeMap::new());

/// `weir plugin ARGS` with extra environment `envs`, bounded by [`BUILD_LIMIT`].
pub fn weir_plugin(args: &[&str], envs: &[(&str, &str)]) -> Finished {
    let mut command = Command::new(env!("CARGO_BIN_EXE_weir-e2e"));
    command.arg("plugin").args(args).envs(envs.iter().copied());
    run_bounded(&mut command, BUILD_LIMIT)
}

/// `weir plugin test COMPONENT --event EVENT --json`, once it succeeded:
/// the run (its stderr has the handler's log) and the report it printed.
pub fn plugin_trial(component: &Path, event: &Path) -> (Finished, Value) {
    let run = weir_plugin(
        &[
            "test",
            &component.to_string_lossy(),
            "--event",
            &event.to_string_lossy(),
            "--json",
        ],
        &[],
    );
    assert_eq!(
        run.code,
        Some(0),
        "weir plugin test:\n{}\n{}",
        run.stdout,
        run.stderr
    );
    let report = serde_json::from_str(&run.stdout).expect("--json prints JSON");
    (run, report)
}

/// The component of the example plugin `name` (a folder in `plugins/`), built with `weir plugin build`.
pub fn built_example(name: &str) -> PathBuf {
    let mut built = BUILT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(path) = built.get(name) {
        return path.clone();
    }
    let folder = Path::new(PLUGIN_SOURCES).join(name);
    let run = weir_plugin(&["build", &folder.to_string_lossy()], &[]);
    assert_eq!(
        run.code,
        Some(0),
        "weir plugin build {name}:\n{}{}",
        run.stdout,
        run.stderr
    );
    assert!(
        run.stdout.contains("fits weir's handler-plugin world"),
        "{}",
        run.stdout
    );
    let component = folder.join(format!("{name}.wasm"));
    built.insert(name.to_owned(), component.clone());
    component
}

/// How a bounded command ended.
pub struct Finished {
    /// Its exit code; `None` if it was killed at the limit.
    pub code: Option<i32>,
    /// What it printed.
    pub stdout: String,
    /// What it printed on standard error.
    pub stderr: String,
}

/// Runs `command` for at most `limit` (then kills it); its output goes
/// through files, so a chatty command never blocks on a full pipe.
pub fn run_bounded(command: &mut Command, limit: Duration) -> Finished {
    let (stdout, stderr) = (
        tempfile::NamedTempFile::new().expect("stdout file"),
        tempfile::NamedTempFile::new().expect("stderr file"),
    );
    let mut child = command
        .stdout(stdout.reopen().expect("stdout file"))
        .stderr(stderr.reopen().expect("stderr file"))
        .spawn()
        .unwrap_or_else(|error| panic!("cannot run {command:?}: {error}"));
    let code = wait_with_timeout(&mut child, limit);
    let read =
        |file: &tempfile::NamedTempFile| std::fs::read_to_string(file.path()).unwrap_or_default();
    Finished {
        code,
        stdout: read(&stdout),
        stderr: read(&stderr),
    }
}

fn wait_with_timeout(child: &mut Child, timeout: Duration) -> Option<i32> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn answer(mut response: ureq::http::Response<ureq::Body>) -> Answer {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (retry_after, request_id) = (header("retry-after"), header("x-request-id"));
    let www_authenticate = header("www-authenticate");
    let replayed = header("idempotent-replayed");
    let text = response.body_mut().read_to_string().expect("read body");
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer {
        status,
        body,
        text,
        content_type,
        retry_after,
        request_id,
        www_authenticate,
        replayed,
    }
}

/// The address a log line (JSON or plain text) says weir listens on.
fn listening_address(line: &str) -> Option<SocketAddr> {
    let (_, rest) = line.split_once("weir is listening on http://")?;
    rest.split(|c: char| c.is_whitespace() || c == '"')
        .next()?
        .parse()
        .ok()
}

/// Whether a log line (JSON or plain text) has the message `message`.
fn has_message(line: &str, message: &str) -> bool {
    match serde_json::from_str::<Value>(line) {
        Ok(log) => log["fields"]["message"] == message,
        Err(_) => line
            .split_once(&format!(": {message}"))
            .is_some_and(|(_, rest)| rest.is_empty() || rest.starts_with(' ')),
    }
}

fn read_log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Far longer than any timeout a test sets: a raw connection still open by
/// then was not closed.
const RAW_PATIENCE: Duration = Duration::from_secs(10);

/// A plain TCP connection to weir, for requests the HTTP client cannot make
/// (half sent, trickled); reads time out after [`RAW_PATIENCE`].
pub fn raw_connection(weir: &Weir) -> TcpStream {
    let stream = TcpStream::connect(weir.addr).expect("connect");
    stream
        .set_read_timeout(Some(RAW_PATIENCE))
        .expect("read timeout");
    stream
}

/// Whether weir has sent anything on `stream` yet, without waiting or
/// consuming it.
pub fn has_answered(stream: &TcpStream) -> bool {
    stream.set_nonblocking(true).expect("non-blocking");
    let peeked = stream.peek(&mut [0u8; 1]);
    stream.set_nonblocking(false).expect("blocking");
    match peeked {
        Ok(_) => true,
        Err(error) if error.kind() == ErrorKind::WouldBlock => false,
        Err(_) => true,
    }
}

/// Everything weir sends until it closes the connection; panics if it is
/// still open after [`RAW_PATIENCE`].
pub fn read_until_closed(mut stream: TcpStream) -> String {
    let started = Instant::now();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            Err(error) if error.kind() == ErrorKind::ConnectionReset => break,
            Err(error) => panic!(
                "the connection was still open after {:?}: {error}",
                started.elapsed()
            ),
        }
    }
    String::from_utf8_lossy(&received).into_owned()
}
