//! The real binary as a child process on a free loopback port, stopped when dropped. Shared by
//! the test targets that drive it over HTTP (`#[path]`-included).

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Server {
    pub child: Child,
    pub base: String,
}

impl Server {
    /// The debug binary that `cargo test` built, with only code defaults and test iterations.
    #[allow(dead_code)] // not every test target starts the debug binary
    pub fn start(data_dir: &Path, log: &Path) -> Server {
        Self::start_with(data_dir, log, &[])
    }

    #[allow(dead_code)]
    pub fn start_with(data_dir: &Path, log: &Path, env: &[(&str, &str)]) -> Server {
        Self::start_binary(
            Path::new(env!("CARGO_BIN_EXE_profilebox")),
            data_dir,
            log,
            env,
        )
    }

    /// `binary` serving `data_dir`, its standard error appended to `log`; returns once
    /// `/api/health` answers 200.
    pub fn start_binary(
        binary: &Path,
        data_dir: &Path,
        log: &Path,
        env: &[(&str, &str)],
    ) -> Server {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let child = Command::new(binary)
            .args([
                "--port",
                &port.to_string(),
                "--address",
                "127.0.0.1",
                "--data-dir",
            ])
            .arg(data_dir)
            // Run where no Rocket.toml is, so only code defaults and these variables apply.
            .current_dir(data_dir.parent().unwrap())
            .env("ROCKET_PBKDF2_ITERATIONS", "1000")
            .env_remove("ROCKET_CONFIG")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .unwrap();
        let server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        let client = reqwest::blocking::Client::new();
        loop {
            if let Ok(reply) = client.get(format!("{}/api/health", server.base)).send() {
                if reply.status() == 200 {
                    return server;
                }
            }
            if Instant::now() > deadline {
                let logged = std::fs::read_to_string(log).unwrap_or_default();
                panic!("server did not become healthy; its log:\n{logged}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Registers `username` with `password` over HTTP and logs in; returns the access token.
    #[allow(dead_code)]
    pub fn sign_in(&self, username: &str, password: &str) -> String {
        let client = reqwest::blocking::Client::new();
        let credentials = serde_json::json!({ "username": username, "password": password });
        let registered = client
            .post(self.url("/api/register"))
            .json(&credentials)
            .send()
            .unwrap();
        assert_eq!(registered.status(), 201);
        let login: serde_json::Value = client
            .post(self.url("/api/login"))
            .json(&credentials)
            .send()
            .unwrap()
            .json()
            .unwrap();
        login["access_token"].as_str().unwrap().to_string()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The `host:port` the server listens on, for raw TCP clients.
    #[allow(dead_code)]
    pub fn address(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    /// A line of `/proc/<pid>/status` in KiB, e.g. `VmHWM` (peak resident set) or `VmRSS`.
    #[allow(dead_code)]
    pub fn status_kib(&self, key: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {key} in /proc status"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
