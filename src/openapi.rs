//! `GET /api/openapi.json`: the OpenAPI 3.0 description of every mounted route. Paths and methods
//! come from Rocket's own route table, so a route cannot be served without being described; each
//! operation's shapes come from [`operation`], keyed by the route's name (`set.handler`).

use rocket::request::{FromRequest, Outcome};
use rocket::serde::json::{json, Json, Value};
use rocket::{Orbit, Request, Rocket, Route};

use crate::accounts::fields;
use crate::config::Settings;
use crate::error::{park, ApiError};

pub fn routes() -> Vec<Route> {
    crate::api::named("api", rocket::routes![openapi])
}

/// Routes that are not API operations: the page's static files and CORS preflights.
pub const UNDESCRIBED: [&str; 2] = ["web.asset", "cors.preflight"];

/// What a request carries.
enum Body {
    None,
    Json {
        required: &'static [&'static str],
        props: Vec<(&'static str, Value)>,
        /// Alternatives of which at least one must hold (`username` or `email`).
        any_of: Option<Value>,
    },
    /// A JSON body that may be left out entirely.
    OptionalJson {
        props: Vec<(&'static str, Value)>,
    },
    Multipart,
}

struct Operation {
    summary: &'static str,
    auth: bool,
    body: Body,
    status: u16,
    answer: Answer,
}

enum Answer {
    Json(Value),
    Jpeg,
    Html,
    Empty,
}

fn string() -> Value {
    json!({ "type": "string" })
}

fn nullable_string() -> Value {
    json!({ "type": "string", "nullable": true })
}

fn integer() -> Value {
    json!({ "type": "integer" })
}

fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// An object with these required keys (more are allowed). OpenAPI 3.0 forbids an empty
/// `required` list, so an object without required keys has none.
fn object(required: &[&str], props: &[(&str, Value)]) -> Value {
    let properties: serde_json::Map<String, Value> = props
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let mut schema = json!({ "type": "object", "properties": properties });
    if !required.is_empty() {
        schema["required"] = json!(required);
    }
    schema
}

fn message() -> Answer {
    Answer::Json(reference("Message"))
}

fn tokens_with(extra: &[(&'static str, Value)]) -> Answer {
    let mut props = vec![
        ("token", string()),
        ("access_token", string()),
        ("refresh_token", string()),
        ("token_type", string()),
        ("expires_in", integer()),
    ];
    props.extend(extra.iter().cloned());
    let required: Vec<&str> = props.iter().map(|(k, _)| *k).collect();
    Answer::Json(object(&required, &props))
}

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

/// The rules of the fields, as this server is configured.
struct Rules {
    min_password_length: usize,
}

fn username() -> Value {
    json!({ "type": "string", "pattern": "^[A-Za-z0-9_.-]{3,32}$" })
}

fn email() -> Value {
    json!({ "type": "string", "format": "email", "maxLength": 254 })
}

/// A string that must not be empty (a token, or a password that is checked, not chosen).
fn non_empty() -> Value {
    json!({ "type": "string", "minLength": 1 })
}

/// A password being chosen: the length rules of the password policy (1024 is in bytes; a
/// schema can only count characters).
fn new_password(rules: &Rules) -> Value {
    json!({ "type": "string", "minLength": rules.min_password_length, "maxLength": 1024 })
}

/// A name or the description: bounded, no control characters; `null` or `""` for none.
fn text(max_chars: usize, pattern: &str) -> Value {
    json!({ "type": "string", "nullable": true, "maxLength": max_chars, "pattern": pattern })
}

/// Where a field may be left empty: `""` reads as absent.
fn or_empty(schema: Value) -> Value {
    json!({ "anyOf": [schema, { "type": "string", "maxLength": 0 }] })
}

/// What a body may send for `username` and `email` besides a valid value.
#[derive(Clone, Copy)]
enum Identity {
    /// Nothing else (the `django` and `auth` registrations).
    Valid,
    /// `""`, read as absent (the canonical and `fastapi` registrations).
    OrEmpty,
    /// `null`, which clears the field (profile updates).
    OrNull,
}

fn profile_fields(identity: Identity) -> Vec<(&'static str, Value)> {
    let identity = |mut schema: Value| match identity {
        Identity::Valid => schema,
        Identity::OrEmpty => or_empty(schema),
        Identity::OrNull => {
            schema["nullable"] = json!(true);
            schema
        }
    };
    let mut props = vec![
        ("username", identity(username())),
        ("email", identity(email())),
    ];
    let name = || text(fields::NAME_MAX, NO_CONTROL);
    for key in ["name", "first_name", "last_name", "firstname", "lastname"] {
        props.push((key, name()));
    }
    props.push((
        "description",
        text(fields::DESCRIPTION_MAX, NO_CONTROL_BUT_LINES),
    ));
    props.push((
        "profile_image",
        json!({ "type": "string", "nullable": true, "maxLength": fields::URL_MAX, "pattern": IMAGE_URL }),
    ));
    props.push((
        "image",
        json!({ "type": "string", "nullable": true, "description": "base64 image or data: URL" }),
    ));
    props
}

fn registration_fields(rules: &Rules, identity: Identity) -> Vec<(&'static str, Value)> {
    let mut props = profile_fields(identity);
    props.push(("password", new_password(rules)));
    props
}

/// A body that names the user by a non-empty `username` or `email` (register, login).
fn username_or_email() -> Value {
    let present =
        |key: &str| json!({ "required": [key], "properties": { key: { "minLength": 1 } } });
    json!([present("username"), present("email")])
}

fn login_fields() -> Vec<(&'static str, Value)> {
    vec![
        ("username", or_empty(username())),
        ("email", or_empty(email())),
        ("password", non_empty()),
    ]
}

fn json_body(required: &'static [&'static str], props: Vec<(&'static str, Value)>) -> Body {
    Body::Json {
        required,
        props,
        any_of: None,
    }
}

/// A body that must name the user by `username` or `email`.
fn naming_body(required: &'static [&'static str], props: Vec<(&'static str, Value)>) -> Body {
    Body::Json {
        required,
        props,
        any_of: Some(username_or_email()),
    }
}

fn op(summary: &'static str, auth: bool, body: Body, status: u16, answer: Answer) -> Operation {
    Operation {
        summary,
        auth,
        body,
        status,
        answer,
    }
}

/// The shapes of each operation, by route name.
fn operation(name: &str, rules: &Rules) -> Option<Operation> {
    use Answer::*;
    let user = || Json(reference("User"));
    let created = |extra: &[(&str, Value)]| {
        let mut props = vec![("message", string())];
        props.extend(extra.iter().cloned());
        let required: Vec<&str> = props.iter().map(|(k, _)| *k).collect();
        Json(object(&required, &props))
    };
    let password_change = || {
        json_body(
            &["old_password", "new_password"],
            vec![
                ("old_password", non_empty()),
                ("new_password", new_password(rules)),
            ],
        )
    };
    let email_body = || json_body(&["email"], vec![("email", email())]);
    Some(match name {
        "api.register" => op(
            "Register",
            false,
            naming_body(&["password"], registration_fields(rules, Identity::OrEmpty)),
            201,
            created(&[("id", integer()), ("user", reference("User"))]),
        ),
        "api.login" => op(
            "Log in",
            false,
            naming_body(&["password"], login_fields()),
            200,
            tokens_with(&[("message", string()), ("user", reference("User"))]),
        ),
        "api.show" => op("The caller's profile", true, Body::None, 200, user()),
        "api.update" => op(
            "Update the profile; null clears a field",
            true,
            json_body(&[], profile_fields(Identity::OrNull)),
            200,
            created(&[("user", reference("User"))]),
        ),
        "api.delete" => op(
            "Delete the account",
            true,
            json_body(&["password"], vec![("password", non_empty())]),
            200,
            message(),
        ),
        "api.change_password" => op(
            "Change the password",
            true,
            password_change(),
            200,
            message(),
        ),
        "api.upload" => op(
            "Upload a profile image",
            true,
            Body::Multipart,
            200,
            Json(object(
                &["message", "profile_image", "image_url", "filename"],
                &[
                    ("message", string()),
                    ("profile_image", string()),
                    ("image_url", string()),
                    ("filename", string()),
                ],
            )),
        ),
        "api.serve" => op("A stored profile image", false, Body::None, 200, Jpeg),
        "api.health" => op(
            "Liveness",
            false,
            Body::None,
            200,
            Json(object(
                &["status", "version"],
                &[("status", string()), ("version", string())],
            )),
        ),
        "api.logout" => op("End this session", true, Body::None, 200, message()),
        "api.refresh" => op(
            "Rotate the refresh token",
            false,
            Body::OptionalJson {
                props: vec![("refresh_token", string())],
            },
            200,
            tokens_with(&[("message", string())]),
        ),
        "api.list" => op(
            "The caller's sessions",
            true,
            Body::None,
            200,
            Json(object(
                &["sessions"],
                &[(
                    "sessions",
                    json!({ "type": "array", "items": reference("Session") }),
                )],
            )),
        ),
        "api.end" => op(
            "End one of the caller's sessions",
            true,
            Body::None,
            200,
            message(),
        ),
        "api.request_reset" => op(
            "Mail a password reset link",
            false,
            email_body(),
            200,
            message(),
        ),
        "api.confirm_reset" => op(
            "Set a new password with a mailed token",
            false,
            json_body(
                &["token", "password"],
                vec![("token", non_empty()), ("password", new_password(rules))],
            ),
            200,
            message(),
        ),
        "api.request_verification" => op(
            "Mail a verification link (to `email`, or the caller's)",
            false,
            Body::OptionalJson {
                props: vec![("email", email())],
            },
            200,
            message(),
        ),
        "api.confirm_verification" => op(
            "Verify an email with a mailed token",
            false,
            json_body(&["token"], vec![("token", non_empty())]),
            200,
            message(),
        ),
        "api.openapi" => op(
            "This document",
            false,
            Body::None,
            200,
            Json(json!({ "type": "object" })),
        ),
        "web.index" => op("The web page", false, Body::None, 200, Html),
        "django.register" => op(
            "Register (django set)",
            false,
            json_body(
                &["username", "password", "email"],
                registration_fields(rules, Identity::Valid),
            ),
            201,
            created(&[("user", reference("User"))]),
        ),
        "django.login" => op(
            "Log in (django set)",
            false,
            naming_body(&["password"], login_fields()),
            200,
            tokens_with(&[]),
        ),
        "django.profile" => op("Profile (django set)", true, Body::None, 200, user()),
        "django.update_profile" => op(
            "Update the profile (django set)",
            true,
            json_body(&[], profile_fields(Identity::OrNull)),
            200,
            user(),
        ),
        "django.change_password" => op(
            "Change the password (django set)",
            true,
            password_change(),
            200,
            message(),
        ),
        "django.logout" => op("Log out (django set)", true, Body::None, 200, message()),
        "fastapi.register" => op(
            "Register (fastapi set)",
            false,
            naming_body(&["password"], registration_fields(rules, Identity::OrEmpty)),
            201,
            created(&[("id", integer())]),
        ),
        "fastapi.login" => op(
            "Log in (fastapi set)",
            false,
            naming_body(&["password"], login_fields()),
            200,
            Json(object(
                &["access_token", "token_type"],
                &[("access_token", string()), ("token_type", string())],
            )),
        ),
        "fastapi.me" => op("Profile (fastapi set)", true, Body::None, 200, user()),
        "fastapi.update_me" => op(
            "Update the profile (fastapi set)",
            true,
            json_body(&[], profile_fields(Identity::OrNull)),
            200,
            message(),
        ),
        "fastapi.upload_image" => op(
            "Upload a profile image (fastapi set)",
            true,
            Body::Multipart,
            200,
            Json(object(
                &["message", "image_url"],
                &[("message", string()), ("image_url", string())],
            )),
        ),
        "fastapi.static_image" => op(
            "A user's current picture (fastapi set)",
            false,
            Body::None,
            200,
            Jpeg,
        ),
        "auth.register" => op(
            "Register (auth set)",
            false,
            json_body(
                &["username", "email", "password"],
                registration_fields(rules, Identity::Valid),
            ),
            201,
            created(&[(
                "user",
                object(
                    &["id", "username", "email"],
                    &[
                        ("id", integer()),
                        ("username", nullable_string()),
                        ("email", nullable_string()),
                    ],
                ),
            )]),
        ),
        "auth.login" => op(
            "Log in (auth set)",
            false,
            naming_body(&["password"], login_fields()),
            200,
            Json(object(
                &["message", "access_token", "refresh_token"],
                &[
                    ("message", string()),
                    ("access_token", string()),
                    ("refresh_token", string()),
                ],
            )),
        ),
        "auth.logout" => op("Log out (auth set)", true, Body::None, 200, message()),
        "auth.refresh" => op(
            "A new access token for a refresh token (no rotation)",
            false,
            Body::OptionalJson {
                props: vec![("refresh_token", string())],
            },
            200,
            Json(object(&["access_token"], &[("access_token", string())])),
        ),
        "auth.request_reset" => op(
            "Mail a password reset link (auth set)",
            false,
            email_body(),
            200,
            message(),
        ),
        "auth.reset" => op(
            "Set a new password with a mailed token (auth set)",
            false,
            json_body(&["password"], vec![("password", new_password(rules))]),
            200,
            message(),
        ),
        "auth.request_verification" => op(
            "Mail a verification link (auth set)",
            false,
            email_body(),
            200,
            message(),
        ),
        "auth.verify" => op(
            "Verify an email with a mailed token (auth set)",
            false,
            Body::None,
            200,
            message(),
        ),
        _ => return None,
    })
}

/// The path as clients write it: Rocket ignores trailing slashes, the `django` set and
/// `/auth/register/` are documented with theirs.
fn documented_path(name: &str, path: &str) -> String {
    let openapi_path: String = path
        .split('/')
        .map(
            |segment| match segment.strip_prefix('<').and_then(|s| s.strip_suffix('>')) {
                Some(param) => format!("{{{param}}}"),
                None => segment.to_string(),
            },
        )
        .collect::<Vec<_>>()
        .join("/");
    if name.starts_with("django.") || name == "auth.register" {
        format!("{openapi_path}/")
    } else {
        openapi_path
    }
}

fn parameters(path: &str) -> Vec<Value> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|param| {
            let schema = if param == "id" { integer() } else { string() };
            json!({ "name": param, "in": "path", "required": true, "schema": schema })
        })
        .collect()
}

fn describe(name: &str, path: &str, spec: Operation) -> Value {
    let mut operation = json!({
        "operationId": name,
        "summary": spec.summary,
        "parameters": parameters(path),
        "responses": { "default": { "description": "An error", "content": { "application/json": { "schema": reference("Error") } } } },
    });
    if spec.auth {
        operation["security"] = json!([{ "bearer": [] }]);
    }
    let json_request = |required: &[&str], props: &[(&str, Value)], needed: bool| json!({ "required": needed, "content": { "application/json": { "schema": object(required, props) } } });
    match spec.body {
        Body::None => {}
        Body::Json {
            required,
            props,
            any_of,
        } => {
            let mut request = json_request(required, &props, true);
            if let Some(any_of) = any_of {
                request["content"]["application/json"]["schema"]["anyOf"] = any_of;
            }
            operation["requestBody"] = request;
        }
        Body::OptionalJson { props } => operation["requestBody"] = json_request(&[], &props, false),
        Body::Multipart => {
            operation["requestBody"] = json!({ "required": true, "content": { "multipart/form-data": { "schema":
                object(&["file"], &[("file", json!({ "type": "string", "format": "binary" }))]) } } })
        }
    }
    let (content, extra) = match spec.answer {
        Answer::Json(schema) => (Some(("application/json", schema)), None),
        Answer::Jpeg => (
            Some((
                "image/jpeg",
                json!({ "type": "string", "format": "binary" }),
            )),
            Some((
                "304",
                json!({ "description": "Not modified (If-None-Match)" }),
            )),
        ),
        Answer::Html => (
            Some(("text/html", string())),
            Some(("304", json!({ "description": "Not modified" }))),
        ),
        Answer::Empty => (None, None),
    };
    let mut success = json!({ "description": spec.summary });
    if let Some((media, schema)) = content {
        success["content"] = json!({ media: { "schema": schema } });
    }
    operation["responses"][spec.status.to_string()] = success;
    if let Some((status, response)) = extra {
        operation["responses"][status] = response;
    }
    operation
}

fn components() -> Value {
    let user_fields: Vec<(&str, Value)> = vec![
        ("id", integer()),
        ("username", nullable_string()),
        ("email", nullable_string()),
        ("name", nullable_string()),
        ("first_name", nullable_string()),
        ("last_name", nullable_string()),
        ("description", nullable_string()),
        ("profile_image", nullable_string()),
        ("image_url", nullable_string()),
        ("email_verified", json!({ "type": "boolean" })),
        ("created_at", string()),
        ("updated_at", string()),
    ];
    let user_keys: Vec<&str> = user_fields.iter().map(|(k, _)| *k).collect();
    json!({
        "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT" } },
        "schemas": {
            "User": object(&user_keys, &user_fields),
            "Error": object(&["error", "code"], &[("error", string()), ("code", string()), ("message", string())]),
            "Message": object(&["message"], &[("message", string())]),
            "Session": object(
                &["id", "created_at", "last_used_at", "user_agent", "ip", "current"],
                &[("id", integer()), ("created_at", string()), ("last_used_at", string()),
                  ("user_agent", nullable_string()), ("ip", nullable_string()), ("current", json!({ "type": "boolean" }))],
            ),
        },
    })
}

