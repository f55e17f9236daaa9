//! Compatible route sets: frontends written for other well-known tutorial backends work
//! unchanged. Each set is a table over the same operations as the canonical API (`crate::api`):
//! its paths, the fields it requires, and how it shapes answers and refusals. The `compat`
//! setting picks the sets to mount; an unmounted set's paths are plain JSON 404s.

pub mod auth;
pub mod django;
pub mod fastapi;

use crate::api::endpoint::Entry;

/// The names `compat` accepts, all mounted by default.
pub const SETS: [&str; 3] = ["django", "fastapi", "auth"];

pub fn routes(sets: &[String]) -> Vec<Entry> {
    let mut entries = Vec::new();
    for set in sets {
        match set.as_str() {
            "django" => entries.extend(django::routes()),
            "fastapi" => entries.extend(fastapi::routes()),
            "auth" => entries.extend(auth::routes()),
            _ => {}
        }
    }
    entries
}
