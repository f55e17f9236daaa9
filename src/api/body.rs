//! JSON request bodies. Every JSON route reads its body as a [`JsonObject`]: any content type is
//! accepted (bare `fetch` sends `text/plain`), the size is capped, syntax errors are
//! `400 "Invalid JSON"`, and typed accessors name the field that has the wrong type.

use rocket::data::{ByteUnit, Data, FromData, Outcome};
use rocket::Request;
use serde_json::{Map, Value};

use crate::accounts::users::Patch;
use crate::config::{Settings, JSON_LIMIT};
use crate::error::{park, ApiError, ApiResult};

#[derive(Debug, Default)]
pub struct JsonObject(Map<String, Value>);

/// The body of routes where a body is optional (refresh, logout): nothing reads as `{}`.
#[derive(Debug, Default)]
pub struct OptionalJson(pub JsonObject);

/// The body of routes that may carry a base64 `image`: same rules, a larger cap.
#[derive(Debug, Default)]
pub struct JsonWithImage(pub JsonObject);

async fn read_object(
    request: &Request<'_>,
    data: Data<'_>,
    limit: ByteUnit,
) -> ApiResult<JsonObject> {
    let bytes = data
        .open(limit)
        .into_bytes()
        .await
        .map_err(|_| ApiError::invalid_json())?;
    if !bytes.is_complete() {
        return Err(ApiError::payload_too_large());
    }
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(JsonObject(map)),
        Ok(_) => Err(ApiError::bad_request(
            "invalid_json",
            "The request body must be a JSON object",
        )),
        Err(_) => {
            log::debug!("unparseable JSON body on {}", request.uri().path());
            Err(ApiError::invalid_json())
        }
    }
}

fn outcome<'r, T>(request: &'r Request<'_>, result: ApiResult<T>) -> Outcome<'r, T, ApiError> {
    match result {
        Ok(value) => Outcome::Success(value),
        Err(e) => Outcome::Error(park(request, e)),
    }
}

#[rocket::async_trait]
impl<'r> FromData<'r> for JsonObject {
    type Error = ApiError;

    async fn from_data(request: &'r Request<'_>, data: Data<'r>) -> Outcome<'r, Self, ApiError> {
        outcome(request, read_object(request, data, JSON_LIMIT).await)
    }
}

#[rocket::async_trait]
impl<'r> FromData<'r> for JsonWithImage {
    type Error = ApiError;

    async fn from_data(request: &'r Request<'_>, data: Data<'r>) -> Outcome<'r, Self, ApiError> {
        let limit = request
            .rocket()
            .state::<Settings>()
            .map_or(JSON_LIMIT, Settings::image_json_limit);
        outcome(
            request,
            read_object(request, data, limit).await.map(JsonWithImage),
        )
    }
}

#[rocket::async_trait]
impl<'r> FromData<'r> for OptionalJson {
    type Error = ApiError;

    async fn from_data(request: &'r Request<'_>, data: Data<'r>) -> Outcome<'r, Self, ApiError> {
        let mut data = data;
        if data.peek(1).await.is_empty() {
            return Outcome::Success(OptionalJson::default());
        }
        outcome(
            request,
            read_object(request, data, JSON_LIMIT)
                .await
                .map(OptionalJson),
        )
    }
}

impl JsonObject {
    pub fn contains(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    /// A string field; absent and `null` read as `None`.
    pub fn text(&self, key: &str) -> ApiResult<Option<&str>> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(ApiError::invalid_field(key, "must be a string")),
        }
    }

    pub fn required_text(&self, key: &str) -> ApiResult<&str> {
        match self.text(key)? {
            Some(s) if !s.is_empty() => Ok(s),
            _ => Err(ApiError::missing_field(key)),
        }
    }

    /// The first of several spellings of a field that is present (`first_name`/`firstname`).
    pub fn text_of(&self, keys: &[&str]) -> ApiResult<Option<&str>> {
        for key in keys {
            if let Some(value) = self.text(key)? {
                return Ok(Some(value));
            }
        }
        Ok(None)
    }

    /// A string field in a partial update: absent keeps, `null` clears, a string sets.
    pub fn patch_text(&self, keys: &[&str]) -> ApiResult<Patch<&str>> {
        for key in keys {
            match self.0.get(*key) {
                None => continue,
                Some(Value::Null) => return Ok(Patch::Clear),
                Some(Value::String(s)) => return Ok(Patch::Set(s)),
                Some(_) => return Err(ApiError::invalid_field(key, "must be a string")),
            }
        }
        Ok(Patch::Keep)
    }
}
