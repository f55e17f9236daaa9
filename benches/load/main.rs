//! `cargo bench --bench load`: drives the release binary over loopback HTTP and prints one
//! markdown table, then the targets met (✓) or missed (✗). A missed target does not fail the
//! bench; a server that does not start, or a workload whose requests all fail, does.
//!
//! `BENCH_QUICK=1` runs every workload for about a second (hashes keep their production cost),
//! so CI can keep the bench from rotting.
//!
//! By default profilebox runs on SQLite, then w1–w4 again on each throw-away database server of
//! `database::THROW_AWAY_SERVERS`. `BENCH_DATABASE_URL` (or `--database-url`) runs the whole
//! bench on the user's own server database instead.

mod ceiling;
mod client;
mod database;
#[path = "../../tests/common/dbservers.rs"]
mod dbservers;
mod server;
mod workloads;

use std::fmt;
use std::fs;
use std::sync::Arc;
use std::time::Duration;

use hyper::header::HeaderValue;

use profilebox::config::DEFAULT_PBKDF2_ITERATIONS;

use ceiling::{HyperCeiling, RocketCeiling};
use client::{run_load, Load, Stats, Stop};
use database::{ThrowAwayServer, THROW_AWAY_SERVERS};
use server::Server;
use workloads::{PHOTO_HEIGHT, PHOTO_WIDTH};

const MB: f64 = 1024.0 * 1024.0;

fn main() {
    let plan = Plan::from_env();
    let ceiling = HyperCeiling::start();
    let rocket = RocketCeiling::start();
    let client = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    let report = client.block_on(run(&plan, &ceiling, &rocket));
    println!("{report}");
}

/// How long each workload runs, and on which database.
struct Plan {
    quick: bool,
    users: usize,
    login: Duration,
    profile: Duration,
    images: Duration,
    /// The user's server database; `None` for SQLite (then the throw-away servers follow).
    database_url: Option<String>,
}

impl Plan {
    fn from_env() -> Plan {
        let quick = std::env::var("BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
        let secs = |full| Duration::from_secs(if quick { 1 } else { full });
        Plan {
            quick,
            users: if quick { 16 } else { 200 },
            login: secs(15),
            profile: secs(15),
            images: secs(10),
            database_url: database::given_url(),
        }
    }
}

async fn run(plan: &Plan, hyper: &HyperCeiling, rocket: &RocketCeiling) -> String {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let database = database::name(plan.database_url.as_deref());
    let mut report = Report::new(machine_header(cores, plan.quick, database));
    // The ceilings first, while no server competes for the cores.
    let ceilings = Ceilings::measure(plan, hyper, rocket, cores).await;
    let mut server = Server::spawn(plan.database_url.as_deref());
    let start = Start::measure(&mut server).await;
    report.info(&start.label(), start.peak_rss_mb);
    let measured = workloads(&server, plan, &mut report).await;
    // Stopped, so that it takes nothing from the servers' rows.
    drop(server);
    if plan.database_url.is_none() {
        for &(backend, throw_away) in THROW_AWAY_SERVERS {
            on_throw_away_server(backend, throw_away, plan, &mut report).await;
        }
    }
    report.info(&ceilings.pbkdf2_label(cores), None);
    report.row(&ceilings.hyper);
    report.row(&ceilings.rocket);
    report.row(&ceilings.pipeline);
    report.note(format!(
        "w3 is {:.1} % of the bare-Rocket ceiling (c), which is {:.1} % of the hyper ceiling (b); w5 is {:.1} % of the pipeline ceiling (d)",
        measured.w3.rate / ceilings.rocket.rate * 100.0,
        ceilings.rocket.rate / ceilings.hyper.rate * 100.0,
        measured.w5.rate / ceilings.pipeline.rate * 100.0
    ));
    report.finish(&targets(&start, &ceilings, &measured))
}

/// w1–w4 on a fresh database of a throw-away server the bench starts itself, against a new
/// profilebox with a fresh data directory; rows labelled with the backend. The server's start
/// and the database's creation and removal block, briefly, on its command-line tools.
async fn on_throw_away_server(
    backend: &str,
    throw_away: ThrowAwayServer,
    plan: &Plan,
    report: &mut Report,
) {
    let Some(database_server) = tokio::task::block_in_place(throw_away) else {
        report.note(format!("no {backend} rows: its server is not installed"));
        return;
    };
    let database = tokio::task::block_in_place(|| database_server.create_database());
    let mut server = Server::spawn(Some(&database.url()));
    let start = Start::measure(&mut server).await;
    report.info(&start.label_on(backend), start.peak_rss_mb);
    let accounts = account_workloads(&server, plan, report, Some(backend)).await;
    // A second instance on the same database, as behind a load balancer: it takes the first's
    // tokens, because the fleet's signing key is stored in the database.
    let mut second = Server::spawn(Some(&database.url()));
    second.wait_healthy().await;
    let profile = workloads::profile(&server.endpoint, accounts.tokens);
    let load = Load::timed(
        "w3 GET /api/user/profile through two instances",
        64,
        plan.profile,
    );
    let spread = server::measure_spread(&[&server, &second], load, profile).await;
    report.row_on(&spread, Some(backend));
    drop((server, second));
    tokio::task::block_in_place(|| drop(database));
}

struct Ceilings {
    hash: Duration,
    /// The same derivation by the `pbkdf2` crate's generic loop, in the same run.
    generic_hash: Duration,
    logins_per_s: f64,
    hyper: Stats,
    rocket: Stats,
    pipeline: Stats,
}

impl Ceilings {
    async fn measure(
        plan: &Plan,
        hyper: &HyperCeiling,
        rocket: &RocketCeiling,
        cores: usize,
    ) -> Ceilings {
        let (hash, generic_hash) = ceiling::median_hash_times().await;
        let label = format!(
            "ceiling (d) check, decode, fit and encode the w5 JPEG, no HTTP, no disk ({cores} threads, {} s)",
            plan.images.as_secs()
        );
        let photo = workloads::photo_jpeg();
        let pipeline = tokio::task::block_in_place(|| {
            ceiling::image_pipeline(label, &photo, cores, plan.images)
        });
        let tokens = Arc::new(hyper.tokens(plan.users));
        let load = Load::timed("ceiling (b) hyper 1 + HS256 JWT, no DB", 64, plan.profile);
        let profile = workloads::profile(&hyper.endpoint, tokens.clone());
        let hyper = run_load(&hyper.endpoint, load, profile).await;
        rocket.wait_ready().await;
        let load = Load::timed(
            "ceiling (c) bare Rocket 0.5 + HS256 JWT, no DB",
            64,
            plan.profile,
        );
        let profile = workloads::profile(&rocket.endpoint, tokens);
        Ceilings {
            hash,
            generic_hash,
            logins_per_s: cores as f64 / hash.as_secs_f64(),
            hyper,
            rocket: run_load(&rocket.endpoint, load, profile).await,
            pipeline,
        }
    }

