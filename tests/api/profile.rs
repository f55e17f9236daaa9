use serde_json::{json, Value};

use crate::support::{TestApp, PASSWORD};

#[rocket::async_test]
async fn the_profile_is_the_user_object_of_the_caller() {
    let app = TestApp::new().await;
    let (user, token) = app.user("alice").await;
    let reply = app.get("/api/user/profile", Some(&token)).await;
    assert_eq!(reply.status.code, 200);
    assert_eq!(reply.body, user);
}

#[rocket::async_test]
async fn the_token_scheme_word_may_be_token_as_rest_framework_clients_send() {
    let app = TestApp::new().await;
    let (_, token) = app.user("alice").await;
    let reply = app
        .get_with(
            "/api/user/profile",
            &[("Authorization", &format!("Token {token}"))],
        )
        .await;
    assert_eq!(reply.status.code, 200);
    assert_eq!(reply.body["username"], "alice");
}

#[rocket::async_test]
async fn updating_changes_only_the_fields_sent() {
    let app = TestApp::new().await;
    let (user, token) = app.user("alice").await;
    let reply = app
        .put(
            "/api/user/profile",
            &token,
            json!({ "name": "Alice L.", "description": "Line one\nline two" }),
        )
        .await;
    assert_eq!(reply.status.code, 200, "{}", reply.body);
    assert_eq!(reply.body["message"], "Profile updated");
    let updated = &reply.body["user"];
    assert_eq!(updated["name"], "Alice L.");
    assert_eq!(updated["description"], "Line one\nline two");
    assert_eq!(updated["username"], user["username"]);
    assert_eq!(updated["email"], user["email"]);
    assert_eq!(
        app.get("/api/user/profile", Some(&token)).await.body,
        *updated
    );
}

#[rocket::async_test]
async fn null_clears_optional_fields_and_synonyms_are_accepted() {
    let app = TestApp::new().await;
    let (_, token) = app.user("alice").await;
    app.put(
        "/api/user/profile",
        &token,
        json!({ "firstname": "Al", "lastname": "Ice", "description": "x" }),
    )
    .await;
    let reply = app
        .put(
            "/api/user/profile",
            &token,
            json!({ "description": null, "first_name": null, "email": null }),
        )
        .await;
    let user = &reply.body["user"];
    assert_eq!(user["description"], Value::Null);
    assert_eq!(user["first_name"], Value::Null);
    assert_eq!(user["last_name"], "Ice");
    assert_eq!(user["email"], Value::Null);
    // Clearing the last way to log in is refused.
    app.put("/api/user/profile", &token, json!({ "username": null }))
        .await
        .assert_error(400, "missing_field");
}

#[rocket::async_test]
async fn changing_username_and_email_is_checked_for_collisions_and_resets_verification() {
    let app = TestApp::new().await;
    app.register("bob").await;
    let (_, token) = app.user("alice").await;
    app.put("/api/user/profile", &token, json!({ "username": "BOB" }))
        .await
        .assert_error(400, "user_exists");
    app.put(
        "/api/user/profile",
        &token,
        json!({ "email": "bob@example.org" }),
    )
    .await
    .assert_error(400, "user_exists");
    // Changing only the case of one's own username is not a collision.
    let reply = app
        .put(
            "/api/user/profile",
            &token,
            json!({ "username": "ALICE", "email": "New@Example.org" }),
        )
        .await;
    assert_eq!(reply.status.code, 200, "{}", reply.body);
    assert_eq!(reply.body["user"]["username"], "ALICE");
    assert_eq!(reply.body["user"]["email"], "new@example.org");
    assert_eq!(reply.body["user"]["email_verified"], false);
    let login = app
        .post(
            "/api/login",
            json!({ "email": "new@example.org", "password": PASSWORD }),
        )
        .await;
    assert_eq!(login.status.code, 200);
}

#[rocket::async_test]
async fn invalid_updates_change_nothing() {
    let app = TestApp::new().await;
    let (user, token) = app.user("alice").await;
    for body in [
        json!({ "name": "ok", "email": "broken" }),
        json!({ "name": "ok", "username": "x" }),
        json!({ "name": 12 }),
        json!({ "name": "ok", "image": "bm90IGFuIGltYWdl" }),
    ] {
        let reply = app.put("/api/user/profile", &token, body.clone()).await;
        assert_eq!(reply.status.code, 400, "{body}");
    }
    assert_eq!(app.get("/api/user/profile", Some(&token)).await.body, user);
}

#[rocket::async_test]
async fn profile_routes_need_a_token() {
    let app = TestApp::new().await;
    app.get("/api/user/profile", None)
        .await
        .assert_error(401, "unauthorized");
    let reply = app
        .send(
            rocket::http::Method::Put,
            "/api/user/profile",
            None,
            Some(b"{}".to_vec()),
            None,
        )
        .await;
    reply.assert_error(401, "unauthorized");
}
