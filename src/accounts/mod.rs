//! Account rules with no HTTP types: field validation, password hashing, tokens and the
//! operations on users that the canonical API and every compatible route set share.

pub mod admin;
pub mod common_passwords;
pub mod credentials;
pub mod email_change;
pub mod fields;
pub mod live_sessions;
pub mod mail_flows;
pub mod passwords;
pub mod pbkdf2_sha256;
pub mod sealed;
pub mod sessions;
pub mod tokens;
pub mod totp;
pub mod two_factor;
pub mod users;

/// A stored timestamp as the API shows it: RFC 3339 UTC.
pub fn rfc3339(seconds: i64) -> String {
    use time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}
