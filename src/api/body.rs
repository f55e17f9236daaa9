//! JSON request bodies. Every JSON route reads its body as a [`JsonObject`]: any content type is
//! accepted (bare `fetch` sends `text/plain`), the size is capped, syntax errors are
//! `400 "Invalid JSON"`, and typed accessors name the field that has the wrong type.
//!
//! Every field the API reads is a string, so the parser keeps strings only: numbers, arrays and
//! objects are skipped as they are read, without building them. Only an `image` field may be
//! large; everything else in a body shares the 64 KiB of a plain JSON body.

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;

use rocket::data::{ByteUnit, Data, FromData, Outcome};
use rocket::Request;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::read::read_body;
use crate::accounts::users::Patch;
use crate::config::{Settings, JSON_LIMIT};
use crate::error::{ApiError, ApiResult};

/// The one field that may carry a large value: a base64 picture.
const IMAGE_FIELD: &str = "image";

/// What is kept of one field's value.
#[derive(Debug)]
enum Field {
    Null,
    Text(String),
    /// A number, boolean, array or object: only its presence is kept.
    Other,
}

#[derive(Debug, Default)]
pub struct JsonObject(HashMap<String, Field>);

/// The body of routes where a body is optional (refresh, logout): nothing reads as `{}`.
#[derive(Debug, Default)]
pub struct OptionalJson(pub JsonObject);

/// The body of routes that may carry a base64 `image`: same rules, a larger cap for that field.
#[derive(Debug, Default)]
pub struct JsonWithImage(pub JsonObject);

/// Bodies larger than this are parsed on the blocking pool, not on the request workers.
const PARSE_INLINE_MAX: usize = JSON_LIMIT.as_u64() as usize;

static LARGE_PARSES: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);

async fn read_object(
    request: &Request<'_>,
    data: Data<'_>,
    image_limit: ByteUnit,
) -> ApiResult<JsonObject> {
    let read_limit = JSON_LIMIT + image_limit;
    let bytes = read_body(request, data, read_limit).await?;
    let image_limit = image_limit.as_u64() as usize;
    let parsed = if bytes.len() <= PARSE_INLINE_MAX {
        parse_object(&bytes, image_limit)
    } else {
        // One large parse at a time: a burst of multi-megabyte bodies then takes one core, and
        // the request workers keep the other to answer everyone else.
        let _turn = LARGE_PARSES.acquire().await.map_err(ApiError::internal)?;
        tokio::task::spawn_blocking(move || parse_object(&bytes, image_limit))
            .await
            .map_err(ApiError::internal)?
    };
    if parsed.is_err() {
        log::debug!("refused JSON body on {}", request.uri().path());
    }
    parsed
}

/// Parses a body into its string fields. Everything but `image` counts against 64 KiB, keys
/// included; `image` may take `image_limit` bytes.
fn parse_object(bytes: &[u8], image_limit: usize) -> ApiResult<JsonObject> {
    let too_large = Cell::new(false);
    let seed = ObjectSeed {
        image_limit,
        too_large: &too_large,
    };
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let parsed = seed
        .deserialize(&mut deserializer)
        .and_then(|object| deserializer.end().map(|()| object));
    match parsed {
        Ok(object) => Ok(object),
        Err(_) if too_large.get() => Err(ApiError::payload_too_large()),
        Err(e) if e.classify() == serde_json::error::Category::Data => Err(ApiError::bad_request(
            "invalid_json",
            "The request body must be a JSON object",
        )),
        Err(_) => Err(ApiError::invalid_json()),
    }
}

struct ObjectSeed<'a> {
    image_limit: usize,
    too_large: &'a Cell<bool>,
}

impl<'de> DeserializeSeed<'de> for ObjectSeed<'_> {
    type Value = JsonObject;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<JsonObject, D::Error> {
        deserializer.deserialize_map(self)
    }
}

/// What a map entry costs besides its key and text: the table's own bookkeeping.
const ENTRY_OVERHEAD: usize = 64;

