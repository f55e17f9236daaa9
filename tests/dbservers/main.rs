//! The throw-away database servers that the tests run against (tests/common/dbservers.rs): each
//! starts, gives every test a database of its own, and drops it afterwards, open connections or
//! not. Skipped with a notice where Debian's packages are missing, except on CI.

#[path = "../common/dbservers.rs"]
mod dbservers;

use dbservers::{mariadb, postgres, Backend, Server};
use std::io::{BufRead, BufReader, Write};
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
