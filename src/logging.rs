//! Logging: one line per request (method, path, status, duration) and the service's own
//! messages. Query strings, bodies and headers are never logged, so neither are passwords nor
//! tokens: request paths lose their query and any token they carry, in this crate's lines and in
//! the error records of other crates (Rocket prints a request that matched no route whole).

use std::borrow::Cow;
use std::io::Write;
use std::sync::{PoisonError, RwLock};
use std::time::Instant;

use log::{Level, LevelFilter, Metadata, Record};
use rocket::fairing::{AdHoc, Fairing, Info, Kind};
use rocket::http::RawStr;
use rocket::{Data, Request, Response, Route};
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
        metadata.level()
            <= if is_own(metadata.target()) {
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
        let mut message = record.args().to_string();
        if !is_own(record.target()) {
            message = scrub_request_lines(&message);
        }
        let mut out = std::io::stderr().lock();
        let _ = writeln!(out, "{stamp} {:<5} {message}", record.level());
    }

    fn flush(&self) {}
}

/// Whether a record comes from this crate's own code. Rocket's generated route code logs from
/// our modules under a `…::_` target: that is Rocket's.
fn is_own(target: &str) -> bool {
    target.starts_with(env!("CARGO_CRATE_NAME")) && !target.ends_with("::_")
}

/// Another crate's message as logged: without terminal colours, every word cut before a query
/// string (`?` and more), and any token in a path left out. Rocket prints a request as
/// `GET /path?query`, e.g. in "No matching routes for GET /x?access_token=…".
fn scrub_request_lines(message: &str) -> String {
    let plain = without_terminal_colours(message);
    let mut out = String::with_capacity(plain.len());
    for piece in plain.split_inclusive(char::is_whitespace) {
        let word = piece.trim_end();
        let space = &piece[word.len()..];
        let without_query = match word.split_once('?') {
            Some((path, query)) if !query.is_empty() => path,
            _ => word,
        };
        out.push_str(&loggable_path(without_query));
        out.push_str(space);
    }
    out
}

/// Drops ANSI escape sequences (`ESC [ … final byte`): Rocket colours its messages on a terminal,
/// and a colour code in front of a path would hide the path from [`loggable_path`].
fn without_terminal_colours(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\x1b' {
            out.push(c);
            continue;
        }
        if chars.next() == Some('[') {
            chars.by_ref().find(|c| ('@'..='~').contains(c));
        }
    }
    out
}

/// Installs the line logger; Rocket then keeps it instead of its own.
pub fn init(level: LevelFilter) {
    if log::set_boxed_logger(Box::new(LineLogger { level })).is_ok() {
        log::set_max_level(level);
    }
}

/// The paths before a `<token>` segment of every mounted route, e.g. `/auth/password-reset/`:
/// a route declares that its path carries a secret by naming that parameter `token`. One list
/// for the process, since the logger is one for the process.
static TOKEN_PATHS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Learns the token paths of `routes` (see [`TOKEN_PATHS`]).
pub fn declare_token_paths<'a>(routes: impl Iterator<Item = &'a Route>) {
    let mut known = TOKEN_PATHS.write().unwrap_or_else(PoisonError::into_inner);
    for route in routes {
        let path = route.uri.path();
        if let Some(at) = path.find("/<token>") {
            let prefix = &path[..=at];
            if !known.iter().any(|p| p == prefix) {
                known.push(prefix.to_owned());
            }
        }
    }
}

/// Declares the token paths of the mounted routes before the first request.
pub fn token_paths_stage() -> AdHoc {
    AdHoc::on_ignite("Token paths", |rocket| async {
        declare_token_paths(rocket.routes());
        rocket
    })
}

/// A request path as logged: a token carried in the path is left out. The path is matched as
/// Rocket routes it: percent-decoded, with repeated slashes counting as one.
fn loggable_path(path: &str) -> Cow<'_, str> {
    let routed = routed_path(path);
    let known = TOKEN_PATHS.read().unwrap_or_else(PoisonError::into_inner);
    match known
        .iter()
        .find(|prefix| routed.starts_with(prefix.as_str()))
    {
        Some(prefix) => format!("{prefix}<token>").into(),
        None => path.into(),
    }
}

/// `path` percent-decoded, with every run of slashes collapsed to one.
fn routed_path(path: &str) -> String {
    let decoded = RawStr::new(path).percent_decode_lossy();
    let mut routed = String::with_capacity(decoded.len());
    for c in decoded.chars() {
        if !(c == '/' && routed.ends_with('/')) {
            routed.push(c);
        }
    }
    routed
}

/// The request log fairing.
pub struct RequestLog;

#[derive(Clone, Copy)]
struct Started(Instant);

/// When the request arrived (noted by [`RequestLog`] before anything else ran), for timings.
pub fn arrival(request: &Request<'_>) -> Instant {
    request.local_cache(|| Started(Instant::now())).0
}

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
        let elapsed = arrival(request).elapsed();
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
    use super::{declare_token_paths, loggable_path, scrub_request_lines};

    /// The token paths as the service declares them, from the route set that has them.
    fn declared() {
        declare_token_paths(
            crate::compat::auth::routes()
                .iter()
                .map(|entry| &entry.route),
        );
    }

    #[test]
    fn tokens_in_paths_are_not_logged() {
        declared();
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

    #[test]
    fn doubled_slashes_and_percent_encoding_do_not_smuggle_a_token_into_the_log() {
        declared();
        for path in [
            "//auth/password-reset/abc123",
            "/auth//password-reset/abc123",
            "/auth/password-reset//abc123",
            "/auth/password%2Dreset/abc123",
            "/%61uth/verify-email/abc123",
        ] {
            assert!(loggable_path(path).ends_with("/<token>"), "{path}");
        }
    }

    #[test]
    fn rocket_request_lines_lose_their_query_and_tokens() {
        declared();
        assert_eq!(
            scrub_request_lines(
                "No matching routes for GET /x?access_token=SECRET&password=SECRET."
            ),
            "No matching routes for GET /x"
        );
        assert_eq!(
            scrub_request_lines(
                "No matching routes for \x1b[32mGET\x1b[0m \x1b[34m/auth//verify-email/SECRET\x1b[0m."
            ),
            "No matching routes for GET /auth/verify-email/<token>"
        );
        assert_eq!(
            scrub_request_lines("Catcher failed. Why?"),
            "Catcher failed. Why?"
        );
    }
}
