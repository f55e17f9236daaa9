//! The throw-away database servers that the tests run against (tests/common/dbservers.rs): each
//! starts, gives every test a database of its own, and drops it afterwards, open connections or
//! not; a private one stops and starts again with its data, and goes when dropped; both speak TLS
//! to a client that asks. Skipped with a notice where Debian's packages are missing, except on CI.

#[path = "../common/dbservers.rs"]
mod dbservers;

use dbservers::{mariadb, postgres, private, Backend, Server, TestDatabase};
use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::time::{Duration, Instant};

#[test]
fn postgres_gives_each_test_a_separate_database_and_drops_it() {
    if let Some(server) = postgres() {
        two_databases_are_separate_and_dropped(server, "postgres://profilebox:");
    }
}

#[test]
fn mariadb_gives_each_test_a_separate_database_and_drops_it() {
    if let Some(server) = mariadb() {
        two_databases_are_separate_and_dropped(server, "mysql://profilebox:");
    }
}

#[test]
fn postgres_drops_a_database_that_a_connection_holds_in_a_transaction() {
    if let Some(server) = postgres() {
        a_held_database_is_dropped_without_waiting(server);
    }
}

#[test]
fn mariadb_drops_a_database_that_a_connection_holds_in_a_transaction() {
    if let Some(server) = mariadb() {
        a_held_database_is_dropped_without_waiting(server);
    }
}

#[test]
fn the_servers_run_wherever_their_packages_are_installed_and_always_on_ci() {
    let on_ci = std::env::var("CI").as_deref() == Ok("true");
    for (backend, server) in [
        (Backend::Postgres, postgres()),
        (Backend::MariaDb, mariadb()),
    ] {
        assert_eq!(server.is_some(), backend.installed(), "{backend:?}");
        assert!(server.is_some() || !on_ci, "{backend:?} is required on CI");
        if let Some(server) = server {
            assert_eq!(server.admin_sql("SELECT 1 + 1"), "2\n");
        }
    }
}

#[test]
fn postgres_private_server_stops_starts_again_with_its_data_and_goes_when_dropped() {
    if let Some(server) = private(Backend::Postgres) {
        a_private_server_stops_starts_again_and_goes_when_dropped(server);
    }
}

#[test]
fn mariadb_private_server_stops_starts_again_with_its_data_and_goes_when_dropped() {
    if let Some(server) = private(Backend::MariaDb) {
        a_private_server_stops_starts_again_and_goes_when_dropped(server);
    }
}

#[test]
fn postgres_gives_the_application_user_tls_when_asked_and_plain_tcp_when_not() {
    if let Some(server) = postgres() {
        tls_when_asked_and_plain_when_not(server);
    }
}

#[test]
fn mariadb_gives_the_application_user_tls_when_asked_and_plain_tcp_when_not() {
    if let Some(server) = mariadb() {
        tls_when_asked_and_plain_when_not(server);
    }
}

/// Debian's defaults, which fold case and accents: the application's migrations, not the
/// harness, must choose a binary collation for what has to stay distinct.
#[test]
fn mariadb_databases_get_debians_default_character_set_and_collation() {
    if let Some(server) = mariadb() {
        let database = server.create_database();
        assert_eq!(
            database.sql("SELECT @@character_set_database, @@collation_database;"),
            "utf8mb4\tutf8mb4_general_ci\n"
        );
        database
            .sql("CREATE TABLE person (name VARCHAR(40));\nINSERT INTO person VALUES ('José');");
        assert_eq!(
            database.sql("SELECT count(*) FROM person WHERE name = 'JOSE';"),
            "1\n"
        );
    }
}

fn two_databases_are_separate_and_dropped(server: &'static Server, url_start: &str) {
    let first = server.create_database();
    let second = server.create_database();
    assert_ne!(first.name(), second.name());
    for database in [&first, &second] {
        let url = database.url();
        assert!(url.starts_with(url_start), "{url}");
        assert!(url.ends_with(&format!("/{}", database.name())), "{url}");
        assert!(url.contains("@127.0.0.1:"), "{url}");
        database.sql(&format!(
            "CREATE TABLE greeting (word VARCHAR(40));\n\
             INSERT INTO greeting VALUES ('hello from {}');",
            database.name()
        ));
    }
    for database in [&first, &second] {
        assert_eq!(
            database.sql("SELECT word FROM greeting;"),
            format!("hello from {}\n", database.name())
        );
    }
    let names = [first.name().to_string(), second.name().to_string()];
    assert!(names.iter().all(|name| exists(server, name)));
    drop(first);
    drop(second);
    assert!(!names.iter().any(|name| exists(server, name)));
}

