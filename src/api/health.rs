//! `GET /api/health`: liveness, with the database checked: `503 database_unavailable` when it
//! does not answer within the acquire timeout, whatever the reason; `503 draining` as soon as the
//! instance is stopping, so a load balancer sends it nothing new.

use rocket::data::Data;
use rocket::http::Status;
use schemars::JsonSchema;
use serde::Serialize;

use super::endpoint::{Anyone, Call, Done, Operation};
use crate::error::ApiError;
use crate::shutdown::is_draining;

#[derive(Clone)]
pub struct Health;

#[derive(Serialize, JsonSchema)]
pub struct Alive {
    status: &'static str,
    version: &'static str,
}

#[rocket::async_trait]
impl Operation for Health {
    type Caller = Anyone;
    type Output = Alive;
    const SUMMARY: &'static str = "Liveness";

    async fn run<'r>(&self, call: Call<'r, Anyone>, _: Data<'r>) -> Done<Alive> {
        if is_draining(&call.request.rocket().shutdown()) {
            return Err(ApiError::new(
                Status::ServiceUnavailable,
                "draining",
                "This instance is shutting down; send requests to another one",
            )
            .into());
        }
        call.accounts
            .store
            .ping()
            .await
            .map_err(|e| ApiError::database_unavailable(format_args!("health check: {e}")))?;
        Ok(Alive {
            status: "ok",
            version: env!("CARGO_PKG_VERSION"),
        })
    }
}
