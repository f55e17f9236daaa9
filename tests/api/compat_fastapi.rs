//! The `fastapi` set (`/me`), and the Flask + MySQL clients it also serves.

use serde_json::{json, Value};

use crate::support::{decode_jpeg, jpeg, multipart, TestApp, PASSWORD};

#[rocket::async_test]
async fn the_fastapi_set_walks_end_to_end() {
    let app = TestApp::new().await;
    let reply = app
        .post(
            "/register",
            json!({ "name": "John Doe", "email": "john@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(reply.status.code, 201, "{}", reply.body);
    let id = reply.body["id"].as_i64().unwrap();
    assert!(reply.body["message"].is_string());

    let reply = app
        .post(
            "/login",
            json!({ "email": "john@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(reply.status.code, 200, "{}", reply.body);
    assert_eq!(reply.body["token_type"], "bearer");
    let token = reply.body["access_token"].as_str().unwrap().to_string();
    let claims: Value = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            token.split('.').nth(1).unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["user_id"], id);
    assert!(claims["exp"].is_i64());

    let me = app.get("/me", Some(&token)).await;
    assert_eq!(me.status.code, 200);
    assert_eq!(
        (
            me.body["id"].as_i64(),
            me.body["name"].as_str(),
            me.body["email"].as_str()
        ),
        (Some(id), Some("John Doe"), Some("john@example.com"))
    );
    assert_eq!(me.body["image_url"], Value::Null);

    let reply = app.put("/me", &token, json!({ "name": "New Name" })).await;
    assert_eq!(reply.status.code, 200, "{}", reply.body);
    assert!(reply.body["message"].is_string());
    assert_eq!(app.get("/me", Some(&token)).await.body["name"], "New Name");

    let (content_type, body) = multipart("image", "me.jpg", &jpeg(700, 700));
    let reply = app
        .send(
            rocket::http::Method::Post,
            "/me/upload-image",
            Some(&token),
            Some(body),
            Some(content_type),
        )
        .await;
    assert_eq!(reply.status.code, 200, "{}", reply.body);
    assert_eq!(reply.body["message"], "Upload successful");
    let static_url = format!("http://localhost:8000/static/profile/{id}.jpg");
    assert_eq!(reply.body["image_url"], static_url);
    assert_eq!(
        app.get("/me", Some(&token)).await.body["image_url"],
        static_url
    );

    let served = app.get(&format!("/static/profile/{id}.jpg"), None).await;
    assert_eq!(served.status.code, 200);
    assert_eq!(served.header("content-type"), Some("image/jpeg"));
    assert_eq!(served.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(decode_jpeg(&served.bytes).width(), 512);
    let etag = served.header("etag").unwrap().to_string();
    assert_eq!(
        app.get_with(
            &format!("/static/profile/{id}.jpg"),
            &[("If-None-Match", &etag)]
        )
        .await
        .status
        .code,
        304
    );

    // A new upload is served at the same address.
    let (content_type, body) = multipart("image", "me.png", &crate::support::png(100, 50));
    app.send(
        rocket::http::Method::Post,
        "/me/upload-image",
        Some(&token),
        Some(body),
        Some(content_type),
    )
    .await;
    let served = app.get(&format!("/static/profile/{id}.jpg"), None).await;
    assert_eq!(decode_jpeg(&served.bytes).width(), 100);
}

#[rocket::async_test]
async fn static_pictures_of_users_without_one_are_404() {
    let app = TestApp::new().await;
    let user = app.register("alice").await;
    app.get(&format!("/static/profile/{}.jpg", user["id"]), None)
        .await
        .assert_error(404, "not_found");
    app.get("/static/profile/999.jpg", None)
        .await
        .assert_error(404, "not_found");
    app.get("/static/profile/abc.jpg", None)
        .await
        .assert_error(404, "not_found");
}

#[rocket::async_test]
async fn flask_mysql_clients_register_and_log_in_through_the_same_routes() {
    let app = TestApp::new().await;
    let body = json!({ "username": "user123", "password": "password-123-ok", "email": "user@example.com" });
    assert_eq!(app.post("/register", body.clone()).await.status.code, 201);
    app.post("/register", body)
        .await
        .assert_error(400, "user_exists");
    app.post(
        "/register",
        json!({ "username": "user456", "password": "password-123-ok", "email": "bad-email" }),
    )
    .await
    .assert_error(400, "invalid_email");
    let reply = app
        .post(
            "/login",
            json!({ "username": "user123", "password": "password-123-ok" }),
        )
        .await;
    assert_eq!(reply.status.code, 200);
    assert!(reply.body["access_token"].is_string());
    app.post(
        "/login",
        json!({ "username": "user123", "password": "wrong-password" }),
    )
    .await
    .assert_error(401, "invalid_credentials");
}

#[rocket::async_test]
async fn without_the_fastapi_set_its_routes_are_json_404s() {
    let app = TestApp::with(|f| f.merge(("compat", ["django"]))).await;
    app.post(
        "/register",
        json!({ "name": "x", "email": "x@example.org", "password": PASSWORD }),
    )
    .await
    .assert_error(404, "not_found");
    app.get("/me", None).await.assert_error(404, "not_found");
    app.get("/static/profile/1.jpg", None)
        .await
        .assert_error(404, "not_found");
}
