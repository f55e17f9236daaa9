//! Abuse resistance: throttling, client IPs behind proxies, common passwords, security headers,
//! CORS, and the OpenAPI document's coverage.

use std::net::SocketAddr;

use rocket::http::{Header, Method};
use serde_json::{json, Value};

use crate::support::{jpeg, path_of, Reply, TestApp, PASSWORD};

/// A JSON POST from a given peer address, with extra headers.
async fn post_from(
    app: &TestApp,
    peer: &str,
    path: &str,
    body: Value,
    headers: &[(&str, &str)],
) -> Reply {
    let mut request = app
        .client
        .post(path.to_string())
        .remote(peer.parse::<SocketAddr>().unwrap())
        .body(body.to_string());
    for (name, value) in headers {
        request.add_header(Header::new(name.to_string(), value.to_string()));
    }
    TestApp::reply(request.dispatch().await).await
}

async fn wrong_login(app: &TestApp, peer: &str, username: &str) -> Reply {
    post_from(
        app,
        peer,
        "/api/login",
        json!({ "username": username, "password": "not the password" }),
        &[],
    )
    .await
}

#[rocket::async_test]
async fn an_account_locks_after_ten_failures_while_others_from_the_same_ip_still_log_in() {
    let app = TestApp::new().await;
    app.register("alice").await;
    app.register("bob").await;
    for _ in 0..10 {
        wrong_login(&app, "192.0.2.1:4000", "alice")
            .await
            .assert_error(401, "invalid_credentials");
    }
    let locked = wrong_login(&app, "192.0.2.1:4000", "ALICE").await;
    locked.assert_error(429, "rate_limited");
    let retry: u64 = locked.header("retry-after").unwrap().parse().unwrap();
    assert!((800..=900).contains(&retry), "{retry}");
    // Even the right password waits out the lock…
    post_from(
        &app,
        "192.0.2.1:4000",
        "/api/login",
        json!({ "username": "alice", "password": PASSWORD }),
        &[],
    )
    .await
    .assert_error(429, "rate_limited");
    // …while another account from the same address logs in.
    let bob = post_from(
        &app,
        "192.0.2.1:4000",
        "/api/login",
        json!({ "username": "bob", "password": PASSWORD }),
        &[],
    )
    .await;
    assert_eq!(bob.status.code, 200, "{}", bob.body);
}

#[rocket::async_test]
async fn fifty_wrong_passwords_meet_a_429_with_retry_after_and_a_success_resets_the_count() {
    let app = TestApp::new().await;
    app.register("alice").await;
    for _ in 0..9 {
        wrong_login(&app, "192.0.2.2:1", "alice").await;
    }
    app.login("alice").await;
    for _ in 0..9 {
        wrong_login(&app, "192.0.2.2:1", "alice")
            .await
            .assert_error(401, "invalid_credentials");
    }
    let statuses: Vec<u16> = {
        let mut statuses = Vec::new();
        for n in 0..50 {
            let peer = format!("198.51.100.{}:1", n % 200);
            statuses.push(wrong_login(&app, &peer, "alice").await.status.code);
        }
        statuses
    };
    assert_eq!(statuses[0], 401, "the count restarted after the success");
    assert!(statuses.contains(&429), "{statuses:?}");
}

#[rocket::async_test]
async fn each_ip_has_a_login_budget_and_other_ips_are_unaffected() {
    let app = TestApp::new().await;
    for n in 0..30 {
        let reply = wrong_login(&app, "192.0.2.3:1", &format!("nobody{n}")).await;
        reply.assert_error(401, "invalid_credentials");
    }
    let over = wrong_login(&app, "192.0.2.3:1", "nobody-else").await;
    over.assert_error(429, "rate_limited");
    assert!(over.header("retry-after").is_some());
    wrong_login(&app, "192.0.2.4:1", "nobody-else")
        .await
        .assert_error(401, "invalid_credentials");
}

/// Registers 11 users from one peer, each claiming another address; returns the last status.
async fn eleven_registrations_with_forged_addresses(app: &TestApp, peer: &str) -> Reply {
    let mut last = None;
    for n in 0..11 {
        let forged = format!("203.0.113.{n}");
        let body = json!({ "username": format!("user{n}"), "password": PASSWORD });
        last = Some(
            post_from(
                app,
                peer,
                "/api/register",
                body,
                &[("X-Forwarded-For", &forged), ("X-Real-IP", &forged)],
            )
            .await,
        );
    }
    last.unwrap()
}

