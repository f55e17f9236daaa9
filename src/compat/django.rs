//! The `django` set: REST-framework style, trailing slashes, `Token`/`Bearer` header, user fields
//! at the top level.
//!
//! Rocket ignores a trailing slash when matching, so `/api/register/` and the canonical
//! `/api/register` reach the same route path. This set's rows of those paths rank first and take
//! the request only when its path ends in a slash; otherwise it goes on to the canonical routes.

use rocket::http::Method::{Get, Post, Put};

use crate::api::accounts::{registered, signed_in, PasswordOnlyLogin, Register};
use crate::api::endpoint::{as_is, at, say, Entry, Set};
use crate::api::profile::{ChangePassword, ShowProfile, UpdateProfile, PASSWORD_CHANGED};
use crate::api::sessions::{Logout, LOGGED_OUT};

/// This set's register requires all three fields.
const REGISTER: Register = Register {
    required: &["username", "password", "email"],
    with_image: true,
};

#[rustfmt::skip]
pub fn routes() -> Vec<Entry> {
    let mut set = Set::new("django");
    set.add(at(Post, "/api/register",        "register",        REGISTER,       registered).trailing_slash().rank(1));
    set.add(at(Post, "/api/login",           "login",           PasswordOnlyLogin, signed_in).trailing_slash().rank(1));
    set.add(at(Get,  "/api/profile",         "profile",         ShowProfile,    as_is).written_with_slash());
    set.add(at(Put,  "/api/profile",         "update_profile",  UpdateProfile,  as_is).written_with_slash());
    set.add(at(Put,  "/api/change_password", "change_password", ChangePassword, say(PASSWORD_CHANGED)).written_with_slash());
    set.add(at(Post, "/api/logout",          "logout",          Logout,         say(LOGGED_OUT)).trailing_slash().rank(1));
    set.entries()
}
