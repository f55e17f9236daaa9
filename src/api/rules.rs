//! The rules of request fields as the OpenAPI document states them: one type per rule, named in
//! the request types (`Text<'a, Username>`) and read by the document through their JSON Schema.
//! Wherever the server refuses a value the schema must forbid it too, and the other way round:
//! Schemathesis sends schema-valid values and expects them accepted (`.ci/schemathesis`).

use std::borrow::Cow;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde_json::Value;

use crate::accounts::fields::{DESCRIPTION_MAX, NAME_MAX, URL_MAX};

/// No control characters (what `char::is_control` refuses: C0, DEL and C1).
const NO_CONTROL: &str = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$";
/// The same, but tabs and line breaks are allowed (the description).
const NO_CONTROL_BUT_LINES: &str =
    "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]*$";
/// An absolute http(s) URL with a host (a bracketed IPv6 address, or a name without brackets),
/// no whitespace, quotes or control characters; or `""`.
const IMAGE_URL: &str = concat!(
    "^(https?://(\\[[0-9A-Fa-f:.]+\\](:[0-9]*)?",
    "|[^/?#\\[\\]\\s\"\\u0000-\\u001f\\u007f-\\u009f]+)",
    "([/?#][^\\s\"\\u0000-\\u001f\\u007f-\\u009f]*)?)?$"
);
const USERNAME: &str = "^[A-Za-z0-9_.-]{3,32}$";
const EMAIL_MAX: usize = 254;
/// A chosen password's longest (in bytes; a schema can only count characters).
const PASSWORD_MAX: usize = 1024;

/// The mark on a chosen password's schema: the document fills in the configured minimum length
/// (`min_password_length`) where it finds it.
pub const CONFIGURED_MIN_PASSWORD: &str = "x-min-password-length";

fn username() -> Value {
    serde_json::json!({ "type": "string", "pattern": USERNAME })
}

fn email() -> Value {
    serde_json::json!({ "type": "string", "format": "email", "maxLength": EMAIL_MAX })
}

/// Where a field may be left empty: `""` reads as absent.
fn or_empty(schema: Value) -> Value {
    serde_json::json!({ "anyOf": [schema, { "type": "string", "maxLength": 0 }] })
}

/// Where `null` clears the field (profile updates).
fn or_null(mut schema: Value) -> Value {
    schema["nullable"] = Value::Bool(true);
    schema
}

/// A name or the description: bounded, no control characters; `null` or `""` for none.
fn text(max_chars: usize, pattern: &str) -> Value {
    serde_json::json!({ "type": "string", "nullable": true, "maxLength": max_chars, "pattern": pattern })
}

macro_rules! rules {
    ($($(#[$meta:meta])* $name:ident => $schema:expr,)*) => {$(
        $(#[$meta])*
        pub struct $name;

        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }

            fn inline_schema() -> bool {
                true
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                Schema::try_from($schema).unwrap_or_else(|_| json_schema!({}))
            }
        }
    )*};
}

rules! {
    /// Letters, digits, `_`, `.` and `-`, 3 to 32 of them.
    Username => username(),
    /// A username, or `""` for none.
    UsernameOrEmpty => or_empty(username()),
    /// A username, or `null` to clear it.
    UsernameOrNull => or_null(username()),
    /// An email address.
    Email => email(),
    EmailOrEmpty => or_empty(email()),
    EmailOrNull => or_null(email()),
    /// A value that is checked, not chosen: a token, a current password.
    Secret => serde_json::json!({ "type": "string", "minLength": 1 }),
    /// A password being chosen: the length rules of the password policy.
    NewPassword => serde_json::json!({
        "type": "string", "maxLength": PASSWORD_MAX, CONFIGURED_MIN_PASSWORD: true
    }),
    /// What a mailed token is for.
    MailedTokenPurpose => serde_json::json!({
        "type": "string",
        "enum": ["password_reset", "email_verification", "email_change", "email_revert"]
    }),
    /// Any string.
    AnyText => serde_json::json!({ "type": "string" }),
    Name => text(NAME_MAX, NO_CONTROL),
    Description => text(DESCRIPTION_MAX, NO_CONTROL_BUT_LINES),
    /// The address of an external picture.
    ImageUrl => serde_json::json!({
        "type": "string", "nullable": true, "maxLength": URL_MAX, "pattern": IMAGE_URL
    }),
    /// A picture's bytes in base64, or a `data:` URL.
    Base64Image => serde_json::json!({
        "type": "string", "nullable": true, "description": "base64 image or data: URL"
    }),
}
