//! `GET /api/health`: liveness, with the database checked: `503 database_unavailable` when it
//! does not answer within the acquire timeout, whatever the reason; `503 draining` as soon as the
//! instance is stopping, so a load balancer sends it nothing new.

use rocket::http::Status;
use rocket::serde::json::{json, Json, Value};
use rocket::{Route, Shutdown};

use crate::db::Db;
use crate::error::{ApiError, ApiResult};
use crate::shutdown::is_draining;

pub fn routes() -> Vec<Route> {
    rocket::routes![health]
}

#[rocket::get("/api/health")]
async fn health(db: &Db, shutdown: Shutdown) -> ApiResult<Json<Value>> {
    if is_draining(&shutdown) {
        return Err(ApiError::new(
            Status::ServiceUnavailable,
            "draining",
            "This instance is shutting down; send requests to another one",
        ));
    }
    db.store()
        .ping()
        .await
        .map_err(|e| ApiError::database_unavailable(format_args!("health check: {e}")))?;
    Ok(Json(
        json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }),
    ))
}
