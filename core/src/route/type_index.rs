//! The `type` globs of every route in one `GlobSet`, so an event's type is
//! matched against all of them in one pass instead of route by route: with a
//! large table, most routes are ruled out by their type before any other
//! condition is looked at.

use globset::{GlobSet, GlobSetBuilder};

use super::Route;
use super::condition::Test;

/// Which routes an event's type lets through.
#[derive(Debug, Clone, Default)]
pub struct TypeIndex {
    globs: GlobSet,
    /// The route of each glob in `globs`, ascending.
    route_of: Vec<usize>,
    /// Per route: whether it has a `type` glob at all.
    typed: Vec<bool>,
}

impl TypeIndex {
    /// Indexes the `type` globs of `routes`.
    pub fn new(routes: &[Route]) -> Result<TypeIndex, globset::Error> {
        let mut builder = GlobSetBuilder::new();
        let mut route_of = Vec::new();
        let mut typed = Vec::with_capacity(routes.len());
        for (index, route) in routes.iter().enumerate() {
            let glob = route
                .conditions
                .iter()
                .find_map(|condition| match &condition.test {
                    Test::Glob(glob) if condition.field == "type" => Some(glob.glob().clone()),
                    _ => None,
                });
            typed.push(glob.is_some());
            if let Some(glob) = glob {
                builder.add(glob);
                route_of.push(index);
            }
        }
        Ok(TypeIndex {
            globs: builder.build()?,
            route_of,
            typed,
        })
    }

    /// Per route, whether `kind` passes its `type` glob (or it has none).
    pub fn passing(&self, kind: &str) -> Vec<bool> {
        let mut passing: Vec<bool> = self.typed.iter().map(|typed| !typed).collect();
        for glob in self.globs.matches(kind) {
            passing[self.route_of[glob]] = true;
        }
        passing
    }
}
