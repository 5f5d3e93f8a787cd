//! Loading plugins and hot reload: at start-up the plugin directory is loaded
//! in the background; then it and the config file are watched (notify),
//! and once a change has settled for the debounce, what changed is loaded and
//! swapped in atomically; anything that cannot be loaded is rejected with a
//! clear log line and a metric, and what served before keeps serving.
//!
//! - `plugins.rs`: components and manifests in the plugin directory;
//! - `routes.rs`: the routing table in the config file.

mod plugins;
mod routes;

use std::collections::BTreeSet;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;

use crate::dispatch::Workers;
use crate::error::Error;
use plugins::Occasion;

/// The longest a stream of changes delays a reload: a file rewritten
/// without pause is still picked up.
const MAX_DEBOUNCE: Duration = Duration::from_secs(5);

/// Loads the plugin directory in the background (weir ingests meanwhile;
/// `plugins loaded` is logged when done) and, unless `[reload] watch =
/// false`, keeps watching it and the config file.
pub fn start(workers: Workers) -> Result<(), Error> {
    if workers.shared.config.reload.watch {
        return watch(workers);
    }
    let background = workers.tasks.background.clone();
    background.spawn(async move {
        plugins::reload(&workers, Occasion::Start).await;
    });
    Ok(())
}

/// Loads the plugin directory, then watches it and, if weir was started with
/// one, the config file and the `routes.toml` beside it; the watches end when weir stops.
fn watch(workers: Workers) -> Result<(), Error> {
    let shared = workers.shared.clone();
    let routes_wake = match shared.config.source.clone() {
        Some(file) => Some(watch_routes(&workers, file)?),
        None => None,
    };
    let dir = shared.config.plugins_dir.clone();
    let plugin_workers = workers.clone();
    let mut occasion = Occasion::Start;
    let load_first = true;
    watch_dir(
        &workers,
        &dir,
        plugins::concerns_plugins,
        load_first,
        move || {
            let (workers, routes_wake) = (plugin_workers.clone(), routes_wake.clone());
            let this = std::mem::replace(&mut occasion, Occasion::Change);
            async move {
                let looked = plugins::reload(&workers, this).await;
                // A table rejected for naming a plugin not loaded yet may serve
                // now (at start-up the table was checked against the files).
                if looked.added
                    && this == Occasion::Change
                    && let Some(wake) = routes_wake
                {
                    let _ = wake.try_send(());
                }
                looked.linked_dirs
            }
        },
    )?;
    Ok(())
}

/// Watches the config `file` and the `routes.toml` beside it; returns a way
/// to ask for a reload of the routing table.
fn watch_routes(workers: &Workers, file: PathBuf) -> Result<mpsc::Sender<()>, Error> {
    let shared = workers.shared.clone();
    {
        let dir = file
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_owned);
        let name = file.file_name().map(ToOwned::to_owned);
        let loaded = Arc::new(Mutex::new(routes::Loaded::default()));
        let load_first = false;
        watch_dir(
            workers,
            &dir,
            move |path| {
                let file_name = path.file_name();
                file_name == name.as_deref()
                    || file_name == Some(std::ffi::OsStr::new(crate::config::ROUTES_FILE))
                    // A Kubernetes ConfigMap mount swaps a `..data` symlink, not the file.
                    || file_name.is_some_and(|f| f.as_encoded_bytes().starts_with(b".."))
            },
            load_first,
            move || {
                let (shared, file, loaded) = (shared.clone(), file.clone(), loaded.clone());
                async move {
                    let reloaded = tokio::task::spawn_blocking(move || {
                        let mut loaded = loaded.lock().unwrap_or_else(|p| p.into_inner());
                        routes::reload(&shared, &file, &mut loaded);
                    });
                    if let Err(panicked) = reloaded.await {
                        tracing::error!(%panicked, "reloading the routing table panicked; it stays as it was");
                    }
                    BTreeSet::new()
                }
            },
        )
    }
}

/// Watches `dir`; after a change to a path `concerns` accepts has settled (or
/// a wake-up through the returned sender), runs `reload`, one at a time,
/// and once before any change if `load_first`. Each `reload` returns more
/// directories to watch the same way: those its symlinks point into.
fn watch_dir<R, F>(
    workers: &Workers,
    dir: &Path,
    concerns: impl Fn(&Path) -> bool + Send + Sync + 'static,
    load_first: bool,
    mut reload: R,
) -> Result<mpsc::Sender<()>, Error>
where
    R: FnMut() -> F + Send + 'static,
    F: Future<Output = BTreeSet<PathBuf>> + Send,
{
    let failed = |error: notify::Error| Error::Watch {
        dir: dir.to_owned(),
        message: error.to_string(),
    };
    // One pending wake-up is enough: each reload looks at everything it watches.
    let (wake, mut woken) = mpsc::channel(1);
    let poke = wake.clone();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.as_ref().map_or(true, |event| {
            is_write(event) && event.paths.iter().any(|p| concerns(p))
        }) {
            let _ = wake.try_send(());
        }
    })
    .map_err(failed)?;
    watcher
        .watch(dir, RecursiveMode::NonRecursive)
        .map_err(failed)?;
    tracing::info!(dir = %dir.display(), "watching for changes");
    let debounce = workers.shared.config.reload.debounce;
    let stop = workers.tasks.stop.clone();
    let rescan = poke.clone();
    workers.tasks.background.spawn(async move {
        // Dropping the watcher ends the watch: it lives as long as this task.
        let mut watcher: RecommendedWatcher = watcher;
        let mut linked = BTreeSet::new();
        let mut watch_linked = |dirs: BTreeSet<PathBuf>, watcher: &mut RecommendedWatcher| {
            for dir in dirs {
                if linked.contains(&dir) {
                    continue;
                }
                match watcher.watch(&dir, RecursiveMode::NonRecursive) {
                    Ok(()) => {
                        tracing::info!(dir = %dir.display(), "watching for changes too: a plugin file links into it");
                        // A change there after the reload read it and before
                        // this watch began would be missed: look once more.
                        let _ = rescan.try_send(());
                    }
                    Err(error) => tracing::warn!(dir = %dir.display(), %error, "cannot watch the directory a plugin file links into; a change there is seen at the next change here"),
                }
                linked.insert(dir);
            }
        };
        if load_first {
            let dirs = reload().await;
            watch_linked(dirs, &mut watcher);
        }
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                wake = woken.recv() => if wake.is_none() { return },
            }
            // Wait until it is quiet: a file copied in several writes is read once, whole.
            let latest = Instant::now() + MAX_DEBOUNCE;
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(debounce) => break,
                    _ = woken.recv() => if Instant::now() >= latest { break },
                }
            }
            let dirs = reload().await;
            watch_linked(dirs, &mut watcher);
        }
    });
    Ok(poke)
}

/// Whether `event` may have changed a file. Reads are left out, or a reload
/// (which reads the files) would wake itself.
fn is_write(event: &notify::Event) -> bool {
    match event.kind {
        EventKind::Access(notify::event::AccessKind::Close(notify::event::AccessMode::Write)) => {
            true
        }
        EventKind::Access(_) => false,
        _ => true,
    }
}
