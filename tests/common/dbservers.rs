//! Throw-away PostgreSQL 15 and MariaDB 10.11 servers from Debian's packages, for the test
//! targets that run against a database server (`#[path]`-included). A shared server starts at
//! most once per test process, on a free loopback port in a fresh temporary directory, and each
//! test creates its own database on it; a test that stops and restarts a server gets a private
//! one. Missing packages skip with one notice, except under `CI=true`. Both servers offer TLS
//! (with a throw-away self-signed certificate) to the clients that ask for it.
//!
//! Stopping: Rust's test harness has no global teardown, and a test process may also die by a
//! signal, so every server gets a watchdog shell that holds the read end of a pipe whose write end
//! only this process holds, and reads the server's current PID from it. When this process ends,
//! however it ends, the kernel closes the pipe, the watchdog reads end-of-file and stops the
//! server by its last PID, then removes its directory. Dropping a private server closes its pipe
//! early and waits for the same.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const POSTGRES_BIN: &str = "/usr/lib/postgresql/15/bin";
const MARIADB_INSTALL_DB: &str = "/usr/bin/mariadb-install-db";
const MARIADBD: &str = "/usr/sbin/mariadbd";
const MARIADB: &str = "/usr/bin/mariadb";
/// Makes each server's throw-away TLS certificate.
const OPENSSL: &str = "/usr/bin/openssl";
/// Generous for a loaded 2-core CI machine; a healthy start takes one to three seconds.
const STARTUP: Duration = Duration::from_secs(60);
/// The account the application connects as: owner of its own databases and nothing more, the
/// setup the README asks of users, so a migration that needs an administrator fails here too.
const APP_USER: &str = "profilebox";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    MariaDb,
}

impl Backend {
    fn title(self) -> &'static str {
        match self {
            Backend::Postgres => "PostgreSQL 15",
            Backend::MariaDb => "MariaDB 10.11",
        }
    }

    fn programs(self) -> Vec<PathBuf> {
        let mut programs: Vec<PathBuf> = match self {
            Backend::Postgres => ["initdb", "pg_ctl", "postgres", "psql"]
                .iter()
                .map(|name| Path::new(POSTGRES_BIN).join(name))
                .collect(),
            Backend::MariaDb => [MARIADB_INSTALL_DB, MARIADBD, MARIADB]
                .iter()
                .map(PathBuf::from)
                .collect(),
        };
        programs.push(PathBuf::from(OPENSSL));
        programs
    }

    fn packages(self) -> &'static str {
        match self {
            Backend::Postgres => "postgresql-15 openssl",
            Backend::MariaDb => "mariadb-server-core mariadb-client-core openssl",
        }
    }

    /// Whether Debian's programs for this server are installed.
    #[allow(dead_code)] // not every test target asks
    pub fn installed(self) -> bool {
        self.programs().iter().all(|program| program.exists())
    }
}

pub struct Server {
    backend: Backend,
    port: u16,
    dir: PathBuf,
    /// PostgreSQL's superuser password (MariaDB's administrator logs in over the Unix socket).
    admin_password: String,
    app_password: String,
    databases_created: AtomicUsize,
    process: Mutex<Process>,
}

/// The server process running now, if any, and the watchdog that stops it.
struct Process {
    /// `None` while the server is stopped.
    pid: Option<u32>,
    /// MariaDB's: the thread that waits for mariadbd (a child of this process) and so ends when
    /// mariadbd has exited. PostgreSQL's postmaster is not a child: `pg_ctl` starts and stops it.
    reaper: Option<JoinHandle<()>>,
    /// Written only PIDs: its closing, when this process ends or the server is dropped, stops
    /// the server.
    watchdog_input: Option<ChildStdin>,
    watchdog: Child,
}

impl Process {
    /// Tells the watchdog which PID to stop, or with `None` that the server is already stopped.
    fn tell_watchdog(&mut self, pid: Option<u32>) -> Result<(), String> {
        self.pid = pid;
        let line = pid.map(|pid| pid.to_string()).unwrap_or_default();
        let input = self
            .watchdog_input
            .as_mut()
            .expect("open while the server lives");
        writeln!(input, "{line}").map_err(|error| format!("watchdog: {error}"))
    }
}

