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
    Config, ConfigError, PluginLimits, PluginMaxima, PluginSettings, RawPluginSection,
    capabilities, resolve_limits,
};

impl Config {
    /// Reads the manifest of every plugin in `components` (name → `.wasm`
    /// path) that has one, and resolves that plugin's limits and values again.
    /// Returns the manifests it could not use: those plugins keep weir.toml's
    /// settings here and are rejected when they load, so that one plugin's
    /// manifest cannot keep weir and the other plugins from starting.
    pub fn apply_manifests(&mut self, components: &BTreeMap<String, PathBuf>) -> Vec<ConfigError> {
        let mut refused = Vec::new();
        for (name, component) in components {
            match self.settings_with_manifest(name, component) {
                Ok(settings) => {
                    self.plugins.insert(name.clone(), settings);
                }
                Err(error) => refused.push(error),
            }
        }
        refused
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
        let manifest = match std::fs::read(&path) {
            Ok(bytes) => Some(bytes),
            Err(error) if error.kind() == ErrorKind::NotFound => None,
            Err(source) => return Err(ConfigError::Read { path, source }),
        };
        self.settings_from_manifest(name, component, manifest.as_deref())
    }

    /// The same with the manifest's bytes already read (`None`: it has none),
    /// as a reload reads them together with the component.
    pub fn settings_from_manifest(
        &self,
        name: &str,
        component: &Path,
        manifest: Option<&[u8]>,
    ) -> Result<PluginSettings, ConfigError> {
        let path = component.with_extension("toml");
        let invalid = |message: String| ConfigError::Manifest {
            path: path.clone(),
            message,
        };
        let manifest: RawPluginSection = match manifest {
            Some(bytes) => {
                let text = std::str::from_utf8(bytes)
                    .map_err(|_| invalid("the manifest is not UTF-8 text".to_owned()))?;
                toml::from_str(text).map_err(|error| invalid(error.to_string()))?
            }
            None => RawPluginSection::default(),
        };
        resolve_settings(
            (&self.plugin_maxima, &self.plugin_defaults),
            name,
            Some((&manifest, &path)),
            self.plugin_sections.get(name),
        )
    }
}

/// Resolves plugin `name`'s settings key by key: `defaults`, then its manifest
/// (with the manifest's path), then its `[plugins.NAME]` section; none of
/// them may go past `maxima`.
pub(super) fn resolve_settings(
    (maxima, defaults): (&PluginMaxima, &PluginLimits),
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
        None => stated.clone(),
    };
    if let Some(excess) = maxima.excesses(&limits).first() {
        // Whoever set the value answers for it: the manifest, unless the
        // operator's section changed it.
        return Err(if maxima.excesses(&stated).contains(excess) {
            ConfigError::Manifest {
                path: PathBuf::from(manifest_origin),
                message: excess.refusal(),
            }
        } else {
            ConfigError::Invalid(format!("[{section_origin}] {}", excess.refusal()))
        });
    }
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
        assert!(config.apply_manifests(&components).is_empty());
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
    fn settings_come_from_the_manifest_bytes_given_not_the_file_now() {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = Config::from_toml("", Overrides::default()).expect("valid");
        // The file changed after the reload read it: the bytes read win.
        let (name, path) = component(dir.path(), "p", "deadline_ms = 900\n");
        let read = config
            .settings_from_manifest(&name, &path, Some(b"deadline_ms = 250\n"))
            .expect("valid");
        let deadline = read.limits.map(|limits| limits.deadline);
        assert_eq!(deadline, Some(Duration::from_millis(250)));

        let error = config
            .settings_from_manifest(&name, &path, Some(&[0xff, 0xfe]))
            .expect_err("not text")
            .to_string();
        assert!(
            error.contains("p.toml") && error.contains("not UTF-8"),
            "{error}"
        );
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
            (
                "memory_bytes = 1073741824\n",
                "memory_bytes = 1073741824 is above the maximum of 536870912 ([plugin_limits] memory_bytes in weir.toml)",
            ),
            (
                "deadline_ms = 60001\n",
                "deadline_ms = 60001 is above the maximum of 60000",
            ),
        ] {
            let mut config = Config::from_toml("", Overrides::default()).expect("valid");
            let components = BTreeMap::from([component(dir.path(), "p", manifest)]);
            let refused = config.apply_manifests(&components);
            assert_eq!(refused.len(), 1, "{manifest:?}");
            assert_eq!(config.limits_for("p"), &config.plugin_defaults);
            let error = refused[0].to_string();
            assert!(error.contains("p.toml"), "{error}");
            assert!(error.contains(expected), "{manifest:?} -> {error}");
        }
    }

    #[test]
    fn weir_toml_may_go_up_to_the_maxima_and_a_manifest_only_narrows_them() {
        let dir = tempfile::tempdir().expect("temp dir");
        let operator = "[plugin_limits]\ninstances = 8\n[plugins.p]\ninstances = 8\n";
        let mut config = Config::from_toml(operator, Overrides::default()).expect("valid");
        let components = BTreeMap::from([component(dir.path(), "p", "instances = 64\n")]);
        assert!(
            config.apply_manifests(&components).is_empty(),
            "weir.toml's 8 wins"
        );
        assert_eq!(config.limits_for("p").instances, 8);

        let components = BTreeMap::from([component(dir.path(), "q", "instances = 9\n")]);
        let refused = config.apply_manifests(&components);
        let error = refused.first().expect("refused").to_string();
        assert!(
            error.contains("q.toml") && error.contains("instances = 9 is above the maximum of 8"),
            "{error}"
        );

        for (text, expected) in [
            (
                "[plugin_limits]\nfuel = 10\n[plugins.p]\nfuel = 11\n",
                "[plugins.p] fuel = 11 is above the maximum of 10",
            ),
            (
                "[plugin_limits]\nmax_attempts = 2\n[plugin_defaults]\nmax_attempts = 3\n",
                "[plugin_defaults] max_attempts = 3 is above the maximum of 2",
            ),
        ] {
            let error = Config::from_toml(text, Overrides::default())
                .expect_err(text)
                .to_string();
            assert!(error.contains(expected), "{text:?} -> {error}");
        }
        // A maximum under a built-in default lowers that default.
        let lowered =
            Config::from_toml("[plugin_limits]\nfuel = 10\n", Overrides::default()).expect("valid");
        assert_eq!(lowered.plugin_defaults.fuel, 10);
    }
}