#[rocket::async_test]
async fn forwarded_addresses_are_ignored_unless_the_peer_is_a_trusted_proxy() {
    let app = TestApp::new().await;
    eleven_registrations_with_forged_addresses(&app, "192.0.2.5:1")
        .await
        .assert_error(429, "rate_limited");

    let behind_proxy = TestApp::with(|f| f.merge(("trusted_proxies", ["10.0.0.0/8"]))).await;
    let last = eleven_registrations_with_forged_addresses(&behind_proxy, "10.1.2.3:1").await;
    assert_eq!(
        last.status.code, 201,
        "each forwarded client has its own budget"
    );
    // The session records the client the proxy names, not the proxy.
    let login = post_from(
        &behind_proxy,
        "10.1.2.3:1",
        "/api/login",
        json!({ "username": "user0", "password": PASSWORD }),
        &[("X-Forwarded-For", "198.51.100.7, 10.9.9.9")],
    )
    .await;
    let token = login.body["access_token"].as_str().unwrap();
    let sessions = behind_proxy.get("/api/user/sessions", Some(token)).await;
    assert_eq!(sessions.body["sessions"][0]["ip"], "198.51.100.7");
}

#[rocket::async_test]
async fn common_passwords_and_the_own_name_are_refused_everywhere_a_password_is_chosen() {
    let app = TestApp::new().await;
    for (body, why) in [
        (
            json!({ "username": "alice", "password": "iloveyou" }),
            "common",
        ),
        (
            json!({ "username": "alice", "password": "Password1" }),
            "common",
        ),
        (
            json!({ "username": "alice.liddell", "password": "Alice.Liddell" }),
            "username",
        ),
        (
            json!({ "email": "alice@example.org", "password": "alice@example.org" }),
            "email",
        ),
    ] {
        let reply = app.post("/api/register", body).await;
        reply.assert_error(400, "weak_password");
        assert!(reply.body["error"]
            .as_str()
            .unwrap()
            .contains(if why == "common" {
                "common"
            } else {
                "username or email"
            }));
    }
    let (_, token) = app.user("alice").await;
    app.put(
        "/api/user/password",
        &token,
        json!({ "old_password": PASSWORD, "new_password": "qwertyuiop" }),
    )
    .await
    .assert_error(400, "weak_password");
    app.put(
        "/api/user/password",
        &token,
        json!({ "old_password": PASSWORD, "new_password": "ALICE@example.org" }),
    )
    .await
    .assert_error(400, "weak_password");
}