/// The shared PostgreSQL server, started on first use; `None` (after one notice) when Debian's
/// `postgresql-15` is not installed. Panics under `CI=true` if it is missing or fails to start.
#[allow(dead_code)] // not every test target uses both servers
pub fn postgres() -> Option<&'static Server> {
    static SERVER: OnceLock<Result<Option<Server>, String>> = OnceLock::new();
    shared(&SERVER, Backend::Postgres)
}

/// The shared MariaDB server; as [`postgres`].
#[allow(dead_code)]
pub fn mariadb() -> Option<&'static Server> {
    static SERVER: OnceLock<Result<Option<Server>, String>> = OnceLock::new();
    shared(&SERVER, Backend::MariaDb)
}

/// A server of the caller's own, for a test that stops and restarts it; stopped and its
/// directory removed when the returned value is dropped. `None` (after a notice) when the
/// server's packages are not installed; panics under `CI=true` if they are missing, and if it
/// fails to start.
#[allow(dead_code)]
pub fn private(backend: Backend) -> Option<Server> {
    if !installed_or_skipped(backend) {
        return None;
    }
    Some(Server::start_timed(backend).unwrap_or_else(|failure| panic!("{failure}")))
}

/// A failed start is remembered, so that the other tests fail at once with the same message
/// instead of each waiting for its own start to time out.
fn shared(
    server: &'static OnceLock<Result<Option<Server>, String>>,
    backend: Backend,
) -> Option<&'static Server> {
    let outcome = server.get_or_init(|| {
        if !installed_or_skipped(backend) {
            return Ok(None);
        }
        Server::start_timed(backend).map(Some)
    });
    match outcome {
        Ok(server) => server.as_ref(),
        Err(failure) => panic!("{failure}"),
    }
}

/// Whether the server's packages are installed; if not, prints why its tests are skipped, or
/// panics under `CI=true`, where they are required.
fn installed_or_skipped(backend: Backend) -> bool {
    if backend.installed() {
        return true;
    }
    let notice = format!(
        "{} is not installed (apt-get install {})",
        backend.title(),
        backend.packages()
    );
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{notice}");
    // Straight to standard error: the test harness would capture `eprintln!` and show it only
    // for failing tests.
    let _ = writeln!(
        std::io::stderr(),
        "skipping the {} tests: {notice}",
        backend.title()
    );
    false
}

impl Server {
    fn start_timed(backend: Backend) -> Result<Server, String> {
        let started = Instant::now();
        let server = Server::start(backend)?;
        eprintln!(
            "{} started on 127.0.0.1:{} in {:.1} s",
            backend.title(),
            server.port,
            started.elapsed().as_secs_f64()
        );
        Ok(server)
    }

