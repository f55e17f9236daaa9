//! Compatible route sets: frontends written for other well-known tutorial backends work
//! unchanged. Each set is a routing table plus small shape conversions over the canonical
//! handlers and account operations; no rule is written twice. The `compat` setting picks the
//! sets to mount; an unmounted set's paths are plain JSON 404s.

pub mod auth;
pub mod django;
pub mod fastapi;

use rocket::Route;

/// The names `compat` accepts, all mounted by default.
pub const SETS: [&str; 3] = ["django", "fastapi", "auth"];

pub fn routes(sets: &[String]) -> Vec<Route> {
    let mut routes = Vec::new();
    for set in sets {
        match set.as_str() {
            "django" => routes.extend(crate::api::named(set, django::routes())),
            "fastapi" => routes.extend(crate::api::named(set, fastapi::routes())),
            "auth" => routes.extend(crate::api::named(set, auth::routes())),
            _ => {}
        }
    }
    routes
}
