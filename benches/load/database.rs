//! Which database the measured profilebox runs on: SQLite in its fresh data directory, or the
//! user's own server database; and the throw-away servers whose rows follow SQLite's.

use crate::dbservers;

/// A database server the bench starts itself (tests/common/dbservers.rs); `None` after a notice
/// when its packages are not installed.
pub type ThrowAwayServer = fn() -> Option<&'static dbservers::Server>;

/// The servers on which a run on SQLite repeats w1–w4, each on a fresh database, in this order.
pub const THROW_AWAY_SERVERS: &[(&str, ThrowAwayServer)] = &[
    ("PostgreSQL", dbservers::postgres),
    ("MariaDB", dbservers::mariadb),
];

/// The user's server database, from `--database-url <url>` (after `cargo bench --bench load --`)
/// or else `BENCH_DATABASE_URL`; `None` for SQLite.
pub fn given_url() -> Option<String> {
    let mut flag = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            // What `cargo bench` passes to every bench target.
            "--bench" => {}
            "--database-url" => flag = Some(args.next().expect("--database-url needs a URL")),
            other => match other.strip_prefix("--database-url=") {
                Some(url) => flag = Some(url.to_owned()),
                None => panic!("unknown argument {other:?}: the bench takes --database-url <url>"),
            },
        }
    }
    flag.or_else(|| std::env::var("BENCH_DATABASE_URL").ok())
        .filter(|url| !url.is_empty())
}

/// The database a URL names, for the table's title: never the URL itself, which holds a
/// password. profilebox itself judges the URL when it starts.
pub fn name(url: Option<&str>) -> &'static str {
    let Some(url) = url else {
        return "SQLite";
    };
    match url.split_once("://").map_or(url, |(scheme, _)| scheme) {
        "postgres" | "postgresql" => "PostgreSQL",
        "mysql" | "mariadb" => "MySQL/MariaDB",
        "sqlite" => "SQLite",
        _ => "the database of the given URL",
    }
}
