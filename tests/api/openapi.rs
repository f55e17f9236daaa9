//! The OpenAPI document is what Schemathesis fuzzes against (`.ci/schemathesis`): wherever the
//! server refuses a value, the document must forbid it too, or schema-valid requests get 400s.

use serde_json::{json, Value};

use crate::support::{TestApp, PASSWORD};

/// The JSON schema of an operation's request body.
fn request_schema(doc: &Value, path: &str, method: &str) -> Value {
    doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"].clone()
}

const NO_CONTROL: &str = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$";

#[rocket::async_test]
async fn the_document_forbids_the_control_characters_and_lengths_the_server_refuses() {
    let app = TestApp::new().await;
    let doc = app.get("/api/openapi.json", None).await.body;
    let update = request_schema(&doc, "/api/user/profile", "put");
    for field in ["name", "first_name", "last_name", "firstname", "lastname"] {
        let schema = &update["properties"][field];
        assert_eq!(schema["pattern"], NO_CONTROL, "{field}");
        assert_eq!(schema["maxLength"], 100, "{field}");
    }
    let description = &update["properties"]["description"];
    assert_eq!(description["maxLength"], 2000);
    assert!(!description["pattern"].as_str().unwrap().contains("u000a"));
    assert_eq!(update["properties"]["profile_image"]["maxLength"], 2048);
    // `null` clears the username in an update, so the document allows it.
    assert_eq!(update["properties"]["username"]["nullable"], true);

    let (_, token) = app.user("alice").await;
    for (field, value) in [
        ("name", "x\u{1}"),
        ("first_name", "tab\tbed"),
        ("description", "bell\u{7}"),
        ("name", &"n".repeat(101)),
    ] {
        app.put("/api/user/profile", &token, json!({ field: value }))
            .await
            .assert_error(400, "invalid_field");
    }
    // A stray bracket in the host is a URL clients fail to parse (it crashed Schemathesis).
    for url in ["https://a b/c.png", "http://[x/c.png", "http://a]b/c.png"] {
        app.put("/api/user/profile", &token, json!({ "profile_image": url }))
            .await
            .assert_error(400, "invalid_field");
    }
}

#[rocket::async_test]
async fn the_document_forbids_the_empty_strings_the_server_refuses() {
    let app = TestApp::new().await;
    let doc = app.get("/api/openapi.json", None).await.body;
    for (path, field) in [
        ("/api/password-reset/confirm", "token"),
        ("/api/verify-email/confirm", "token"),
        ("/api/login", "password"),
        ("/api/user/password", "old_password"),
    ] {
        let method = if path == "/api/user/password" {
            "put"
        } else {
            "post"
        };
        let schema = request_schema(&doc, path, method);
        assert_eq!(
            schema["properties"][field]["minLength"], 1,
            "{path} {field}"
        );
    }
    // A login or a registration must name the user by a non-empty username or email.
    for path in ["/api/login", "/api/register", "/register", "/login"] {
        let any_of = &request_schema(&doc, path, "post")["anyOf"];
        assert_eq!(any_of[0]["required"], json!(["username"]), "{path}");
        assert_eq!(any_of[1]["required"], json!(["email"]), "{path}");
        assert_eq!(any_of[1]["properties"]["email"]["minLength"], 1, "{path}");
    }

    app.post(
        "/api/password-reset/confirm",
        json!({ "token": "", "password": PASSWORD }),
    )
    .await
    .assert_error(400, "missing_field");
    app.post(
        "/api/register",
        json!({ "username": "", "email": "", "password": PASSWORD }),
    )
    .await
    .assert_error(400, "missing_field");
}

#[rocket::async_test]
async fn the_document_carries_the_configured_minimum_password_length() {
    let app = TestApp::with(|f| f.merge(("min_password_length", 12))).await;
    let doc = app.get("/api/openapi.json", None).await.body;
    for (path, method, field) in [
        ("/api/register", "post", "password"),
        ("/api/user/password", "put", "new_password"),
        ("/api/password-reset/confirm", "post", "password"),
        ("/auth/password-reset/{token}", "post", "password"),
    ] {
        let schema = request_schema(&doc, path, method);
        assert_eq!(schema["properties"][field]["minLength"], 12, "{path}");
        assert_eq!(schema["properties"][field]["maxLength"], 1024, "{path}");
    }
    app.post(
        "/api/register",
        json!({ "username": "alice", "password": "eleven char" }),
    )
    .await
    .assert_error(400, "weak_password");
}

/// Every `required` list of the document, wherever it sits.
fn required_lists<'a>(value: &'a Value, at: String, found: &mut Vec<(String, &'a Value)>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                if key == "required" && inner.is_array() {
                    found.push((at.clone(), inner));
                }
                required_lists(inner, format!("{at}/{key}"), found);
            }
        }
        Value::Array(items) => {
            for (i, inner) in items.iter().enumerate() {
                required_lists(inner, format!("{at}/{i}"), found);
            }
        }
        _ => {}
    }
}

#[rocket::async_test]
async fn no_schema_has_an_empty_required_list_which_openapi_3_0_forbids() {
    let app = TestApp::new().await;
    let doc = app.get("/api/openapi.json", None).await.body;
    let mut found = Vec::new();
    required_lists(&doc, String::new(), &mut found);
    assert!(found.len() > 10, "the document has required lists at all");
    for (at, list) in found {
        assert!(
            !list.as_array().unwrap().is_empty(),
            "empty required at {at}"
        );
    }
}

/// The document's request bodies and the server's readers come from one declaration: every
/// property the document names is a field the server reads (a number there is refused, naming
/// the field), so a renamed or added field cannot leave the document behind.
#[rocket::async_test]
async fn every_documented_body_field_is_one_the_server_reads() {
    let app = TestApp::new().await;
    let doc = app.get("/api/openapi.json", None).await.body;
    let (_, token) = app.user("alice").await;
    // Each path with a body it would accept, so the one wrong field is what is refused.
    for (path, method, valid) in [
        (
            "/api/register",
            "post",
            json!({ "username": "bob", "password": PASSWORD }),
        ),
        (
            "/api/login",
            "post",
            json!({ "username": "alice", "password": PASSWORD }),
        ),
        ("/api/user/profile", "put", json!({})),
        (
            "/api/user/password",
            "put",
            json!({ "old_password": PASSWORD, "new_password": "another long one" }),
        ),
        (
            "/api/password-reset/confirm",
            "post",
            json!({ "token": "t", "password": PASSWORD }),
        ),
    ] {
        let schema = request_schema(&doc, path, method);
        let properties = schema["properties"].as_object().unwrap();
        assert!(properties.len() >= 2, "{path}");
        for field in properties.keys() {
            let mut body = valid.clone();
            body[field] = json!(5);
            let reply = if method == "put" {
                app.put(path, &token, body).await
            } else {
                app.post(path, body).await
            };
            assert_eq!(reply.status.code, 400, "{path} {field}");
            assert_eq!(reply.body["code"], "invalid_field", "{path} {field}");
            let message = reply.body["error"].as_str().unwrap();
            assert!(message.starts_with(field.as_str()), "{path}: {message}");
        }
    }
}
