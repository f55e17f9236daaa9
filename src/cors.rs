//! CORS for browser frontends served from other origins (`cors_origins`). With the list empty no
//! CORS header is ever sent, so only the same origin can call the API from a browser. `*` allows
//! any origin but never with credentials.

use rocket::fairing::{Fairing, Info, Kind};
use rocket::http::{Header, Method, Status};
use rocket::{Request, Response, Route};

use crate::methods::AllowedMethods;

pub struct Cors {
    origins: Vec<String>,
}

const ALLOWED_METHODS: &str = "GET, POST, PUT, DELETE, OPTIONS";
const ALLOWED_HEADERS: &str = "Authorization, Content-Type";
const EXPOSED_HEADERS: &str = "Retry-After, ETag";

/// Checks the configured list: `*` or origins like `https://app.example.org[:port]`.
pub fn validate_origins(origins: &[String]) -> Result<(), String> {
    for origin in origins {
        let valid = origin == "*"
            || (origin.starts_with("http://") || origin.starts_with("https://"))
                && !origin
                    .split_once("://")
                    .is_some_and(|(_, rest)| rest.is_empty() || rest.contains('/'));
        if !valid {
            return Err(format!(
                "cors_origins: {origin:?} is not an origin (scheme://host[:port]) or \"*\""
            ));
        }
    }
    Ok(())
}

impl Cors {
    pub fn new(origins: Vec<String>) -> Cors {
        Cors {
            origins: origins
                .into_iter()
                .map(|o| o.trim_end_matches('/').to_string())
                .collect(),
        }
    }

    /// The `Access-Control-Allow-Origin` value for a request's `Origin`, if it is allowed.
    fn allow(&self, origin: &str) -> Option<String> {
        if self.origins.iter().any(|o| o == "*") {
            Some("*".into())
        } else {
            self.origins
                .iter()
                .any(|o| o.eq_ignore_ascii_case(origin))
                .then(|| origin.to_string())
        }
    }
}

#[rocket::async_trait]
impl Fairing for Cors {
    fn info(&self) -> Info {
        Info {
            name: "CORS",
            kind: Kind::Response,
        }
    }

    async fn on_response<'r>(&self, request: &'r Request<'_>, response: &mut Response<'r>) {
        if request.method() == Method::Options {
            response.set_header(Header::new("Allow", allowed_methods(request)));
        }
        let Some(origin) = request.headers().get_one("Origin") else {
            return;
        };
        let Some(allowed) = self.allow(origin) else {
            return;
        };
        if allowed != "*" {
            response.set_header(Header::new("Access-Control-Allow-Credentials", "true"));
            response.adjoin_header(Header::new("Vary", "Origin"));
        }
        response.set_header(Header::new("Access-Control-Allow-Origin", allowed));
        response.set_header(Header::new(
            "Access-Control-Expose-Headers",
            EXPOSED_HEADERS,
        ));
        if request.method() == Method::Options {
            let requested = request.headers().get_one("Access-Control-Request-Headers");
            response.set_header(Header::new("Access-Control-Allow-Methods", ALLOWED_METHODS));
            response.set_header(Header::new(
                "Access-Control-Allow-Headers",
                requested.unwrap_or(ALLOWED_HEADERS).to_string(),
            ));
            response.set_header(Header::new("Access-Control-Max-Age", "600"));
        }
    }
}

/// The methods the request's path answers; every method the API uses for a path no route names.
fn allowed_methods(request: &Request<'_>) -> String {
    request
        .rocket()
        .state::<AllowedMethods>()
        .and_then(|table| table.allow(request))
        .unwrap_or_else(|| ALLOWED_METHODS.to_string())
}

/// Preflight requests, for any path: an empty `204`; the fairing adds the CORS headers when the
/// origin is allowed.
#[rocket::options("/<_..>")]
fn preflight() -> Status {
    Status::NoContent
}

pub fn routes() -> Vec<Route> {
    crate::api::named("cors", rocket::routes![preflight])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_checked() {
        assert!(validate_origins(&[
            "https://app.example.org".into(),
            "http://localhost:5173".into(),
            "*".into()
        ])
        .is_ok());
        for bad in [
            "app.example.org",
            "https://",
            "https://app.example.org/path",
            "ftp://x",
        ] {
            assert!(validate_origins(&[bad.into()]).is_err(), "{bad}");
        }
    }
}
