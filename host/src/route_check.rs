//! The check start-up makes of the routing table against the plugin
//! directory, also run alone by `weir routes check`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::config::Config;
use crate::error::Error;

/// What `weir routes check` found in a valid table.
#[derive(Debug)]
pub struct Checked {
    /// How many routes the table has.
    pub routes: usize,
    /// The plugins its routes name, each once, by name.
    pub plugins: Vec<String>,
    /// False when the plugin directory is the default and does not exist
    /// yet: weir installs its examples there at first start (and the routes
    /// name only those).
    pub plugins_present: bool,
}

/// Checks that every plugin `config`'s routes name is in its plugin directory
/// (the routes themselves were checked when `config` was read), or, when that
/// is the default directory and does not exist yet, among the examples weir
/// installs there at first start.
pub fn check(config: &Config) -> Result<Checked, Error> {
    let mut plugins: Vec<String> = config
        .routes
        .named_plugins()
        .map(|(plugin, _)| plugin.to_owned())
        .collect();
    plugins.sort();
    plugins.dedup();
    let dir = &config.plugins_dir;
    let plugins_present = dir.exists();
    if plugins_present {
        missing_plugin(config, &crate::runtime::discover(dir)?)?;
    } else if !config.plugins_dir_is_default {
        // `serve` would fail the same way, later and less plainly.
        return Err(Error::NoPluginDir { dir: dir.clone() });
    } else if let Some((plugin, route)) = config
        .routes
        .first_missing(|plugin| crate::examples::NAMES.contains(&plugin))
    {
        return Err(Error::NotAnExample {
            route: route.to_owned(),
            plugin: plugin.to_owned(),
            dir: dir.clone(),
        });
    }
    Ok(Checked {
        routes: config.routes.len(),
        plugins,
        plugins_present,
    })
}

/// The first route naming a plugin that is not among `found` (name → file), as an error.
pub fn missing_plugin(config: &Config, found: &BTreeMap<String, PathBuf>) -> Result<(), Error> {
    match config
        .routes
        .first_missing(|plugin| found.contains_key(plugin))
    {
        Some((plugin, route)) => Err(Error::UnknownPlugin {
            route: route.to_owned(),
            plugin: plugin.to_owned(),
            dir: config.plugins_dir.clone(),
        }),
        None => Ok(()),
    }
}
