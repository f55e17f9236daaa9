//! The `profilebox` command: reads the configuration and serves the account service, or runs one
//! of the operator's commands on the same configuration.

use std::net::IpAddr;
use std::path::PathBuf;

use std::io::IsTerminal;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use profilebox::commands::{self, user::UserCommand};
use profilebox::images::Placement;
use rocket::config::LogLevel;

/// A complete user-account service in one binary: register, log in, profile and profile
/// images, with its own web page, an embedded SQLite database and a local image folder.
///
/// Every setting can also come from Rocket.toml or a ROCKET_<KEY> environment variable
/// (e.g. ROCKET_PORT=9000); flags win over both.
#[derive(Debug, Parser)]
#[command(name = "profilebox", version)]
struct Cli {
    #[command(flatten)]
    serve: ServeArgs,
    /// Directory for the database, images, outbox and generated secret [default: data]
    #[arg(long, short, global = true)]
    data_dir: Option<PathBuf>,
    /// Configuration file to read instead of ./Rocket.toml
    #[arg(long, short, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

/// Where the service listens.
#[derive(Debug, Clone, Default, clap::Args)]
struct ServeArgs {
    /// Port to listen on [default: 8000]
    #[arg(long, short)]
    port: Option<u16>,
    /// Address to listen on [default: 127.0.0.1]
    #[arg(long, short)]
    address: Option<IpAddr>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the account service (what `profilebox` alone does).
    Serve(ServeArgs),
    /// Exit 0 if the service answers /api/health with 200 within the timeout, 1 otherwise.
    Healthcheck {
        /// The address to check [default: /api/health on the configured port, on loopback]
        #[arg(long)]
        url: Option<String>,
        /// Seconds to wait for the answer
        #[arg(long, default_value_t = 3)]
        timeout: u64,
    },
    /// Apply the database migrations, then exit (serving also migrates on start).
    Migrate,
    /// Manage user accounts on the configured database.
    User {
        /// Print JSON instead of text
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Back up the service into a new folder, also while it runs: a consistent snapshot of the
    /// SQLite database, the pictures it points at, the generated JWT secret, and a manifest of
    /// SHA-256 checksums. On a database server, everything but the database (dump that with the
    /// server's own tool; the command says how).
    Backup {
        dest: PathBuf,
        /// No progress lines
        #[arg(long, short)]
        quiet: bool,
    },
    /// Restore a backup into the data directory, after checking every checksum. Refuses a data
    /// directory that is not empty, unless --force.
    Restore {
        src: PathBuf,
        /// Replace the database, pictures and secret of a data directory that is not empty
        #[arg(long)]
        force: bool,
        /// No progress lines
        #[arg(long, short)]
        quiet: bool,
    },
    /// Copy every user, session, token, setting and picture of the configured database into
    /// another, empty one (SQLite into PostgreSQL, say), keeping ids; then compare the row counts.
    /// Stop the service first.
    Copy {
        /// The target database URL (sqlite://, postgres:// or mysql://); a PostgreSQL password
        /// can come from PGPASSWORD instead of the URL
        #[arg(long)]
        to: String,
        /// No progress lines
        #[arg(long, short)]
        quiet: bool,
    },
    /// Move every current profile picture into the database or into the image folder, then exit.
    /// Safe while instances are serving: they serve a picture from either place. Set
    /// `image_store` to the same place, so that new pictures go there too.
    MoveImages {
        #[arg(long, value_enum)]
        to: Store,
    },
}

/// Where `move-images` puts the pictures: the values of `image_store`.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Store {
    Local,
    Database,
}

#[rocket::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let serve = match &cli.command {
        Some(Command::Serve(args)) => args.clone(),
        _ => cli.serve.clone(),
    };
    let mut figment = profilebox::figment(cli.config.as_deref());
    if let Some(port) = serve.port {
        figment = figment.merge(("port", port));
    }
    if let Some(address) = serve.address {
        figment = figment.merge(("address", address));
    }
    if let Some(dir) = cli.data_dir {
        figment = figment.merge(("data_dir", dir));
    }
    let level = figment
        .extract_inner::<LogLevel>("log_level")
        .unwrap_or(LogLevel::Normal);
    profilebox::logging::init(match level {
        LogLevel::Off => log::LevelFilter::Off,
        LogLevel::Critical => log::LevelFilter::Warn,
        LogLevel::Normal => log::LevelFilter::Info,
        LogLevel::Debug => log::LevelFilter::Debug,
    });
    match cli.command {
        None | Some(Command::Serve(_)) => {
            raise_open_files_limit();
            profilebox::shutdown::exit_status(profilebox::rocket(figment).launch().await).await
        }
        Some(Command::Healthcheck { url, timeout }) => {
            let url = match url {
                Some(url) => Ok(url),
                None => commands::health::local_url(&figment),
            };
            report(url.and_then(|url| commands::health::check(&url, Duration::from_secs(timeout))))
        }
        Some(Command::Migrate) => report(commands::migrate(&figment).await),
        Some(Command::Backup { dest, quiet }) => {
            let progress = commands::progress::Progress::new(quiet);
            report(commands::backup::backup(&figment, &dest, &progress).await)
        }
        Some(Command::Copy { to, quiet }) => {
            let progress = commands::progress::Progress::new(quiet);
            report(commands::copy::copy(&figment, &to, &progress).await)
        }
        Some(Command::Restore { src, force, quiet }) => {
            let progress = commands::progress::Progress::new(quiet);
            report(commands::backup::restore(&figment, &src, force, &progress).await)
        }
        Some(Command::User { json, command }) => {
            let outcome = commands::user::run(&figment, command, read_password).await;
            report(outcome.map(|output| {
                if json {
                    output.json.to_string()
                } else {
                    output.text
                }
            }))
        }
        Some(Command::MoveImages { to }) => {
            let to = match to {
                Store::Local => Placement::Local,
                Store::Database => Placement::Database,
            };
            report(commands::move_images(&figment, to).await)
        }
    }
}

/// Prints a command's outcome: its summary, or one line on standard error and a failure status.
fn report(outcome: Result<String, String>) -> std::process::ExitCode {
    match outcome {
        Ok(summary) => {
            println!("{summary}");
            std::process::ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("profilebox: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// A password for `user create` and `user set-password`: asked twice without echo on a
/// terminal, else the first line of standard input (for scripts: `… < file`, or a pipe).
fn read_password() -> Result<String, String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("New password: ").map_err(|e| e.to_string())?;
        let again = rpassword::prompt_password("Again: ").map_err(|e| e.to_string())?;
        if first != again {
            return Err("the two passwords differ".into());
        }
        return Ok(first);
    }
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
    let password = line.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        return Err("no password on standard input".into());
    }
    Ok(password.to_string())
}

/// Every connection holds a file descriptor, and systemd's default soft limit (1024) is reached
/// by a thousand idle clients: take all the hard limit allows.
fn raise_open_files_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => log::debug!("open files limit: {limit}"),
        Err(e) => log::warn!("could not raise the open files limit: {e}"),
    }
}
