//! Logging: one line per request (method, path, status, duration) and the service's own
//! messages. Query strings, bodies and headers are never logged, so neither are passwords nor
//! tokens.

use std::io::Write;
use std::time::Instant;

use log::{Level, LevelFilter, Metadata, Record};
use rocket::fairing::{Fairing, Info, Kind};
use rocket::{Data, Request, Response};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Prints this crate's records at the configured level and everyone else's (Rocket, sqlx,
/// hyper) only when they are errors: Rocket warns about every failed guard, which this crate's
/// one line per request already reports.
struct LineLogger {
    level: LevelFilter,
}

impl log::Log for LineLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        // Rocket's generated route code logs from our modules under a `…::_` target.
        let target = metadata.target();
        let own = target.starts_with(env!("CARGO_CRATE_NAME")) && !target.ends_with("::_");
        metadata.level()
            <= if own {
                self.level
            } else {
                self.level.min(LevelFilter::Error)
            }
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let now = OffsetDateTime::now_utc();
        let stamp = now
            .replace_nanosecond(now.millisecond() as u32 * 1_000_000)
            .unwrap_or(now);
        let stamp = stamp.format(&Rfc3339).unwrap_or_default();
        let mut out = std::io::stderr().lock();
        let _ = writeln!(out, "{stamp} {:<5} {}", record.level(), record.args());
    }

    fn flush(&self) {}
}

/// Installs the line logger; Rocket then keeps it instead of its own.
pub fn init(level: LevelFilter) {
    if log::set_boxed_logger(Box::new(LineLogger { level })).is_ok() {
        log::set_max_level(level);
    }
}

/// A request path as logged: a token carried in the path is left out.
fn loggable_path(path: &str) -> std::borrow::Cow<'_, str> {
    match crate::compat::auth::TOKEN_PATHS
        .iter()
        .find(|prefix| path.starts_with(*prefix))
    {
        Some(prefix) => format!("{prefix}<token>").into(),
        None => path.into(),
    }
}

/// The request log fairing.
pub struct RequestLog;

#[derive(Clone, Copy)]
struct Started(Instant);

#[rocket::async_trait]
impl Fairing for RequestLog {
    fn info(&self) -> Info {
        Info {
            name: "Request log",
            kind: Kind::Request | Kind::Response,
        }
    }

    async fn on_request(&self, request: &mut Request<'_>, _: &mut Data<'_>) {
        request.local_cache(|| Started(Instant::now()));
    }

    async fn on_response<'r>(&self, request: &'r Request<'_>, response: &mut Response<'r>) {
        if !log::log_enabled!(Level::Info) {
            return;
        }
        let started = request.local_cache(|| Started(Instant::now()));
        let elapsed = started.0.elapsed();
        log::info!(
            "{} {} {} {:.1}ms",
            request.method(),
            loggable_path(request.uri().path().as_str()),
            response.status().code,
            elapsed.as_secs_f64() * 1000.0
        );
    }
}

#[cfg(test)]
mod tests {
    use super::loggable_path;

    #[test]
    fn tokens_in_paths_are_not_logged() {
        assert_eq!(
            loggable_path("/auth/password-reset/abc123"),
            "/auth/password-reset/<token>"
        );
        assert_eq!(
            loggable_path("/auth/verify-email/abc123"),
            "/auth/verify-email/<token>"
        );
        assert_eq!(loggable_path("/api/user/profile"), "/api/user/profile");
    }
}
