use rocket::http::{ContentType, Header, Method};
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
async fn unknown_routes_are_json_404s() {
    let app = TestApp::new().await;
    for (method, path) in [
        (Method::Get, "/api/nope"),
        (Method::Get, "/nope/deeper.html"),
        (Method::Post, "/api/nope"),
        (Method::Delete, "/api/user/sessions/1/more"),
    ] {
        let reply = app.send(method, path, None, None, None).await;
        reply.assert_error(404, "not_found");
        assert_eq!(reply.header("allow"), None, "{method} {path}");
    }
}

#[rocket::async_test]
async fn a_wrong_method_on_a_known_path_is_a_json_405_with_allow() {
    let app = TestApp::new().await;
    for (method, path, allow) in [
        (Method::Delete, "/api/login", "POST, OPTIONS"),
        (Method::Get, "/api/login", "POST, OPTIONS"),
        (
            Method::Patch,
            "/api/user/profile",
            "GET, HEAD, PUT, DELETE, OPTIONS",
        ),
        (Method::Post, "/api/health", "GET, HEAD, OPTIONS"),
        (Method::Get, "/api/user/sessions/12", "DELETE, OPTIONS"),
        (
            Method::Put,
            "/profile_images/1-abc.jpg",
            "GET, HEAD, OPTIONS",
        ),
        (Method::Get, "/api/register/", "POST, OPTIONS"),
    ] {
        let reply = app.send(method, path, None, None, None).await;
        reply.assert_error(405, "method_not_allowed");
        assert_eq!(reply.header("allow"), Some(allow), "{method} {path}");
    }
    // A preflight still answers every known path, naming that path's methods.
    let preflight = app
        .send(Method::Options, "/api/user/profile", None, None, None)
        .await;
    assert_eq!(preflight.status.code, 204);
    assert_eq!(
        preflight.header("allow"),
        Some("GET, HEAD, PUT, DELETE, OPTIONS")
    );
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
async fn health_answers_503_draining_once_shutdown_is_requested() {
    let app = TestApp::new().await;
    app.client.rocket().shutdown().notify();
    let reply = app.get("/api/health", None).await;
    reply.assert_error(503, "draining");
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

#[rocket::async_test]
async fn a_truncated_multipart_upload_is_a_400_not_a_413() {
    let app = TestApp::new().await;
    let (_, token) = app.user("alice").await;
    let boundary = "b0undary";
    let content_type =
        ContentType::new("multipart", "form-data").with_params(("boundary", boundary));
    // The part has no headers and the stream ends early: malformed, and tiny. Its length is
    // announced, as every HTTP client does for a form.
    for body in [
        format!("--{boundary}\r\nNone--{boundary}--\r\n"),
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\""),
    ] {
        let request = app
            .client
            .post("/api/upload_profile_image")
            .header(content_type.clone())
            .header(Header::new("Authorization", format!("Bearer {token}")))
            .header(Header::new("Content-Length", body.len().to_string()))
            .body(body);
        let reply = TestApp::reply(request.dispatch().await).await;
        reply.assert_error(400, "missing_file");
    }
}

#[rocket::async_test]
async fn a_control_character_behind_a_field_synonym_is_refused() {
    let app = TestApp::new().await;
    // `first_name` is read first, but the `firstname` sent beside it must be valid too.
    let reply = app
        .post(
            "/api/register",
            json!({ "username": "alice", "password": PASSWORD,
                    "first_name": "", "firstname": "x\u{1b}[2J" }),
        )
        .await;
    reply.assert_error(400, "invalid_field");
    assert_eq!(
        reply.body["error"],
        "firstname must not contain control characters"
    );

    let (_, token) = app.user("bob").await;
    let reply = app
        .put(
            "/api/user/profile",
            &token,
            json!({ "last_name": "Builder", "lastname": "\u{7}" }),
        )
        .await;
    reply.assert_error(400, "invalid_field");
    assert_eq!(
        reply.body["error"],
        "lastname must not contain control characters"
    );
    let profile = app.get("/api/user/profile", Some(&token)).await;
    assert_eq!(profile.body["last_name"], serde_json::Value::Null);
}
