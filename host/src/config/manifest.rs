//! Plugin manifests: an optional `NAME.toml` beside `NAME.wasm`, in which the
//! plugin's author states the limits and config values it needs, with the same
//! keys as a `[plugins.NAME]` section of `weir.toml`. The operator has the last
//! word: built-in defaults and `[plugin_defaults]`, then the manifest, then
//! `[plugins.NAME]`, key by key. Its `[capabilities]` are only requests:
//! `weir.toml` alone grants them (`capabilities.rs`).

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::{
    Config, ConfigError, PluginLimits, PluginSettings, RawPluginSection, capabilities,
    resolve_limits,
};

impl Config {
    /// Reads the manifest of every plugin in `components` (name → `.wasm`
    /// path) that has one, and resolves that plugin's limits and values again.
    pub fn apply_manifests(
        &mut self,
        components: &BTreeMap<String, PathBuf>,
    ) -> Result<(), ConfigError> {
        for (name, component) in components {
            let settings = self.settings_with_manifest(name, component)?;
            self.plugins.insert(name.clone(), settings);
        }
        Ok(())
    }

    /// The limits and values of plugin `name` whose component is `component`:
    /// its manifest (if the file exists) under its `[plugins.NAME]` section.
    /// Reads the manifest afresh, so a reload sees the file as it is now.
    pub fn settings_with_manifest(
        &self,
        name: &str,
        component: &Path,
    ) -> Result<PluginSettings, ConfigError> {
        let path = component.with_extension("toml");
        let manifest: RawPluginSection = match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).map_err(|error| ConfigError::Manifest {
                path: path.clone(),
                message: error.to_string(),
            })?,
            Err(error) if error.kind() == ErrorKind::NotFound => RawPluginSection::default(),
            Err(source) => return Err(ConfigError::Read { path, source }),
        };
        resolve_settings(
            &self.plugin_defaults,
            name,
            Some((&manifest, &path)),
            self.plugin_sections.get(name),
        )
    }
}

/// Resolves plugin `name`'s settings key by key: `defaults`, then its manifest
/// (with the manifest's path), then its `[plugins.NAME]` section.
pub(super) fn resolve_settings(
    defaults: &PluginLimits,
    name: &str,
    manifest: Option<(&RawPluginSection, &Path)>,
    section: Option<&RawPluginSection>,
) -> Result<PluginSettings, ConfigError> {
    let section_origin = format!("plugins.{name}");
    let no_manifest = RawPluginSection::default();
    let (manifest, manifest_origin) = match manifest {
        Some((manifest, path)) => (manifest, path.display().to_string()),
        None => (&no_manifest, String::new()),
    };
    let stated = resolve_limits(defaults, &manifest.limits, &manifest_origin)?;
    let mut values = manifest.config.clone();
    let limits = match section {
        Some(section) => {
            values.extend(section.config.clone());
            resolve_limits(&stated, &section.limits, &section_origin)?
        }
        None => stated,
    };
    let capabilities = capabilities::resolve(
        &manifest.capabilities,
        section.map(|section| &section.capabilities),
        &manifest_origin,
        &section_origin,
    )
    .map_err(ConfigError::Invalid)?;
    Ok(PluginSettings {
        limits: (&limits != defaults).then_some(limits),
        values,
        capabilities,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::Overrides;

    fn component(dir: &std::path::Path, name: &str, manifest: &str) -> (String, PathBuf) {
        std::fs::write(dir.join(format!("{name}.toml")), manifest).expect("write manifest");
        (name.to_owned(), dir.join(format!("{name}.wasm")))
    }

    #[test]
    fn a_manifest_sets_what_weir_toml_does_not() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config::from_toml(
            "[plugins.p]\ninstances = 3\n[plugins.p.config]\nmode = \"operator\"\n",
            Overrides::default(),
        )
        .expect("valid");
        let manifest =
            "instances = 1\ndeadline_ms = 250\n[config]\nmode = \"author\"\nunit = \"cents\"\n";
        let components = BTreeMap::from([
            component(dir.path(), "p", manifest),
            (String::from("bare"), dir.path().join("bare.wasm")),
        ]);
        config.apply_manifests(&components).expect("valid manifest");
        let limits = config.limits_for("p");
        assert_eq!(limits.instances, 3, "weir.toml wins");
        assert_eq!(
            limits.deadline,
            Duration::from_millis(250),
            "the manifest fills in"
        );
        let values = config.values_for("p");
        assert_eq!(values.get("mode").map(String::as_str), Some("operator"));
        assert_eq!(values.get("unit").map(String::as_str), Some("cents"));
        assert_eq!(config.limits_for("bare"), &config.plugin_defaults);
    }

    #[test]
    fn bad_manifests_name_the_file_and_the_key() {
        let dir = tempfile::tempdir().expect("temp dir");
        for (manifest, expected) in [
            // The unknown key, and the keys that would do.
            (
                "fuell = 10\n",
                "unknown field `fuell`, expected one of `fuel`,",
            ),
            ("fuell = 10\n", "or the tables [config] and [capabilities]"),
            ("[config]\nmode = 1\n", "[config]"),
            ("fuel = 0\n", "fuel is out of range"),
            ("[capabilities]\nfiles = [\"/\"]\n", "files"),
            (
                "[capabilities]\nhttp = [\"https://api.example\"]\n",
                "capabilities.http",
            ),
        ] {
            let mut config = Config::from_toml("", Overrides::default()).expect("valid");
            let components = BTreeMap::from([component(dir.path(), "p", manifest)]);
            let error = config
                .apply_manifests(&components)
                .expect_err(manifest)
                .to_string();
            assert!(error.contains("p.toml"), "{error}");
            assert!(error.contains(expected), "{manifest:?} -> {error}");
        }
    }
}
