//! `GET /metrics`: off by default; on, counted at the edge and answered only on loopback or
//! with the token.

use std::net::SocketAddr;

use rocket::http::Header;
use serde_json::json;

use crate::support::{TestApp, PASSWORD};

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
