//! The `django` set, walked the way a REST-framework client walks it.

use base64::Engine;
use rocket::http::{Header, Method};
use serde_json::json;

use crate::support::{decode_jpeg, jpeg, path_of, TestApp, PASSWORD};

async fn with_token(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<serde_json::Value>,
) -> crate::support::Reply {
    let mut request = app.client.req(method, path.to_string());
    request.add_header(Header::new("Authorization", format!("Token {token}")));
    if let Some(body) = body {
        request.set_body(body.to_string());
    }
    TestApp::reply(request.dispatch().await).await
}

#[rocket::async_test]
async fn the_django_set_walks_end_to_end() {
    let app = TestApp::new().await;
    let image = base64::engine::general_purpose::STANDARD.encode(jpeg(600, 300));
    let reply = app
        .post(
            "/api/register/",
            json!({ "username": "your_username", "password": PASSWORD, "email": "your_email@example.com",
                    "first_name": "John", "last_name": "Doe", "image": image }),
        )
        .await;
    assert_eq!(reply.status.code, 201, "{}", reply.body);
    assert!(reply.body["message"].is_string());
    assert_eq!(reply.body["user"]["first_name"], "John");
    assert_eq!(reply.body["user"]["name"], "John Doe");
    let picture = reply.body["user"]["image_url"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        decode_jpeg(&app.get(&path_of(&picture), None).await.bytes).width(),
        512
    );

    let reply = app
        .post(
            "/api/login/",
            json!({ "username": "your_username", "password": PASSWORD }),
        )
        .await;
    assert_eq!(reply.status.code, 200, "{}", reply.body);
    let token = reply.body["token"].as_str().unwrap().to_string();

    let profile = with_token(&app, Method::Get, "/api/profile/", &token, None).await;
    assert_eq!(profile.status.code, 200);
    assert_eq!(profile.body["username"], "your_username");
    assert_eq!(profile.body["email"], "your_email@example.com");

    let updated = with_token(
        &app,
        Method::Put,
        "/api/profile/",
        &token,
        Some(json!({ "username": "NewUsername", "first_name": "NewFirst", "last_name": "NewLast", "email": "new_email@example.com" })),
    )
    .await;
    assert_eq!(updated.status.code, 200, "{}", updated.body);
    assert_eq!(
        updated.body["username"], "NewUsername",
        "the updated profile at the top level"
    );
    assert_eq!(updated.body["first_name"], "NewFirst");
    assert_eq!(updated.body["email"], "new_email@example.com");

    let changed = with_token(
        &app,
        Method::Put,
        "/api/change_password/",
        &token,
        Some(json!({ "old_password": PASSWORD, "new_password": "your_new_password" })),
    )
    .await;
    assert_eq!(changed.status.code, 200, "{}", changed.body);
    assert!(changed.body["message"].is_string());
    let wrong = with_token(
        &app,
        Method::Put,
        "/api/change_password/",
        &token,
        Some(json!({ "old_password": "not the password", "new_password": "whatever else" })),
    )
    .await;
    wrong.assert_error(400, "wrong_password");

    let out = with_token(&app, Method::Post, "/api/logout/", &token, None).await;
    assert_eq!(out.status.code, 200);
    assert!(out.body["message"].is_string());
    with_token(&app, Method::Get, "/api/profile/", &token, None)
        .await
        .assert_error(401, "session_ended");
    let again = app
        .post(
            "/api/login/",
            json!({ "username": "NewUsername", "password": "your_new_password" }),
        )
        .await;
    assert_eq!(again.status.code, 200);
}

#[rocket::async_test]
async fn the_django_register_requires_username_password_and_email_where_the_canonical_one_does_not()
{
    let app = TestApp::new().await;
    let reply = app
        .post(
            "/api/register/",
            json!({ "username": "alice", "password": PASSWORD }),
        )
        .await;
    reply.assert_error(400, "missing_field");
    assert!(reply.body["error"].as_str().unwrap().contains("email"));
    app.post(
        "/api/register/",
        json!({ "email": "a@example.org", "password": PASSWORD }),
    )
    .await
    .assert_error(400, "missing_field");
    let canonical = app
        .post(
            "/api/register",
            json!({ "username": "alice", "password": PASSWORD }),
        )
        .await;
    assert_eq!(canonical.status.code, 201);
}

#[rocket::async_test]
async fn without_the_django_set_its_paths_are_404_or_canonical() {
    let app = TestApp::with(|f| f.merge(("compat", ["fastapi", "auth"]))).await;
    let (_, token) = app.user("alice").await;
    with_token(&app, Method::Get, "/api/profile/", &token, None)
        .await
        .assert_error(404, "not_found");
    with_token(
        &app,
        Method::Put,
        "/api/change_password/",
        &token,
        Some(json!({})),
    )
    .await
    .assert_error(404, "not_found");
    // The shared paths still reach the canonical logic.
    let reply = app
        .post(
            "/api/register/",
            json!({ "username": "bob", "password": PASSWORD }),
        )
        .await;
    assert_eq!(reply.status.code, 201);
}