    fn start(backend: Backend) -> Result<Server, String> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("profilebox-{backend:?}-").to_lowercase())
            .tempdir()
            .map_err(|error| format!("no temporary directory: {error}"))?
            .keep();
        // The watchdog exists before the server does, so that the directory goes in every case
        // (a failed start included: the server is dropped then).
        let mut watchdog = spawn_watchdog(backend, &dir)?;
        let server = Server {
            backend,
            port: free_port(),
            dir,
            admin_password: random_password(),
            app_password: random_password(),
            databases_created: AtomicUsize::new(0),
            process: Mutex::new(Process {
                pid: None,
                reaper: None,
                watchdog_input: watchdog.stdin.take(),
                watchdog,
            }),
        };
        server.write_certificate()?;
        match backend {
            Backend::Postgres => server.init_postgres()?,
            Backend::MariaDb => server.init_mariadb()?,
        }
        server.launch()?;
        server.create_app_user()?;
        Ok(server)
    }

    /// Stops the server (PostgreSQL's fast shutdown, which ends open connections instead of
    /// waiting for them; MariaDB's SIGTERM); returns once it has exited and its port refuses
    /// connections. Its data stays for [`start_again`](Self::start_again).
    #[allow(dead_code)]
    pub fn stop(&self) {
        let stopping = Instant::now();
        let mut process = self.process();
        let pid = process.pid.expect("the server is running");
        // Told first: should this process die meanwhile, the watchdog still finds the server by
        // its PID file, which a stopped server has removed.
        let stopped = process
            .tell_watchdog(None)
            .and_then(|()| self.shut_down(pid, &mut process))
            .and_then(|()| self.wait_until_port_refuses());
        if let Err(failure) = stopped {
            panic!(
                "{} did not stop: {failure}\n{}",
                self.backend.title(),
                self.log()
            );
        }
        eprintln!(
            "{} stopped in {:.1} s",
            self.backend.title(),
            stopping.elapsed().as_secs_f64()
        );
    }

    /// Returns once the server process has exited: `pg_ctl` waits for the postmaster, and
    /// mariadbd's reaper for mariadbd.
    fn shut_down(&self, pid: u32, process: &mut Process) -> Result<(), String> {
        match self.backend {
            Backend::Postgres => run(as_postgres("pg_ctl")
                .args(["stop", "--wait", "--mode=fast", "--timeout"])
                .arg(STARTUP.as_secs().to_string())
                .arg("-D")
                .arg(self.dir.join("data"))),
            Backend::MariaDb => {
                run(Command::new("kill").args(["-TERM", &pid.to_string()]))?;
                let reaper = process.reaper.take().expect("mariadbd has a reaper");
                let _ = reaper.join();
                Ok(())
            }
        }
    }

    /// Starts a [stopped](Self::stop) server again: the same port, data, users and databases;
    /// returns once it answers.
    #[allow(dead_code)]
    pub fn start_again(&self) {
        let starting = Instant::now();
        assert!(self.process().pid.is_none(), "the server is running");
        self.launch().unwrap_or_else(|failure| panic!("{failure}"));
        eprintln!(
            "{} started again in {:.1} s",
            self.backend.title(),
            starting.elapsed().as_secs_f64()
        );
    }

    /// Starts the server on its prepared data directory, tells the watchdog its PID and waits
    /// until it answers.
    fn launch(&self) -> Result<(), String> {
        let mut process = self.process();
        match self.backend {
            Backend::Postgres => {
                let pid = self.run_postgres()?;
                process.tell_watchdog(Some(pid))?;
                self.wait_until_ready(|| false)
            }
            Backend::MariaDb => {
                let mut mariadbd = self.run_mariadb()?;
                process.tell_watchdog(Some(mariadbd.id()))?;
                // Reaped when it exits, so that the watchdog never waits for a zombie.
                let reaper = process.reaper.insert(std::thread::spawn(move || {
                    let _ = mariadbd.wait();
                }));
                self.wait_until_ready(|| reaper.is_finished())
            }
        }
    }

    fn process(&self) -> MutexGuard<'_, Process> {
        // A test that panicked while holding it has left the state as it was: still usable.
        self.process.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A throw-away self-signed certificate for 127.0.0.1 and its key, readable only by their
    /// owner (the server refuses a key that others can read).
    fn write_certificate(&self) -> Result<(), String> {
        let (certificate, key) = (self.dir.join("server.crt"), self.dir.join("server.key"));
        run(Command::new(OPENSSL)
            .args(["req", "-x509", "-nodes", "-days", "2"])
            // P-256: made in milliseconds, where an RSA key may take a second.
            .args(["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"])
            .args(["-subj", "/CN=127.0.0.1"])
            .args(["-addext", "subjectAltName=IP:127.0.0.1"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&certificate))?;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))
            .map_err(|error| format!("{}: {error}", key.display()))
    }

    /// `initdb` as the `postgres` system user when this process is root (the server refuses to
    /// run as root), which then owns the whole directory, the TLS key included.
    fn init_postgres(&self) -> Result<(), String> {
        let data = self.dir.join("data");
        let password_file = self.dir.join("password");
        std::fs::write(&password_file, &self.admin_password).map_err(|e| e.to_string())?;
        if running_as_root() {
            run(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&self.dir))?;
        }
        run(as_postgres("initdb")
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--auth=scram-sha-256", "-E", "UTF8"])
            // C.UTF-8 is what a Debian system without a configured locale gives a new cluster.
            .args(["--locale=C.UTF-8", "--no-sync", "--no-instructions"])
            .arg(format!("--pwfile={}", password_file.display())))?;
        // TCP on loopback only (no Unix socket to collide with a system cluster's); TLS for the
        // clients that ask (initdb's `host` lines in pg_hba.conf match connections with TLS and
        // without); no fsync, as the data dies with the test run; connections for many tests'
        // pools at once.
        let settings = format!(
            "\nlisten_addresses = '127.0.0.1'\nport = {}\nunix_socket_directories = ''\n\
             ssl = on\nssl_cert_file = '{}'\nssl_key_file = '{}'\n\
             fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 300\n",
            self.port,
            self.dir.join("server.crt").display(),
            self.dir.join("server.key").display()
        );
        append(&data.join("postgresql.conf"), &settings)
    }

    /// `pg_ctl start`; returns the postmaster's PID.
    fn run_postgres(&self) -> Result<u32, String> {
        let data = self.dir.join("data");
        let started = run(as_postgres("pg_ctl")
            .args(["start", "--wait", "--timeout"])
            .arg(STARTUP.as_secs().to_string())
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(self.dir.join("server.log")));
        if let Err(failure) = started {
            return Err(format!("{failure}\n{}", self.log()));
        }
        let pid_file = std::fs::read_to_string(data.join("postmaster.pid")).unwrap_or_default();
        pid_file
            .lines()
            .next()
            .and_then(|pid| pid.parse().ok())
            .ok_or_else(|| format!("no PID in postmaster.pid\n{}", self.log()))
    }

    /// `mariadb-install-db` as root (or as whoever runs the tests).
    fn init_mariadb(&self) -> Result<(), String> {
        run(Command::new(MARIADB_INSTALL_DB)
            .args(self.mariadb_common_options())
            // The administrator is whoever runs the tests, logged in over the Unix socket.
            .args(["--auth-root-authentication-method=socket", "--skip-test-db"]))
    }

    /// Options for both `mariadb-install-db` and `mariadbd`: no option files (`/etc/mysql/…`),
    /// small InnoDB files that are quick to create, and root's own account when run as root.
    fn mariadb_common_options(&self) -> Vec<String> {
        let mut options = vec![
            "--no-defaults".to_string(),
            format!("--datadir={}", self.dir.join("data").display()),
            "--innodb-log-file-size=8M".to_string(),
            "--innodb-buffer-pool-size=32M".to_string(),
        ];
        if running_as_root() {
            options.push("--user=root".to_string());
        }
        options
    }

    /// `mariadbd`, still starting, its log appended to the previous run's.
    fn run_mariadb(&self) -> Result<Child, String> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("server.log"))
            .map_err(|e| e.to_string())?;
        Command::new(MARIADBD)
            .args(self.mariadb_common_options())
            .arg(format!("--port={}", self.port))
            .arg("--bind-address=127.0.0.1")
            .arg(format!(
                "--socket={}",
                self.dir.join("mariadb.sock").display()
            ))
            .arg(format!(
                "--pid-file={}",
                self.dir.join("mariadbd.pid").display()
            ))
            // TLS for the clients that ask for it.
            .arg(format!(
                "--ssl-cert={}",
                self.dir.join("server.crt").display()
            ))
            .arg(format!(
                "--ssl-key={}",
                self.dir.join("server.key").display()
            ))
            // Accounts by address, as the application user is defined, and no DNS look-ups.
            .arg("--skip-name-resolve")
            // Durability is not needed for data that dies with the test run.
            .args([
                "--innodb-flush-log-at-trx-commit=0",
                "--innodb-doublewrite=0",
            ])
            .arg("--max-connections=300")
            // Debian's defaults (/etc/mysql/mariadb.conf.d/50-server.cnf), which a user's
            // database gets: utf8mb4 and a collation that folds case and accents (`José` =
            // `JOSE`). The application's migrations choose their tables' collation themselves,
            // so they are tested against what users have, not against a friendlier server.
            .args([
                "--character-set-server=utf8mb4",
                "--collation-server=utf8mb4_general_ci",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            // Its own process group, so that Ctrl-C on `cargo test` leaves it to the watchdog.
            .process_group(0)
            .spawn()
            .map_err(|error| format!("{MARIADBD}: {error}"))
    }

    /// Polls a trivial query through the CLI client until the server answers, it has exited or
    /// the start-up time is over.
    fn wait_until_ready(&self, mut exited: impl FnMut() -> bool) -> Result<(), String> {
        let deadline = Instant::now() + STARTUP;
        loop {
            match self.admin_sql_result("SELECT 1") {
                Ok(_) => return Ok(()),
                Err(failure) if exited() || Instant::now() > deadline => {
                    return Err(format!(
                        "{} did not start: {failure}\n{}",
                        self.backend.title(),
                        self.log()
                    ))
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// A server that has exited has closed its listening socket, but the wait is cheap and makes
    /// "stopped" mean what a client sees.
    fn wait_until_port_refuses(&self) -> Result<(), String> {
        let deadline = Instant::now() + STARTUP;
        while TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
            if Instant::now() > deadline {
                return Err(format!("port {} still accepts connections", self.port));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    fn create_app_user(&self) -> Result<(), String> {
        let password = &self.app_password;
        self.admin_sql_result(&match self.backend {
            Backend::Postgres => format!("CREATE ROLE {APP_USER} LOGIN PASSWORD '{password}'"),
            Backend::MariaDb => {
                format!("CREATE USER {APP_USER}@'127.0.0.1' IDENTIFIED BY '{password}'")
            }
        })
        .map(drop)
    }

    /// A new, uniquely named, empty database owned by the application user; dropped with the
    /// returned value.
    pub fn create_database(&self) -> TestDatabase<'_> {
        let number = self.databases_created.fetch_add(1, Ordering::Relaxed);
        let name = format!("test_{number}");
        self.admin_sql(&match self.backend {
            Backend::Postgres => format!("CREATE DATABASE {name} OWNER {APP_USER};"),
            // The server's default character set and collation, as a user's database created by
            // the README's instructions has them (see `run_mariadb`).
            Backend::MariaDb => format!(
                "CREATE DATABASE {name};\n\
                 GRANT ALL ON {name}.* TO {APP_USER}@'127.0.0.1';"
            ),
        });
        TestDatabase { server: self, name }
    }

    /// Drops the database even while connections to it are still open (a pool that is closing,
    /// a test that panicked mid-transaction): they are ended first instead of being waited for.
    fn drop_database(&self, name: &str) -> Result<String, String> {
        match self.backend {
            Backend::Postgres => {
                self.admin_sql_result(&format!("DROP DATABASE {name} WITH (FORCE);"))
            }
            Backend::MariaDb => {
                // No new connections, then end the open ones (a transaction's metadata lock
                // would make DROP wait), then drop, waiting for locks only a few seconds.
                self.admin_sql_result(&format!(
                    "REVOKE ALL ON {name}.* FROM {APP_USER}@'127.0.0.1';"
                ))?;
                let connections = self.admin_sql_result(&format!(
                    "SELECT id FROM information_schema.processlist WHERE db = '{name}';"
                ))?;
                let kills: String = connections
                    .lines()
                    .map(|id| format!("KILL CONNECTION {id};\n"))
                    .collect();
                // A connection may end by itself meanwhile: `--force` goes on past "unknown thread".
                let _ = self.mariadb_admin().arg("--force").run_sql(&kills);
                self.admin_sql_result(&format!(
                    "SET SESSION lock_wait_timeout = 10;\nDROP DATABASE {name};"
                ))
            }
        }
    }

    /// The output (one row a line, columns tab- or `|`-separated) of `sql` run by the server's
    /// administrator through the server's own CLI client; panics with the client's error.
    #[allow(dead_code)] // not every test target looks behind the application's back
    pub fn admin_sql(&self, sql: &str) -> String {
        self.admin_sql_result(sql)
            .unwrap_or_else(|failure| panic!("{}: {failure}", self.backend.title()))
    }

    fn admin_sql_result(&self, sql: &str) -> Result<String, String> {
        match self.backend {
            Backend::Postgres => psql(&format!(
                "postgres://postgres:{}@127.0.0.1:{}/postgres",
                self.admin_password, self.port
            )),
            Backend::MariaDb => self.mariadb_admin(),
        }
        .run_sql(sql)
    }

    fn mariadb_admin(&self) -> Command {
        let mut mariadb = Command::new(MARIADB);
        mariadb
            .args(["--no-defaults", "--batch", "--skip-column-names"])
            .arg(format!(
                "--socket={}",
                self.dir.join("mariadb.sock").display()
            ));
        mariadb
    }

    fn log(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
        format!("--- {} log ---\n{log}", self.backend.title())
    }

    #[allow(dead_code)]
    pub fn backend(&self) -> Backend {
        self.backend
    }

    #[allow(dead_code)]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The temporary directory that holds the server's data, certificate and log.
    #[allow(dead_code)]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The server process's PID; `None` while it is [stopped](Self::stop).
    #[allow(dead_code)]
    pub fn pid(&self) -> Option<u32> {
        self.process().pid
    }
}

/// Only a private server is ever dropped (the shared ones live in statics): the watchdog, its
/// input closed, stops it and removes its directory, and this waits for that.
impl Drop for Server {
    fn drop(&mut self) {
        let process = self
            .process
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        drop(process.watchdog_input.take());
        let _ = process.watchdog.wait();
        if let Some(reaper) = process.reaper.take() {
            let _ = reaper.join();
        }
    }
}

/// A database of its own for one test, on a shared or private server; dropped when this value
/// is, so before its server.
pub struct TestDatabase<'s> {
    server: &'s Server,
    name: String,
}

impl TestDatabase<'_> {
    /// The application's `database_url`, with the application user's credentials.
    pub fn url(&self) -> String {
        let scheme = match self.server.backend {
            Backend::Postgres => "postgres",
            Backend::MariaDb => "mysql",
        };
        let Server {
            port, app_password, ..
        } = self.server;
        format!(
            "{scheme}://{APP_USER}:{app_password}@127.0.0.1:{port}/{}",
            self.name
        )
    }

    /// [`url`](Self::url) with a query string, such as `sslmode=require` (PostgreSQL) or
    /// `ssl-mode=REQUIRED` (MySQL) for TLS.
    #[allow(dead_code)]
    pub fn url_with(&self, query: &str) -> String {
        format!("{}?{query}", self.url())
    }

    #[allow(dead_code)]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The output of `sql` run as the application user in this database through the server's
    /// CLI client (over TCP, as the application connects); panics with the client's error.
    #[allow(dead_code)]
    pub fn sql(&self, sql: &str) -> String {
        self.sql_result(sql)
            .unwrap_or_else(|failure| panic!("{}: {failure}", self.name))
    }

    /// As [`sql`](Self::sql), but the client's error (a stopped server, say) returned.
    #[allow(dead_code)]
    pub fn sql_result(&self, sql: &str) -> Result<String, String> {
        self.client().run_sql(sql)
    }

    /// The CLI client logged in as the application user in this database, reading SQL from its
    /// standard input and printing each result when it has it.
    #[allow(dead_code)]
    pub fn client(&self) -> Command {
        match self.server.backend {
            // The very URL the application gets, so that the tests prove it right.
            Backend::Postgres => psql(&self.url()),
            Backend::MariaDb => self.mariadb_client(&[]),
        }
    }

    /// As [`sql`](Self::sql), but the client insisting on TLS (`tls`) or refusing it, where
    /// [`client`](Self::client) uses it if the server offers it (psql) or does not ask (mariadb).
    #[allow(dead_code)]
    pub fn sql_with_tls(&self, tls: bool, sql: &str) -> String {
        self.client_with_tls(tls)
            .run_sql(sql)
            .unwrap_or_else(|failure| panic!("{}: {failure}", self.name))
    }

    fn client_with_tls(&self, tls: bool) -> Command {
        match (self.server.backend, tls) {
            (Backend::Postgres, true) => psql(&self.url_with("sslmode=require")),
            (Backend::Postgres, false) => psql(&self.url_with("sslmode=disable")),
            (Backend::MariaDb, true) => self.mariadb_client(&["--ssl"]),
            (Backend::MariaDb, false) => self.mariadb_client(&["--skip-ssl"]),
        }
    }

    fn mariadb_client(&self, options: &[&str]) -> Command {
        let server = self.server;
        let mut mariadb = Command::new(MARIADB);
        mariadb
            .args(["--no-defaults", "--batch", "--skip-column-names"])
            // Each result as soon as it is there, for a test that holds a session open.
            .arg("--unbuffered")
            .args(["-h", "127.0.0.1", "-P", &server.port.to_string()])
            .args(["-u", APP_USER, "--connect-timeout=10"])
            .arg(format!("--password={}", server.app_password))
            .args(options)
            .arg(&self.name);
        mariadb
    }
}

impl Drop for TestDatabase<'_> {
    fn drop(&mut self) {
        if let Err(failure) = self.server.drop_database(&self.name) {
            let message = format!("could not drop database {}: {failure}", self.name);
            // A second panic during a test's panic would abort the whole test process.
            if std::thread::panicking() {
                eprintln!("{message}");
            } else {
                panic!("{message}");
            }
        }
    }
}

trait RunSql {
    /// Runs the CLI client with `sql` on its standard input; its standard output, or its error.
    fn run_sql(&mut self, sql: &str) -> Result<String, String>;
}

impl RunSql for Command {
    fn run_sql(&mut self, sql: &str) -> Result<String, String> {
        let program = self.get_program().to_string_lossy().into_owned();
        let mut client = self
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|error| format!("{program}: {error}"))?;
        let written = client
            .stdin
            .take()
            .expect("piped")
            .write_all(sql.as_bytes());
        let output = client
            .wait_with_output()
            .map_err(|error| error.to_string())?;
        if output.status.success() && written.is_ok() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(format!(
                "{program} failed ({}) on {sql:?}:\n{}{}",
                output.status,
                String::from_utf8_lossy(&output.stderr),
                String::from_utf8_lossy(&output.stdout)
            ))
        }
    }
}

