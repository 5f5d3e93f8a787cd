//! Finding, compiling and holding plugins: one `NAME.wasm` component each,
//! and the versions of it that reloads swap in.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use wasmtime::Engine;
use wasmtime::component::{Component, HasSelf, Linker};

use super::bindings::{HandlerPlugin, HandlerPluginPre};
use super::connect::Transport;
use super::context::DeliveryContext;
use crate::capabilities::Capabilities;
use crate::settings::{PluginLimits, PluginSettings};

/// A plugin that cannot be loaded; the message names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PluginError {
    /// The plugin directory or a file in it cannot be read.
    #[error("cannot read {path}: {cause}")]
    Io {
        /// The directory or file.
        path: PathBuf,
        /// Why (in the message, so not also a `source` that would print it twice).
        cause: std::io::Error,
    },
    /// A file name that is not a valid plugin name.
    #[error(
        "{path}: plugin file names must be lowercase letters, digits, '-' or '_' (at most 64) followed by .wasm"
    )]
    BadName {
        /// The file.
        path: PathBuf,
    },
    /// Not a valid component, or one that does not fit the `handler-plugin` world.
    #[error("plugin {plugin} ({path}) cannot be loaded: {message}")]
    Invalid {
        /// The plugin name.
        plugin: String,
        /// The file.
        path: PathBuf,
        /// What is wrong, from wasmtime.
        message: String,
    },
}

/// Whether `name` can name a plugin: it becomes part of storage keys and metric labels.
pub fn is_valid_plugin_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// The `NAME.wasm` files in `dir`, by name; a file whose name cannot name a
/// plugin is an error.
pub fn discover(dir: &Path) -> Result<BTreeMap<String, PathBuf>, PluginError> {
    let (found, mut misnamed) = scan(dir)?;
    match misnamed.pop() {
        Some(path) => Err(PluginError::BadName { path }),
        None => Ok(found),
    }
}

/// The `NAME.wasm` files in `dir`, by name, and apart the `.wasm` files whose
/// name cannot name a plugin.
pub fn scan(dir: &Path) -> Result<(BTreeMap<String, PathBuf>, Vec<PathBuf>), PluginError> {
    let io = |cause| PluginError::Io {
        path: dir.to_owned(),
        cause,
    };
    let mut found = BTreeMap::new();
    let mut misnamed = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.extension().is_none_or(|ext| ext != "wasm") {
            continue;
        }
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        if is_valid_plugin_name(name) {
            found.insert(name.to_owned(), path);
        } else {
            misnamed.push(path);
        }
    }
    Ok((found, misnamed))
}

/// How many bytes of the SHA-256 name a version: enough that two different
/// builds of one plugin never share a version by chance.
const VERSION_BYTES: usize = 12;

/// A plugin's files as they are on disk now: the component and its manifest.
pub struct PluginFiles {
    /// The `.wasm` file.
    pub path: PathBuf,
    /// The component's bytes.
    pub bytes: Vec<u8>,
    /// The manifest's bytes, if it has one: read once, with the component, so
    /// that the settings a version runs with are the ones its fingerprint
    /// covers.
    pub manifest: Option<Vec<u8>>,
    /// The SHA-256 of the component and its manifest: files with the same
    /// fingerprint load the same, so a reload skips them.
    pub fingerprint: [u8; 32],
}

impl PluginFiles {
    /// Reads the component at `path` and its manifest beside it, if any.
    pub fn read(path: &Path) -> Result<PluginFiles, PluginError> {
        use sha2::Digest;
        let io = |path: &Path| {
            let path = path.to_owned();
            move |cause| PluginError::Io { path, cause }
        };
        let bytes = read_regular(path).map_err(io(path))?;
        let manifest_path = path.with_extension("toml");
        let manifest = match read_regular(&manifest_path) {
            Ok(manifest) => Some(manifest),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
            Err(error) => return Err(io(&manifest_path)(error)),
        };
        let mut hasher = sha2::Sha256::new();
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(&bytes);
        hasher.update(manifest.as_deref().unwrap_or_default());
        Ok(PluginFiles {
            path: path.to_owned(),
            fingerprint: hasher.finalize().into(),
            bytes,
            manifest,
        })
    }

    /// The component's version: the start of the SHA-256 of its bytes, in hex.
    pub fn version(&self) -> String {
        use sha2::Digest;
        sha2::Sha256::digest(&self.bytes)[..VERSION_BYTES]
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }
}

