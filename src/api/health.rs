//! `GET /api/health`: liveness, with the database checked.

use rocket::serde::json::{json, Json, Value};
use rocket::Route;

use crate::db::Db;
use crate::error::{ApiError, ApiResult};

pub fn routes() -> Vec<Route> {
    rocket::routes![health]
}

#[rocket::get("/api/health")]
async fn health(db: &Db) -> ApiResult<Json<Value>> {
    db.store().ping().await.map_err(|e| {
        ApiError::internal(format_args!("health check: {e}"))
            .with_status(rocket::http::Status::ServiceUnavailable)
    })?;
    Ok(Json(
        json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }),
    ))
}
