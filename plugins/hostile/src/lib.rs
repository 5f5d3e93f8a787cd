//! Test fixture: a handler that attacks its sandbox, one attack per event type
//! (`hostile.<attack>`). weir must fail only the attacked delivery, with a
//! typed reason, and keep everything else running.
//!
//! | type               | attack                                   | expected reason  |
//! |--------------------|------------------------------------------|------------------|
//! | `hostile.spin`     | an endless loop                          | `out_of_fuel`    |
//! | `hostile.hang`     | sleeps forever in a host call (no fuel)  | `deadline`       |
//! | `hostile.memory`   | allocates without end                    | `memory_limit`   |
//! | `hostile.recurse`  | recurses without end                     | `stack_overflow` |
//! | `hostile.panic`    | panics                                   | `trap`           |
//! | `hostile.huge`     | writes a 2 MiB state value               | `host_limit`     |
//! | `hostile.flood`    | emits 5,000 events at once               | `host_limit`     |
//! | `hostile.peek`     | reads 2,000 missing state keys, which its commit would check again | `host_limit` |
//! | `hostile.escape`   | reads a file and the environment, opens a socket | `fail` (nothing reachable) |
//! | `hostile.forge`    | logs and fails with a forged log line, a terminal escape and a 1 MiB reason | `fail` (cut, escaped) |

use std::hint::black_box;

use weir_plugin_sdk::{Error, Event, NewEvent, Outcome, handler, log, state};

fn handle(event: Event) -> Result<Outcome, Error> {
    match event.type_.strip_prefix("hostile.").unwrap_or_default() {
        "spin" => spin(),
        "hang" => loop {
            std::thread::sleep(std::time::Duration::from_secs(1));
        },
        "memory" => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(black_box(vec![1; 1 << 20]));
            }
        }
        "recurse" => {
            black_box(recurse(black_box(1)));
            Ok(Outcome::Ack)
        }
        "panic" => panic!("hostile plugin panics on purpose"),
        "huge" => {
            state::set("huge", &vec![0; 2 << 20]);
            Ok(Outcome::Ack)
        }
        "flood" => Ok(Outcome::Emit(
            (0..5000)
                .map(|n| NewEvent {
                    type_: "flood".into(),
                    source: None,
                    subject: None,
                    datacontenttype: None,
                    data: n.to_string().into_bytes(),
                    extensions: Vec::new(),
                })
                .collect(),
        )),
        "escape" => escape(),
        "peek" => {
            for n in 0..2_000 {
                black_box(state::get(&format!("missing-{n}")));
            }
            Ok(Outcome::Ack)
        }
        "forge" => {
            log::error(FORGED_LINE);
            Ok(Outcome::Fail(format!(
                "{FORGED_LINE}{}",
                "x".repeat(1 << 20)
            )))
        }
        other => Err(Error::new(format!("no attack named {other:?}"))),
    }
}

/// Text that would start a log line of its own, and clear the screen, if
/// weir logged it raw.
const FORGED_LINE: &str = "ok\n2026-01-01T00:00:00Z ERROR weir: forged by hostile\u{1b}[2J";

fn spin() -> ! {
    let mut n: u64 = 0;
    loop {
        n = black_box(n.wrapping_add(1));
    }
}

/// Recursion whose frames live on the Wasm stack (no locals in linear memory),
/// so it is the engine's stack limit it runs into.
fn recurse(depth: u64) -> u64 {
    // Never true: only there so the recursion is not unconditional to the compiler.
    if depth == u64::MAX {
        return depth;
    }
    // Work after the call, which the compiler cannot turn into a loop.
    recurse(depth.wrapping_mul(3).wrapping_add(1)).rotate_left((depth & 31) as u32) ^ depth
}

/// Tries what a sandbox must refuse; acks (reporting what got out) only if
/// something succeeded.
fn escape() -> Result<Outcome, Error> {
    let file = std::fs::read_to_string("/etc/passwd").map(|text| text.len());
    let env: Vec<(String, String)> = std::env::vars().collect();
    let socket = std::net::TcpStream::connect("127.0.0.1:80").map(|_| ());
    if file.is_err() && env.is_empty() && socket.is_err() {
        return Err(Error::new(format!(
            "nothing reachable: file {:?}, socket {:?}, no environment",
            file.err().map(|e| e.kind()),
            socket.err().map(|e| e.kind())
        )));
    }
    state::set_json(
        "escaped",
        &format!("file {file:?}, env {env:?}, socket {socket:?}"),
    )?;
    Ok(Outcome::Ack)
}

handler!(handle);