/// Reads the server's PIDs from its standard input, one a line as the server starts and restarts
/// (an empty line: stopped), until end-of-file (this process has ended, or the server is
/// dropped); then stops the server by the last PID, or by its PID file when that line was empty
/// or never came (a start cut short): SIGINT is PostgreSQL's fast shutdown (it ends open
/// connections instead of waiting for them), SIGTERM MariaDB's. After 10 s of waiting, SIGKILL.
/// The wait ends when the process is gone or has removed its PID file (an exited server may
/// linger as a zombie until its new parent reaps it). Then the directory goes.
fn spawn_watchdog(backend: Backend, dir: &Path) -> Result<Child, String> {
    let (signal, pid_file) = match backend {
        Backend::Postgres => ("INT", dir.join("data/postmaster.pid")),
        Backend::MariaDb => ("TERM", dir.join("mariadbd.pid")),
    };
    const SCRIPT: &str = r#"
        pid=
        while read -r line; do pid=$line; done
        [ -n "$pid" ] || pid=$(head -n 1 "$2" 2>/dev/null)
        if [ -n "$pid" ]; then
            kill -"$1" "$pid" 2>/dev/null
            tries=0
            while kill -0 "$pid" 2>/dev/null && [ -e "$2" ] && [ "$tries" -lt 100 ]; do
                sleep 0.1
                tries=$((tries + 1))
            done
            kill -KILL "$pid" 2>/dev/null
        fi
        rm -rf "$3"
    "#;
    Command::new("sh")
        .args(["-c", SCRIPT, "watchdog", signal])
        .arg(pid_file)
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Its own process group: Ctrl-C on `cargo test` must not kill it before the server.
        .process_group(0)
        .spawn()
        .map_err(|error| format!("no watchdog: {error}"))
}