impl<'de> Visitor<'de> for ObjectSeed<'_> {
    type Value = JsonObject;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonObject, A::Error> {
        let mut fields = HashMap::new();
        let mut left = PARSE_INLINE_MAX;
        while let Some(key) = map.next_key::<String>()? {
            let charge = key.len() + ENTRY_OVERHEAD;
            if charge > left {
                self.too_large.set(true);
                return Err(de::Error::custom("body too large"));
            }
            left -= charge;
            let max = if key == IMAGE_FIELD {
                self.image_limit.max(left)
            } else {
                left
            };
            let field = map.next_value_seed(FieldSeed {
                max,
                too_large: self.too_large,
            })?;
            if key != IMAGE_FIELD {
                if let Field::Text(text) = &field {
                    left -= text.len();
                }
            }
            fields.insert(key, field);
        }
        Ok(JsonObject(fields))
    }
}

/// One value: a string of at most `max` bytes is kept; anything else is skipped as it is read.
struct FieldSeed<'a> {
    max: usize,
    too_large: &'a Cell<bool>,
}

impl<'de> DeserializeSeed<'de> for FieldSeed<'_> {
    type Value = Field;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Field, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl FieldSeed<'_> {
    fn text<E: de::Error>(&self, text: &str) -> Result<Field, E> {
        if text.len() > self.max {
            self.too_large.set(true);
            return Err(E::custom("field too large"));
        }
        Ok(Field::Text(text.to_owned()))
    }
}

impl<'de> Visitor<'de> for FieldSeed<'_> {
    type Value = Field;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Field, E> {
        self.text(text)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Field, E> {
        Ok(Field::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Field, E> {
        Ok(Field::Null)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Field, E> {
        Ok(Field::Other)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Field, E> {
        Ok(Field::Other)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Field, E> {
        Ok(Field::Other)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Field, E> {
        Ok(Field::Other)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Field, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Field::Other)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Field, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Field::Other)
    }
}

fn outcome<'r, T>(result: ApiResult<T>) -> Outcome<'r, T, ApiError> {
    match result {
        Ok(value) => Outcome::Success(value),
        Err(e) => Outcome::Error((e.status, e)),
    }
}

#[rocket::async_trait]
impl<'r> FromData<'r> for JsonObject {
    type Error = ApiError;

    async fn from_data(request: &'r Request<'_>, data: Data<'r>) -> Outcome<'r, Self, ApiError> {
        outcome(read_object(request, data, ByteUnit::Byte(0)).await)
    }
}

#[rocket::async_trait]
impl<'r> FromData<'r> for JsonWithImage {
    type Error = ApiError;

    async fn from_data(request: &'r Request<'_>, data: Data<'r>) -> Outcome<'r, Self, ApiError> {
        let limit = request
            .rocket()
            .state::<Settings>()
            .map_or(ByteUnit::Byte(0), Settings::image_field_limit);
        outcome(read_object(request, data, limit).await.map(JsonWithImage))
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
            read_object(request, data, ByteUnit::Byte(0))
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
    pub fn text<'a>(&'a self, key: &'a str) -> ApiResult<Option<&'a str>> {
        self.field::<()>(key).text()
    }

    pub fn required_text<'a>(&'a self, key: &'a str) -> ApiResult<&'a str> {
        self.field::<()>(key).required()
    }

    fn field<'a, R>(&'a self, key: &'a str) -> Text<'a, R> {
        Text {
            key,
            value: self.0.get(key),
            rule: PhantomData,
        }
    }
}

/// One string field of a request body as a request type declares it: its name, what was sent,
/// and, in `R`, the rule that its JSON Schema states (see `api::rules`).
pub struct Text<'a, R> {
    key: &'a str,
    value: Option<&'a Field>,
    rule: PhantomData<R>,
}

impl<'a, R> Text<'a, R> {
    pub fn read(body: &'a JsonObject, key: &'a str) -> Self {
        body.field(key)
    }

    pub fn key(&self) -> &'a str {
        self.key
    }

    /// Absent and `null` read as `None`.
    pub fn text(&self) -> ApiResult<Option<&'a str>> {
        match self.value {
            None | Some(Field::Null) => Ok(None),
            Some(Field::Text(s)) => Ok(Some(s)),
            Some(Field::Other) => Err(ApiError::invalid_field(self.key, "must be a string")),
        }
    }

    /// A value that must be sent and not be empty.
    pub fn required(&self) -> ApiResult<&'a str> {
        match self.text()? {
            Some(s) if !s.is_empty() => Ok(s),
            _ => Err(ApiError::missing_field(self.key)),
        }
    }

    /// In a partial update: absent keeps, `null` clears, a string sets.
    pub fn patch(&self) -> ApiResult<Patch<&'a str>> {
        match self.value {
            None => Ok(Patch::Keep),
            Some(Field::Null) => Ok(Patch::Clear),
            Some(Field::Text(s)) => Ok(Patch::Set(s)),
            Some(Field::Other) => Err(ApiError::invalid_field(self.key, "must be a string")),
        }
    }
}

/// Only the schema's: a field the body does not hold.
impl<R> Default for Text<'_, R> {
    fn default() -> Self {
        Text {
            key: "",
            value: None,
            rule: PhantomData,
        }
    }
}

impl<R: JsonSchema> JsonSchema for Text<'_, R> {
    fn schema_name() -> Cow<'static, str> {
        R::schema_name()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        R::json_schema(generator)
    }
}

