//! Attacks on the edges of the service: what it accepts as input, what its answers reveal, and
//! what it leaves on disk and in the log.

use std::net::SocketAddr;

use reqwest::blocking::Client;
use rocket::http::{ContentType, Header, Status};
use serde_json::{json, Value};

use crate::binary::Server;
use crate::support::{Reply, TestApp, PASSWORD};

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
