//! The load generator, like wrk: one tokio task per simulated client, each owning one
//! keep-alive HTTP/1.1 connection and sending its requests one after another.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderValue, CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;

/// Where a workload sends its requests.
#[derive(Clone)]
pub struct Endpoint {
    pub addr: SocketAddr,
    host: HeaderValue,
}

impl Endpoint {
    pub fn new(addr: SocketAddr) -> Endpoint {
        let host = HeaderValue::from_str(&addr.to_string()).expect("address is header-safe");
        Endpoint { addr, host }
    }

    pub fn request(&self, method: Method, path: &str) -> hyper::http::request::Builder {
        Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, self.host.clone())
    }

    pub fn get(&self, path: &str) -> Request<Full<Bytes>> {
        self.request(Method::GET, path)
            .body(Full::default())
            .expect("valid request")
    }

    pub fn post_json(&self, path: &str, body: &Value) -> Request<Full<Bytes>> {
        self.request(Method::POST, path)
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .expect("valid request")
    }
}

/// Builds request number `i` of a workload.
pub type MakeRequest = Arc<dyn Fn(usize) -> Request<Full<Bytes>> + Send + Sync>;

/// When a workload ends: after a number of requests, or at a deadline (requests in flight then
/// still complete and count).
#[derive(Clone, Copy)]
pub enum Stop {
    AfterRequests(usize),
    At(Instant),
}

impl Stop {
    pub fn after(duration: Duration) -> Stop {
        Stop::At(Instant::now() + duration)
    }

    fn reached(self, index: usize) -> bool {
        match self {
            Stop::AfterRequests(count) => index >= count,
            Stop::At(deadline) => Instant::now() >= deadline,
        }
    }
}

pub struct Load {
    label: String,
    concurrency: usize,
    stop: Stop,
    keep_bodies: bool,
}

impl Load {
    pub fn new(label: String, concurrency: usize, stop: Stop) -> Load {
        Load {
            label,
            concurrency,
            stop,
            keep_bodies: false,
        }
    }

    pub fn timed(what: &str, concurrency: usize, duration: Duration) -> Load {
        let label = format!("{what} (c={concurrency}, {} s)", duration.as_secs());
        Load::new(label, concurrency, Stop::after(duration))
    }

    pub fn counted(what: &str, concurrency: usize, requests: usize) -> Load {
        let label = format!("{what} (c={concurrency})");
        Load::new(label, concurrency, Stop::AfterRequests(requests))
    }

    /// Keeps the successful response bodies, for workloads whose replies feed later ones.
    pub fn keeping_bodies(self) -> Load {
        Load {
            keep_bodies: true,
            ..self
        }
    }
}

/// What one client saw.
#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    errors: usize,
    bodies: Vec<Bytes>,
}

impl Tally {
    fn absorb(&mut self, other: Tally) {
        self.latencies.extend(other.latencies);
        self.errors += other.errors;
        self.bodies.extend(other.bodies);
    }
}

/// The figures of one workload; rate and latencies count successful (2xx) requests only.
pub struct Stats {
    pub label: String,
    pub rate: f64,
    pub p50: Duration,
    pub p99: Duration,
    pub errors: usize,
    pub bodies: Vec<Bytes>,
    /// The server's, when it is a separate process.
    pub peak_rss_mb: Option<f64>,
}

impl Stats {
    /// The figures of work done outside HTTP: each operation's time, all of them successful.
    pub fn of_operations(label: String, latencies: Vec<Duration>, elapsed: Duration) -> Stats {
        let tally = Tally {
            latencies,
            ..Tally::default()
        };
        Stats::new(label, tally, elapsed)
    }

    fn new(label: String, mut tally: Tally, elapsed: Duration) -> Stats {
        tally.latencies.sort_unstable();
        let latencies = &tally.latencies;
        Stats {
            label,
            rate: latencies.len() as f64 / elapsed.as_secs_f64(),
            p50: percentile(latencies, 0.50),
            p99: percentile(latencies, 0.99),
            errors: tally.errors,
            bodies: tally.bodies,
            peak_rss_mb: None,
        }
    }
}

/// Nearest-rank percentile of sorted latencies.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted
        .get(rank.saturating_sub(1))
        .copied()
        .unwrap_or_default()
}

/// Runs the load's clients until it stops; panics if no request succeeded.
pub async fn run_load(endpoint: &Endpoint, load: Load, make: MakeRequest) -> Stats {
    run_load_spread(&[endpoint.addr], load, make).await
}

/// [`run_load`] with the clients' connections spread evenly over several servers (instances
/// behind a load balancer). The requests are the same for each: none of them names its server.
pub async fn run_load_spread(addrs: &[SocketAddr], load: Load, make: MakeRequest) -> Stats {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let clients: Vec<_> = (0..load.concurrency)
        .map(|n| {
            let client = Client {
                addr: addrs[n % addrs.len()],
                stop: load.stop,
                keep_bodies: load.keep_bodies,
                next: next.clone(),
                make: make.clone(),
            };
            tokio::spawn(client.run())
        })
        .collect();
    let mut tally = Tally::default();
    for client in clients {
        tally.absorb(client.await.expect("client task panicked"));
    }
    let elapsed = started.elapsed();
    assert!(
        !tally.latencies.is_empty(),
        "{}: every request failed ({} errors)",
        load.label,
        tally.errors
    );
    Stats::new(load.label, tally, elapsed)
}

/// One simulated client; `next` numbers the requests across all clients of the load.
struct Client {
    addr: SocketAddr,
    stop: Stop,
    keep_bodies: bool,
    next: Arc<AtomicUsize>,
    make: MakeRequest,
}

impl Client {
    /// Sends requests one at a time, reconnecting only when the connection is lost.
    async fn run(self) -> Tally {
        let mut tally = Tally::default();
        let mut connection = None;
        loop {
            let index = self.next.fetch_add(1, Ordering::Relaxed);
            if self.stop.reached(index) {
                return tally;
            }
            if connection
                .as_ref()
                .is_none_or(|sender: &SendRequest<_>| sender.is_closed())
            {
                connection = connect(self.addr).await;
            }
            let Some(sender) = connection.as_mut() else {
                tally.errors += 1;
                // Refused: do not spin on a server that is gone.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            let started = Instant::now();
            match exchange(sender, (self.make)(index)).await {
                Ok((status, body)) if status.is_success() => {
                    tally.latencies.push(started.elapsed());
                    if self.keep_bodies {
                        tally.bodies.push(body);
                    }
                }
                Ok(_) => tally.errors += 1,
                Err(_) => {
                    tally.errors += 1;
                    connection = None;
                }
            }
        }
    }
}

async fn connect(addr: SocketAddr) -> Option<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr).await.ok()?;
    stream.set_nodelay(true).ok()?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .ok()?;
    tokio::spawn(connection);
    Some(sender)
}

/// Sends one request and reads the whole response body.
async fn exchange(
    sender: &mut SendRequest<Full<Bytes>>,
    request: Request<Full<Bytes>>,
) -> hyper::Result<(StatusCode, Bytes)> {
    sender.ready().await?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

/// One request on a connection of its own.
pub async fn request_once(
    addr: SocketAddr,
    request: Request<Full<Bytes>>,
) -> Option<(StatusCode, Bytes)> {
    let mut sender = connect(addr).await?;
    exchange(&mut sender, request).await.ok()
}
