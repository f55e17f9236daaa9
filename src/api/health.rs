//! `GET /api/health`: liveness, with the database checked: `503 database_unavailable` when it
//! does not answer within the acquire timeout, whatever the reason.

use rocket::serde::json::{json, Json, Value};
use rocket::Route;

use crate::db::Db;
use crate::error::{ApiError, ApiResult};

pub fn routes() -> Vec<Route> {
    rocket::routes![health]
}

#[rocket::get("/api/health")]
async fn health(db: &Db) -> ApiResult<Json<Value>> {
    db.store()
        .ping()
        .await
        .map_err(|e| ApiError::database_unavailable(format_args!("health check: {e}")))?;
    Ok(Json(
        json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }),
    ))
}
