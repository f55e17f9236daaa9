//! The ceilings the server's figures are compared with, measured in the same run: (a) the
//! password hash, (b) hyper with a JWT check and no database, (c) the same route in a bare
//! Rocket 0.5 app, the framework profilebox is built on, (d) the upload pipeline without HTTP.

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
use profilebox::config::{Settings, DEFAULT_PBKDF2_ITERATIONS};
use profilebox::image_settings;
use profilebox::images::{ImageStore, Placement};

use rocket::request::{FromRequest, Outcome};

use crate::client::{request_once, Endpoint, Stats};
use crate::server::free_loopback_addr;
use crate::workloads::{bearer_value, username, PASSWORD};

/// Ceiling (a): the median time of one production-cost hash with the server's own hasher, and
/// of the same derivation by the `pbkdf2` crate's generic loop (the server's before).
pub async fn median_hash_times() -> (Duration, Duration) {
    let hasher = Hasher::new(DEFAULT_PBKDF2_ITERATIONS, 1);
    let mut ours = Vec::new();
    let mut generic = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        hasher.hash(PASSWORD).await.expect("PBKDF2 hash");
        ours.push(started.elapsed());
        let started = Instant::now();
        let mut output = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<sha2::Sha256>(
            PASSWORD.as_bytes(),
            b"sixteen salt byt",
            DEFAULT_PBKDF2_ITERATIONS,
            &mut output,
        );
        std::hint::black_box(output);
        generic.push(started.elapsed());
    }
    ours.sort_unstable();
    generic.sort_unstable();
    (ours[1], generic[1])
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

/// The JWT check both ceiling servers make.
struct Verifier {
    key: DecodingKey,
    validation: Validation,
}

impl Verifier {
    fn new() -> Verifier {
        Verifier {
            key: DecodingKey::from_secret(SECRET),
            // Pinned, as the server pins it.
            validation: Validation::new(Algorithm::HS256),
        }
    }

    /// The claims of a valid `Authorization: Bearer` header value.
    fn claims(&self, authorization: Option<&str>) -> Option<Claims> {
        let token = authorization?.strip_prefix("Bearer ")?;
        jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation)
            .ok()
            .map(|data| data.claims)
    }
}

async fn serve(listener: TcpListener) {
    let listener = tokio::net::TcpListener::from_std(listener).expect("ceiling listener");
    let verifier = Arc::new(Verifier::new());
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

/// A small user JSON, like the server's reply.
fn user_json(claims: &Claims) -> String {
    let name = username(claims.sub.parse().unwrap_or_default());
    json!({
        "id": claims.sub,
        "username": name,
        "email": format!("{name}@example.org"),
        "created_at": "2025-01-01T00:00:00Z",
    })
    .to_string()
}

/// The user JSON for a valid token.
fn profile(request: &Request<Incoming>, verifier: &Verifier) -> Response<Full<Bytes>> {
    let route = request.method() == Method::GET && request.uri().path() == "/api/user/profile";
    let authorization = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok());
    let claims = route.then(|| verifier.claims(authorization)).flatten();
    let (status, body) = match claims {
        Some(claims) => (StatusCode::OK, user_json(&claims)),
        None => (
            StatusCode::UNAUTHORIZED,
            json!({ "error": "Unauthorized", "code": 401 }).to_string(),
        ),
    };
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("valid response")
}

/// Ceiling (c): the same route in a bare Rocket 0.5 app (a request guard validating the JWT, a
/// JSON reply, no fairings, no database), on its own two-worker runtime in the bench process.
/// What is left between this and ceiling (b) is the framework's own cost.
pub struct RocketCeiling {
    pub endpoint: Endpoint,
}

impl RocketCeiling {
    pub fn start() -> RocketCeiling {
        let addr = free_loopback_addr();
        let config = rocket::Config {
            address: addr.ip(),
            port: addr.port(),
            workers: 2,
            log_level: rocket::config::LogLevel::Off,
            shutdown: rocket::config::Shutdown {
                ctrlc: false,
                ..Default::default()
            },
            ..rocket::Config::release_default()
        };
        let app = rocket::custom(config)
            .manage(Verifier::new())
            .mount("/", rocket::routes![rocket_profile]);
        std::thread::spawn(move || {
            let _ = rocket::execute(app.launch());
        });
        RocketCeiling {
            endpoint: Endpoint::new(addr),
        }
    }

    pub async fn wait_ready(&self) {
        for _ in 0..5000 {
            if request_once(self.endpoint.addr, self.endpoint.get("/"))
                .await
                .is_some()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        panic!("the Rocket ceiling did not start");
    }
}

struct Caller(Claims);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Caller {
    type Error = ();

    async fn from_request(request: &'r rocket::Request<'_>) -> Outcome<Self, ()> {
        let verifier = request.rocket().state::<Verifier>().expect("managed");
        match verifier.claims(request.headers().get_one("Authorization")) {
            Some(claims) => Outcome::Success(Caller(claims)),
            None => Outcome::Error((rocket::http::Status::Unauthorized, ())),
        }
    }
}

#[rocket::get("/api/user/profile")]
fn rocket_profile(caller: Caller) -> (rocket::http::ContentType, String) {
    (rocket::http::ContentType::JSON, user_json(&caller.0))
}

/// Ceiling (d): the work of one upload alone — check, decode, fit into the square, encode, with
/// the server's default settings — of `photo` on every core, with no HTTP and no disk.
pub fn image_pipeline(label: String, photo: &[u8], cores: usize, duration: Duration) -> Stats {
    let settings = Settings::default();
    let images = ImageStore::new(image_settings(&settings, Placement::Local));
    let started = Instant::now();
    let deadline = started + duration;
    let latencies: Vec<Duration> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..cores)
            .map(|_| {
                scope.spawn(|| {
                    let mut taken = Vec::new();
                    while Instant::now() < deadline {
                        let one = Instant::now();
                        let jpeg = images.reencode_now(photo).expect("the w5 photo re-encodes");
                        std::hint::black_box(jpeg);
                        taken.push(one.elapsed());
                    }
                    taken
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| worker.join().expect("pipeline worker"))
            .collect()
    });
    Stats::of_operations(label, latencies, started.elapsed())
}