/// A client left inside a transaction that changed a row (as a test that panicked mid-request
/// leaves its pool) must not make dropping the database wait.
fn a_held_database_is_dropped_without_waiting(server: &'static Server) {
    let database = server.create_database();
    let name = database.name().to_string();
    database.sql("CREATE TABLE counter (n INT);\nINSERT INTO counter VALUES (1);");
    let mut holder = database
        .client()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut holder_input = holder.stdin.take().unwrap();
    holder_input
        .write_all(b"BEGIN;\nUPDATE counter SET n = 2;\nSELECT 'held';\n")
        .unwrap();
    let mut held = String::new();
    BufReader::new(holder.stdout.take().unwrap())
        .read_line(&mut held)
        .unwrap();
    assert_eq!(held, "held\n");

    let dropping = Instant::now();
    drop(database);
    assert!(dropping.elapsed() < Duration::from_secs(5));
    assert!(!exists(server, &name));
    // The server has ended the holder's connection; closing its input lets it exit.
    drop(holder_input);
    holder.wait().unwrap();
}

fn exists(server: &Server, name: &str) -> bool {
    let query = match server.backend() {
        Backend::Postgres => format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'"),
        Backend::MariaDb => {
            format!("SELECT count(*) FROM information_schema.schemata WHERE schema_name = '{name}'")
        }
    };
    server.admin_sql(&query) == "1\n"
}

/// One private server through a stop, a start and its drop: one start-up for all three, as each
/// costs seconds.
fn a_private_server_stops_starts_again_and_goes_when_dropped(server: Server) {
    let database = server.create_database();
    database.sql("CREATE TABLE kept (word VARCHAR(20));\nINSERT INTO kept VALUES ('before');");
    let first_pid = server.pid().expect("a started server has a PID");

    server.stop();
    assert_eq!(server.pid(), None);
    assert!(exits_soon(first_pid), "PID {first_pid} still runs");
    let refused = TcpStream::connect(("127.0.0.1", server.port())).unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
    let failure = database.sql_result("SELECT 1;");
    assert!(failure.is_err(), "{failure:?}");

    server.start_again();
    let second_pid = server.pid().expect("a restarted server has a PID");
    assert!(is_running(second_pid), "PID {second_pid} has exited");
    assert_eq!(database.sql("SELECT word FROM kept;"), "before\n");
    assert_eq!(server.admin_sql("SELECT 1 + 1"), "2\n");

    drop(database);
    let dir = server.dir().to_path_buf();
    assert!(dir.join("data").is_dir(), "{}", dir.display());
    drop(server);
    assert!(!dir.exists(), "{} is left", dir.display());
    assert!(exits_soon(second_pid), "PID {second_pid} still runs");
}

/// The application user over TCP, as the application connects: TLS when the client insists,
/// and a plain connection still accepted from a client that refuses TLS.
fn tls_when_asked_and_plain_when_not(server: &Server) {
    let database = server.create_database();
    let backend = server.backend();
    assert!(session_uses_tls(&database, backend, true));
    assert!(!session_uses_tls(&database, backend, false));
}

fn session_uses_tls(database: &TestDatabase, backend: Backend, tls: bool) -> bool {
    match backend {
        Backend::Postgres => {
            let sql = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid();";
            database.sql_with_tls(tls, sql) == "t\n"
        }
        Backend::MariaDb => {
            // `Ssl_version\tTLSv1.3`, or an empty version on a plain connection.
            let status = database.sql_with_tls(tls, "SHOW SESSION STATUS LIKE 'Ssl_version';");
            let version = status.strip_prefix("Ssl_version\t");
            !version.expect("the Ssl_version row").trim_end().is_empty()
        }
    }
}

/// Whether the process has exited within a few seconds (a stopped server's last steps after
/// removing its PID file).
fn exits_soon(pid: u32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while is_running(pid) {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

/// An exited process that its parent has not reaped yet (a zombie) does not run.
fn is_running(pid: u32) -> bool {
    let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    state
        .rsplit_once(") ")
        .is_some_and(|(_, fields)| !fields.starts_with('Z'))
}
