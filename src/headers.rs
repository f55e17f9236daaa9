//! Security headers on every response: whatever a route forgot, the client still gets them.
//! Those that are the same on every response come from Rocket's own Shield, configured here
//! (Rocket attaches a default Shield otherwise, whose headers ours would then have duplicated on
//! every request); those that depend on the answer's type come from [`SecurityHeaders`]. Routes
//! do not set the Shield's headers themselves: it refuses to overwrite one and logs a warning.

use rocket::fairing::{Fairing, Info, Kind};
use rocket::http::Header;
use rocket::shield::{Frame, Hsts, NoSniff, Referrer, Shield};
use rocket::{Request, Response};

/// The page's policy: only our own scripts, styles and connections; images from us or `data:`.
pub const PAGE_CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; \
     script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
     form-action 'self'";

/// The headers every response carries. `Strict-Transport-Security` is sent only when the public
/// URL is https.
pub fn shield(hsts: bool) -> Shield {
    let shield = Shield::new()
        .enable(NoSniff::Enable)
        .enable(Referrer::NoReferrer)
        .enable(Frame::Deny);
    if hsts {
        shield.enable(Hsts::IncludeSubDomains(rocket::time::Duration::days(365)))
    } else {
        shield
    }
}

/// The headers that depend on the answer's content type.
pub struct SecurityHeaders;

#[rocket::async_trait]
impl Fairing for SecurityHeaders {
    fn info(&self) -> Info {
        Info {
            name: "Security headers",
            kind: Kind::Response,
        }
    }

    async fn on_response<'r>(&self, _: &'r Request<'_>, response: &mut Response<'r>) {
        // The header as sent, not `Response::content_type`, which parses it on every response.
        let media_type = response
            .headers()
            .get_one("Content-Type")
            .map(|value| value.split(';').next().unwrap_or_default().trim());
        let is =
            |expected: &str| media_type.is_some_and(|sent| sent.eq_ignore_ascii_case(expected));
        if is("text/html") && !response.headers().contains("Content-Security-Policy") {
            response.set_header(Header::new("Content-Security-Policy", PAGE_CSP));
        } else if is("application/json") {
            // Answers carry tokens and personal data: no cache may keep them.
            response.set_header(Header::new("Cache-Control", "no-store"));
        }
    }
}
