//! The two ceilings the server's figures are compared with, measured in the same run.

use std::convert::Infallible;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::json;

use profilebox::accounts::passwords::Hasher;
use profilebox::config::DEFAULT_PBKDF2_ITERATIONS;

use crate::client::Endpoint;
use crate::workloads::{bearer_value, username, PASSWORD};

/// Ceiling (a): the median time of one production-cost hash, with the server's own hasher.
pub async fn median_hash_time() -> Duration {
    let hasher = Hasher::new(DEFAULT_PBKDF2_ITERATIONS, 1);
    let mut times = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        hasher.hash(PASSWORD).await.expect("PBKDF2 hash");
        times.push(started.elapsed());
    }
    times.sort_unstable();
    times[1]
}

const SECRET: &[u8] = b"profilebox-bench-ceiling-secret-0123456789";

#[derive(Serialize, Deserialize)]
struct Claims {
    sub: String,
    exp: u64,
}

/// Ceiling (b): hyper 1 answering `GET /api/user/profile` after validating an HS256 JWT, with
/// no database, on its own two-thread runtime inside the bench process.
pub struct HyperCeiling {
    pub endpoint: Endpoint,
    _runtime: tokio::runtime::Runtime,
}

impl HyperCeiling {
    pub fn start() -> HyperCeiling {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("ceiling runtime");
        let listener = TcpListener::bind("127.0.0.1:0").expect("ceiling port");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let endpoint = Endpoint::new(listener.local_addr().expect("ceiling address"));
        runtime.spawn(serve(listener));
        HyperCeiling {
            endpoint,
            _runtime: runtime,
        }
    }

    /// Bearer tokens the ceiling accepts, one per user.
    pub fn tokens(&self, users: usize) -> Vec<HeaderValue> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        let key = EncodingKey::from_secret(SECRET);
        (0..users)
            .map(|user| {
                let claims = Claims {
                    sub: user.to_string(),
                    exp: now + 3600,
                };
                let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key)
                    .expect("JWT");
                bearer_value(&token)
            })
            .collect()
    }
}

struct Verifier {
    key: DecodingKey,
    validation: Validation,
}

async fn serve(listener: TcpListener) {
    let listener = tokio::net::TcpListener::from_std(listener).expect("ceiling listener");
    let verifier = Arc::new(Verifier {
        key: DecodingKey::from_secret(SECRET),
        // Pinned, as the server pins it.
        validation: Validation::new(Algorithm::HS256),
    });
    while let Ok((stream, _)) = listener.accept().await {
        let verifier = verifier.clone();
        let service = hyper::service::service_fn(move |request| {
            std::future::ready(Ok::<_, Infallible>(profile(&request, &verifier)))
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(stream), service);
        tokio::spawn(connection);
    }
}

/// A small user JSON for a valid token, like the server's reply.
fn profile(request: &Request<Incoming>, verifier: &Verifier) -> Response<Full<Bytes>> {
    let claims = (request.method() == Method::GET && request.uri().path() == "/api/user/profile")
        .then(|| {
            request
                .headers()
                .get(AUTHORIZATION)?
                .to_str()
                .ok()?
                .strip_prefix("Bearer ")
        })
        .flatten()
        .and_then(|token| {
            jsonwebtoken::decode::<Claims>(token, &verifier.key, &verifier.validation).ok()
        });
    let (status, body) = match claims {
        Some(data) => {
            let name = username(data.claims.sub.parse().unwrap_or_default());
            let user = json!({
                "id": data.claims.sub,
                "username": name,
                "email": format!("{name}@example.org"),
                "created_at": "2025-01-01T00:00:00Z",
            });
            (StatusCode::OK, user)
        }
        None => (
            StatusCode::UNAUTHORIZED,
            json!({ "error": "Unauthorized", "code": 401 }),
        ),
    };
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("valid response")
}
