//! Registering and logging in, and the canonical answers to them.

use rocket::data::Data;
use rocket::http::Status;
use schemars::JsonSchema;
use serde::Serialize;

use super::body::{JsonObject, JsonWithImage};
use super::endpoint::{Anyone, Call, Done, Operation, RequestDoc};
use super::input::{self, LoginBody, RegisterBody};
use super::two_factor::SecondStepNeeded;
use crate::accounts::credentials::PasswordProven;
use crate::accounts::sessions::{IssuedTokens, Origin};
use crate::accounts::two_factor::SecondStep;
use crate::accounts::users::{Accounts, User};
use crate::domain_error::DomainError;
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
        self.register(&call, body).await
    }
}

impl Register {
    async fn register<'r>(&self, call: &Call<'r, Anyone>, body: Data<'r>) -> Done<User> {
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

/// The canonical registration, which signs the new user in: its answer carries a login's
/// tokens too. The session needs no second look at the password, so it is hashed once.
#[derive(Clone)]
pub struct SignUp;

#[rocket::async_trait]
impl Operation for SignUp {
    type Caller = Anyone;
    type Output = (User, IssuedTokens);
    const LIMIT: Option<Action> = Register::LIMIT;
    const STATUS: Status = Register::STATUS;
    const SUMMARY: &'static str = "Register and sign in";

    fn request(&self) -> RequestDoc {
        Register::CANONICAL.request()
    }

    async fn run<'r>(&self, call: Call<'r, Anyone>, body: Data<'r>) -> Done<(User, IssuedTokens)> {
        let user = Register::CANONICAL.register(&call, body).await?;
        let tokens = signed_in_session(&call, &user).await?;
        Ok((user, tokens))
    }
}

/// Checks a login's password; starts a session, or asks for the second step when the account
/// has two-factor login on.
#[derive(Clone)]
pub struct Login;

/// What a canonical login ends in.
pub enum LoginOutcome {
    SignedIn(Box<User>, IssuedTokens),
    SecondStep(SecondStep),
}

#[rocket::async_trait]
impl Operation for Login {
    type Caller = Anyone;
    type Output = LoginOutcome;
    const LIMIT: Option<Action> = Some(Action::Login);
    const SUMMARY: &'static str = "Log in";

    fn request(&self) -> RequestDoc {
        RequestDoc::json::<LoginBody>().naming(true)
    }

    async fn run<'r>(&self, call: Call<'r, Anyone>, body: Data<'r>) -> Done<LoginOutcome> {
        let proven = password_step(&call, body).await?;
        if proven.second_step {
            let step = call.accounts.begin_second_step(&proven.user).await?;
            return Ok(LoginOutcome::SecondStep(step));
        }
        let tokens = signed_in_session(&call, &proven.user).await?;
        Ok(LoginOutcome::SignedIn(Box::new(proven.user), tokens))
    }
}

/// A login for the compatible route sets, whose clients cannot show a second step: an account
/// with two-factor login on is refused (`401 mfa_required`).
#[derive(Clone)]
pub struct PasswordOnlyLogin;

#[rocket::async_trait]
impl Operation for PasswordOnlyLogin {
    type Caller = Anyone;
    type Output = (User, IssuedTokens);
    const LIMIT: Option<Action> = Some(Action::Login);
    const SUMMARY: &'static str = "Log in (accounts without two-factor login)";

    fn request(&self) -> RequestDoc {
        RequestDoc::json::<LoginBody>().naming(true)
    }

    async fn run<'r>(&self, call: Call<'r, Anyone>, body: Data<'r>) -> Done<(User, IssuedTokens)> {
        let proven = password_step(&call, body).await?;
        if proven.second_step {
            return Err(DomainError::SecondFactorRequired.into());
        }
        let tokens = signed_in_session(&call, &proven.user).await?;
        Ok((proven.user, tokens))
    }
}

async fn password_step<'r>(call: &Call<'r, Anyone>, body: Data<'r>) -> Done<PasswordProven> {
    let object = call.read::<JsonObject>(body).await?;
    let (name, password) = input::login(&LoginBody::read(&object))?;
    Ok(call.accounts.login(&name, &password).await?)
}

async fn signed_in_session(call: &Call<'_, Anyone>, user: &User) -> Done<IssuedTokens> {
    let origin = Origin::of(call.request);
    Ok(call.accounts.start_session(user, &origin).await?)
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

/// The canonical answer to a registration: the registration's and a login's fields.
#[derive(Serialize, JsonSchema)]
pub struct SignedUp {
    #[serde(flatten)]
    registered: Registered,
    #[serde(flatten)]
    tokens: TokenFields,
}

pub fn signed_up(accounts: &Accounts<'_>, (user, tokens): (User, IssuedTokens)) -> SignedUp {
    SignedUp {
        registered: registered(accounts, user),
        tokens: tokens.into(),
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

/// The canonical answer to a login: the tokens, or the second step's token.
#[derive(Serialize, JsonSchema)]
#[serde(untagged)]
pub enum LoginAnswer {
    SignedIn(Box<SignedIn>),
    SecondStep(SecondStepNeeded),
}

pub fn login_answer(accounts: &Accounts<'_>, outcome: LoginOutcome) -> LoginAnswer {
    match outcome {
        LoginOutcome::SignedIn(user, tokens) => {
            LoginAnswer::SignedIn(Box::new(signed_in(accounts, (*user, tokens))))
        }
        LoginOutcome::SecondStep(step) => LoginAnswer::SecondStep(step.into()),
    }
}
