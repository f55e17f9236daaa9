use serde_json::json;

use crate::support::{TestApp, PASSWORD};

#[rocket::async_test]
async fn registering_returns_201_with_the_user_object() {
    let app = TestApp::new().await;
    let reply = app
        .post(
            "/api/register",
            json!({
                "username": "Alice", "email": "Alice@Example.org", "password": PASSWORD,
                "name": "Alice Liddell", "first_name": "Alice", "last_name": "Liddell",
                "description": "Likes tea.", "unknown_field": [1, 2]
            }),
        )
        .await;
    assert_eq!(reply.status.code, 201, "{}", reply.body);
    assert_eq!(reply.body["message"], "User registered successfully");
    let user = &reply.body["user"];
    assert_eq!(reply.body["id"], user["id"]);
    assert!(user["id"].as_i64().unwrap() >= 1);
    assert_eq!(user["username"], "Alice");
    assert_eq!(user["email"], "alice@example.org");
    assert_eq!(user["name"], "Alice Liddell");
    assert_eq!(user["first_name"], "Alice");
    assert_eq!(user["last_name"], "Liddell");
    assert_eq!(user["description"], "Likes tea.");
    assert_eq!(user["profile_image"], serde_json::Value::Null);
    assert_eq!(user["image_url"], serde_json::Value::Null);
    assert_eq!(user["email_verified"], false);
    let created = user["created_at"].as_str().unwrap();
    assert!(created.ends_with('Z') && created.len() == 20, "{created}");
    assert_eq!(user["updated_at"], user["created_at"]);
    let keys: Vec<&String> = user.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 12, "{keys:?}");
    assert!(
        !reply.bytes.windows(6).any(|w| w == b"pbkdf2"),
        "hash leaked"
    );
}

#[rocket::async_test]
async fn registering_signs_the_new_user_in() {
    let app = TestApp::new().await;
    let reply = app
        .post(
            "/api/register",
            json!({ "username": "alice", "password": PASSWORD }),
        )
        .await;
    assert_eq!(reply.status.code, 201, "{}", reply.body);
    let body = &reply.body;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["token"], body["access_token"]);
    let access = body["access_token"].as_str().unwrap();
    let profile = app.get("/api/user/profile", Some(access)).await;
    assert_eq!(profile.status.code, 200, "{}", profile.body);
    assert_eq!(profile.body["username"], "alice");
    // A whole session: its refresh token rotates, and it is the account's only one.
    let refreshed = app
        .post(
            "/api/token/refresh",
            json!({ "refresh_token": body["refresh_token"] }),
        )
        .await;
    assert_eq!(refreshed.status.code, 200, "{}", refreshed.body);
    let sessions = app.get("/api/user/sessions", Some(access)).await;
    assert_eq!(sessions.body["sessions"].as_array().unwrap().len(), 1);
}

#[rocket::async_test]
async fn a_seed_payload_with_firstname_and_no_name_derives_the_name() {
    let app = TestApp::new().await;
    let reply = app
        .post(
            "/api/register",
            json!({ "username": "bob", "password": PASSWORD, "firstname": "Bob", "lastname": "Stone" }),
        )
        .await;
    assert_eq!(reply.status.code, 201, "{}", reply.body);
    assert_eq!(reply.body["user"]["first_name"], "Bob");
    assert_eq!(reply.body["user"]["last_name"], "Stone");
    assert_eq!(reply.body["user"]["name"], "Bob Stone");
    assert_eq!(reply.body["user"]["email"], serde_json::Value::Null);
}

