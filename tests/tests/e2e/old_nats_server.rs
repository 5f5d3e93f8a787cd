//! A stand-in for a nats-server release older than weir accepts (none can
//! be installed here): it introduces itself with the version it is given
//! and answers pings, which is all a client needs to connect and read it.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

/// How long the server takes connections.
const LIFETIME: Duration = Duration::from_secs(30);
/// Most connections it takes.
const MAX_CONNECTIONS: usize = 16;

/// Starts the server on a loopback port, calling itself nats-server
/// `version`; returns its URL. It stops by itself after [`LIFETIME`].
pub fn start(version: &str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let port = listener.local_addr().expect("its address").port();
    listener.set_nonblocking(true).expect("non-blocking accept");
    let info = format!(
        "INFO {{\"server_id\":\"old\",\"server_name\":\"old\",\"version\":\"{version}\",\"proto\":1,\"host\":\"127.0.0.1\",\"port\":{port},\"headers\":true,\"max_payload\":1048576,\"jetstream\":true}}\r\n"
    );
    thread::spawn(move || {
        let until = Instant::now() + LIFETIME;
        let mut served = 0;
        while served < MAX_CONNECTIONS && Instant::now() < until {
            match listener.accept() {
                Ok((stream, _)) => {
                    served += 1;
                    let info = info.clone();
                    thread::spawn(move || serve(stream, &info));
                }
                Err(_) => thread::sleep(Duration::from_millis(20)),
            }
        }
    });
    format!("nats://127.0.0.1:{port}")
}

/// Greets one client and answers its pings until it leaves or goes quiet.
fn serve(mut stream: TcpStream, info: &str) {
    let quiet = Some(Duration::from_secs(5));
    if stream.set_nonblocking(false).is_err() || stream.set_read_timeout(quiet).is_err() {
        return;
    }
    if stream.write_all(info.as_bytes()).is_err() {
        return;
    }
    let Ok(reader) = stream.try_clone() else {
        return;
    };
    for line in BufReader::new(reader).lines().take(1000) {
        let Ok(line) = line else {
            return;
        };
        if line.starts_with("PING") && stream.write_all(b"PONG\r\n").is_err() {
            return;
        }
    }
}