/// Reads `path` if it is a regular file (through a symlink too). A FIFO
/// named `*.wasm` would block the reload that reads it until some writer
/// came, and a device might never end: both are refused. It is opened
/// non-blocking so that opening a FIFO returns at once.
fn read_regular(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// One compiled build of a plugin with the limits and values it was loaded
/// with. A delivery runs on one version from start to end; a reload swaps in
/// the next for deliveries that start later.
pub struct Version {
    /// The plugin's name.
    pub name: Arc<str>,
    pub(super) pre: HandlerPluginPre<DeliveryContext>,
    /// The compiled component, for what it imports and exports.
    pub component: Component,
    /// The limits it runs under.
    pub limits: PluginLimits,
    pub(super) config: Arc<BTreeMap<String, String>>,
    /// What it may reach beyond weir.
    pub capabilities: Arc<Capabilities>,
    /// Size of the component file.
    pub size_bytes: u64,
    /// The start of the SHA-256 of the component, in hex: what operators and
    /// attempt histories call the version.
    pub id: Arc<str>,
    /// Of the files it was loaded from (see [`PluginFiles::fingerprint`]).
    pub fingerprint: [u8; 32],
    /// When it was compiled and loaded (ms since the Unix epoch).
    pub loaded_at_ms: u64,
    pub(super) transport: Arc<dyn Transport>,
}

impl Version {
    /// Compiles `files` and checks the component against the `handler-plugin`
    /// world and the linker it needs (see [`Linkers`]). Blocking (seconds for large components): call it off the async runtime.
    pub fn compile(
        engine: &Engine,
        linkers: &Linkers,
        name: &str,
        files: &PluginFiles,
        settings: PluginSettings,
        defaults: &PluginLimits,
    ) -> Result<Version, PluginError> {
        let invalid = |error: wasmtime::Error| PluginError::Invalid {
            plugin: name.to_owned(),
            path: files.path.clone(),
            message: format!("{error:#}"),
        };
        if let Some(problem) = not_a_component(&files.bytes) {
            return Err(PluginError::Invalid {
                plugin: name.to_owned(),
                path: files.path.clone(),
                message: problem.to_owned(),
            });
        }
        // Component::new compiles (never deserializes) and uses wasmtime's cache.
        let component = Component::new(engine, &files.bytes).map_err(invalid)?;
        let instance_pre = linkers
            .for_component(&component, engine)
            .instantiate_pre(&component)
            .map_err(invalid)?;
        let pre = HandlerPluginPre::new(instance_pre).map_err(invalid)?;
        Ok(Version {
            name: Arc::from(name),
            pre,
            component,
            limits: settings.limits.unwrap_or_else(|| defaults.clone()),
            config: Arc::new(settings.values),
            capabilities: Arc::new(settings.capabilities),
            size_bytes: files.bytes.len() as u64,
            id: Arc::from(files.version()),
            fingerprint: files.fingerprint,
            loaded_at_ms: crate::event::now_ms(),
            transport: linkers.transport.clone(),
        })
    }
}

/// What is wrong with `bytes` if they are plainly not a component, in words
/// more helpful than the parser's.
fn not_a_component(bytes: &[u8]) -> Option<&'static str> {
    const MAGIC: &[u8] = b"\0asm";
    const CORE_MODULE: &[u8] = &[1, 0, 0, 0];
    if !bytes.starts_with(MAGIC) {
        return Some("not a WebAssembly file (it does not start with \\0asm)");
    }
    (bytes.get(MAGIC.len()..8) == Some(CORE_MODULE)).then_some(
        "a core WebAssembly module, not a component: build it for wasm32-wasip2, or wrap it with `wasm-tools component new`",
    )
}

/// The two linkers a plugin may be instantiated with. `wasi:http` is linked
/// only for components that import it: for the others its host resources
/// (fields, requests, bodies) do not exist. Toolchains such as
/// componentize-js import it whatever the handler does, so a plugin that
/// imports it without a grant still loads; `egress.rs` refuses each of its
/// requests, and `bounds.rs` caps the host resources it can hold.
pub struct Linkers {
    /// WASI (nothing granted) and weir's imports.
    plain: Linker<DeliveryContext>,
    /// The same and `wasi:http`, each request checked by `egress.rs`.
    http: Linker<DeliveryContext>,
    /// What carries the requests `egress.rs` lets out.
    transport: Arc<dyn Transport>,
}

impl Linkers {
    /// The linker `component` needs.
    pub fn for_component(
        &self,
        component: &Component,
        engine: &Engine,
    ) -> &Linker<DeliveryContext> {
        let imports_http = component
            .component_type()
            .imports(engine)
            .any(|(import, _)| import.starts_with("wasi:http/"));
        if imports_http {
            &self.http
        } else {
            &self.plain
        }
    }
}

/// Builds both linkers for `engine`; plugins' outbound requests go through
/// `transport`.
pub fn linker(engine: &Engine, transport: Arc<dyn Transport>) -> wasmtime::Result<Linkers> {
    let mut plain = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut plain)?;
    HandlerPlugin::add_to_linker::<_, HasSelf<DeliveryContext>>(&mut plain, |context| context)?;
    let mut http = plain.clone();
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut http)?;
    Ok(Linkers {
        plain,
        http,
        transport,
    })
}
