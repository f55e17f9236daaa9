//! The `auth` set: the `/auth` blueprint with refresh tokens, reset and verification.

use std::time::Duration;

use rocket::http::Method;
use serde_json::json;

use crate::support::{TestApp, PASSWORD};

/// The token of the newest mail in the outbox once there are `count` of them.
async fn outbox_token(app: &TestApp, count: usize) -> String {
    let dir = app.dir.path().join("outbox");
    for _ in 0..500 {
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .map(|d| d.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default();
        files.retain(|p: &std::path::PathBuf| p.extension().is_some_and(|x| x == "eml"));
        files.sort();
        if files.len() >= count {
            let text = std::fs::read_to_string(&files[count - 1])
                .unwrap()
                .replace("=\r\n", "")
                .replace("=3D", "=");
            let start = text.find("token=").unwrap() + 6;
            return text[start..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect();
        }
        rocket::tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no mail arrived");
}

#[rocket::async_test]
async fn the_auth_set_walks_end_to_end() {
    let app = TestApp::with(|f| f.merge(("rate_limit", false))).await;
    let reply = app
        .post("/auth/register/", json!({ "username": "johndoe", "email": "john@example.com", "password": PASSWORD, "firstname": "John", "lastname": "Doe" }))
        .await;
    assert_eq!(reply.status.code, 201, "{}", reply.body);
    assert_eq!(reply.body["message"], "User registered successfully");
    let user = &reply.body["user"];
    assert_eq!(
        (user["username"].as_str(), user["email"].as_str()),
        (Some("johndoe"), Some("john@example.com"))
    );
    assert!(user["id"].is_i64());

    let reply = app
        .post(
            "/auth/login",
            json!({ "email": "john@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(reply.status.code, 200, "{}", reply.body);
    assert_eq!(reply.body["message"], "Login successful");
    let access = reply.body["access_token"].as_str().unwrap().to_string();
    let refresh = reply.body["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(
        app.get("/api/user/profile", Some(&access)).await.body["first_name"],
        "John"
    );

    // /auth/refresh hands out access tokens and keeps the refresh token valid.
    for _ in 0..2 {
        let reply = app
            .send(Method::Post, "/auth/refresh", Some(&refresh), None, None)
            .await;
        assert_eq!(reply.status.code, 200, "{}", reply.body);
        let fresh = reply.body["access_token"].as_str().unwrap();
        assert_eq!(
            app.get("/api/user/profile", Some(fresh)).await.status.code,
            200
        );
    }
    app.send(Method::Post, "/auth/refresh", None, None, None)
        .await
        .assert_error(401, "unauthorized");
    app.send(Method::Post, "/auth/refresh", Some(&access), None, None)
        .await
        .assert_error(401, "unauthorized");

    let reply = app
        .post(
            "/auth/request-verify-email",
            json!({ "email": "john@example.com" }),
        )
        .await;
    assert_eq!(
        reply.body,
        json!({ "message": "Check your email, a verification link has been sent." })
    );
    let token = outbox_token(&app, 1).await;
    let reply = app
        .send(
            Method::Post,
            &format!("/auth/verify-email/{token}"),
            None,
            None,
            None,
        )
        .await;
    assert_eq!(reply.status.code, 200, "{}", reply.body);
    assert_eq!(
        reply.body["message"],
        "Email has been verified successfully."
    );
    let reply = app
        .send(
            Method::Post,
            &format!("/auth/verify-email/{token}"),
            None,
            None,
            None,
        )
        .await;
    reply.assert_error(400, "invalid_token");
    assert_eq!(reply.body["message"], "Invalid or expired token.");

    let reply = app
        .post(
            "/auth/request-password-reset",
            json!({ "email": "john@example.com" }),
        )
        .await;
    assert_eq!(reply.status.code, 200);
    assert_eq!(
        reply.body["message"],
        "Check your email, a password reset email has been sent"
    );
    let token = outbox_token(&app, 2).await;
    app.post(&format!("/auth/password-reset/{token}"), json!({}))
        .await
        .assert_error(400, "missing_field");
    let reply = app
        .post(
            &format!("/auth/password-reset/{token}"),
            json!({ "password": "another good password" }),
        )
        .await;
    assert_eq!(reply.status.code, 200, "{}", reply.body);
    assert_eq!(
        reply.body["message"],
        "Password has been reset successfully."
    );
    app.post(
        &format!("/auth/password-reset/{token}"),
        json!({ "password": "another good password" }),
    )
    .await
    .assert_error(400, "invalid_token");
    // The reset ended every session, the refresh token's too.
    app.send(Method::Post, "/auth/refresh", Some(&refresh), None, None)
        .await
        .assert_error(401, "unauthorized");

    let reply = app
        .post(
            "/auth/login",
            json!({ "email": "john@example.com", "password": "another good password" }),
        )
        .await;
    let access = reply.body["access_token"].as_str().unwrap().to_string();
    let reply = app
        .send(Method::Post, "/auth/logout", Some(&access), None, None)
        .await;
    assert_eq!(reply.body, json!({ "message": "Logout successful" }));
    assert_eq!(
        app.get("/api/user/profile", Some(&access))
            .await
            .status
            .code,
        401
    );
}

#[rocket::async_test]
async fn the_auth_set_answers_with_its_own_messages() {
    let app = TestApp::new().await;
    let reply = app
        .send(
            Method::Post,
            "/auth/register/",
            None,
            Some(b"{not json".to_vec()),
            Some(rocket::http::ContentType::JSON),
        )
        .await;
    reply.assert_error(400, "invalid_json");
    assert_eq!(reply.body["error"], "Invalid JSON");
    app.post(
        "/auth/register/",
        json!({ "username": "johndoe", "password": PASSWORD }),
    )
    .await
    .assert_error(400, "missing_field");
    app.post(
        "/auth/register/",
        json!({ "username": "johndoe", "email": "john@example.com", "password": PASSWORD }),
    )
    .await;
    let reply = app
        .post(
            "/auth/login",
            json!({ "email": "john@example.com", "password": "wrong password" }),
        )
        .await;
    reply.assert_error(401, "invalid_credentials");
    assert_eq!(reply.body["error"], "Invalid email or password");
    app.post("/auth/request-password-reset", json!({}))
        .await
        .assert_error(400, "missing_field");
    app.post("/auth/request-verify-email", json!({}))
        .await
        .assert_error(400, "missing_field");
    let reply = app
        .send(
            Method::Post,
            "/auth/verify-email/not-a-token",
            None,
            None,
            None,
        )
        .await;
    reply.assert_error(400, "invalid_token");
    assert_eq!(reply.body["message"], "Invalid or expired token.");
}

#[rocket::async_test]
async fn without_the_auth_set_its_routes_are_json_404s() {
    let app = TestApp::with(|f| f.merge(("compat", Vec::<String>::new()))).await;
    app.post(
        "/auth/login",
        json!({ "email": "a@example.org", "password": PASSWORD }),
    )
    .await
    .assert_error(404, "not_found");
    app.post("/auth/register/", json!({}))
        .await
        .assert_error(404, "not_found");
}

#[rocket::async_test]
async fn an_unknown_route_set_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let rocket =
        profilebox::rocket(crate::support::test_figment(&dir).merge(("compat", ["djnago"])));
    let Err(error) = rocket::local::asynchronous::Client::untracked(rocket).await else {
        panic!("an unknown set must be refused");
    };
    assert!(matches!(
        error.kind(),
        rocket::error::ErrorKind::FailedFairings(_)
    ));
}
