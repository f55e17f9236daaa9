//! The canonical HTTP API: one module per area, each exposing `routes()`.

pub mod accounts;
pub mod body;
pub mod health;
pub mod images;
pub mod input;
pub mod mail;
pub mod profile;
pub mod sessions;

use rocket::request::{FromRequest, Outcome};
use std::net::IpAddr;

use rocket::{Request, Route};

use crate::accounts::users::{Accounts, Services};
use crate::db::Db;
use crate::error::{park, ApiError};

pub fn routes() -> Vec<Route> {
    let mut routes = accounts::routes();
    routes.extend(profile::routes());
    routes.extend(images::api_routes());
    routes.extend(sessions::routes());
    routes.extend(mail::routes());
    routes.extend(health::routes());
    routes
}

/// Handlers receive the account operations ready to use.
#[rocket::async_trait]
impl<'r> FromRequest<'r> for Accounts<'r> {
    type Error = ApiError;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, ApiError> {
        let rocket = request.rocket();
        match (rocket.state::<Db>(), rocket.state::<Services>()) {
            (Some(db), Some(services)) => Outcome::Success(Accounts {
                pool: db.pool(),
                services,
            }),
            _ => Outcome::Error(park(
                request,
                ApiError::internal("account services not managed"),
            )),
        }
    }
}

/// The client's address: the peer of the connection (Rocket's `ip_header` is off by default, so
/// a client cannot claim another address).
pub fn client_ip(request: &Request<'_>) -> Option<IpAddr> {
    request.client_ip()
}

/// The client's address as a request guard.
pub struct ClientIp(pub Option<IpAddr>);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for ClientIp {
    type Error = std::convert::Infallible;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        Outcome::Success(ClientIp(client_ip(request)))
    }
}
