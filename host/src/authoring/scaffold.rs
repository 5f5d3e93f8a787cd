//! `weir plugin new`: a plugin folder that builds and passes its own test —
//! a handler, a manifest, a test event, a build script and a README.

use std::path::{Path, PathBuf};

use super::error::{AuthoringError, io};
use super::language::Language;

/// The componentize-js version JavaScript plugins are built and tested with.
/// (Its package imports `@bytecodealliance/preview2-shim` without depending
/// on it, so the template's package.json names that too.)
pub const COMPONENTIZE_JS: &str = "0.23.0";

/// Where the Rust SDK was when this weir was built: a scaffold made on the
/// same machine finds it without `--sdk`.
const BUILT_WITH_SDK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../plugin-sdk");

/// Files every plugin gets: (name, template).
const COMMON: &[(&str, &str)] = &[
    ("README.md", include_str!("templates/common-README.md")),
    (
        "{{name}}.toml",
        include_str!("templates/common-manifest.toml"),
    ),
    ("event.json", include_str!("templates/common-event.json")),
    ("build.sh", include_str!("templates/common-build.sh")),
];

impl Language {
    /// The language's own files: (name, template).
    fn templates(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Language::Rust => &[
                ("Cargo.toml", include_str!("templates/rust/Cargo.toml")),
                ("src/lib.rs", include_str!("templates/rust/lib.rs")),
            ],
            Language::Python => &[("app.py", include_str!("templates/python/app.py"))],
            Language::Js => &[
                ("handler.js", include_str!("templates/js/handler.js")),
                ("package.json", include_str!("templates/js/package.json")),
            ],
            Language::C => &[("handler.c", include_str!("templates/c/handler.c"))],
        }
    }

    fn title(self) -> &'static str {
        match self {
            Language::Rust => "Rust",
            Language::Python => "Python",
            Language::Js => "JavaScript",
            Language::C => "C",
        }
    }

    /// What the README says about building in this language.
    fn build_notes(self) -> String {
        match self {
            Language::Rust => "It needs Rust and `rustup target add wasm32-wasip2`; `weir plugin build` runs \
                `cargo build --release --target wasm32-wasip2` and copies the component here. \
                The handler uses the `weir-plugin-sdk` crate (see its docs for state, config and logging)."
                .to_owned(),
            Language::Python => format!(
                "It needs `pip install componentize-py=={}`. The handler imports the helper \
                module `weir_plugin`, which `weir plugin build` provides together with weir's WIT.",
                super::toolchain::COMPONENTIZE_PY
            ),
            Language::Js => "It needs Node.js 18 or later: run `npm install` here once, which \
                installs componentize-js; `weir plugin build` runs it against weir's WIT."
                .to_owned(),
            Language::C => format!(
                "It needs Zig: `pip install ziglang=={}`. The handler includes `weir_plugin.h`, \
                weir's C SDK, which `weir plugin build` compiles with it together with the bindings \
                of weir's WIT; every `.c` file in this folder is compiled.",
                super::c_toolchain::ZIGLANG
            ),
        }
    }
}

/// Creates the folder `<parent>/<name>` with a plugin in `language`;
/// `rust_sdk` is the `plugin-sdk` folder a Rust plugin depends on (default:
/// the one this weir was built with). Returns the folder.
pub fn scaffold(
    parent: &Path,
    name: &str,
    language: Language,
    rust_sdk: Option<&Path>,
) -> Result<PathBuf, AuthoringError> {
    let dir = parent.join(name);
    if !crate::runtime::is_valid_plugin_name(name) {
        return Err(AuthoringError::BadName { path: dir });
    }
    if dir.exists() {
        return Err(AuthoringError::Exists { path: dir });
    }
    let sdk = match language {
        Language::Rust => find_sdk(rust_sdk)?.display().to_string(),
        _ => String::new(),
    };
    let fill = |template: &str| {
        template
            .replace("{{name}}", name)
            .replace("{{language}}", language.title())
            .replace("{{build_notes}}", &language.build_notes())
            .replace("{{sdk}}", &sdk)
            .replace("{{componentize_js}}", COMPONENTIZE_JS)
    };
    for (file, template) in COMMON.iter().chain(language.templates()) {
        let path = dir.join(fill(file));
        if let Some(folder) = path.parent() {
            std::fs::create_dir_all(folder).map_err(io("create", folder))?;
        }
        std::fs::write(&path, fill(template)).map_err(io("write", &path))?;
    }
    make_executable(&dir.join("build.sh"))?;
    Ok(dir)
}

/// The Rust SDK folder: `given`, else the one this weir was built with.
fn find_sdk(given: Option<&Path>) -> Result<PathBuf, AuthoringError> {
    let candidate = given.unwrap_or(Path::new(BUILT_WITH_SDK));
    match candidate.join("Cargo.toml").is_file() {
        true => candidate
            .canonicalize()
            .map_err(io("open the Rust SDK", candidate)),
        false => Err(AuthoringError::MissingTool {
            tool: format!("the Rust SDK (weir-plugin-sdk) at {}", candidate.display()),
            hint: "pass --sdk PATH, the plugin-sdk folder of a weir checkout".to_owned(),
        }),
    }
}

#[cfg(unix)]
fn make_executable(path: &Path) -> Result<(), AuthoringError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .map_err(io("make executable", path))
}

#[cfg(not(unix))]
fn make_executable(_: &Path) -> Result<(), AuthoringError> {
    Ok(())
}
