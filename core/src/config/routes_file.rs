//! Routes may live in `routes.toml` beside the config file rather than in it:
//! a table that changes often, apart from settings that rarely do. Route
//! errors are reported with the file and line of the route.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{ConfigError, RawConfig};
use crate::route::{RouteError, RouteSpec};

/// The routes file's name, beside the config file.
pub const ROUTES_FILE: &str = "routes.toml";

/// `routes.toml` as written: only `[[route]]` entries.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoutesFile {
    #[serde(default, rename = "route")]
    routes: Vec<RouteSpec>,
}

/// Where the routes were written: the file and its text.
pub(super) struct RoutesOrigin {
    path: PathBuf,
    text: String,
}

/// Moves the routes of the `routes.toml` beside `config_path`, if there is
/// one, into `raw`; returns where the routes of `raw` were written.
pub(super) fn read_routes(
    raw: &mut RawConfig,
    config_path: &Path,
    config_text: String,
) -> Result<RoutesOrigin, ConfigError> {
    let path = config_path.with_file_name(ROUTES_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == ErrorKind::NotFound => {
            return Ok(RoutesOrigin {
                path: config_path.to_owned(),
                text: config_text,
            });
        }
        Err(source) => return Err(ConfigError::Read { path, source }),
    };
    let file: RawRoutesFile = toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.clone(),
        message: e.to_string(),
    })?;
    if raw.routes.is_some() {
        return Err(ConfigError::Parse {
            path,
            message: format!(
                "routes are in both this file and {}; keep them in one",
                config_path.display()
            ),
        });
    }
    raw.routes = Some(file.routes);
    Ok(RoutesOrigin { path, text })
}

impl RoutesOrigin {
    /// The file the routes are in.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// The line (from 1) of each of `names`' routes, where it can be found.
    pub(super) fn lines<'n>(
        &self,
        names: impl Iterator<Item = &'n str>,
    ) -> std::collections::BTreeMap<String, usize> {
        names
            .filter_map(|name| Some((name.to_owned(), self.line_of(name)?)))
            .collect()
    }

    fn line_of(&self, route: &str) -> Option<usize> {
        let index = self
            .text
            .lines()
            .position(|line| names_route(line, route))?;
        Some(index + 1)
    }

    /// `error` with the file and line of the route it names.
    pub(super) fn locate(&self, error: RouteError) -> ConfigError {
        let line = self
            .line_of(&error.route)
            .map_or_else(String::new, |line| format!("line {line}: "));
        ConfigError::Parse {
            path: self.path.clone(),
            message: format!("{line}{error}"),
        }
    }
}

/// Whether `line` is the `name = "..."` line of route `route`.
fn names_route(line: &str, route: &str) -> bool {
    let Some((key, value)) = line.split_once('=') else {
        return false;
    };
    key.trim() == "name"
        && value
            .trim()
            .strip_prefix('"')
            .and_then(|value| value.strip_suffix('"'))
            == Some(route)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Overrides};

    const ROUTE: &str =
        "[[route]]\nname = \"bookings\"\nmatch = { type = \"booking.*\" }\nplugins = [\"a\"]\n";

    fn load(
        weir_toml: &str,
        routes_toml: Option<&str>,
    ) -> (tempfile::TempDir, Result<Config, String>) {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("weir.toml"), weir_toml).expect("weir.toml");
        if let Some(routes) = routes_toml {
            std::fs::write(dir.path().join(ROUTES_FILE), routes).expect("routes.toml");
        }
        let config = Config::load(Some(&dir.path().join("weir.toml")), Overrides::default());
        (dir, config.map_err(|e| e.to_string()))
    }

    #[test]
    fn routes_toml_beside_the_config_holds_the_routes() {
        let (_dir, config) = load("[ingest]\nmax_events_per_request = 10\n", Some(ROUTE));
        assert_eq!(config.expect("valid").routes.len(), 1);
        let (_dir, twice) = load(ROUTE, Some(ROUTE));
        let error = twice.expect_err("routes in both files");
        assert!(
            error.contains("routes.toml") && error.contains("weir.toml"),
            "{error}"
        );
    }

    #[test]
    fn a_route_error_names_the_file_and_line_of_the_route() {
        let bad = format!(
            "{ROUTE}\n[[route]]\nname = \"broken\"\nmatch = {{ type = \"a[\" }}\nplugins = [\"a\"]\n"
        );
        let (_dir, in_routes) = load("", Some(&bad));
        let error = in_routes.expect_err("bad glob");
        assert!(
            error.contains("routes.toml") && error.contains("line 7") && error.contains("broken"),
            "{error}"
        );
        let (_dir, in_config) = load(&format!("listen = \"127.0.0.1:9\"\n{bad}"), None);
        let error = in_config.expect_err("bad glob");
        assert!(
            error.contains("weir.toml") && error.contains("line 8"),
            "{error}"
        );
    }
}
