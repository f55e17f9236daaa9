use std::os::unix::fs::PermissionsExt;

use rocket::figment::providers::Format;
use serde_json::json;

use crate::support::{test_figment, TestApp, PASSWORD};

#[test]
fn the_production_default_is_600000_pbkdf2_iterations() {
    let settings =
        profilebox::config::Settings::from_figment(&profilebox::default_figment()).unwrap();
    assert_eq!(settings.pbkdf2_iterations, 600_000);
    assert_eq!(settings.min_password_length, 8);
    assert_eq!(settings.access_token_ttl, 3600);
    assert_eq!(settings.max_upload_size.as_u64(), 10 << 20);
    assert_eq!(settings.image_size, 512);
    assert_eq!(settings.public_url(), "http://localhost:8000");
}

#[test]
fn the_shipped_rocket_toml_parses_and_matches_the_code_defaults() {
    let figment = profilebox::default_figment().merge(
        rocket::figment::providers::Toml::file(concat!(env!("CARGO_MANIFEST_DIR"), "/Rocket.toml"))
            .nested(),
    );
    let settings = profilebox::config::Settings::from_figment(&figment).unwrap();
    assert_eq!(settings.pbkdf2_iterations, 600_000);
    assert_eq!(settings.data_dir, std::path::PathBuf::from("data"));
    assert_eq!(settings.max_upload_size.as_u64(), 10 << 20);
    assert_eq!(
        settings.shutdown_grace,
        profilebox::config::DEFAULT_SHUTDOWN_GRACE
    );
}

#[rocket::async_test]
async fn shutdown_grace_is_rockets_grace_period() {
    let default = TestApp::new().await;
    assert_eq!(
        default.client.rocket().config().shutdown.grace,
        profilebox::config::DEFAULT_SHUTDOWN_GRACE
    );
    let configured = TestApp::with(|f| f.merge(("shutdown_grace", 17))).await;
    assert_eq!(configured.client.rocket().config().shutdown.grace, 17);
}

#[rocket::async_test]
async fn the_generated_secret_is_private_and_reused_after_a_restart() {
    let app = TestApp::new().await;
    let (_, token) = app.user("alice").await;
    let path = app.dir.path().join("jwt_secret");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let secret = std::fs::read(&path).unwrap();
    assert!(secret.len() >= 32);

    let app = app.restart(|figment| figment).await;
    assert_eq!(std::fs::read(&path).unwrap(), secret);
    assert_eq!(
        app.get("/api/user/profile", Some(&token)).await.status.code,
        200
    );
}

#[rocket::async_test]
async fn two_data_directories_get_different_secrets() {
    let one = TestApp::new().await;
    let two = TestApp::new().await;
    let read = |app: &TestApp| std::fs::read(app.dir.path().join("jwt_secret")).unwrap();
    assert_ne!(read(&one), read(&two));
    // A token of one instance means nothing to the other.
    let (_, token) = one.user("alice").await;
    two.register("alice").await;
    two.get("/api/user/profile", Some(&token))
        .await
        .assert_error(401, "unauthorized");
}

#[rocket::async_test]
async fn a_configured_secret_wins_and_a_short_one_is_refused() {
    let secret = "a-configured-secret-of-sufficient-length";
    let app = TestApp::with(|f| f.merge(("jwt_secret", secret))).await;
    let (user, token) = app.user("alice").await;
    assert!(!app.dir.path().join("jwt_secret").exists());
    let key = jsonwebtoken::DecodingKey::from_secret(secret.as_bytes());
    let data = jsonwebtoken::decode::<serde_json::Value>(
        &token,
        &key,
        &jsonwebtoken::Validation::default(),
    )
    .unwrap();
    assert_eq!(data.claims["user_id"], user["id"]);

    let dir = tempfile::tempdir().unwrap();
    let rocket = profilebox::rocket(test_figment(&dir).merge(("jwt_secret", "short")));
    let Err(error) = rocket::local::asynchronous::Client::untracked(rocket).await else {
        panic!("a short secret must be refused");
    };
    assert!(matches!(
        error.kind(),
        rocket::error::ErrorKind::FailedFairings(_)
    ));
}

#[rocket::async_test]
async fn image_urls_are_built_from_the_configured_public_url_never_the_host_header() {
    let app = TestApp::with(|f| f.merge(("public_url", "https://accounts.example.org/"))).await;
    let (_, token) = app.user("alice").await;
    let (content_type, body) =
        crate::support::multipart("file", "a.png", &crate::support::png(8, 8));
    let mut request = app.client.post("/api/upload_profile_image").body(body);
    request.add_header(content_type);
    request.add_header(rocket::http::Header::new(
        "Authorization",
        format!("Bearer {token}"),
    ));
    request.add_header(rocket::http::Header::new("Host", "evil.example"));
    let reply = TestApp::reply(request.dispatch().await).await;
    let url = reply.body["image_url"].as_str().unwrap();
    assert!(
        url.starts_with("https://accounts.example.org/profile_images/"),
        "{url}"
    );
}

#[rocket::async_test]
async fn the_data_directory_is_created_on_start() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("nested/state");
    let figment = profilebox::default_figment()
        .merge(("log_level", "off"))
        .merge(("data_dir", &dir))
        .merge(("pbkdf2_iterations", 1000));
    let client = rocket::local::asynchronous::Client::untracked(profilebox::rocket(figment))
        .await
        .unwrap();
    assert!(dir.join("images").is_dir());
    assert!(dir.join("profilebox.db").is_file());
    let reply = client
        .post("/api/register")
        .body(json!({ "username": "alice", "password": PASSWORD }).to_string())
        .dispatch()
        .await;
    assert_eq!(reply.status().code, 201);
}
