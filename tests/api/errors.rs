use rocket::http::{ContentType, Method};
use serde_json::json;

use crate::support::{TestApp, PASSWORD};

#[rocket::async_test]
async fn bodies_that_are_not_json_are_400_invalid_json() {
    let app = TestApp::new().await;
    for body in [
        "",
        "{",
        "username=alice&password=x",
        "{\"username\": \"a\",}",
        "\u{0}",
    ] {
        let reply = app
            .send(
                Method::Post,
                "/api/register",
                None,
                Some(body.as_bytes().to_vec()),
                Some(ContentType::JSON),
            )
            .await;
        reply.assert_error(400, "invalid_json");
        assert_eq!(reply.body["error"], "Invalid JSON");
    }
    let reply = app.post("/api/login", json!(["an", "array"])).await;
    reply.assert_error(400, "invalid_json");
}

#[rocket::async_test]
async fn json_sent_as_text_plain_or_without_content_type_is_parsed_all_the_same() {
    let app = TestApp::new().await;
    let body = json!({ "username": "alice", "password": PASSWORD })
        .to_string()
        .into_bytes();
    let reply = app
        .send(
            Method::Post,
            "/api/register",
            None,
            Some(body.clone()),
            Some(ContentType::Plain),
        )
        .await;
    assert_eq!(reply.status.code, 201, "{}", reply.body);
    let reply = app
        .send(Method::Post, "/api/login", None, Some(body), None)
        .await;
    assert_eq!(reply.status.code, 200, "{}", reply.body);
}

#[rocket::async_test]
async fn only_an_image_field_may_make_a_json_body_larger_than_64_kib() {
    use base64::Engine;
    let app = TestApp::new().await;
    let padding = "x".repeat(70 << 10);
    // Where no image may ride along, and where one may but the bulk is something else.
    for path in ["/api/login", "/api/register"] {
        app.post(
            path,
            json!({ "username": "alice", "password": PASSWORD, "pad": padding }),
        )
        .await
        .assert_error(413, "payload_too_large");
    }
    // Noise compresses badly: a PNG of well over 64 KiB.
    let noise = image::RgbImage::from_fn(160, 160, |x, y| {
        let n = (x * 7919 + y * 104_729) ^ (x * y * 31);
        image::Rgb([n as u8, (n >> 8) as u8, (n >> 16) as u8])
    });
    let image = base64::engine::general_purpose::STANDARD
        .encode(crate::support::encode(&noise, image::ImageFormat::Png));
    assert!(image.len() > 70 << 10, "{} bytes", image.len());
    let reply = app
        .post(
            "/api/register",
            json!({ "username": "alice", "password": PASSWORD, "image": image }),
        )
        .await;
    assert_eq!(reply.status.code, 201, "{}", reply.body);
    let huge = "x".repeat(15 << 20);
    app.post(
        "/api/register",
        json!({ "username": "bob", "password": PASSWORD, "image": huge }),
    )
    .await
    .assert_error(413, "payload_too_large");
}

#[rocket::async_test]
async fn a_huge_array_in_a_field_is_skipped_as_it_is_read() {
    let app = TestApp::new().await;
    let (_, token) = app.user("alice").await;
    // Two million numbers where a name belongs: within the size an image may have, refused as
    // the wrong type of field (the numbers are never built into values).
    let numbers = vec!["0"; 2_000_000].join(",");
    let body = format!(r#"{{"name": [{numbers}]}}"#);
    let reply = app
        .send(
            rocket::http::Method::Put,
            "/api/user/profile",
            Some(&token),
            Some(body.into_bytes()),
            Some(rocket::http::ContentType::JSON),
        )
        .await;
    reply.assert_error(400, "invalid_field");
    assert!(reply.body["error"].as_str().unwrap().contains("name"));
}

#[rocket::async_test]
async fn unknown_routes_and_wrong_methods_are_json_404s() {
    let app = TestApp::new().await;
    app.get("/api/nope", None)
        .await
        .assert_error(404, "not_found");
    app.get("/nope/deeper.html", None)
        .await
        .assert_error(404, "not_found");
    let reply = app
        .send(Method::Delete, "/api/login", None, None, None)
        .await;
    assert!(matches!(reply.status.code, 404 | 405));
    assert!(reply.body["error"].is_string() && reply.body["code"].is_string());
}

#[rocket::async_test]
async fn health_reports_ok_and_the_version() {
    let app = TestApp::new().await;
    let reply = app.get("/api/health", None).await;
    assert_eq!(reply.status.code, 200);
    assert_eq!(
        reply.body,
        json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") })
    );
}

#[rocket::async_test]
async fn the_page_is_served_at_the_root_with_security_headers() {
    let app = TestApp::new().await;
    let reply = app.get("/", None).await;
    assert_eq!(reply.status.code, 200);
    assert_eq!(
        reply.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let csp = reply.header("content-security-policy").unwrap();
    assert!(
        csp.contains("default-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(reply.header("x-frame-options"), Some("DENY"));
    let etag = reply.header("etag").unwrap().to_string();
    assert_eq!(
        app.get_with("/", &[("If-None-Match", &etag)])
            .await
            .status
            .code,
        304
    );
}
