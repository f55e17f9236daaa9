//! The requests of each workload, and the data they need.

use std::sync::{Arc, LazyLock};
use std::time::{SystemTime, UNIX_EPOCH};

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use hyper::{Method, Request};
use image::codecs::jpeg::JpegEncoder;
use image::{Rgb, RgbImage};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::client::{request_once, Endpoint, MakeRequest};

pub const PASSWORD: &str = "bench-password-1";
const BOUNDARY: &str = "profilebox-bench-boundary";

/// Names carry the run's start time, so that a second run against the same server database
/// (`BENCH_DATABASE_URL`) registers new users instead of finding its names taken.
pub fn username(index: usize) -> String {
    static RUN: LazyLock<u64> = LazyLock::new(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs())
    });
    format!("b{:x}-{index:04}", *RUN)
}

pub fn bearer_value(token: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("Bearer {token}")).expect("header-safe token")
}

pub fn register(api: &Endpoint) -> MakeRequest {
    let api = api.clone();
    Arc::new(move |index| {
        let name = username(index);
        let email = format!("{name}@example.org");
        let body = json!({ "username": name, "email": email, "password": PASSWORD });
        api.post_json("/api/register", &body)
    })
}

/// Logs the registered users in, in turn.
pub fn login(api: &Endpoint, users: usize) -> MakeRequest {
    let api = api.clone();
    Arc::new(move |index| {
        let body = json!({ "username": username(index % users), "password": PASSWORD });
        api.post_json("/api/login", &body)
    })
}

pub fn profile(endpoint: &Endpoint, bearers: Arc<Vec<HeaderValue>>) -> MakeRequest {
    let endpoint = endpoint.clone();
    Arc::new(move |index| {
        endpoint
            .request(Method::GET, "/api/user/profile")
            .header(AUTHORIZATION, bearers[index % bearers.len()].clone())
            .body(Full::default())
            .expect("valid request")
    })
}

pub fn upload(api: &Endpoint, bearers: Arc<Vec<HeaderValue>>, photo: &[u8]) -> MakeRequest {
    let api = api.clone();
    let body = multipart_body(photo);
    let content_type = HeaderValue::from_str(&format!("multipart/form-data; boundary={BOUNDARY}"))
        .expect("header-safe boundary");
    Arc::new(move |index| {
        api.request(Method::POST, "/api/upload_profile_image")
            .header(AUTHORIZATION, bearers[index % bearers.len()].clone())
            .header(CONTENT_TYPE, content_type.clone())
            .body(Full::new(body.clone()))
            .expect("valid request")
    })
}

fn multipart_body(file: &[u8]) -> Bytes {
    let head = format!(
        "--{BOUNDARY}\r\n\
         Content-Disposition: form-data; name=\"file\"; filename=\"photo.jpg\"\r\n\
         Content-Type: image/jpeg\r\n\r\n"
    );
    let tail = format!("\r\n--{BOUNDARY}--\r\n");
    Bytes::from([head.as_bytes(), file, tail.as_bytes()].concat())
}

pub fn image(api: &Endpoint, filename: &str) -> MakeRequest {
    let api = api.clone();
    let path = format!("/profile_images/{filename}");
    Arc::new(move |_| api.get(&path))
}

/// The access tokens in the login replies.
pub fn tokens_from(replies: &[Bytes]) -> Vec<HeaderValue> {
    let tokens: Vec<_> = replies
        .iter()
        .filter_map(|reply| {
            let reply: Value = serde_json::from_slice(reply).ok()?;
            reply["token"].as_str().map(bearer_value)
        })
        .collect();
    assert!(!tokens.is_empty(), "no login reply carried a token");
    tokens
}

/// The name the server gives a freshly uploaded image.
pub async fn stored_filename(api: &Endpoint, upload: Request<Full<Bytes>>) -> String {
    let (status, body) = request_once(api.addr, upload)
        .await
        .expect("upload: no answer");
    let reply: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    assert!(status.is_success(), "upload: {status} {reply}");
    reply["filename"]
        .as_str()
        .expect("upload reply without a filename")
        .to_owned()
}

pub const PHOTO_WIDTH: u32 = 1600;
pub const PHOTO_HEIGHT: u32 = 1200;

/// A photo-like JPEG of about 200 KB: smooth gradients with mild noise, quality 90.
pub fn photo_jpeg() -> Vec<u8> {
    // Tuned so the file lands near 200 KB; the fixed seed keeps the size from run to run.
    const NOISE: f32 = 3.6;
    let mut rng = StdRng::seed_from_u64(7);
    let photo = RgbImage::from_fn(PHOTO_WIDTH, PHOTO_HEIGHT, |x, y| {
        let fx = x as f32 / PHOTO_WIDTH as f32;
        let fy = y as f32 / PHOTO_HEIGHT as f32;
        let wave = (fx * 9.0).sin() * (fy * 7.0).cos();
        let channels = [255.0 * fx, 255.0 * fy, 128.0 + 90.0 * wave];
        Rgb(channels.map(|c| (c + rng.gen_range(-NOISE..=NOISE)).clamp(0.0, 255.0) as u8))
    });
    let mut jpeg = Vec::new();
    JpegEncoder::new_with_quality(&mut jpeg, 90)
        .encode_image(&photo)
        .expect("JPEG encoding");
    jpeg
}
