//! The hand-rolled alternative weir is measured against: each event appended
//! to a Redis stream with `XADD`, over one connection per load task. With
//! `appendfsync always` Redis fsyncs its log before answering, as weir does
//! before its 202. A batch is sent as one pipelined write of its `XADD`s.

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// The stream every event is appended to.
const STREAM: &str = "weir-bench";

/// One load connection to Redis.
pub struct RedisStream {
    writer: OwnedWriteHalf,
    reader: BufReader<OwnedReadHalf>,
}

impl RedisStream {
    /// Connects to the Redis at `address` (`127.0.0.1:PORT`).
    pub async fn connect(address: &str) -> anyhow::Result<RedisStream> {
        let stream = TcpStream::connect(address)
            .await
            .with_context(|| format!("cannot reach Redis at {address}"))?;
        stream.set_nodelay(true)?;
        let (reader, writer) = stream.into_split();
        Ok(RedisStream {
            writer,
            reader: BufReader::new(reader),
        })
    }

    /// Appends each of `events` (JSON texts) with `XADD`, in one pipelined
    /// write, and reads every reply; an error reply fails the whole call.
    pub async fn append(&mut self, events: &[String]) -> anyhow::Result<()> {
        let mut request = Vec::new();
        for event in events {
            command(&mut request, &["XADD", STREAM, "*", "event", event]);
        }
        self.writer.write_all(&request).await?;
        for _ in events {
            self.read_reply().await?;
        }
        Ok(())
    }

    /// Reads one reply: the entry id (a bulk string) or an error.
    async fn read_reply(&mut self) -> anyhow::Result<()> {
        let mut line = String::new();
        self.reader.read_line(&mut line).await?;
        match line.as_bytes().first() {
            Some(b'$') => {
                let length: usize = line[1..].trim().parse().context("a bulk length")?;
                let mut entry = vec![0; length + 2];
                self.reader.read_exact(&mut entry).await?;
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