    fn pbkdf2_label(&self, cores: usize) -> String {
        format!(
            "ceiling (a) PBKDF2 {DEFAULT_PBKDF2_ITERATIONS} iterations: {cores} cores / {:.0} ms = {:.1} logins/s (the pbkdf2 crate's loop: {:.0} ms, {:.2}× as long)",
            ms(self.hash),
            self.logins_per_s,
            ms(self.generic_hash),
            self.speedup()
        )
    }

    /// How many times as long the `pbkdf2` crate's loop takes as the server's hash.
    fn speedup(&self) -> f64 {
        self.generic_hash.as_secs_f64() / self.hash.as_secs_f64()
    }
}

/// The figures of a freshly started server.
struct Start {
    binary_mb: f64,
    cold_start: Duration,
    idle_rss_mb: f64,
    peak_rss_mb: Option<f64>,
}

impl Start {
    async fn measure(server: &mut Server) -> Start {
        let cold_start = server.wait_healthy().await;
        // Let start-up settle before the idle figure.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let binary = fs::metadata(env!("CARGO_BIN_EXE_profilebox"));
        Start {
            binary_mb: binary.map_or(f64::NAN, |m| m.len() as f64 / MB),
            cold_start,
            idle_rss_mb: server.status_mb("VmRSS").unwrap_or(f64::NAN),
            peak_rss_mb: server.status_mb("VmHWM"),
        }
    }

    fn label(&self) -> String {
        format!(
            "start: binary {:.1} MB, cold start {:.0} ms, idle RSS {:.1} MB",
            self.binary_mb,
            ms(self.cold_start),
            self.idle_rss_mb
        )
    }

