//! The caller's profile: reading and updating it, changing the password, deleting the account.

use rocket::data::Data;
use schemars::JsonSchema;
use serde::Serialize;

use super::body::{JsonObject, JsonWithImage};
use super::endpoint::{Call, Done, Operation, RequestDoc};
use super::input::{self, PasswordBody, PasswordChangeBody, ProfileBody};
use crate::accounts::users::{Accounts, User};
use crate::auth::AuthUser;

#[derive(Clone)]
pub struct ShowProfile;

#[rocket::async_trait]
impl Operation for ShowProfile {
    type Caller = AuthUser;
    type Output = User;
    const SUMMARY: &'static str = "The caller's profile";

    async fn run<'r>(&self, call: Call<'r, AuthUser>, _: Data<'r>) -> Done<User> {
        Ok(call.caller.user)
    }
}

#[derive(Clone)]
pub struct UpdateProfile;

#[rocket::async_trait]
impl Operation for UpdateProfile {
    type Caller = AuthUser;
    type Output = User;
    const SUMMARY: &'static str = "Update the profile; null clears a field";

    fn request(&self) -> RequestDoc {
        RequestDoc::json::<ProfileBody>()
    }

    async fn run<'r>(&self, call: Call<'r, AuthUser>, body: Data<'r>) -> Done<User> {
        let object = call.read::<JsonWithImage>(body).await?.0;
        let patch = input::profile_patch(&ProfileBody::read(&object))?;
        Ok(call
            .accounts
            .update_profile(call.caller.user.id, patch)
            .await?)
    }
}

/// Deleting the account needs the password, so a stolen token alone cannot do it.
#[derive(Clone)]
pub struct DeleteAccount;

#[rocket::async_trait]
impl Operation for DeleteAccount {
    type Caller = AuthUser;
    type Output = ();
    const SUMMARY: &'static str = "Delete the account";

    fn request(&self) -> RequestDoc {
        RequestDoc::json::<PasswordBody>()
    }

    async fn run<'r>(&self, call: Call<'r, AuthUser>, body: Data<'r>) -> Done<()> {
        let object = call.read::<JsonObject>(body).await?;
        let password = PasswordBody::read(&object).password.required()?;
        Ok(call
            .accounts
            .delete_account(&call.caller.user, call.caller.session_id, password)
            .await?)
    }
}

#[derive(Clone)]
pub struct ChangePassword;

#[rocket::async_trait]
impl Operation for ChangePassword {
    type Caller = AuthUser;
    type Output = ();
    const SUMMARY: &'static str = "Change the password";

    fn request(&self) -> RequestDoc {
        RequestDoc::json::<PasswordChangeBody>()
    }

    async fn run<'r>(&self, call: Call<'r, AuthUser>, body: Data<'r>) -> Done<()> {
        let object = call.read::<JsonObject>(body).await?;
        let change = PasswordChangeBody::read(&object);
        let old = change.old_password.required()?;
        let new = change.new_password.required()?;
        Ok(call
            .accounts
            .change_password(&call.caller.user, call.caller.session_id, old, new)
            .await?)
    }
}

pub const PASSWORD_CHANGED: &str = "Password changed successfully";

/// The canonical answer to an update.
#[derive(Serialize, JsonSchema)]
pub struct Updated {
    message: &'static str,
    user: User,
}

pub fn updated(_: &Accounts<'_>, user: User) -> Updated {
    Updated {
        message: "Profile updated",
        user,
    }
}
