//! The `fastapi` set (`/me`), which also serves clients of the plain Flask + MySQL tutorial
//! through `/register` and `/login`. Pictures are addressed as `/static/profile/<id>.jpg`.

use rocket::http::Method::{Get, Post, Put};
use schemars::JsonSchema;
use serde::Serialize;

use crate::accounts::sessions::IssuedTokens;
use crate::accounts::users::{Accounts, User};
use crate::api::accounts::{PasswordOnlyLogin, Register, REGISTERED};
use crate::api::endpoint::{as_is, at, Entry, Set};
use crate::api::images::{PictureOfUser, Upload};
use crate::api::profile::{ShowProfile, UpdateProfile};

#[rustfmt::skip]
pub fn routes() -> Vec<Entry> {
    let mut set = Set::new("fastapi");
    set.add(at(Post, "/register",              "register",     Register::CANONICAL, registered));
    set.add(at(Post, "/login",                 "login",        PasswordOnlyLogin,   signed_in));
    set.add(at(Get,  "/me",                    "me",           ShowProfile,         me));
    set.add(at(Put,  "/me",                    "update_me",    UpdateProfile,       updated));
    set.add(at(Post, "/me/upload-image",       "upload_image", Upload,              uploaded));
    set.add(at(Get,  "/static/profile/<file>", "static_image", PictureOfUser,       as_is));
    set.entries()
}

fn static_url(accounts: &Accounts<'_>, user_id: i64) -> String {
    format!(
        "{}/static/profile/{user_id}.jpg",
        accounts.services.public_url
    )
}

/// The user object with `image_url` pointing at this set's picture address.
fn me(accounts: &Accounts<'_>, user: User) -> User {
    let image_url = match (&user.image_file, &user.profile_image) {
        (Some(_), _) => Some(static_url(accounts, user.id)),
        (None, external) => external.clone(),
    };
    User { image_url, ..user }
}

#[derive(Serialize, JsonSchema)]
#[schemars(rename = "FastapiRegistered")]
struct Registered {
    id: i64,
    message: &'static str,
    user: User,
}

fn registered(accounts: &Accounts<'_>, user: User) -> Registered {
    Registered {
        id: user.id,
        message: REGISTERED,
        user: me(accounts, user),
    }
}

#[derive(Serialize, JsonSchema)]
#[schemars(rename = "FastapiSignedIn")]
struct SignedIn {
    access_token: String,
    token_type: &'static str,
    refresh_token: String,
    expires_in: u64,
}

fn signed_in(_: &Accounts<'_>, (_, tokens): (User, IssuedTokens)) -> SignedIn {
    SignedIn {
        access_token: tokens.access_token,
        token_type: "bearer",
        refresh_token: tokens.refresh_token,
        expires_in: tokens.expires_in,
    }
}

#[derive(Serialize, JsonSchema)]
#[schemars(rename = "FastapiUpdated")]
struct Updated {
    message: &'static str,
    user: User,
}

fn updated(accounts: &Accounts<'_>, user: User) -> Updated {
    Updated {
        message: "Profile updated",
        user: me(accounts, user),
    }
}

#[derive(Serialize, JsonSchema)]
#[schemars(rename = "FastapiUploaded")]
struct Uploaded {
    message: &'static str,
    image_url: String,
}

fn uploaded(accounts: &Accounts<'_>, user: User) -> Uploaded {
    Uploaded {
        message: "Upload successful",
        image_url: static_url(accounts, user.id),
    }
}
