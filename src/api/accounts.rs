//! Registering and logging in, and the canonical answers to them.

use rocket::data::Data;
use rocket::http::Status;
use schemars::JsonSchema;
use serde::Serialize;

use super::body::{JsonObject, JsonWithImage};
use super::endpoint::{Anyone, Call, Done, Operation, RequestDoc};
use super::input::{self, LoginBody, RegisterBody};
use crate::accounts::sessions::{IssuedTokens, Origin};
use crate::accounts::users::{Accounts, User};
use crate::limits::Action;

/// Registers a user. A set may require more fields than the canonical rules (`username` or
/// `email`, and `password`), and may refuse a base64 `image` larger than a plain JSON body.
#[derive(Clone)]
pub struct Register {
    /// Fields that must be sent and not be empty, checked first and in this order.
    pub required: &'static [&'static str],
    pub with_image: bool,
}

impl Register {
    pub const CANONICAL: Register = Register {
        required: &[],
        with_image: true,
    };
}

#[rocket::async_trait]
impl Operation for Register {
    type Caller = Anyone;
    type Output = User;
    const LIMIT: Option<Action> = Some(Action::Register);
    const STATUS: Status = Status::Created;
    const SUMMARY: &'static str = "Register";

    fn request(&self) -> RequestDoc {
        let names_required = ["username", "email"]
            .iter()
            .all(|field| self.required.contains(field));
        RequestDoc::json::<RegisterBody>()
            .requiring(self.required)
            .naming(!names_required)
    }

    async fn run<'r>(&self, call: Call<'r, Anyone>, body: Data<'r>) -> Done<User> {
        let object = if self.with_image {
            call.read::<JsonWithImage>(body).await?.0
        } else {
            call.read::<JsonObject>(body).await?
        };
        for field in self.required {
            object.required_text(field)?;
        }
        let registration = input::registration(&RegisterBody::read(&object))?;
        Ok(call.accounts.register(registration).await?)
    }
}

/// Checks a login and starts a session.
#[derive(Clone)]
pub struct Login;

#[rocket::async_trait]
impl Operation for Login {
    type Caller = Anyone;
    type Output = (User, IssuedTokens);
    const LIMIT: Option<Action> = Some(Action::Login);
    const SUMMARY: &'static str = "Log in";

    fn request(&self) -> RequestDoc {
        RequestDoc::json::<LoginBody>().naming(true)
    }

    async fn run<'r>(&self, call: Call<'r, Anyone>, body: Data<'r>) -> Done<(User, IssuedTokens)> {
        let object = call.read::<JsonObject>(body).await?;
        let (name, password) = input::login(&LoginBody::read(&object))?;
        let user = call.accounts.login(&name, &password).await?;
        let origin = Origin::of(call.request);
        let tokens = call.accounts.start_session(&user, &origin).await?;
        Ok((user, tokens))
    }
}

/// The canonical answer to a registration.
#[derive(Serialize, JsonSchema)]
pub struct Registered {
    message: &'static str,
    id: i64,
    user: User,
}

pub const REGISTERED: &str = "User registered successfully";

pub fn registered(_: &Accounts<'_>, user: User) -> Registered {
    Registered {
        message: REGISTERED,
        id: user.id,
        user,
    }
}

/// The token fields of a login or refresh answer on the canonical routes.
#[derive(Serialize, JsonSchema)]
pub struct TokenFields {
    token: String,
    access_token: String,
    refresh_token: String,
    token_type: &'static str,
    expires_in: u64,
}

impl From<IssuedTokens> for TokenFields {
    fn from(tokens: IssuedTokens) -> Self {
        TokenFields {
            token: tokens.access_token.clone(),
            access_token: tokens.access_token,
            refresh_token: tokens.refresh_token,
            token_type: "Bearer",
            expires_in: tokens.expires_in,
        }
    }
}

/// The canonical answer to a login.
#[derive(Serialize, JsonSchema)]
pub struct SignedIn {
    #[serde(flatten)]
    tokens: TokenFields,
    message: &'static str,
    user: User,
}

pub const LOGGED_IN: &str = "Login successful";

pub fn signed_in(_: &Accounts<'_>, (user, tokens): (User, IssuedTokens)) -> SignedIn {
    SignedIn {
        tokens: tokens.into(),
        message: LOGGED_IN,
        user,
    }
}
