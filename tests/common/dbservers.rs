//! Throw-away PostgreSQL 15 and MariaDB 10.11 servers from Debian's packages, shared by the test
//! targets that run against a database server (`#[path]`-included). Each server starts at most
//! once per test process, on a free loopback port in a fresh temporary directory; each test
//! creates its own database on it. Missing packages skip with one notice, except under `CI=true`.
//!
//! Stopping: Rust's test harness has no global teardown, and a test process may also die by a
//! signal, so every server gets a watchdog shell that holds the read end of a pipe whose write end
//! only this process holds. When this process ends, however it ends, the kernel closes the pipe,
//! the watchdog reads end-of-file and stops the server by its PID, then removes its directory.

use std::io::Write;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const POSTGRES_BIN: &str = "/usr/lib/postgresql/15/bin";
const MARIADB_INSTALL_DB: &str = "/usr/bin/mariadb-install-db";
const MARIADBD: &str = "/usr/sbin/mariadbd";
const MARIADB: &str = "/usr/bin/mariadb";
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
        match self {
            Backend::Postgres => ["initdb", "pg_ctl", "postgres", "psql"]
                .iter()
                .map(|name| Path::new(POSTGRES_BIN).join(name))
                .collect(),
            Backend::MariaDb => [MARIADB_INSTALL_DB, MARIADBD, MARIADB]
                .iter()
                .map(PathBuf::from)
                .collect(),
        }
    }

    fn packages(self) -> &'static str {
        match self {
            Backend::Postgres => "postgresql-15",
            Backend::MariaDb => "mariadb-server-core mariadb-client-core",
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
    /// Never written after the PID: its closing, when this process ends, stops the server.
    watchdog: ChildStdin,
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

/// A failed start is remembered, so that the other tests fail at once with the same message
/// instead of each waiting for its own start to time out.
fn shared(
    server: &'static OnceLock<Result<Option<Server>, String>>,
    backend: Backend,
) -> Option<&'static Server> {
    let outcome = server.get_or_init(|| {
        if !backend.installed() {
            let notice = format!(
                "{} is not installed (apt-get install {})",
                backend.title(),
                backend.packages()
            );
            assert!(std::env::var("CI").as_deref() != Ok("true"), "{notice}");
            // Straight to standard error: the test harness would capture `eprintln!` and show it
            // only for failing tests.
            let _ = writeln!(
                std::io::stderr(),
                "skipping the {} tests: {notice}",
                backend.title()
            );
            return Ok(None);
        }
        let started = Instant::now();
        let server = Server::start(backend)?;
        eprintln!(
            "{} started on 127.0.0.1:{} in {:.1} s",
            backend.title(),
            server.port,
            started.elapsed().as_secs_f64()
        );
        Ok(Some(server))
    });
    match outcome {
        Ok(server) => server.as_ref(),
        Err(failure) => panic!("{failure}"),
    }
}

