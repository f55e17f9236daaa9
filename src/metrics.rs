//! `GET /metrics` in Prometheus's text format, off unless `metrics = true`; then answered to
//! clients on loopback (after `trusted_proxies` are looked through, so a reverse proxy on the
//! same host does not expose it) or bearing `metrics_token`.
//!
//! Counted here, at the edge, for every route: requests by route and status class, their
//! duration, logins by outcome and refusals by the per-IP limits (read off each login's and each
//! refused request's status). Counted where the work happens, and registered here: hashes waiting
//! and running, the image pipeline's time, mails sent and failed. Read at each scrape: the
//! database pool. The exposition format is prometheus-client's.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use rocket::fairing::{Fairing, Info, Kind};
use rocket::http::{ContentType, Status};
use rocket::request::{FromRequest, Outcome};
use rocket::{Request, Response, Route};

use crate::accounts::users::Services;
use crate::config::Settings;
use crate::db::Db;
use crate::error::ApiError;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabel {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

/// The service's metrics, one set per instance.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    duration: Histogram,
    logins: Family<OutcomeLabel, Counter>,
    rate_limited: Family<RouteLabel, Counter>,
    pool_size: Gauge,
    pool_idle: Gauge,
    pool_waiting: Gauge,
}

impl Metrics {
    /// The edge's metrics, and those the services keep.
    pub fn new(services: &Services) -> Self {
        let mut registry = Registry::with_prefix("profilebox");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route and status class",
            requests.clone(),
        );
        // 0.5 ms to about 16 s.
        let duration = Histogram::new(exponential_buckets(0.0005, 2.0, 16));
        registry.register(
            "http_request_duration_seconds",
            "Time from a request's arrival to its answer",
            duration.clone(),
        );
        let logins = Family::<OutcomeLabel, Counter>::default();
        registry.register("logins", "Login attempts by outcome", logins.clone());
        let rate_limited = Family::<RouteLabel, Counter>::default();
        registry.register(
            "rate_limited",
            "Requests refused by the per-client limits, by route",
            rate_limited.clone(),
        );
        let pool_size = Gauge::default();
        registry.register(
            "database_connections",
            "Database connections the pool holds",
            pool_size.clone(),
        );
        let pool_idle = Gauge::default();
        registry.register(
            "database_connections_idle",
            "Database connections the pool holds unused",
            pool_idle.clone(),
        );
        let pool_waiting = Gauge::default();
        registry.register(
            "database_connections_waiting",
            "Database work waiting for a connection",
            pool_waiting.clone(),
        );
        let hashes = &services.hasher.load;
        registry.register(
            "password_hashes_waiting",
            "Password hashes waiting for a hashing worker",
            hashes.waiting.clone(),
        );
        registry.register(
            "password_hashes_running",
            "Password hashes being computed",
            hashes.running.clone(),
        );
        registry.register(
            "image_processing_seconds",
            "Time to check, decode and re-encode an uploaded picture",
            services.images.processing.clone(),
        );
        let mails = &services.mail.mailer.deliveries;
        registry.register(
            "mails_sent",
            "Mails delivered to the SMTP server or the outbox",
            mails.sent.clone(),
        );
        registry.register(
            "mails_failed",
            "Mails given up on after every attempt",
            mails.failed.clone(),
        );
        Metrics {
            registry,
            requests,
            duration,
            logins,
            rate_limited,
            pool_size,
            pool_idle,
            pool_waiting,
        }
    }
}

fn status_class(status: Status) -> &'static str {
    match status.code / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    }
}

/// What a login's status says of it.
fn login_outcome(status: Status) -> &'static str {
    match status.code {
        200 => "success",
        401 => "refused",
        429 => "rate_limited",
        400 => "invalid_request",
        _ => "error",
    }
}

impl Metrics {
    fn count(&self, route: &str, status: Status, seconds: f64) {
        let labels = RequestLabels {
            route: route.to_string(),
            status: status_class(status),
        };
        self.requests.get_or_create(&labels).inc();
        self.duration.observe(seconds);
        if route.ends_with(".login") {
            let outcome = OutcomeLabel {
                outcome: login_outcome(status),
            };
            self.logins.get_or_create(&outcome).inc();
        }
        if status == Status::TooManyRequests {
            let route = RouteLabel {
                route: route.to_string(),
            };
            self.rate_limited.get_or_create(&route).inc();
        }
    }

    fn render(&self, db: Option<&Db>) -> Result<String, std::fmt::Error> {
        if let Some(db) = db {
            let pool = db.store().pool_stats();
            self.pool_size.set(i64::from(pool.size));
            self.pool_idle.set(i64::from(pool.idle));
            self.pool_waiting.set(i64::from(pool.waiting));
        }
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// Counts every answered request.
pub struct Counting;

#[rocket::async_trait]
impl Fairing for Counting {
    fn info(&self) -> Info {
        Info {
            name: "Metrics",
            kind: Kind::Response,
        }
    }

    async fn on_response<'r>(&self, request: &'r Request<'_>, response: &mut Response<'r>) {
        let Some(metrics) = request.rocket().state::<Metrics>() else {
            return;
        };
        let arrived = crate::logging::arrival(request);
        // A request no route took is counted under "none": paths are not labels (unbounded).
        let route = request
            .route()
            .and_then(|route| route.name.as_deref())
            .unwrap_or("none");
        metrics.count(route, response.status(), arrived.elapsed().as_secs_f64());
    }
}

/// The Prometheus text of this instance's metrics.
pub struct Exposition(String);

impl<'r> rocket::response::Responder<'r, 'static> for Exposition {
    fn respond_to(self, _: &'r Request<'_>) -> rocket::response::Result<'static> {
        Response::build()
            .header(ContentType::new("text", "plain").with_params(("version", "0.0.4")))
            .sized_body(self.0.len(), std::io::Cursor::new(self.0))
            .ok()
    }
}

/// Loopback clients, or the bearer of `metrics_token`.
fn allowed(request: &Request<'_>, settings: &Settings) -> bool {
    if crate::api::client_ip(request).is_some_and(|ip| ip.is_loopback()) {
        return true;
    }
    let (Some(expected), Some(presented)) = (
        settings.metrics_token.as_deref(),
        crate::auth::bearer_token(request),
    ) else {
        return false;
    };
    constant_time_eq(expected.as_bytes(), presented.as_bytes())
}

/// Equal or not, in time that does not depend on where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

/// The exposition for this request, or why it is refused.
struct Scrape(Result<String, ApiError>);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Scrape {
    type Error = std::convert::Infallible;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        let rocket = request.rocket();
        let text = match (rocket.state::<Metrics>(), rocket.state::<Settings>()) {
            (Some(metrics), Some(settings)) if allowed(request, settings) => metrics
                .render(rocket.state::<Db>())
                .map_err(ApiError::internal),
            (Some(_), Some(_)) => Err(ApiError::new(
                Status::Forbidden,
                "forbidden",
                "Metrics are answered on loopback, or with metrics_token as the bearer token",
            )),
            _ => Err(ApiError::not_found()),
        };
        Outcome::Success(Scrape(text))
    }
}

#[rocket::get("/metrics")]
fn scrape(scrape: Scrape) -> Result<Exposition, ApiError> {
    scrape.0.map(Exposition)
}

/// The metrics route, mounted only with `metrics = true`.
pub fn routes() -> Vec<Route> {
    crate::api::named("metrics", rocket::routes![scrape])
}
