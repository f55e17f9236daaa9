//! Account rules with no HTTP types: field validation, password hashing, tokens and the
//! operations on users that the canonical API and every compatible route set share.

pub mod fields;
pub mod passwords;
pub mod tokens;
pub mod users;

/// Seconds since the Unix epoch, the unit of every stored timestamp.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}