#[rocket::async_test]
async fn security_headers_are_on_json_image_and_page_responses() {
    let app = TestApp::new().await;
    let (_, token) = app.user("alice").await;
    let url = app.upload(&token, "file", &jpeg(32, 32)).await.body["image_url"]
        .as_str()
        .unwrap()
        .to_string();
    let json_reply = app.get("/api/user/profile", Some(&token)).await;
    let error_reply = app.get("/api/nope", None).await;
    let image = app.get(&path_of(&url), None).await;
    let page = app.get("/", None).await;
    for reply in [&json_reply, &error_reply, &image, &page] {
        assert_eq!(reply.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(reply.header("referrer-policy"), Some("no-referrer"));
        assert_eq!(reply.header("x-frame-options"), Some("DENY"));
        assert_eq!(
            reply.header("strict-transport-security"),
            None,
            "no HSTS on http"
        );
    }
    for reply in [&json_reply, &error_reply] {
        assert_eq!(reply.header("cache-control"), Some("no-store"));
    }
    let csp = page.header("content-security-policy").unwrap();
    assert!(
        csp.contains("default-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );

    let https = TestApp::with(|f| f.merge(("public_url", "https://accounts.example.org"))).await;
    let reply = https.get("/api/health", None).await;
    assert!(reply
        .header("strict-transport-security")
        .unwrap()
        .contains("max-age="));
}

async fn with_origin(app: &TestApp, method: Method, path: &str, origin: &str) -> Reply {
    let mut request = app.client.req(method, path.to_string());
    request.add_header(Header::new("Origin", origin.to_string()));
    request.add_header(Header::new("Access-Control-Request-Method", "POST"));
    request.add_header(Header::new(
        "Access-Control-Request-Headers",
        "authorization, content-type",
    ));
    TestApp::reply(request.dispatch().await).await
}

#[rocket::async_test]
async fn cors_allows_configured_origins_only() {
    let app = TestApp::with(|f| f.merge(("cors_origins", ["https://app.example.org"]))).await;
    let preflight = with_origin(
        &app,
        Method::Options,
        "/api/login",
        "https://app.example.org",
    )
    .await;
    assert_eq!(preflight.status.code, 204);
    assert_eq!(
        preflight.header("access-control-allow-origin"),
        Some("https://app.example.org")
    );
    assert!(preflight
        .header("access-control-allow-methods")
        .unwrap()
        .contains("POST"));
    assert_eq!(
        preflight.header("access-control-allow-headers"),
        Some("authorization, content-type")
    );
    assert_eq!(
        preflight.header("access-control-allow-credentials"),
        Some("true")
    );
    let simple = with_origin(&app, Method::Get, "/api/health", "https://app.example.org").await;
    assert_eq!(
        simple.header("access-control-allow-origin"),
        Some("https://app.example.org")
    );

    let refused = with_origin(&app, Method::Options, "/api/login", "https://evil.example").await;
    assert_eq!(refused.header("access-control-allow-origin"), None);
    let refused = with_origin(&app, Method::Get, "/api/health", "https://evil.example").await;
    assert_eq!(refused.header("access-control-allow-origin"), None);

    let any = TestApp::with(|f| f.merge(("cors_origins", ["*"]))).await;
    let reply = with_origin(&any, Method::Get, "/api/health", "https://whoever.example").await;
    assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
    assert_eq!(
        reply.header("access-control-allow-credentials"),
        None,
        "never * with credentials"
    );

    let none = TestApp::new().await;
    let reply = with_origin(
        &none,
        Method::Options,
        "/api/login",
        "https://app.example.org",
    )
    .await;
    assert_eq!(
        reply.header("access-control-allow-origin"),
        None,
        "no CORS headers by default"
    );
}

#[rocket::async_test]
async fn the_openapi_document_describes_every_mounted_route() {
    let app = TestApp::new().await;
    let reply = app.get("/api/openapi.json", None).await;
    assert_eq!(reply.status.code, 200);
    let doc = reply.body;
    assert_eq!(doc["openapi"], "3.0.3");
    let mut operation_ids = std::collections::HashSet::new();
    let mut described = 0;
    for route in app.client.rocket().routes() {
        let name = route.name.as_deref().unwrap();
        if profilebox::openapi::UNDESCRIBED.contains(&name) {
            continue;
        }
        let mut path: String = route
            .uri
            .path()
            .split('/')
            .map(|s| {
                s.strip_prefix('<')
                    .and_then(|s| s.strip_suffix('>'))
                    .map_or(s.to_string(), |p| format!("{{{p}}}"))
            })
            .collect::<Vec<_>>()
            .join("/");
        if name.starts_with("django.") || name == "auth.register" {
            path.push('/');
        }
        let method = route.method.as_str().to_ascii_lowercase();
        let operation = &doc["paths"][&path][&method];
        assert_eq!(
            operation["operationId"], name,
            "{method} {path} is not described"
        );
        assert_ne!(
            operation["summary"], "Undocumented route",
            "{name} has no description"
        );
        assert!(operation_ids.insert(name.to_string()), "{name} twice");
        described += 1;
    }
    assert!(described >= 39, "{described}");
    // An unmounted set is not described either.
    let without_auth = TestApp::with(|f| f.merge(("compat", ["django", "fastapi"]))).await;
    let doc = without_auth.get("/api/openapi.json", None).await.body;
    assert!(doc["paths"]["/auth/login"].is_null());
    assert!(doc["paths"]["/me"]["get"].is_object());
}

#[rocket::async_test]
async fn checking_mailed_tokens_counts_against_the_token_budget() {
    let app = TestApp::new().await;
    let guess = |path: &'static str| {
        let app = &app;
        async move {
            let body = json!({ "token": "guess", "purpose": "password_reset", "password": "a new passphrase" });
            post_from(app, "192.0.2.9:1", path, body, &[]).await
        }
    };
    for _ in 0..20 {
        guess("/api/mailed-token/check")
            .await
            .assert_error(400, "invalid_token");
    }
    guess("/api/mailed-token/check")
        .await
        .assert_error(429, "rate_limited");
    // The budget of using a token: guessing by checking buys no more tries.
    guess("/api/password-reset/confirm")
        .await
        .assert_error(429, "rate_limited");
}
