//! Security headers on every response, from one fairing: whatever a route forgot, the client
//! still gets them.

use rocket::fairing::{Fairing, Info, Kind};
use rocket::http::{ContentType, Header};
use rocket::{Request, Response};

/// The page's policy: only our own scripts, styles and connections; images from us or `data:`.
pub const PAGE_CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; \
     script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
     form-action 'self'";

pub struct SecurityHeaders {
    /// `Strict-Transport-Security` is sent only when the public URL is https.
    pub hsts: bool,
}

#[rocket::async_trait]
impl Fairing for SecurityHeaders {
    fn info(&self) -> Info {
        Info {
            name: "Security headers",
            kind: Kind::Response,
        }
    }

    async fn on_response<'r>(&self, _: &'r Request<'_>, response: &mut Response<'r>) {
        response.set_header(Header::new("X-Content-Type-Options", "nosniff"));
        response.set_header(Header::new("Referrer-Policy", "no-referrer"));
        response.set_header(Header::new("X-Frame-Options", "DENY"));
        if self.hsts {
            response.set_header(Header::new(
                "Strict-Transport-Security",
                "max-age=31536000; includeSubDomains",
            ));
        }
        let content_type = response.content_type();
        if content_type
            .as_ref()
            .is_some_and(|ct| *ct == ContentType::HTML)
            && !response.headers().contains("Content-Security-Policy")
        {
            response.set_header(Header::new("Content-Security-Policy", PAGE_CSP));
        }
        if content_type
            .as_ref()
            .is_some_and(|ct| *ct == ContentType::JSON)
        {
            // Answers carry tokens and personal data: no cache may keep them.
            response.set_header(Header::new("Cache-Control", "no-store"));
        }
    }
}