#[rocket::async_test]
async fn registering_by_email_only_works_and_username_reads_null() {
    let app = TestApp::new().await;
    let reply = app
        .post(
            "/api/register",
            json!({ "name": "John Doe", "email": "john@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(reply.status.code, 201, "{}", reply.body);
    assert_eq!(reply.body["user"]["username"], serde_json::Value::Null);
    assert_eq!(reply.body["user"]["name"], "John Doe");
}

#[rocket::async_test]
async fn missing_fields_are_named() {
    let app = TestApp::new().await;
    let reply = app
        .post("/api/register", json!({ "username": "carol" }))
        .await;
    reply.assert_error(400, "missing_field");
    assert!(reply.body["error"].as_str().unwrap().contains("password"));
    let reply = app
        .post(
            "/api/register",
            json!({ "password": PASSWORD, "name": "x" }),
        )
        .await;
    reply.assert_error(400, "missing_field");
    assert!(reply.body["error"]
        .as_str()
        .unwrap()
        .contains("username or email"));
}

#[rocket::async_test]
async fn invalid_fields_are_refused_with_their_names() {
    let app = TestApp::new().await;
    let cases = [
        (
            json!({ "username": "al", "password": PASSWORD }),
            "invalid_username",
            "username",
        ),
        (
            json!({ "username": "a l i c e", "password": PASSWORD }),
            "invalid_username",
            "username",
        ),
        (
            json!({ "email": "not-an-email", "password": PASSWORD }),
            "invalid_email",
            "email",
        ),
        (
            json!({ "username": "alice", "password": "short" }),
            "weak_password",
            "password",
        ),
        (
            json!({ "username": 42, "password": PASSWORD }),
            "invalid_field",
            "username",
        ),
        (
            json!({ "username": "alice", "password": PASSWORD, "name": "x".repeat(101) }),
            "invalid_field",
            "name",
        ),
        (
            json!({ "username": "alice", "password": PASSWORD, "description": "x".repeat(2001) }),
            "invalid_field",
            "description",
        ),
        (
            json!({ "username": "alice", "password": PASSWORD, "name": "bell\u{7}" }),
            "invalid_field",
            "name",
        ),
        (
            json!({ "username": "alice", "password": PASSWORD, "profile_image": "javascript:alert(1)" }),
            "invalid_field",
            "profile_image",
        ),
        (
            json!({ "username": "alice", "password": PASSWORD, "image": "%%%not base64%%%" }),
            "invalid_image",
            "image",
        ),
    ];
    for (body, code, field) in cases {
        let reply = app.post("/api/register", body.clone()).await;
        reply.assert_error(400, code);
        assert!(
            reply.body["error"].as_str().unwrap().contains(field),
            "{body} -> {}",
            reply.body
        );
    }
    // Nothing was created by any of them.
    app.register("alice").await;
}

#[rocket::async_test]
async fn seed_002s_five_character_password_is_refused_by_default_and_allowed_when_configured() {
    let app = TestApp::new().await;
    let body = json!({ "name": "John Doe", "email": "john@example.com", "password": "12345" });
    app.post("/api/register", body.clone())
        .await
        .assert_error(400, "weak_password");
    let relaxed = TestApp::with(|f| {
        f.merge(("min_password_length", 5))
            .merge(("refuse_common_passwords", false))
    })
    .await;
    assert_eq!(relaxed.post("/api/register", body).await.status.code, 201);
}

#[rocket::async_test]
async fn duplicate_usernames_and_emails_are_refused_case_insensitively() {
    let app = TestApp::new().await;
    app.register("alice").await;
    let reply = app
        .post(
            "/api/register",
            json!({ "username": "ALICE", "password": PASSWORD }),
        )
        .await;
    reply.assert_error(400, "user_exists");
    assert!(reply.body["error"].as_str().unwrap().contains("Username"));
    let reply = app
        .post(
            "/api/register",
            json!({ "username": "other", "email": "Alice@EXAMPLE.org", "password": PASSWORD }),
        )
        .await;
    reply.assert_error(400, "user_exists");
    assert!(reply.body["error"].as_str().unwrap().contains("Email"));
}

#[rocket::async_test]
async fn concurrent_duplicate_registrations_end_in_one_user_and_one_clean_400() {
    let app = TestApp::new().await;
    let body = json!({ "username": "racer", "email": "racer@example.org", "password": PASSWORD });
    let attempts = (0..20).map(|_| app.post("/api/register", body.clone()));
    let replies = rocket::futures::future::join_all(attempts).await;
    let created = replies.iter().filter(|r| r.status.code == 201).count();
    assert_eq!(created, 1);
    for reply in replies.iter().filter(|r| r.status.code != 201) {
        reply.assert_error(400, "user_exists");
    }
}

#[rocket::async_test]
async fn registering_with_an_image_url_or_base64_image_sets_the_picture() {
    use base64::Engine;
    let app = TestApp::new().await;
    let reply = app
        .post(
            "/api/register",
            json!({ "username": "urlpic", "password": PASSWORD, "profile_image": "https://example.org/me.png" }),
        )
        .await;
    assert_eq!(
        reply.body["user"]["profile_image"],
        "https://example.org/me.png"
    );
    assert_eq!(
        reply.body["user"]["image_url"],
        "https://example.org/me.png"
    );

    let png = crate::support::png(40, 30);
    let data_url = format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(&png)
    );
    let reply = app
        .post(
            "/api/register",
            json!({ "username": "b64pic", "password": PASSWORD, "image": data_url }),
        )
        .await;
    assert_eq!(reply.status.code, 201, "{}", reply.body);
    let url = reply.body["user"]["profile_image"].as_str().unwrap();
    let id = reply.body["id"].as_i64().unwrap();
    assert!(
        url.starts_with(&format!("http://localhost:8000/profile_images/{id}-")),
        "{url}"
    );
    let served = app.get(&crate::support::path_of(url), None).await;
    assert_eq!(served.status.code, 200);
    let img = crate::support::decode_jpeg(&served.bytes);
    assert_eq!(
        (img.width(), img.height()),
        (40, 30),
        "small images are not enlarged"
    );
}

#[rocket::async_test]
async fn a_bad_base64_image_creates_no_user() {
    let app = TestApp::new().await;
    use base64::Engine;
    let text = base64::engine::general_purpose::STANDARD
        .encode(b"<svg xmlns='http://www.w3.org/2000/svg'/>");
    app.post(
        "/api/register",
        json!({ "username": "svg", "password": PASSWORD, "image": text }),
    )
    .await
    .assert_error(400, "invalid_image");
    app.register("svg").await;
}

/// On every backend, as on SQLite: case folds (profilebox lowercases), accents do not. MySQL's
/// usual collations would make `josé` and `jose` one address; the schema's binary collation
/// keeps them two.
#[rocket::async_test]
async fn accented_and_plain_addresses_are_two_accounts_and_case_still_collides() {
    let app = TestApp::new().await;
    let register = |email: &'static str| {
        let app = &app;
        async move {
            app.post(
                "/api/register",
                json!({ "email": email, "password": PASSWORD }),
            )
            .await
        }
    };
    assert_eq!(register("josé@example.org").await.status.code, 201);
    assert_eq!(register("jose@example.org").await.status.code, 201);
    register("JOSÉ@example.org")
        .await
        .assert_error(400, "user_exists");
    let login = app
        .post(
            "/api/login",
            json!({ "email": "josé@example.org", "password": PASSWORD }),
        )
        .await;
    assert_eq!(login.status.code, 200, "{}", login.body);
    let profile = app
        .get("/api/user/profile", login.body["access_token"].as_str())
        .await;
    assert_eq!(profile.body["email"], "josé@example.org");
}
