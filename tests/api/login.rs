use std::time::Instant;

use serde_json::json;

use crate::support::{TestApp, PASSWORD};

#[rocket::async_test]
async fn logging_in_returns_the_token_fields_and_the_user() {
    let app = TestApp::new().await;
    let user = app.register("alice").await;
    let reply = app
        .post(
            "/api/login",
            json!({ "username": "alice", "password": PASSWORD }),
        )
        .await;
    assert_eq!(reply.status.code, 200, "{}", reply.body);
    assert_eq!(reply.body["message"], "Login successful");
    let token = reply.body["token"].as_str().unwrap();
    assert_eq!(reply.body["access_token"], token);
    assert_eq!(token.split('.').count(), 3);
    assert_eq!(reply.body["token_type"], "Bearer");
    let refresh = reply.body["refresh_token"].as_str().unwrap();
    assert!(
        refresh.len() >= 43 && !refresh.contains('.'),
        "an opaque refresh token: {refresh}"
    );
    assert_eq!(reply.body["expires_in"], 3600);
    assert_eq!(reply.body["user"], user);
}

#[rocket::async_test]
async fn logins_match_usernames_case_insensitively_and_by_email() {
    let app = TestApp::new().await;
    app.register("Alice").await;
    for body in [
        json!({ "username": "aLiCe", "password": PASSWORD }),
        json!({ "email": "ALICE@example.org", "password": PASSWORD }),
        json!({ "username": "alice@example.org", "password": PASSWORD }),
    ] {
        let reply = app.post("/api/login", body.clone()).await;
        assert_eq!(reply.status.code, 200, "{body}: {}", reply.body);
        assert_eq!(reply.body["user"]["username"], "Alice");
    }
}

#[rocket::async_test]
async fn unknown_users_and_wrong_passwords_fail_alike() {
    let app = TestApp::with(|f| f.merge(("pbkdf2_iterations", 60_000))).await;
    app.register("alice").await;
    let wrong = app
        .post(
            "/api/login",
            json!({ "username": "alice", "password": "wrong password" }),
        )
        .await;
    let unknown = app
        .post(
            "/api/login",
            json!({ "username": "nobody", "password": "wrong password" }),
        )
        .await;
    wrong.assert_error(401, "invalid_credentials");
    assert_eq!(wrong.body, unknown.body);
    assert_eq!(wrong.body["error"], "Invalid username or password");
    assert_eq!(wrong.status, unknown.status);

    // Both spend one hash: the unknown user is not answered measurably faster.
    let time = |body: serde_json::Value| {
        let app = &app;
        async move {
            let start = Instant::now();
            for _ in 0..5 {
                app.post("/api/login", body.clone()).await;
            }
            start.elapsed().as_secs_f64()
        }
    };
    let known = time(json!({ "username": "alice", "password": "wrong password" })).await;
    let unknown = time(json!({ "username": "nobody", "password": "wrong password" })).await;
    let ratio = unknown / known;
    assert!(
        (0.5..2.0).contains(&ratio),
        "unknown {unknown:.3}s vs known {known:.3}s"
    );
}

#[rocket::async_test]
async fn missing_login_fields_are_400() {
    let app = TestApp::new().await;
    app.post("/api/login", json!({ "password": PASSWORD }))
        .await
        .assert_error(400, "missing_field");
    app.post("/api/login", json!({ "username": "alice" }))
        .await
        .assert_error(400, "missing_field");
    app.post("/api/login", json!({ "username": "alice", "password": 5 }))
        .await
        .assert_error(400, "invalid_field");
}

#[rocket::async_test]
async fn a_weaker_stored_hash_is_upgraded_at_the_next_login() {
    let dir_app = TestApp::new().await;
    dir_app.register("alice").await;
    const STORED: &str = "SELECT password_hash FROM users WHERE username = 'alice'";
    assert!(dir_app.sql(STORED).await.contains("i=1000,"));

    // Same data, a stronger configured work factor.
    let app = dir_app
        .restart(|figment| figment.merge(("pbkdf2_iterations", 2000)))
        .await;
    app.login("alice").await;
    let upgraded = app.sql(STORED).await;
    assert!(upgraded.contains("i=2000,"), "{upgraded}");
    app.login("alice").await;
}
