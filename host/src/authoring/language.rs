//! The languages a plugin can be written in, and how a folder says which.

use std::path::Path;

/// A language weir can scaffold and build plugins in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Language {
    /// `cargo` for `wasm32-wasip2` with the `weir-plugin-sdk` crate.
    Rust,
    /// `componentize-py` with the `weir_plugin` helper module.
    Python,
    /// `componentize-js` (npm).
    Js,
    /// `zig cc` for `wasm32-wasi` with weir's C SDK (`weir_plugin.h`).
    C,
}

impl Language {
    /// The file whose presence marks a folder as a plugin in this language.
    pub fn marker(self) -> &'static str {
        match self {
            Language::Rust => "Cargo.toml",
            Language::Python => "app.py",
            Language::Js => "handler.js",
            Language::C => "handler.c",
        }
    }

    /// The language of the plugin in `dir`, by its marker file.
    pub fn of_folder(dir: &Path) -> Option<Language> {
        [Language::Rust, Language::Python, Language::Js, Language::C]
            .into_iter()
            .find(|language| dir.join(language.marker()).is_file())
    }
}
