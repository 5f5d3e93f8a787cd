//! The hand-rolled alternative weir is measured against: each event appended
//! to a Redis stream with `XADD`, over one connection per load thread. With
//! `appendfsync always` Redis fsyncs its log before answering, as weir does
//! before its 202. A batch is sent as one pipelined write of its `XADD`s.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{Context, bail};

/// The stream every event is appended to.
const STREAM: &str = "weir-bench";

/// One load thread's connection to Redis.
pub struct RedisStream {
    writer: TcpStream,
    reader: BufReader<TcpStream>,
}

impl RedisStream {
    /// Connects to the Redis at `address` (`127.0.0.1:PORT`).
    pub fn connect(address: &str) -> anyhow::Result<RedisStream> {
        let writer = TcpStream::connect(address)
            .with_context(|| format!("cannot reach Redis at {address}"))?;
        writer.set_nodelay(true)?;
        writer.set_read_timeout(Some(Duration::from_secs(30)))?;
        let reader = BufReader::new(writer.try_clone()?);
        Ok(RedisStream { writer, reader })
    }

    /// Appends each of `events` (JSON texts) with `XADD`, in one pipelined
    /// write, and reads every reply; an error reply fails the whole call.
    pub fn append(&mut self, events: &[String]) -> anyhow::Result<()> {
        let mut request = Vec::new();
        for event in events {
            command(&mut request, &["XADD", STREAM, "*", "event", event]);
        }
        self.writer.write_all(&request)?;
        for _ in events {
            self.read_reply()?;
        }
        Ok(())
    }

    /// Reads one reply: the entry id (a bulk string) or an error.
    fn read_reply(&mut self) -> anyhow::Result<()> {
        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        match line.as_bytes().first() {
            Some(b'$') => {
                let length: usize = line[1..].trim().parse().context("a bulk length")?;
                let mut entry = vec![0; length + 2];
                std::io::Read::read_exact(&mut self.reader, &mut entry)?;
                Ok(())
            }
            Some(b'-') => bail!("Redis refused: {}", line.trim()),
            _ => bail!("unexpected Redis reply {line:?}"),
        }
    }
}

/// Writes `parts` as a RESP array of bulk strings.
fn command(out: &mut Vec<u8>, parts: &[&str]) {
    out.extend_from_slice(format!("*{}\r\n", parts.len()).as_bytes());
    for part in parts {
        out.extend_from_slice(format!("${}\r\n", part.len()).as_bytes());
        out.extend_from_slice(part.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_resp_arrays_of_bulk_strings() {
        let mut out = Vec::new();
        command(&mut out, &["XADD", "s", "*", "event", "{}"]);
        assert_eq!(
            out,
            b"*5\r\n$4\r\nXADD\r\n$1\r\ns\r\n$1\r\n*\r\n$5\r\nevent\r\n$2\r\n{}\r\n"
        );
    }
}