    /// The binary is the same one: its size is said once.
    fn label_on(&self, backend: &str) -> String {
        format!(
            "start · {backend}: cold start {:.0} ms, idle RSS {:.1} MB",
            ms(self.cold_start),
            self.idle_rss_mb
        )
    }
}

/// The workload figures the targets look at.
struct Measured {
    w2: Stats,
    w3: Stats,
    w4_get: Stats,
    w4_login: Stats,
    w5: Stats,
}

/// What w1–w4 measured, and the tokens w2's logins gave.
struct Accounts {
    w2: Stats,
    w3: Stats,
    w4_get: Stats,
    w4_login: Stats,
    tokens: Arc<Vec<HeaderValue>>,
}

/// w1 to w6, in order: each feeds the next its users, tokens or image.
async fn workloads(server: &Server, plan: &Plan, report: &mut Report) -> Measured {
    let accounts = account_workloads(server, plan, report, None).await;
    let w5 = image_workloads(server, plan, report, accounts.tokens).await;
    Measured {
        w2: accounts.w2,
        w3: accounts.w3,
        w4_get: accounts.w4_get,
        w4_login: accounts.w4_login,
        w5,
    }
}

/// w1 to w4, the workloads that every database runs; their rows name the backend, if given.
async fn account_workloads(
    server: &Server,
    plan: &Plan,
    report: &mut Report,
    backend: Option<&str>,
) -> Accounts {
    let api = server.endpoint.clone();
    let users = plan.users;
    let register = Load::counted(&format!("w1 register {users} users"), 8, users);
    report.row_on(
        &server.measure(register, workloads::register(&api)).await,
        backend,
    );

    let login = Load::timed("w2 login", 8, plan.login).keeping_bodies();
    let w2 = server.measure(login, workloads::login(&api, users)).await;
    report.row_on(&w2, backend);

    let tokens = Arc::new(workloads::tokens_from(&w2.bodies));
    let profile = workloads::profile(&api, tokens.clone());
    let w3_load = Load::timed("w3 GET /api/user/profile", 64, plan.profile);
    let w3 = server.measure(w3_load, profile.clone()).await;
    report.row_on(&w3, backend);

    let stop = Stop::after(plan.profile);
    let get = Load::new(
        "w4 GET /api/user/profile (c=64) during logins".into(),
        64,
        stop,
    );
    let logins = Load::new("w4 … the concurrent logins (c=8)".into(), 8, stop);
    let (w4_get, w4_login) = server
        .measure_together((get, profile), (logins, workloads::login(&api, users)))
        .await;
    report.row_on(&w4_get, backend);
    report.row_on(&w4_login, backend);
    Accounts {
        w2,
        w3,
        w4_get,
        w4_login,
        tokens,
    }
}

/// w5 and w6 with w2's tokens; returns w5. On SQLite, so the pictures are in the folder.
async fn image_workloads(
    server: &Server,
    plan: &Plan,
    report: &mut Report,
    tokens: Arc<Vec<HeaderValue>>,
) -> Stats {
    let api = server.endpoint.clone();
    let photo = workloads::photo_jpeg();
    let upload = workloads::upload(&api, tokens, &photo);
    let size_kb = photo.len() as f64 / 1024.0;
    let what = format!("w5 upload a {size_kb:.0} KB {PHOTO_WIDTH}x{PHOTO_HEIGHT} JPEG");
    let w5 = server
        .measure(Load::timed(&what, 8, plan.images), upload.clone())
        .await;
    report.row(&w5);

    // Uploaded after w5, so no later upload replaces the file w6 reads.
    let filename = workloads::stored_filename(&api, upload(0)).await;
    let w6 = Load::timed("w6 GET /profile_images/<f>", 64, plan.images);
    report.row(&server.measure(w6, workloads::image(&api, &filename)).await);
    w5
}

fn targets(start: &Start, ceilings: &Ceilings, m: &Measured) -> [Check; 13] {
    // A rate as a share of its ceiling, at least `min` per cent.
    let share = |label, rate: f64, ceiling: f64, min| {
        Check::at_least(label, rate / ceiling * 100.0, min, "%")
    };
    let logins = ceilings.logins_per_s;
    [
        share(
            "w3 ≥ 90 % of the bare-Rocket ceiling",
            m.w3.rate,
            ceilings.rocket.rate,
            90.0,
        ),
        Check::at_most("w3 p99 ≤ 5 ms", ms(m.w3.p99), 5.0, "ms"),
        Check::at_least(
            "PBKDF2 ≥ 1.4× the pbkdf2 crate's speed",
            ceilings.speedup(),
            1.4,
            "×",
        ),
        // The faster the hash, the larger the share of the rest of a login (the lookup, the
        // session's insert, the load generator on the same cores).
        share("w2 ≥ 90 % of the PBKDF2 ceiling", m.w2.rate, logins, 90.0),
        Check::at_most("w4 GET p99 ≤ 10 ms", ms(m.w4_get.p99), 10.0, "ms"),
        share(
            "w4 logins ≥ 50 % of the PBKDF2 ceiling",
            m.w4_login.rate,
            logins,
            50.0,
        ),
        share(
            "w5 ≥ 80 % of the pipeline ceiling",
            m.w5.rate,
            ceilings.pipeline.rate,
            80.0,
        ),
        Check::at_most("w5 p99 ≤ 50 ms", ms(m.w5.p99), 50.0, "ms"),
        Check::at_most(
            "peak RSS under w5 ≤ 64 MB",
            m.w5.peak_rss_mb.unwrap_or(f64::NAN),
            64.0,
            "MB",
        ),
        Check::at_most("idle RSS ≤ 10 MB", start.idle_rss_mb, 10.0, "MB"),
        Check::at_most(
            "peak RSS under w3 ≤ 30 MB",
            m.w3.peak_rss_mb.unwrap_or(f64::NAN),
            30.0,
            "MB",
        ),
        Check::at_most("cold start ≤ 100 ms", ms(start.cold_start), 100.0, "ms"),
        Check::at_most("binary ≤ 15 MB", start.binary_mb, 15.0, "MB"),
    ]
}

fn machine_header(cores: usize, quick: bool, database: &str) -> String {
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            let model = info
                .lines()
                .find_map(|line| line.strip_prefix("model name"))?;
            Some(model.split_once(':')?.1.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let date = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year]-[month]-[day] [hour]:[minute] UTC"
        ))
        .unwrap_or_default();
    // Other work on the machine skews every figure: the load average shows it.
    let loadavg = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = loadavg.split_whitespace().next().unwrap_or("?");
    let mode = if quick { " (BENCH_QUICK)" } else { "" };
    format!(
        "profilebox load benchmark on {database}{mode}, {date}: {cores} cores, {cpu}, Linux {}, load average {load}",
        kernel.trim()
    )
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// About three significant digits: 1234, 123, 12.3, 1.23.
fn figure(value: f64) -> String {
    match value {
        v if v >= 100.0 => format!("{v:.0}"),
        v if v >= 10.0 => format!("{v:.1}"),
        v => format!("{v:.2}"),
    }
}

