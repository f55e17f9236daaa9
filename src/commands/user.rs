//! `profilebox user …`: accounts managed from the command line, on the configured database,
//! through the same account operations as the API.

use clap::Subcommand;
use rocket::figment::Figment;
use serde_json::json;

use super::{open, Output};
use crate::accounts::admin::UserPage;
use crate::accounts::fields::{Email, Username};
use crate::accounts::users::{Accounts, Registration, User};
use crate::clock::Clock;
use crate::config::Settings;
use crate::domain_error::DomainError;

/// What `profilebox user` does. A user is named by id, email address or username.
#[derive(Debug, Clone, Subcommand)]
pub enum UserCommand {
    /// List users in the order they registered, a page at a time.
    List {
        /// Only users whose username, email or name holds this (any case)
        #[arg(long, short)]
        search: Option<String>,
        #[arg(long, default_value_t = 1)]
        page: i64,
        #[arg(long, default_value_t = 50)]
        per_page: i64,
    },
    /// Show one user.
    Show { user: String },
    /// Create a user; the password is read from a prompt, or from standard input when it is not
    /// a terminal (never from an argument: it would be kept in the shell's history).
    Create {
        #[arg(long)]
        username: Option<String>,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        name: Option<String>,
        /// Mark the email address verified
        #[arg(long)]
        verified: bool,
    },
    /// Delete a user with their sessions, mailed links and picture.
    Delete { user: String },
    /// Set a user's password (read like `create`'s); every session of the user ends.
    SetPassword { user: String },
    /// Mark a user's current email address verified.
    VerifyEmail { user: String },
    /// End every session of a user: their tokens stop working.
    EndSessions { user: String },
    /// Turn a user's two-factor login off (a lost phone and lost recovery codes): the secret and
    /// the recovery codes are deleted, the password alone logs in again.
    DisableTwoFactor { user: String },
}

/// Runs `command` on the database `figment` configures. `password` is asked only by the
/// commands that set one.
pub async fn run(
    figment: &Figment,
    command: UserCommand,
    password: impl FnOnce() -> Result<String, String>,
) -> Result<Output, String> {
    let settings = Settings::from_figment(figment)?;
    settings.bootstrap()?;
    let store = open(&settings).await?;
    let services = crate::build_services(&settings, &store, Clock::default()).await?;
    let accounts = Accounts {
        store: &store,
        services: &services,
        client_ip: None,
    };
    let outcome = execute(&accounts, command, password).await;
    store.close().await;
    outcome
}

fn named(user: &User) -> String {
    let name = user.profile.username.as_deref();
    format!(
        "user {} ({})",
        user.id,
        name.or(user.profile.email.as_deref()).unwrap_or("-")
    )
}

async fn execute(
    accounts: &Accounts<'_>,
    command: UserCommand,
    password: impl FnOnce() -> Result<String, String>,
) -> Result<Output, String> {
    let find = |who: String| async move {
        accounts.find_user(&who).await.map_err(|e| match e {
            DomainError::NotFound => format!("no user is named {who:?}"),
            other => other.to_string(),
        })
    };
    let failed = |e: DomainError| e.to_string();
    Ok(match command {
        UserCommand::List {
            search,
            page,
            per_page,
        } => {
            let page = accounts
                .list_users(search.as_deref(), page, per_page)
                .await
                .map_err(failed)?;
            Output {
                text: listing(&page),
                json: json!(page),
            }
        }
        UserCommand::Show { user } => {
            let user = find(user).await?;
            Output {
                text: details(&user),
                json: json!(user),
            }
        }
        UserCommand::Create {
            username,
            email,
            name,
            verified,
        } => {
            let registration = Registration {
                username: username
                    .as_deref()
                    .map(Username::parse)
                    .transpose()
                    .map_err(failed)?,
                email: email
                    .as_deref()
                    .map(Email::parse)
                    .transpose()
                    .map_err(failed)?,
                password: password()?,
                name,
                first_name: None,
                last_name: None,
                description: None,
                picture: None,
            };
            let user = accounts
                .create_user(registration, verified)
                .await
                .map_err(failed)?;
            Output {
                text: format!("created {}", named(&user)),
                json: json!(user),
            }
        }
        UserCommand::Delete { user } => {
            let user = find(user).await?;
            accounts.remove(&user).await.map_err(failed)?;
            Output {
                text: format!("deleted {}", named(&user)),
                json: json!({ "deleted": user.id }),
            }
        }
        UserCommand::SetPassword { user } => {
            let user = find(user).await?;
            accounts
                .set_password(&user, &password()?)
                .await
                .map_err(failed)?;
            Output {
                text: format!(
                    "set the password of {}; every session of it ended",
                    named(&user)
                ),
                json: json!({ "id": user.id, "password_set": true }),
            }
        }
        UserCommand::VerifyEmail { user } => {
            let user = find(user).await?;
            if !accounts.mark_verified(&user).await.map_err(failed)? {
                return Err(format!("{} has no email address", named(&user)));
            }
            Output {
                text: format!("verified the email address of {}", named(&user)),
                json: json!({ "id": user.id, "email": user.profile.email, "email_verified": true }),
            }
        }
        UserCommand::EndSessions { user } => {
            let user = find(user).await?;
            let ended = accounts.end_all_sessions(&user).await.map_err(failed)?;
            Output {
                text: format!("ended {ended} sessions of {}", named(&user)),
                json: json!({ "id": user.id, "ended": ended }),
            }
        }
        UserCommand::DisableTwoFactor { user } => {
            let user = find(user).await?;
            if !accounts.remove_second_factor(&user).await.map_err(failed)? {
                return Err(format!("{} has no two-factor login", named(&user)));
            }
            Output {
                text: format!("turned two-factor login off for {}", named(&user)),
                json: json!({ "id": user.id, "totp_enabled": false }),
            }
        }
    })
}

/// One line a user, under a header; then where the page is in the whole.
fn listing(page: &UserPage) -> String {
    let mut text = format!(
        "{:>8}  {:<32}  {:<40}  {:<8}  {}\n",
        "ID", "USERNAME", "EMAIL", "VERIFIED", "NAME"
    );
    for user in &page.users {
        let profile = &user.profile;
        text += &format!(
            "{:>8}  {:<32}  {:<40}  {:<8}  {}\n",
            user.id,
            profile.username.as_deref().unwrap_or("-"),
            profile.email.as_deref().unwrap_or("-"),
            if user.email_verified { "yes" } else { "no" },
            profile.name.as_deref().unwrap_or("-"),
        );
    }
    let pages = (page.total + page.per_page - 1) / page.per_page;
    text += &format!(
        "{} of {} users, page {} of {}",
        page.users.len(),
        page.total,
        page.page,
        pages.max(1)
    );
    text
}

fn details(user: &User) -> String {
    let profile = &user.profile;
    let or_dash = |value: &Option<String>| value.clone().unwrap_or_else(|| "-".into());
    [
        ("id", user.id.to_string()),
        ("username", or_dash(&profile.username)),
        ("email", or_dash(&profile.email)),
        (
            "email verified",
            if user.email_verified { "yes" } else { "no" }.into(),
        ),
        ("name", or_dash(&profile.name)),
        ("first name", or_dash(&profile.first_name)),
        ("last name", or_dash(&profile.last_name)),
        ("description", or_dash(&profile.description)),
        ("picture", or_dash(&user.profile_image)),
        ("created", user.created_at.clone()),
        ("updated", user.updated_at.clone()),
    ]
    .iter()
    .map(|(label, value)| format!("{label:<15} {value}"))
    .collect::<Vec<_>>()
    .join("\n")
}
