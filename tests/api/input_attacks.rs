//! Attacks on the edges of the service: what it accepts as input, what its answers reveal, and
//! what it leaves on disk and in the log.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::blocking::{multipart, Client};
use rocket::http::{ContentType, Header, Status};
use serde_json::{json, Value};

use crate::binary::json_of;
use crate::server::Server;
use crate::support::{jpeg, Reply, TestApp, PASSWORD};

/// Every directory and file under `dir` with its permission bits.
fn modes_under(dir: &Path) -> Vec<(String, u32)> {
    let mut found = vec![(
        dir.display().to_string(),
        std::fs::metadata(dir).unwrap().permissions().mode() & 0o777,
    )];
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(modes_under(&path));
        } else {
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            found.push((path.display().to_string(), mode));
        }
    }
    found
}

/// Waits until `dir` holds a file ending in `suffix`.
fn wait_for_file(dir: &Path, suffix: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !std::fs::read_dir(dir).is_ok_and(|mut entries| {
        entries.any(|e| e.unwrap().file_name().to_string_lossy().ends_with(suffix))
    }) {
        assert!(Instant::now() < deadline, "no {suffix} file in {dir:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

const SHARED_WARNING: &str = "is open to other local users";

#[test]
fn another_local_user_cannot_read_the_data_directory_or_anything_in_it() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let log = root.path().join("server.log");
    let client = Client::new();
    let server = Server::start(&data, &log);
    let (status, body) = json_of(
        client
            .post(server.url("/api/register"))
            .json(
                &json!({ "username": "alice", "email": "alice@example.org", "password": PASSWORD }),
            )
            .send()
            .unwrap(),
    );
    assert_eq!(status, 201, "{body}");
    let (_, login) = json_of(
        client
            .post(server.url("/api/login"))
            .json(&json!({ "username": "alice", "password": PASSWORD }))
            .send()
            .unwrap(),
    );
    let token = login["token"].as_str().unwrap();
    let form = multipart::Form::new().part(
        "file",
        multipart::Part::bytes(jpeg(64, 64)).file_name("me.jpg"),
    );
    let reply = client
        .post(server.url("/api/upload_profile_image"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .unwrap();
    assert_eq!(reply.status(), 200);
    let reply = client
        .post(server.url("/api/password-reset/request"))
        .json(&json!({ "email": "alice@example.org" }))
        .send()
        .unwrap();
    assert_eq!(reply.status(), 200);
    wait_for_file(&data.join("outbox"), ".eml");

    let modes = modes_under(&data);
    let names: Vec<&str> = modes.iter().map(|(path, _)| path.as_str()).collect();
    for expected in [
        "jwt_secret",
        "profilebox.db",
        "profilebox.db-wal",
        ".jpg",
        ".eml",
    ] {
        assert!(
            names.iter().any(|name| name.ends_with(expected)),
            "{expected} missing: {names:?}"
        );
    }
    for (path, mode) in &modes {
        let private = if Path::new(path).is_dir() {
            0o700
        } else {
            0o600
        };
        assert_eq!(*mode, private, "{path} has mode {mode:o}");
    }
    drop(server);
    let first_start = std::fs::read_to_string(&log).unwrap();
    assert!(!first_start.contains(SHARED_WARNING), "{first_start}");

    // An existing data directory that others may read is reported at start.
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    drop(Server::start(&data, &log));
    let second_start = std::fs::read_to_string(&log).unwrap();
    let warning = second_start
        .lines()
        .find(|line| line.contains(SHARED_WARNING))
        .unwrap_or_else(|| panic!("no warning:\n{second_start}"));
    assert!(
        warning.contains("WARN") && warning.contains("755"),
        "{warning}"
    );
}

#[rocket::async_test]
async fn an_address_with_a_display_name_comment_or_brackets_cannot_redirect_mail() {
    let app = TestApp::new().await;
    for (n, email) in [
        "victim<attacker@evil.org>",
        "victim <attacker@evil.org>",
        "\"victim\" <attacker@evil.org>",
        "\"victim@example.org\"@evil.org",
        "victim@example.org>",
        "victim@<evil.org>",
        "victim@\"evil\".org",
        "victim@[192.0.2.1]",
        "victim(comment)@evil.org",
        "victim@evil.org(comment)",
        "a,attacker@evil.org",
        "a;b@evil.org",
        "a:b@evil.org",
        "a\\b@evil.org",
        "a..b@evil.org",
        ".a@evil.org",
        "a.@evil.org",
        "a@evil_org.net",
        "a@-evil.org",
    ]
    .into_iter()
    .enumerate()
    {
        let reply = app
            .post(
                "/api/register",
                json!({ "username": format!("user{n}"), "email": email, "password": PASSWORD }),
            )
            .await;
        reply.assert_error(400, "invalid_email");
    }
    // Plain addresses with the dot-atom specials and non-ASCII letters still register.
    for (n, email) in ["o'brien+tag@example.org", "jörg.müller@example.org"]
        .into_iter()
        .enumerate()
    {
        let reply = app
            .post(
                "/api/register",
                json!({ "username": format!("plain{n}"), "email": email, "password": PASSWORD }),
            )
            .await;
        assert_eq!(reply.status, Status::Created, "{email}: {}", reply.body);
    }
}

#[rocket::async_test]
async fn an_internationalised_domain_and_its_punycode_form_cannot_hold_two_accounts() {
    let app = TestApp::new().await;
    let reply = app
        .post(
            "/api/register",
            json!({ "username": "first", "email": "Anna@EXÄMPLE.org", "password": PASSWORD }),
        )
        .await;
    assert_eq!(reply.status, Status::Created, "{}", reply.body);
    assert_eq!(reply.body["user"]["email"], "anna@xn--exmple-cua.org");
    let reply = app
        .post(
            "/api/register",
            json!({ "username": "second", "email": "anna@XN--EXMPLE-CUA.org", "password": PASSWORD }),
        )
        .await;
    reply.assert_error(400, "user_exists");
    // The owner still logs in with the address as typed.
    for typed in [
        json!({ "email": "anna@exämple.org" }),
        json!({ "username": "Anna@Exämple.org" }),
    ] {
        let mut body = typed.clone();
        body["password"] = json!(PASSWORD);
        let reply = app.post("/api/login", body).await;
        assert_eq!(reply.status, Status::Ok, "{typed}: {}", reply.body);
    }
}

/// `PUT` a profile change as the client at `remote`.
async fn put_from(
    app: &TestApp,
    path: &str,
    token: &str,
    remote: SocketAddr,
    body: Value,
) -> Reply {
    let request = app
        .client
        .put(path.to_string())
        .remote(remote)
        .header(ContentType::JSON)
        .header(Header::new("Authorization", format!("Bearer {token}")))
        .body(body.to_string());
    TestApp::reply(request.dispatch().await).await
}

#[rocket::async_test]
async fn probing_for_registered_emails_through_profile_updates_is_throttled_per_account() {
    let app = TestApp::new().await;
    app.register("victim").await;
    let (_, token) = app.user("prober").await;
    let (routes, ip) = (
        ["/api/user/profile", "/api/profile", "/me"],
        "192.0.2.10:5000".parse().unwrap(),
    );
    for n in 0..10 {
        // Taken and free addresses alike count, through every route set.
        let email = if n % 2 == 0 {
            "victim@example.org".to_string()
        } else {
            format!("free{n}@example.org")
        };
        let reply = put_from(&app, routes[n % 3], &token, ip, json!({ "email": email })).await;
        assert_ne!(reply.status.code, 429, "attempt {n}: {}", reply.body);
    }
    for route in routes {
        let reply = put_from(
            &app,
            route,
            &token,
            ip,
            json!({ "email": "victim@example.org" }),
        )
        .await;
        reply.assert_error(429, "rate_limited");
        let wait: u64 = reply.header("Retry-After").unwrap().parse().unwrap();
        assert!((1..=360).contains(&wait), "Retry-After {wait}");
        // A new username is the same signal.
        let reply = put_from(&app, route, &token, ip, json!({ "username": "victim" })).await;
        reply.assert_error(429, "rate_limited");
    }
    // Updates that change neither name are not counted.
    let reply = put_from(
        &app,
        "/api/user/profile",
        &token,
        ip,
        json!({ "description": "hi" }),
    )
    .await;
    assert_eq!(reply.status, Status::Ok, "{}", reply.body);
}

#[rocket::async_test]
async fn probing_for_registered_emails_through_many_accounts_is_throttled_per_client_network() {
    let app = TestApp::new().await;
    app.register("victim").await;
    let mut tokens = Vec::new();
    for n in 0..3 {
        tokens.push(app.user(&format!("prober{n}")).await.1);
    }
    // One IPv6 client rotating the addresses of its /64.
    let from =
        |n: usize| -> SocketAddr { format!("[2001:db8:7:7::{:x}]:5000", n + 1).parse().unwrap() };
    for n in 0..20 {
        let reply = put_from(
            &app,
            "/api/user/profile",
            &tokens[n % 3],
            from(n),
            json!({ "email": "victim@example.org" }),
        )
        .await;
        reply.assert_error(400, "user_exists");
    }
    // prober2 has used 6 of its 10: the client network's 20 are spent.
    let reply = put_from(
        &app,
        "/api/user/profile",
        &tokens[2],
        from(99),
        json!({ "email": "victim@example.org" }),
    )
    .await;
    reply.assert_error(429, "rate_limited");
    let elsewhere: SocketAddr = "[2001:db8:7:8::1]:5000".parse().unwrap();
    let reply = put_from(
        &app,
        "/api/user/profile",
        &tokens[2],
        elsewhere,
        json!({ "email": "victim@example.org" }),
    )
    .await;
    reply.assert_error(400, "user_exists");
}

#[test]
fn query_strings_and_path_tokens_never_reach_the_log() {
    let root = tempfile::tempdir().unwrap();
    let log = root.path().join("server.log");
    let server = Server::start(&root.path().join("data"), &log);
    let client = Client::new();
    let secret = "?access_token=SECRET&password=SECRET";
    for (method, path) in [
        ("GET", format!("/no/such/route{secret}")),
        ("POST", format!("/no/such/route{secret}")),
        ("GET", format!("/api/health{secret}")),
        ("GET", format!("/api/user/profile{secret}")),
        ("POST", "/auth//password-reset/SECRET".to_string()),
        ("POST", "//auth/verify-email/SECRET".to_string()),
        ("POST", "/auth/verify-email//SECRET".to_string()),
        ("POST", "/auth/password%2Dreset/SECRET".to_string()),
        ("GET", "/auth//password-reset/SECRET".to_string()),
        ("POST", format!("/auth//verify-email/SECRET{secret}")),
    ] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let reply = client
            .request(method, server.url(&path))
            .json(&json!({ "password": "x" }))
            .send()
            .unwrap();
        assert!(reply.status().as_u16() < 500, "{path}");
    }
    drop(server);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("GET /no/such/route 404"), "{text}");
    assert!(text.contains("/auth/verify-email/<token>"), "{text}");
    assert!(
        !text.contains("SECRET"),
        "a secret reached the log:\n{text}"
    );
}
