//! Reading a request body in bounded space and time. Rocket reads bodies as slowly as the client
//! sends them, so a client that stops halfway would hold its connection (and a file descriptor)
//! for ever; here every read must make progress within `body_idle_timeout` and the whole body
//! must arrive within `body_timeout`, or the request ends with `408`.

use std::time::Duration;

use rocket::data::{ByteUnit, Data};
use rocket::Request;
use tokio::io::AsyncReadExt;
use tokio::time::{timeout_at, Instant};

use crate::config::{Settings, DEFAULT_BODY_IDLE_TIMEOUT, DEFAULT_BODY_TIMEOUT};
use crate::error::{ApiError, ApiResult};

/// Spare room past the announced length, so the read that finds the end needs no reallocation.
const READ_SLACK: usize = 64;

/// How long a request's body may pause between two reads, and take in all.
pub struct BodyTimeouts {
    pub idle: Duration,
    pub total: Duration,
}

impl BodyTimeouts {
    pub fn of(request: &Request<'_>) -> BodyTimeouts {
        let (idle, total) = request
            .rocket()
            .state::<Settings>()
            .map_or((DEFAULT_BODY_IDLE_TIMEOUT, DEFAULT_BODY_TIMEOUT), |s| {
                (s.body_idle_timeout, s.body_timeout)
            });
        BodyTimeouts {
            idle: Duration::from_secs(idle),
            total: Duration::from_secs(total),
        }
    }
}

/// The body's bytes, at most `limit` of them (`413` beyond).
pub async fn read_body(
    request: &Request<'_>,
    data: Data<'_>,
    limit: ByteUnit,
) -> ApiResult<Vec<u8>> {
    let BodyTimeouts { idle, total } = BodyTimeouts::of(request);
    // A body that announces its length is read into a buffer of that size (never beyond the
    // limit): no growing and copying on the way.
    let announced = request
        .headers()
        .get_one("Content-Length")
        .and_then(|length| length.trim().parse::<u64>().ok())
        .unwrap_or(0)
        .min(limit.as_u64());
    let mut bytes = Vec::with_capacity(announced as usize + READ_SLACK);
    let mut stream = data.open(limit + 1);
    let deadline = Instant::now() + total;
    loop {
        let wait = (Instant::now() + idle).min(deadline);
        match timeout_at(wait, stream.read_buf(&mut bytes)).await {
            Err(_) => return Err(ApiError::request_timeout()),
            Ok(Err(e)) => {
                log::debug!("request body could not be read: {e}");
                return Err(ApiError::bad_request(
                    "invalid_body",
                    "The request body could not be read",
                ));
            }
            Ok(Ok(0)) => return Ok(bytes),
            Ok(Ok(_)) if bytes.len() as u64 > limit.as_u64() => {
                return Err(ApiError::payload_too_large())
            }
            Ok(Ok(_)) => {}
        }
    }
}