/// The table, printed whole at the end with the notes under it; each row also goes to stderr
/// as soon as it is measured.
struct Report {
    header: String,
    rows: Vec<String>,
    notes: Vec<String>,
}

impl Report {
    fn new(header: String) -> Report {
        eprintln!("{header}");
        Report {
            header,
            rows: Vec::new(),
            notes: Vec::new(),
        }
    }

    fn row(&mut self, stats: &Stats) {
        self.row_on(stats, None);
    }

    /// A workload's row, its label ending in the database backend when one is named.
    fn row_on(&mut self, stats: &Stats, backend: Option<&str>) {
        let figures = [stats.rate, ms(stats.p50), ms(stats.p99)].map(figure);
        let label = match backend {
            Some(backend) => format!("{} · {backend}", stats.label),
            None => stats.label.clone(),
        };
        self.push(&label, figures, stats.errors.to_string(), stats.peak_rss_mb);
    }

    /// A row of facts rather than request figures.
    fn info(&mut self, label: &str, peak_rss_mb: Option<f64>) {
        let none = || "–".to_owned();
        self.push(label, [none(), none(), none()], none(), peak_rss_mb);
    }

    fn push(
        &mut self,
        label: &str,
        figures: [String; 3],
        errors: String,
        peak_rss_mb: Option<f64>,
    ) {
        let [rate, p50, p99] = figures;
        let peak = peak_rss_mb.map_or("–".to_owned(), |mb| format!("{mb:.1}"));
        let row = format!("| {label} | {rate} | {p50} | {p99} | {errors} | {peak} |");
        eprintln!("{row}");
        self.rows.push(row);
    }

    fn note(&mut self, note: String) {
        eprintln!("{note}");
        self.notes.push(note);
    }

    fn finish(self, checks: &[Check]) -> String {
        let mut out = self.header;
        out.push_str("\n\n| workload | req/s | p50 ms | p99 ms | errors | peak RSS MB |\n");
        out.push_str("|---|--:|--:|--:|--:|--:|\n");
        for row in &self.rows {
            out.push_str(row);
            out.push('\n');
        }
        out.push_str("\nTargets:\n");
        for check in checks {
            out.push_str(&format!("{check}\n"));
        }
        out.push('\n');
        for note in &self.notes {
            out.push_str(&format!("{note}\n"));
        }
        out
    }
}

/// A target next to the measured value.
struct Check {
    label: &'static str,
    value: f64,
    unit: &'static str,
    met: bool,
}

impl Check {
    fn at_least(label: &'static str, value: f64, min: f64, unit: &'static str) -> Check {
        let met = value >= min;
        Check {
            label,
            value,
            unit,
            met,
        }
    }

    fn at_most(label: &'static str, value: f64, max: f64, unit: &'static str) -> Check {
        let met = value <= max;
        Check {
            label,
            value,
            unit,
            met,
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mark = if self.met { '✓' } else { '✗' };
        write!(
            f,
            "- {mark} {}: {} {}",
            self.label,
            figure(self.value),
            self.unit
        )
    }
}