/// Declares a request body: a struct of [`Text`] fields read from the JSON object under their
/// own names, whose JSON Schema is derived from the same declaration. `required` fields must
/// be sent; `flatten` embeds another request body's fields.
macro_rules! request_body {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            required { $($required:ident: $required_rule:ty),* $(,)? }
            optional { $($optional:ident: $optional_rule:ty),* $(,)? }
            $(flatten { $($flattened:ident: $flattened_type:ident),* $(,)? })?
        }
    ) => {
        $(#[$meta])*
        #[derive(schemars::JsonSchema)]
        pub struct $name<'a> {
            $(pub $required: $crate::api::body::Text<'a, $required_rule>,)*
            $(#[serde(default)] pub $optional: $crate::api::body::Text<'a, $optional_rule>,)*
            $($(#[serde(flatten)] pub $flattened: $flattened_type<'a>,)*)?
        }

        impl<'a> $name<'a> {
            pub fn read(body: &'a $crate::api::body::JsonObject) -> Self {
                $name {
                    $($required: $crate::api::body::Text::read(body, stringify!($required)),)*
                    $($optional: $crate::api::body::Text::read(body, stringify!($optional)),)*
                    $($($flattened: $flattened_type::read(body),)*)?
                }
            }
        }
    };
}

pub(crate) use request_body;

#[cfg(test)]
mod tests {
    use super::*;

    const IMAGE_LIMIT: usize = 1 << 20;

    fn parse(body: &str) -> ApiResult<JsonObject> {
        parse_object(body.as_bytes(), IMAGE_LIMIT)
    }

    #[test]
    fn strings_are_kept_and_other_values_only_noted() {
        let body = parse(r#"{"a": "x", "b": null, "c": [1, {"d": 2}], "e": 3.5}"#).unwrap();
        assert_eq!(body.text("a").unwrap(), Some("x"));
        assert_eq!(body.text("b").unwrap(), None);
        assert_eq!(body.text("c").unwrap_err().code, "invalid_field");
        assert_eq!(body.text("e").unwrap_err().code, "invalid_field");
        assert_eq!(body.text("missing").unwrap(), None);
    }

    #[test]
    fn only_the_image_field_may_exceed_the_plain_body_limit() {
        let big = "A".repeat(PARSE_INLINE_MAX + 1);
        let with_image = parse(&format!(r#"{{"image": "{big}", "name": "n"}}"#)).unwrap();
        assert_eq!(
            with_image.text("image").unwrap().map(str::len),
            Some(big.len())
        );
        for field in ["name", "description", "anything"] {
            let refused = parse(&format!(r#"{{"{field}": "{big}"}}"#)).unwrap_err();
            assert_eq!(refused.code, "payload_too_large", "{field}");
        }
        // Many small fields add up the same way, keys included.
        let many: Vec<String> = (0..2000).map(|n| format!(r#""key{n}": "value""#)).collect();
        let refused = parse(&format!("{{{}}}", many.join(","))).unwrap_err();
        assert_eq!(refused.code, "payload_too_large");
        let image_over = "A".repeat(IMAGE_LIMIT + 1);
        let refused = parse(&format!(r#"{{"image": "{image_over}"}}"#)).unwrap_err();
        assert_eq!(refused.code, "payload_too_large");
    }

    #[test]
    fn bodies_that_are_not_objects_are_named_as_such() {
        assert_eq!(
            parse("[1, 2]").unwrap_err().message,
            "The request body must be a JSON object"
        );
        assert_eq!(parse("{\"a\": ").unwrap_err().code, "invalid_json");
        assert_eq!(parse("{} {}").unwrap_err().code, "invalid_json");
        assert_eq!(parse(&"[".repeat(10_000)).unwrap_err().code, "invalid_json");
    }
}