impl Server {
    fn start(backend: Backend) -> Result<Server, String> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("profilebox-{backend:?}-").to_lowercase())
            .tempdir()
            .map_err(|error| format!("no temporary directory: {error}"))?
            .keep();
        // The watchdog exists before the server does, so that the directory goes in every case.
        let mut watchdog = spawn_watchdog(backend, &dir)?;
        let mut server = Server {
            backend,
            port: free_port(),
            dir,
            admin_password: random_password(),
            app_password: random_password(),
            databases_created: AtomicUsize::new(0),
            watchdog: watchdog.stdin.take().expect("piped"),
        };
        match backend {
            Backend::Postgres => {
                let pid = server.start_postgres()?;
                server.tell_watchdog(pid)?;
                server.wait_until_ready(|| false)?;
            }
            Backend::MariaDb => {
                let mut mariadbd = server.start_mariadb()?;
                server.tell_watchdog(mariadbd.id())?;
                server.wait_until_ready(|| matches!(mariadbd.try_wait(), Ok(Some(_))))?;
                // Reaped when it exits, so that the watchdog never waits for a zombie.
                std::thread::spawn(move || mariadbd.wait());
            }
        }
        server.create_app_user()?;
        Ok(server)
    }

    fn tell_watchdog(&mut self, pid: u32) -> Result<(), String> {
        writeln!(self.watchdog, "{pid}").map_err(|error| format!("watchdog: {error}"))
    }

    /// `initdb` and `pg_ctl start` as the `postgres` system user when this process is root (the
    /// server refuses to run as root); returns the postmaster's PID.
    fn start_postgres(&self) -> Result<u32, String> {
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
        // TCP on loopback only (no Unix socket to collide with a system cluster's); no fsync, as
        // the data dies with the test run; connections for many tests' pools at once.
        let settings = format!(
            "\nlisten_addresses = '127.0.0.1'\nport = {}\nunix_socket_directories = ''\n\
             fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 300\n",
            self.port
        );
        append(&data.join("postgresql.conf"), &settings)?;
        let log = self.dir.join("server.log");
        let started = run(as_postgres("pg_ctl")
            .args(["start", "--wait", "--timeout"])
            .arg(STARTUP.as_secs().to_string())
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(&log));
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

    /// `mariadb-install-db` and `mariadbd` as root (or as whoever runs the tests); returns
    /// mariadbd, still starting.
    fn start_mariadb(&self) -> Result<Child, String> {
        let data = self.dir.join("data");
        // No option files (`/etc/mysql/…`), and small InnoDB files that are quick to create.
        let common = [
            "--no-defaults".to_string(),
            format!("--datadir={}", data.display()),
            "--innodb-log-file-size=8M".to_string(),
            "--innodb-buffer-pool-size=32M".to_string(),
        ];
        let user: &[&str] = if running_as_root() {
            &["--user=root"]
        } else {
            &[]
        };
        run(Command::new(MARIADB_INSTALL_DB)
            .args(&common)
            .args(user)
            // The administrator is whoever runs the tests, logged in over the Unix socket.
            .args(["--auth-root-authentication-method=socket", "--skip-test-db"]))?;
        let log = std::fs::File::create(self.dir.join("server.log")).map_err(|e| e.to_string())?;
        Command::new(MARIADBD)
            .args(&common)
            .args(user)
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
            // Accounts by address, as the application user is defined, and no DNS look-ups.
            .arg("--skip-name-resolve")
            // Durability is not needed for data that dies with the test run.
            .args([
                "--innodb-flush-log-at-trx-commit=0",
                "--innodb-doublewrite=0",
            ])
            .args(["--max-connections=300", "--character-set-server=utf8mb4"])
            .arg("--collation-server=utf8mb4_bin")
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
    pub fn create_database(&'static self) -> TestDatabase {
        let number = self.databases_created.fetch_add(1, Ordering::Relaxed);
        let name = format!("test_{number}");
        self.admin_sql(&match self.backend {
            Backend::Postgres => format!("CREATE DATABASE {name} OWNER {APP_USER};"),
            // utf8mb4, because MariaDB's `utf8` is three-byte UTF-8 that refuses characters
            // outside the BMP (emoji); utf8mb4_bin, because the default collation folds case and
            // accents in every comparison and unique index (`José` = `JOSE`), which SQLite and
            // PostgreSQL do not: what a user's database needs too, so that is what is tested.
            Backend::MariaDb => format!(
                "CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;\n\
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
}

/// A database of its own for one test, on a shared server; dropped when this value is.
pub struct TestDatabase {
    server: &'static Server,
    name: String,
}

impl TestDatabase {
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

    #[allow(dead_code)]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The output of `sql` run as the application user in this database through the server's
    /// CLI client (over TCP, as the application connects); panics with the client's error.
    #[allow(dead_code)]
    pub fn sql(&self, sql: &str) -> String {
        self.client()
            .run_sql(sql)
            .unwrap_or_else(|failure| panic!("{}: {failure}", self.name))
    }

    /// The CLI client logged in as the application user in this database, reading SQL from its
    /// standard input and printing each result when it has it.
    #[allow(dead_code)]
    pub fn client(&self) -> Command {
        let server = self.server;
        match server.backend {
            // The very URL the application gets, so that the tests prove it right.
            Backend::Postgres => psql(&self.url()),
            Backend::MariaDb => {
                let mut mariadb = Command::new(MARIADB);
                mariadb
                    .args(["--no-defaults", "--batch", "--skip-column-names"])
                    // Each result as soon as it is there, for a test that holds a session open.
                    .arg("--unbuffered")
                    .args(["-h", "127.0.0.1", "-P", &server.port.to_string()])
                    .args(["-u", APP_USER, "--connect-timeout=10"])
                    .arg(format!("--password={}", server.app_password))
                    .arg(&self.name);
                mariadb
            }
        }
    }
}

impl Drop for TestDatabase {
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

/// Waits for the server's PID on its standard input, then for end-of-file (this process has
/// ended), then stops the server by that PID: SIGINT is PostgreSQL's fast shutdown (it ends open
/// connections instead of waiting for them), SIGTERM MariaDB's. After 10 s of waiting, SIGKILL.
/// The wait ends when the process is gone or has removed its PID file (an exited server may
/// linger as a zombie until its new parent reaps it). Then the directory goes.
fn spawn_watchdog(backend: Backend, dir: &Path) -> Result<Child, String> {
    let (signal, pid_file) = match backend {
        Backend::Postgres => ("INT", dir.join("data/postmaster.pid")),
        Backend::MariaDb => ("TERM", dir.join("mariadbd.pid")),
    };
    const SCRIPT: &str = r#"
        read -r pid
        while read -r _; do :; done
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

fn free_port() -> u16 {
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