/// The document for the routes this Rocket has mounted, with these settings' field rules.
pub fn document(rocket: &Rocket<Orbit>, settings: &Settings) -> Value {
    let rules = Rules {
        min_password_length: settings.min_password_length,
    };
    let mut paths = serde_json::Map::new();
    for route in rocket.routes() {
        let name = route.name.as_deref().unwrap_or_default();
        if UNDESCRIBED.contains(&name) {
            continue;
        }
        let path = documented_path(name, route.uri.path());
        let spec = operation(name, &rules)
            .unwrap_or_else(|| op("Undocumented route", false, Body::None, 200, Answer::Empty));
        let method = route.method.as_str().to_ascii_lowercase();
        let entry = paths.entry(path.clone()).or_insert_with(|| json!({}));
        entry[method] = describe(name, &path, spec);
    }
    json!({
        "openapi": "3.0.3",
        "info": { "title": "profilebox", "version": env!("CARGO_PKG_VERSION"), "description": "A complete user-account service in one binary." },
        "servers": [{ "url": settings.public_url() }],
        "paths": paths,
        "components": components(),
    })
}

/// The document for the Rocket serving this request.
pub struct Document(Value);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Document {
    type Error = ApiError;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        match request.rocket().state::<Settings>() {
            Some(settings) => Outcome::Success(Document(document(request.rocket(), settings))),
            None => Outcome::Error(park(request, ApiError::internal("settings not managed"))),
        }
    }
}

#[rocket::get("/api/openapi.json")]
fn openapi(document: Document) -> Json<Value> {
    Json(document.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_get_their_parameters_and_slashes() {
        assert_eq!(
            documented_path("api.end", "/api/user/sessions/<id>"),
            "/api/user/sessions/{id}"
        );
        assert_eq!(
            documented_path("django.profile", "/api/profile"),
            "/api/profile/"
        );
        assert_eq!(
            documented_path("auth.register", "/auth/register"),
            "/auth/register/"
        );
        let params = parameters("/api/user/sessions/{id}");
        assert_eq!(params[0]["schema"]["type"], "integer");
    }
}
