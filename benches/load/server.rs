//! The release binary as a child process, and what /proc tells about its memory.

use std::fs;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hyper::StatusCode;

use crate::client::{request_once, run_load, run_load_spread, Endpoint, Load, MakeRequest, Stats};

/// profilebox on a free loopback port with a fresh data directory, on SQLite there or on the
/// server database `database_url` names; killed when dropped, on a panic too.
pub struct Server {
    child: Child,
    pub endpoint: Endpoint,
    spawned: Instant,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Server {
    pub fn spawn(database_url: Option<&str>) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("server.log");
        let endpoint = Endpoint::new(free_loopback_addr());
        let mut command = Command::new(env!("CARGO_BIN_EXE_profilebox"));
        command
            .args(["--port", &endpoint.addr.port().to_string()])
            .args(["--address", "127.0.0.1", "--data-dir"])
            .arg(dir.path().join("data"))
            // No Rocket.toml there and no inherited ROCKET_* variable: code defaults (so the
            // production PBKDF2 cost), and no request log to skew the figures.
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).expect("server log"));
        // Before setting ours: removing an inherited variable also removes one set under its name.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("ROCKET_") {
                command.env_remove(key);
            }
        }
        command
            .env("ROCKET_LOG_LEVEL", "critical")
            .env("ROCKET_RATE_LIMIT", "false");
        if let Some(url) = database_url {
            command.env("ROCKET_DATABASE_URL", url);
        }
        let spawned = Instant::now();
        let child = command.spawn().expect("spawn profilebox");
        Server {
            child,
            endpoint,
            spawned,
            log,
            _dir: dir,
        }
    }

    /// Cold start: from spawn to the first 200 on `/api/health`.
    pub async fn wait_healthy(&mut self) -> Duration {
        let give_up = self.spawned + Duration::from_secs(30);
        loop {
            let health = request_once(self.endpoint.addr, self.endpoint.get("/api/health")).await;
            if health.is_some_and(|(status, _)| status == StatusCode::OK) {
                return self.spawned.elapsed();
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "profilebox exited ({status}) before serving:\n{}",
                    self.log_text()
                );
            }
            assert!(
                Instant::now() < give_up,
                "profilebox did not answer /api/health within 30 s:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A `/proc/<pid>/status` figure (given in kB) in MB.
    pub fn status_mb(&self, field: &str) -> Option<f64> {
        let status = fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let value = status
            .lines()
            .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))?;
        let kb: f64 = value.trim().trim_end_matches("kB").trim().parse().ok()?;
        Some(kb / 1024.0)
    }

    /// Writing 5 to clear_refs resets VmHWM; where that is not allowed, the peak figures that
    /// follow are the peak since start.
    fn reset_peak(&self) {
        let _ = fs::write(format!("/proc/{}/clear_refs", self.child.id()), "5");
    }

    /// Runs a workload against the server, noting the server's peak RSS during it.
    pub async fn measure(&self, load: Load, make: MakeRequest) -> Stats {
        self.reset_peak();
        let mut stats = run_load(&self.endpoint, load, make).await;
        stats.peak_rss_mb = self.status_mb("VmHWM");
        stats
    }

    /// Runs two workloads at once; both report the same peak RSS.
    pub async fn measure_together(
        &self,
        (first, make_first): (Load, MakeRequest),
        (second, make_second): (Load, MakeRequest),
    ) -> (Stats, Stats) {
        self.reset_peak();
        let (mut first, mut second) = tokio::join!(
            run_load(&self.endpoint, first, make_first),
            run_load(&self.endpoint, second, make_second),
        );
        first.peak_rss_mb = self.status_mb("VmHWM");
        second.peak_rss_mb = first.peak_rss_mb;
        (first, second)
    }
}

/// Runs a workload spread over several servers, noting the largest peak RSS among them.
pub async fn measure_spread(servers: &[&Server], load: Load, make: MakeRequest) -> Stats {
    servers.iter().for_each(|server| server.reset_peak());
    let addrs: Vec<_> = servers.iter().map(|server| server.endpoint.addr).collect();
    let mut stats = run_load_spread(&addrs, load, make).await;
    stats.peak_rss_mb = servers
        .iter()
        .filter_map(|server| server.status_mb("VmHWM"))
        .reduce(f64::max);
    stats
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_loopback_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
}
