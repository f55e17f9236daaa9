//! The real release-shaped binary, driven over loopback HTTP.

use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::blocking::{multipart, Client};
use serde_json::{json, Value};

use crate::server::Server;
use crate::support::{jpeg, PASSWORD};

pub fn json_of(reply: reqwest::blocking::Response) -> (u16, Value) {
    let status = reply.status().as_u16();
    (status, reply.json().unwrap_or(Value::Null))
}

#[test]
fn the_binary_serves_the_whole_flow_and_keeps_it_across_a_restart() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let log = root.path().join("server.log");
    let client = Client::new();
    let server = Server::start(&data, &log);

    let (status, body) = json_of(
        client
            .post(server.url("/api/register"))
            .json(&json!({ "username": "alice", "email": "alice@example.org", "password": PASSWORD, "name": "Alice" }))
            .send()
            .unwrap(),
    );
    assert_eq!(status, 201, "{body}");
    let (status, body) = json_of(
        client
            .post(server.url("/api/login"))
            .json(&json!({ "username": "alice", "password": PASSWORD }))
            .send()
            .unwrap(),
    );
    assert_eq!(status, 200, "{body}");
    let token = body["token"].as_str().unwrap().to_string();
    let (status, profile) = json_of(
        client
            .get(server.url("/api/user/profile"))
            .bearer_auth(&token)
            .send()
            .unwrap(),
    );
    assert_eq!((status, profile["name"].as_str()), (200, Some("Alice")));
    let (status, body) = json_of(
        client
            .put(server.url("/api/user/profile"))
            .bearer_auth(&token)
            .json(&json!({ "description": "Likes tea." }))
            .send()
            .unwrap(),
    );
    assert_eq!(
        (status, body["user"]["description"].as_str()),
        (200, Some("Likes tea."))
    );
    let form = multipart::Form::new().part(
        "file",
        multipart::Part::bytes(jpeg(900, 600)).file_name("me.jpg"),
    );
    let (status, upload) = json_of(
        client
            .post(server.url("/api/upload_profile_image"))
            .bearer_auth(&token)
            .multipart(form)
            .send()
            .unwrap(),
    );
    assert_eq!(status, 200, "{upload}");
    let filename = upload["filename"].as_str().unwrap().to_string();
    let image_path = format!("/profile_images/{filename}");
    let image = client.get(server.url(&image_path)).send().unwrap();
    assert_eq!(image.status(), 200);
    assert_eq!(image.headers()["content-type"], "image/jpeg");
    let first_bytes = image.bytes().unwrap();
    assert_eq!(image::load_from_memory(&first_bytes).unwrap().width(), 512);

    // A body over the upload limit is refused with a JSON 413 over real HTTP too.
    let big = multipart::Form::new().part(
        "file",
        multipart::Part::bytes(vec![0u8; 11 << 20]).file_name("big.jpg"),
    );
    if let Ok(reply) = client
        .post(server.url("/api/upload_profile_image"))
        .bearer_auth(&token)
        .multipart(big)
        .send()
    {
        let (status, body) = json_of(reply);
        assert_eq!(
            (status, body["code"].as_str()),
            (413, Some("payload_too_large"))
        );
    }

    // A second session, logged out before the restart.
    let (_, second) = json_of(
        client
            .post(server.url("/api/login"))
            .json(&json!({ "username": "alice", "password": PASSWORD }))
            .send()
            .unwrap(),
    );
    let logged_out = second["access_token"].as_str().unwrap().to_string();
    let logged_out_refresh = second["refresh_token"].as_str().unwrap().to_string();
    let reply = client
        .post(server.url("/api/logout"))
        .bearer_auth(&logged_out)
        .send()
        .unwrap();
    assert_eq!(reply.status(), 200);

    drop(server);
    let server = Server::start(&data, &log);
    let reply = client
        .get(server.url("/api/user/profile"))
        .bearer_auth(&logged_out)
        .send()
        .unwrap();
    assert_eq!(reply.status(), 401, "a logout survives the restart");
    let reply = client
        .post(server.url("/api/token/refresh"))
        .json(&json!({ "refresh_token": logged_out_refresh }))
        .send()
        .unwrap();
    assert_eq!(reply.status(), 401);
    let (status, after) = json_of(
        client
            .get(server.url("/api/user/profile"))
            .bearer_auth(&token)
            .send()
            .unwrap(),
    );
    assert_eq!(
        status, 200,
        "the old token works after a restart: the secret was reused"
    );
    assert_eq!(after["description"], "Likes tea.");
    // The same stored file (the URL's port follows the new default public_url).
    assert!(
        after["image_url"].as_str().unwrap().ends_with(&image_path),
        "{after}"
    );
    assert_eq!(
        client
            .get(server.url(&image_path))
            .send()
            .unwrap()
            .bytes()
            .unwrap(),
        first_bytes
    );
    let (status, _) = json_of(
        client
            .post(server.url("/api/login"))
            .json(&json!({ "username": "alice", "password": PASSWORD }))
            .send()
            .unwrap(),
    );
    assert_eq!(status, 200);
    drop(server);

    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("POST /api/login 200"), "{log}");
    assert!(log.contains("GET /api/user/profile 200"), "{log}");
    assert!(!log.contains(PASSWORD), "a password reached the log");
    assert!(!log.contains(&token), "a token reached the log");
}

