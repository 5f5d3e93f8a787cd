//! A real weir served in-process on loopback, over a scratch data directory
//! and plugin directory, for the scenarios that need the whole server.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio_util::sync::CancellationToken;

/// How often a scenario polls weir: the resolution of its figures.
pub const POLL: Duration = Duration::from_millis(5);

/// A running weir.
pub struct Served {
    tokio: tokio::runtime::Runtime,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// A client for it.
    pub agent: ureq::Agent,
    shutdown: CancellationToken,
    served: tokio::task::JoinHandle<Result<(), weir::error::Error>>,
}

impl Served {
    /// Starts weir on `data_dir` with the plugins in `plugins_dir` and
    /// returns at once; [`Served::wait_ready`] waits until it answers.
    pub fn start(data_dir: &Path, plugins_dir: &Path) -> anyhow::Result<Served> {
        let config = weir::Config::from_toml(
            "",
            weir::config::Overrides {
                data_dir: Some(data_dir.to_owned()),
                plugins_dir: Some(plugins_dir.to_owned()),
                ..Default::default()
            },
        )?;
        let tokio = tokio::runtime::Runtime::new().context("tokio runtime")?;
        let listener = tokio.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
        let base = format!("http://{}", listener.local_addr()?);
        let shutdown = CancellationToken::new();
        let served = tokio.spawn(weir::server::run(config, listener, shutdown.clone()));
        Ok(Served {
            tokio,
            base,
            agent: ureq::Agent::new_with_defaults(),
            shutdown,
            served,
        })
    }

    /// Waits until `/readyz` answers 200, at most `limit`.
    pub fn wait_ready(&self, limit: Duration) -> anyhow::Result<()> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if self.served.is_finished() {
                bail!("weir stopped while starting");
            }
            if self
                .agent
                .get(format!("{}/readyz", self.base))
                .call()
                .is_ok()
            {
                return Ok(());
            }
            std::thread::sleep(POLL);
        }
        bail!("weir was not ready within {limit:?}")
    }

    /// Stops weir and waits until it has.
    pub fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.tokio.block_on(self.served)??;
        Ok(())
    }
}

/// `component` with a custom section holding `mark`: the same plugin, another version.
pub fn rebuilt(component: &[u8], mark: &str) -> Vec<u8> {
    let name = b"weir-bench";
    let mut content = vec![name.len() as u8];
    content.extend_from_slice(name);
    content.extend_from_slice(mark.as_bytes());
    let mut bytes = component.to_vec();
    bytes.push(0); // custom section id
    bytes.push(content.len() as u8); // under 128: one LEB128 byte
    bytes.extend_from_slice(&content);
    bytes
}
