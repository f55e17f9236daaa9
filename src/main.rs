//! The `profilebox` command: reads the configuration and serves the account service.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
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
    /// Port to listen on [default: 8000]
    #[arg(long, short)]
    port: Option<u16>,
    /// Address to listen on [default: 127.0.0.1]
    #[arg(long, short)]
    address: Option<IpAddr>,
    /// Directory for the database, images, outbox and generated secret [default: data]
    #[arg(long, short, global = true)]
    data_dir: Option<PathBuf>,
    /// Configuration file to read instead of ./Rocket.toml
    #[arg(long, short, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
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
    let mut figment = profilebox::figment(cli.config.as_deref());
    if let Some(port) = cli.port {
        figment = figment.merge(("port", port));
    }
    if let Some(address) = cli.address {
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
        None => {
            raise_open_files_limit();
            profilebox::shutdown::exit_status(profilebox::rocket(figment).launch().await).await
        }
        Some(Command::MoveImages { to }) => {
            let to = match to {
                Store::Local => Placement::Local,
                Store::Database => Placement::Database,
            };
            report(profilebox::commands::move_images(&figment, to).await)
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

/// Every connection holds a file descriptor, and systemd's default soft limit (1024) is reached
/// by a thousand idle clients: take all the hard limit allows.
fn raise_open_files_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => log::debug!("open files limit: {limit}"),
        Err(e) => log::warn!("could not raise the open files limit: {e}"),
    }
}