/// psql connected to `url`, reading SQL from its standard input, rows without headers.
fn psql(url: &str) -> Command {
    let mut psql = Command::new(Path::new(POSTGRES_BIN).join("psql"));
    psql.args([
        "-X",
        "-q",
        "-A",
        "-t",
        "-v",
        "ON_ERROR_STOP=1",
        "-f",
        "-",
        "-d",
        url,
    ])
    .env("PGCONNECT_TIMEOUT", "10");
    psql
}

fn as_postgres(program: &str) -> Command {
    let program = Path::new(POSTGRES_BIN).join(program);
    if running_as_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

/// Runs a set-up program to its end; its output in the error when it fails.
fn run(command: &mut Command) -> Result<(), String> {
    command.run_sql("").map(drop)
}

fn append(file: &Path, text: &str) -> Result<(), String> {
    std::fs::OpenOptions::new()
        .append(true)
        .open(file)
        .and_then(|mut file| file.write_all(text.as_bytes()))
        .map_err(|error| format!("{}: {error}", file.display()))
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let uids = status.lines().find_map(|line| line.strip_prefix("Uid:"))?;
            Some(uids.split_whitespace().next()? == "0")
        })
        .unwrap_or(false)
}

/// A loopback port nothing listens on now (for the servers here and the tests' own children).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free loopback port")
}

/// Letters and digits only, so that it needs no quoting in SQL or URLs.
fn random_password() -> String {
    use rand::distributions::{Alphanumeric, DistString};
    Alphanumeric.sample_string(&mut rand::thread_rng(), 24)
}
