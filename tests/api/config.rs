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
    let (user, token) = app.user("alice").await;
    let file = app.dir.path().join("jwt_secret");
    let stored = app.sql("SELECT count(*) FROM settings").await;
    if app.database.is_some() {
        // A server database keeps it, for every instance on it; the data directory holds none.
        assert!(!file.exists());
        assert_eq!(stored, "1");
    } else {
        // SQLite keeps it in the data directory, owner-only, and none in the database.
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(stored, "0");
    }
    let secret = app.jwt_secret().await;
    assert!(secret.len() >= 32);
    assert_eq!(signed_for(&token, &secret)["user_id"], user["id"]);

    let app = app.restart(|figment| figment).await;
    assert_eq!(app.jwt_secret().await, secret);
    assert_eq!(
        app.get("/api/user/profile", Some(&token)).await.status.code,
        200
    );
}

/// The claims of `token` if it is signed with `secret` (panics if not).
fn signed_for(token: &str, secret: &[u8]) -> serde_json::Value {
    let key = jsonwebtoken::DecodingKey::from_secret(secret);
    jsonwebtoken::decode::<serde_json::Value>(token, &key, &jsonwebtoken::Validation::default())
        .expect("signed with the secret")
        .claims
}

#[rocket::async_test]
async fn two_data_directories_get_different_secrets() {
    let one = TestApp::new().await;
    let two = TestApp::new().await;
    assert_ne!(one.jwt_secret().await, two.jwt_secret().await);
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
    assert_eq!(app.sql("SELECT count(*) FROM settings").await, "0");
    assert_eq!(signed_for(&token, secret.as_bytes())["user_id"], user["id"]);

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
async fn a_secret_file_is_read_trimmed_and_wins_like_a_configured_secret() {
    let secret = "a-secret-from-a-file-of-sufficient-length";
    let files = tempfile::tempdir().unwrap();
    let path = files.path().join("jwt");
    std::fs::write(&path, format!("{secret}\n")).unwrap();
    let app = TestApp::with(|f| f.merge(("jwt_secret_file", &path))).await;
    let (user, token) = app.user("alice").await;
    assert_eq!(signed_for(&token, secret.as_bytes())["user_id"], user["id"]);
    assert!(!app.dir.path().join("jwt_secret").exists());
    assert_eq!(app.sql("SELECT count(*) FROM settings").await, "0");
}

#[test]
fn jwt_secret_and_jwt_secret_file_together_are_refused() {
    let figment = profilebox::default_figment()
        .merge(("jwt_secret", "a-configured-secret-of-sufficient-length"))
        .merge(("jwt_secret_file", "/run/secrets/jwt"));
    let refused = profilebox::config::Settings::from_figment(&figment).unwrap_err();
    assert_eq!(refused, "set jwt_secret or jwt_secret_file, not both");
}

#[test]
fn a_missing_or_short_secret_file_stops_the_start_with_one_clear_line() {
    let root = tempfile::tempdir().unwrap();
    let missing = root.path().join("missing");
    let short = root.path().join("short");
    std::fs::write(&short, "only-twenty-characters\n").unwrap();
    for (file, reason) in [
        (&missing, "cannot read jwt_secret_file"),
        (&short, "must hold at least 32 characters"),
    ] {
        let said = refused_start("ROCKET_JWT_SECRET_FILE", file);
        assert!(said.contains(reason), "{said}");
        assert!(said.contains(&file.display().to_string()), "{said}");
    }
}

/// The one line the binary says when it does not start with `variable` set to `file`.
fn refused_start(variable: &str, file: &std::path::Path) -> String {
    let root = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_profilebox"))
        .args(["--port", "0", "--data-dir"])
        .arg(root.path().join("data"))
        .current_dir(root.path())
        .env(variable, file)
        .env_remove("ROCKET_CONFIG")
        .output()
        .unwrap();
    assert!(!output.status.success(), "it started with {file:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let said: Vec<&str> = stderr
        .lines()
        .filter(|line| line.starts_with("profilebox: "))
        .collect();
    assert_eq!(said.len(), 1, "{stderr}");
    said[0].to_string()
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

#[test]
fn database_settings_have_documented_defaults_and_refuse_unknown_backends() {
    let settings =
        profilebox::config::Settings::from_figment(&profilebox::default_figment()).unwrap();
    assert_eq!(
        (
            settings.database_max_connections,
            settings.database_acquire_timeout,
            settings.database_connect_timeout
        ),
        (16, 5, 30)
    );
    assert_eq!(settings.image_store, None, "chosen by the backend");
    assert_eq!(settings.image_cache_size.as_u64(), 8 << 20);
    for (key, value) in [
        ("database_url", "redis://127.0.0.1/0"),
        ("database_url", "profilebox.db"),
        ("database_max_connections", "0"),
        ("database_acquire_timeout", "0"),
        ("image_store", "s3"),
    ] {
        let figment = profilebox::default_figment().merge((key, value));
        let refused = profilebox::config::Settings::from_figment(&figment).unwrap_err();
        assert!(refused.contains(key), "{key} = {value}: {refused}");
    }
}

#[rocket::async_test]
async fn the_account_logic_runs_without_rocket_from_the_settings_alone() {
    use profilebox::accounts::credentials::LoginName;
    use profilebox::accounts::fields::Username;
    use profilebox::accounts::users::{Accounts, Registration};
    use profilebox::domain_error::DomainError;

    let dir = tempfile::tempdir().unwrap();
    let settings = profilebox::config::Settings::from_figment(&test_figment(&dir)).unwrap();
    settings.bootstrap().unwrap();
    let store = profilebox::db::Store::connect(&settings.database_url(), Default::default())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let services = profilebox::build_services(&settings, &store, Default::default())
        .await
        .unwrap();
    let accounts = Accounts {
        store: &store,
        services: &services,
        client_ip: None,
    };
    let registration = || Registration {
        username: Some(Username::parse("alice").unwrap()),
        email: None,
        password: PASSWORD.to_owned(),
        name: None,
        first_name: None,
        last_name: None,
        description: None,
        picture: None,
    };
    let user = accounts.register(registration()).await.unwrap();
    assert!(matches!(
        accounts.register(registration()).await,
        Err(DomainError::UsernameTaken)
    ));
    let name = LoginName::Username("alice".into());
    assert_eq!(
        accounts.login(&name, PASSWORD).await.unwrap().user.id,
        user.id
    );
    assert!(matches!(
        accounts.login(&name, "not the password").await,
        Err(DomainError::InvalidCredentials)
    ));
    store.close().await;
}

#[test]
fn encryption_keys_are_64_hex_digits_given_once() {
    let refused = |figment: rocket::figment::Figment| {
        profilebox::config::Settings::from_figment(&figment).unwrap_err()
    };
    let key = "0123456789abcdef".repeat(4);
    let base = profilebox::default_figment;
    for bad in ["short", &format!("{key}00"), &key.replace('0', "g")] {
        let said = refused(base().merge(("encryption_key", bad)));
        assert!(
            said.contains("encryption_key must be 64 hex digits"),
            "{said}"
        );
    }
    let said = refused(base().merge(("previous_encryption_keys", vec!["abc"])));
    assert!(
        said.contains("previous_encryption_keys must be 64 hex digits"),
        "{said}"
    );
    let said = refused(
        base()
            .merge(("encryption_key", &key))
            .merge(("encryption_key_file", "/run/secrets/key")),
    );
    assert_eq!(said, "set encryption_key or encryption_key_file, not both");
    let accepted = base()
        .merge(("encryption_key", key.to_uppercase()))
        .merge(("previous_encryption_keys", vec![&key]));
    assert!(profilebox::config::Settings::from_figment(&accepted).is_ok());
}

#[rocket::async_test]
async fn an_encryption_key_file_is_read_trimmed_and_the_issuer_is_the_public_host() {
    let files = tempfile::tempdir().unwrap();
    let path = files.path().join("key");
    std::fs::write(&path, format!("{}\n", "ab".repeat(32))).unwrap();
    let app = TestApp::with(|f| {
        // (The key the apps on database servers are given otherwise: a file replaces it.)
        f.merge(("encryption_key", None::<String>))
            .merge(("encryption_key_file", &path))
            .merge(("public_url", "https://accounts.example.org:8443/base"))
    })
    .await;
    assert!(!app.dir.path().join("encryption_key").exists());
    let (_, token) = app.user("alice").await;
    let setup = app
        .post_auth(
            "/api/user/2fa/totp/setup",
            &token,
            serde_json::json!({ "password": crate::support::PASSWORD }),
        )
        .await;
    assert_eq!(setup.status.code, 200, "{}", setup.body);
    let uri = setup.body["otpauth_uri"].as_str().unwrap();
    assert!(
        uri.starts_with("otpauth://totp/accounts.example.org:alice?")
            && uri.contains("&issuer=accounts.example.org&"),
        "{uri}"
    );

    // A key file that is missing or not a key stops the start, with one line naming it.
    std::fs::write(&path, "not a key\n").unwrap();
    let missing = files.path().join("missing");
    for (file, reason) in [
        (&missing, "cannot read encryption_key_file"),
        (&path, "encryption_key_file must be 64 hex digits"),
    ] {
        let said = refused_start("ROCKET_ENCRYPTION_KEY_FILE", file);
        assert!(said.contains(reason), "{said}");
    }
}
