//! Two-factor login on the canonical routes: enrolling an authenticator app, recovery codes,
//! turning it off, and the login's second step.

use rocket::data::Data;
use schemars::JsonSchema;
use serde::Serialize;

use super::body::JsonObject;
use super::endpoint::{Anyone, Call, Done, Operation, RequestDoc};
use super::input::{CodeBody, PasswordAndCodeBody, PasswordBody, SecondStepBody};
use crate::accounts::sessions::{IssuedTokens, Origin};
use crate::accounts::two_factor::{Enrolment, SecondStep, Status};
use crate::accounts::users::{Accounts, User};
use crate::auth::AuthUser;
use crate::limits::Action;

/// Whether the caller's account has two-factor login on, and how many recovery codes are left.
#[derive(Clone)]
pub struct ShowTwoFactor;

#[rocket::async_trait]
impl Operation for ShowTwoFactor {
    type Caller = AuthUser;
    type Output = Status;
    const SUMMARY: &'static str = "Two-factor login: on or off, recovery codes left";

    async fn run<'r>(&self, call: Call<'r, AuthUser>, _: Data<'r>) -> Done<Status> {
        Ok(call.accounts.two_factor_status(&call.caller.user).await?)
    }
}

/// Starts enrolling an authenticator app (password required): a new secret, its `otpauth://`
/// URI and a QR code of it. Nothing changes for logins until it is enabled with a code.
#[derive(Clone)]
pub struct SetUpTotp;

#[rocket::async_trait]
impl Operation for SetUpTotp {
    type Caller = AuthUser;
    type Output = Enrolment;
    const SUMMARY: &'static str = "Start enrolling an authenticator app";

    fn request(&self) -> RequestDoc {
        RequestDoc::json::<PasswordBody>()
    }

    async fn run<'r>(&self, call: Call<'r, AuthUser>, body: Data<'r>) -> Done<Enrolment> {
        let object = call.read::<JsonObject>(body).await?;
        let password = PasswordBody::read(&object).password.required()?;
        let caller = &call.caller;
        Ok(call
            .accounts
            .start_totp_enrolment(&caller.user, caller.session_id, password)
            .await?)
    }
}

/// Turns the enrolment on with a current code; answers the recovery codes, shown this once.
#[derive(Clone)]
pub struct EnableTotp;

#[rocket::async_trait]
impl Operation for EnableTotp {
    type Caller = AuthUser;
    type Output = Vec<String>;
    const SUMMARY: &'static str = "Turn two-factor login on with a current code";

    fn request(&self) -> RequestDoc {
        RequestDoc::json::<CodeBody>()
    }

    async fn run<'r>(&self, call: Call<'r, AuthUser>, body: Data<'r>) -> Done<Vec<String>> {
        let object = call.read::<JsonObject>(body).await?;
        let code = CodeBody::read(&object).code.required()?;
        Ok(call.accounts.enable_totp(&call.caller.user, code).await?)
    }
}

/// Turns two-factor login off: the password and a current code or a recovery code.
#[derive(Clone)]
pub struct DisableTotp;

#[rocket::async_trait]
impl Operation for DisableTotp {
    type Caller = AuthUser;
    type Output = ();
    const SUMMARY: &'static str = "Turn two-factor login off";

    fn request(&self) -> RequestDoc {
        RequestDoc::json::<PasswordAndCodeBody>()
    }

    async fn run<'r>(&self, call: Call<'r, AuthUser>, body: Data<'r>) -> Done<()> {
        let (password, code) = password_and_code(&call, body).await?;
        let caller = &call.caller;
        Ok(call
            .accounts
            .disable_totp(&caller.user, caller.session_id, &password, &code)
            .await?)
    }
}

pub const DISABLED: &str = "Two-factor login is off";

/// Replaces the recovery codes: the password and a current code (or an old recovery code).
#[derive(Clone)]
pub struct ReplaceRecoveryCodes;

#[rocket::async_trait]
impl Operation for ReplaceRecoveryCodes {
    type Caller = AuthUser;
    type Output = Vec<String>;
    const SUMMARY: &'static str = "New recovery codes in place of the old ones";

    fn request(&self) -> RequestDoc {
        RequestDoc::json::<PasswordAndCodeBody>()
    }

    async fn run<'r>(&self, call: Call<'r, AuthUser>, body: Data<'r>) -> Done<Vec<String>> {
        let (password, code) = password_and_code(&call, body).await?;
        let caller = &call.caller;
        Ok(call
            .accounts
            .replace_recovery_codes(&caller.user, caller.session_id, &password, &code)
            .await?)
    }
}

/// The current password and a code, which what undoes or renews a second factor takes.
async fn password_and_code<'r>(
    call: &Call<'r, AuthUser>,
    body: Data<'r>,
) -> Done<(String, String)> {
    let object = call.read::<JsonObject>(body).await?;
    let fields = PasswordAndCodeBody::read(&object);
    let password = fields.password.required()?.to_owned();
    Ok((password, fields.code.required()?.to_owned()))
}

/// The answer carrying new recovery codes.
#[derive(Serialize, JsonSchema)]
pub struct RecoveryCodes {
    message: &'static str,
    /// Single-use codes that stand in for the app; shown only now.
    recovery_codes: Vec<String>,
}

pub fn enabled(_: &Accounts<'_>, recovery_codes: Vec<String>) -> RecoveryCodes {
    RecoveryCodes {
        message: "Two-factor login is on: keep these recovery codes somewhere safe",
        recovery_codes,
    }
}

pub fn replaced(_: &Accounts<'_>, recovery_codes: Vec<String>) -> RecoveryCodes {
    RecoveryCodes {
        message: "New recovery codes: the old ones no longer work",
        recovery_codes,
    }
}

/// The login's second step: the password step's `mfa_token` and a code or a recovery code.
#[derive(Clone)]
pub struct LoginSecondStep;

#[rocket::async_trait]
impl Operation for LoginSecondStep {
    type Caller = Anyone;
    type Output = (User, IssuedTokens);
    const LIMIT: Option<Action> = Some(Action::SecondStep);
    const SUMMARY: &'static str = "Finish a login with a second-factor code";

    fn request(&self) -> RequestDoc {
        RequestDoc::json::<SecondStepBody>()
    }

    async fn run<'r>(&self, call: Call<'r, Anyone>, body: Data<'r>) -> Done<(User, IssuedTokens)> {
        let object = call.read::<JsonObject>(body).await?;
        let fields = SecondStepBody::read(&object);
        let (token, code) = (fields.mfa_token.required()?, fields.code.required()?);
        let user = call.accounts.finish_second_step(token, code).await?;
        let origin = Origin::of(call.request);
        let tokens = call.accounts.start_session(&user, &origin).await?;
        Ok((user, tokens))
    }
}

/// The canonical answer to a password step that needs a second one.
#[derive(Serialize, JsonSchema)]
pub struct SecondStepNeeded {
    mfa_required: bool,
    /// Single use, for `POST /api/login/2fa` only.
    mfa_token: String,
    /// Seconds the token stays valid.
    expires_in: u64,
    methods: [&'static str; 2],
    message: &'static str,
}

impl From<SecondStep> for SecondStepNeeded {
    fn from(step: SecondStep) -> Self {
        SecondStepNeeded {
            mfa_required: true,
            mfa_token: step.mfa_token,
            expires_in: step.expires_in,
            methods: ["totp", "recovery_code"],
            message: "Enter the code of your authenticator app",
        }
    }
}
