//! `GET /metrics`: off by default; on, counted at the edge and answered only on loopback or
//! with the token.

use std::net::SocketAddr;

use rocket::http::Header;
use serde_json::json;

use crate::dbservers::free_port;
use crate::support::{png, TestApp, PASSWORD};

const TOKEN: &str = "a-metrics-token-for-the-tests";

/// `GET /metrics` from `peer`, with these headers: (status, body).
async fn scrape(app: &TestApp, peer: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut request = app
        .client
        .get("/metrics")
        .remote(peer.parse::<SocketAddr>().unwrap());
    for (name, value) in headers {
        request.add_header(Header::new(name.to_string(), value.to_string()));
    }
    let response = request.dispatch().await;
    let status = response.status().code;
    (status, response.into_string().await.unwrap_or_default())
}

/// The value of the metric line that starts with `name ` (labels included in `name`).
fn value(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|number| number.parse().ok())
}

/// Scrapes on loopback until `name` reads `expected` (work off the request path lands later).
async fn wait_for_value(app: &TestApp, name: &str, expected: f64) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (status, text) = scrape(app, "127.0.0.1:4000", &[]).await;
        assert_eq!(status, 200, "{text}");
        if value(&text, name) == Some(expected) {
            return text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{name} is not {expected}:\n{text}"
        );
        rocket::tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn request_a_reset_mail_for_alice(app: &TestApp) {
    let reset = app
        .post(
            "/api/password-reset/request",
            json!({ "email": "alice@example.org" }),
        )
        .await;
    assert_eq!(reset.status.code, 200, "{}", reset.body);
}

#[rocket::async_test]
async fn metrics_are_off_by_default() {
    let app = TestApp::new().await;
    let (status, body) = scrape(&app, "127.0.0.1:4000", &[]).await;
    assert_eq!(status, 404);
    assert!(body.contains("not_found"), "{body}");
}

#[rocket::async_test]
async fn metrics_count_requests_and_logins_and_answer_only_loopback_or_the_token() {
    let app = TestApp::with(|figment| {
        figment
            .merge(("metrics", true))
            .merge(("metrics_token", TOKEN))
            .merge(("trusted_proxies", ["127.0.0.2/32"]))
    })
    .await;
    app.register("alice").await;
    app.login("alice").await;
    let refused = app
        .post(
            "/api/login",
            json!({ "username": "alice", "password": "not it" }),
        )
        .await;
    assert_eq!(refused.status.code, 401);
    let wrong = app
        .post(
            "/login",
            json!({ "username": "alice", "password": format!("{PASSWORD}!") }),
        )
        .await;
    assert_eq!(wrong.status.code, 401);
    // A GET of an unknown path is the page's file route's 404; a POST is taken by no route.
    assert_eq!(app.post("/no/such/path", json!({})).await.status.code, 404);

    let (status, text) = scrape(&app, "127.0.0.1:4000", &[]).await;
    assert_eq!(status, 200, "{text}");
    for line in [
        "profilebox_http_requests_total{route=\"api.register\",status=\"2xx\"} 1",
        "profilebox_http_requests_total{route=\"api.login\",status=\"2xx\"} 1",
        "profilebox_http_requests_total{route=\"api.login\",status=\"4xx\"} 1",
        "profilebox_http_requests_total{route=\"none\",status=\"4xx\"} 1",
        "profilebox_logins_total{outcome=\"success\"} 1",
        // The fastapi set's login counts as a login too.
        "profilebox_logins_total{outcome=\"refused\"} 2",
        "profilebox_http_request_duration_seconds_count 5",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "{line} is missing:\n{text}"
        );
    }
    let pool = text
        .lines()
        .find_map(|l| l.strip_prefix("profilebox_database_connections "))
        .and_then(|n| n.parse::<i64>().ok());
    assert!(pool.is_some_and(|n| n >= 1), "{text}");

    // Not on loopback: only with the token.
    let (status, body) = scrape(&app, "192.0.2.7:4000", &[]).await;
    assert_eq!(status, 403);
    assert!(body.contains("\"forbidden\""), "{body}");
    let wrong = scrape(
        &app,
        "192.0.2.7:4000",
        &[("Authorization", "Bearer not-the-token")],
    )
    .await;
    assert_eq!(wrong.0, 403);
    let bearer = format!("Bearer {TOKEN}");
    let (status, text) = scrape(&app, "192.0.2.7:4000", &[("Authorization", &bearer)]).await;
    assert_eq!(status, 200);
    assert!(text.contains("profilebox_logins_total"));
    // Through a trusted proxy on the same host, the client is who the proxy names.
    let forwarded = [("X-Forwarded-For", "198.51.100.4")];
    assert_eq!(scrape(&app, "127.0.0.2:4000", &forwarded).await.0, 403);
    assert_eq!(scrape(&app, "127.0.0.2:4000", &[]).await.0, 200);
}

#[rocket::async_test]
async fn metrics_count_hashes_pictures_and_mails_where_the_work_is_done() {
    let app = TestApp::with(|figment| figment.merge(("metrics", true))).await;
    let (status, text) = scrape(&app, "127.0.0.1:4000", &[]).await;
    assert_eq!(status, 200);
    assert_eq!(
        value(&text, "profilebox_image_processing_seconds_count"),
        Some(0.0)
    );
    assert_eq!(value(&text, "profilebox_mails_sent_total"), Some(0.0));

    let (_, token) = app.user("alice").await;
    let uploaded = app.upload(&token, "file", &png(640, 480)).await;
    assert_eq!(uploaded.status.code, 200, "{}", uploaded.body);
    request_a_reset_mail_for_alice(&app).await;

    // The mail goes to the outbox after the answer.
    let text = wait_for_value(&app, "profilebox_mails_sent_total", 1.0).await;
    for (name, expected) in [
        ("profilebox_image_processing_seconds_count", 1.0),
        ("profilebox_mails_failed_total", 0.0),
        // Nothing is left waiting or running once the answers are in.
        ("profilebox_password_hashes_waiting", 0.0),
        ("profilebox_password_hashes_running", 0.0),
        ("profilebox_database_connections_waiting", 0.0),
    ] {
        assert_eq!(value(&text, name), Some(expected), "{name}:\n{text}");
    }
    let processing = value(&text, "profilebox_image_processing_seconds_sum").unwrap();
    assert!(processing > 0.0, "{text}");
}

#[rocket::async_test]
async fn a_mail_the_smtp_server_never_takes_is_counted_as_failed() {
    // Nothing listens there: every attempt is refused, and the mail is given up on.
    let smtp_url = format!("smtp://127.0.0.1:{}", free_port());
    let app = TestApp::with(|figment| {
        figment
            .merge(("metrics", true))
            .merge(("smtp_url", &smtp_url))
    })
    .await;
    app.register("alice").await;
    request_a_reset_mail_for_alice(&app).await;
    let text = wait_for_value(&app, "profilebox_mails_failed_total", 1.0).await;
    assert_eq!(
        value(&text, "profilebox_mails_sent_total"),
        Some(0.0),
        "{text}"
    );
}