#[test]
fn help_lists_the_common_flags() {
    let output = Command::new(env!("CARGO_BIN_EXE_profilebox"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for flag in ["--port", "--address", "--data-dir", "--config"] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
}

#[test]
fn move_images_reports_what_it_moved_and_refuses_an_unknown_place() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let run = |to: &str| {
        Command::new(env!("CARGO_BIN_EXE_profilebox"))
            .args(["--data-dir"])
            .arg(&data)
            .args(["move-images", "--to", to])
            .env("ROCKET_LOG_LEVEL", "off")
            .output()
            .unwrap()
    };
    let moved = run("database");
    assert!(moved.status.success(), "{moved:?}");
    assert_eq!(
        String::from_utf8_lossy(&moved.stdout),
        "moved 0 pictures into the database; 0 were there already\n"
    );
    assert!(
        data.join("profilebox.db").exists(),
        "the database was opened"
    );
    let refused = run("nowhere");
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("invalid value 'nowhere'"), "{stderr}");
    assert!(stderr.contains("local, database"), "{stderr}");
}

#[test]
fn a_configuration_file_given_with_config_is_read() {
    let root = tempfile::tempdir().unwrap();
    let config = root.path().join("custom.toml");
    std::fs::write(&config, "[default]\nmin_password_length = 0\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_profilebox"))
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(root.path().join("data"))
        .output()
        .unwrap();
    assert!(
        !output.status.success(),
        "an invalid configured value stops the start"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("min_password_length"), "{stderr}");
}

#[test]
fn an_smtp_server_that_is_down_changes_nothing_for_the_requester_and_is_logged() {
    let root = tempfile::tempdir().unwrap();
    let log = root.path().join("server.log");
    let closed_port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let smtp_url = format!("smtp://127.0.0.1:{closed_port}");
    let server = Server::start_with(
        &root.path().join("data"),
        &log,
        &[("ROCKET_SMTP_URL", &smtp_url)],
    );
    let client = Client::new();
    let register =
        json!({ "username": "alice", "email": "alice@example.org", "password": PASSWORD });
    assert_eq!(
        client
            .post(server.url("/api/register"))
            .json(&register)
            .send()
            .unwrap()
            .status(),
        201
    );

    let started = Instant::now();
    let (status, body) = json_of(
        client
            .post(server.url("/api/password-reset/request"))
            .json(&json!({ "email": "alice@example.org" }))
            .send()
            .unwrap(),
    );
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(status, 200);
    assert_eq!(
        body["message"],
        "If that account exists, a password reset email has been sent"
    );

    let deadline = Instant::now() + Duration::from_secs(30);
    let text = loop {
        let text = std::fs::read_to_string(&log).unwrap();
        if text.contains("not delivered") {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "no delivery failure logged:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(text.contains("failed (attempt 1/3)"), "{text}");
    assert!(text.contains("failed (attempt 3/3)"), "{text}");
    let (status, _) = json_of(client.get(server.url("/api/health")).send().unwrap());
    assert_eq!(status, 200);
}
