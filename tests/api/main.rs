//! Integration tests of the account API, against the real application on a temporary data
//! directory and a real SQLite file.

#[path = "../common/bombs.rs"]
mod bombs;
#[path = "../common/dbservers.rs"]
mod dbservers;
#[path = "../common/server.rs"]
mod server;
mod support;
#[path = "../common/totp.rs"]
mod totp;

mod binary;
mod commands;
mod compat_auth;
mod compat_django;
mod compat_fastapi;
mod config;
mod email_change;
mod errors;
mod images;
mod input_attacks;
mod login;
mod mail;
mod metrics;
mod openapi;
mod profile;
mod register;
mod security;
mod sessions;
mod slow_clients;
mod token_attacks;
mod tokens;
mod two_factor;
