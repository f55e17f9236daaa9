//! Uploading a profile picture (multipart) and serving the stored ones.

use std::io::Cursor;
use std::sync::Arc;

use rocket::data::{ByteUnit, Data, FromData, Outcome};
use rocket::form::{self, DataField, Form, FromForm, ValueField};
use rocket::http::{ContentType, Header, Status};
use rocket::request::{FromRequest, Outcome as RequestOutcome};
use rocket::response::{self, Responder};
use rocket::route;
use rocket::{Request, Response};
use schemars::{JsonSchema, SchemaGenerator};
use serde::Serialize;

use super::endpoint::{path_param, Answer, AnswerDoc, Anyone, Call, Done, Operation, RequestDoc};
use super::read::{read_body, BodyTimeouts};
use crate::accounts::users::{Accounts, User};
use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult};

/// Where [`Picture`] is served, as the stored pictures' addresses name it.
pub const SERVED_AT: &str = "/profile_images/";

/// The bytes of the first file part of a multipart body, whatever its field name: clients send
/// `file`, `image`, `profile_image` or `avatar`.
pub struct UploadedFile(pub Vec<u8>);

pub struct FirstFileContext {
    bytes: Option<Vec<u8>>,
    /// Why the body was refused: too large, or too slow.
    refused: Option<Status>,
}

#[rocket::async_trait]
impl<'r> FromForm<'r> for UploadedFile {
    type Context = FirstFileContext;

    fn init(_: form::Options) -> Self::Context {
        FirstFileContext {
            bytes: None,
            refused: None,
        }
    }

    fn push_value(_: &mut Self::Context, _: ValueField<'r>) {}

    async fn push_data(ctxt: &mut Self::Context, field: DataField<'r, '_>) {
        if ctxt.bytes.is_some() || ctxt.refused.is_some() {
            return;
        }
        let limit = field
            .request
            .limits()
            .get("file")
            .unwrap_or(ByteUnit::Mebibyte(10));
        match read_body(field.request, field.data, limit).await {
            Ok(bytes) => ctxt.bytes = Some(bytes),
            // A broken stream is the parser's to report (through `push_error`).
            Err(e) if e.status == Status::BadRequest => log::debug!("upload stream failed: {e}"),
            Err(e) => {
                ctxt.refused = Some(e.status);
                // The multipart parser would go on waiting for the parts after this one.
                let refusal = field.request.local_cache(UploadRefused::default);
                *refusal.error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                refusal.signal.notify_one();
            }
        }
    }

    /// Parse errors of the multipart stream arrive here. Rocket reports the body's size limit
    /// and a body cut short alike, as a length error (a 413 by its status); `from_data` tells
    /// them apart by the announced length.
    fn push_error(ctxt: &mut Self::Context, error: form::Error<'r>) {
        if error.status() == Status::PayloadTooLarge {
            ctxt.refused = Some(Status::PayloadTooLarge);
        }
    }

    fn finalize(ctxt: Self::Context) -> form::Result<'r, Self> {
        if let Some(status) = ctxt.refused {
            let cause = std::io::Error::other("upload refused");
            // A custom error keeps its status (413 or 408) through the form's outcome.
            return Err(
                form::Error::from(form::error::ErrorKind::Custom(status, Box::new(cause))).into(),
            );
        }
        ctxt.bytes
            .map(UploadedFile)
            .ok_or_else(|| form::Errors::from(form::error::ErrorKind::Missing))
    }
}

/// Set when the file part is refused while it is read, so the upload ends at once.
#[derive(Default)]
struct UploadRefused {
    signal: tokio::sync::Notify,
    error: std::sync::Mutex<Option<ApiError>>,
}

fn refuse<'r>(error: ApiError) -> Outcome<'r, UploadedFile, ApiError> {
    Outcome::Error((error.status, error))
}

fn not_multipart() -> ApiError {
    ApiError::bad_request(
        "missing_file",
        "Send the image as multipart/form-data with one file part",
    )
}

#[rocket::async_trait]
impl<'r> FromData<'r> for UploadedFile {
    type Error = ApiError;

    async fn from_data(request: &'r Request<'_>, data: Data<'r>) -> Outcome<'r, Self, ApiError> {
        if request.content_type().is_none_or(|ct| !ct.is_form_data()) {
            return refuse(not_multipart());
        }
        let limit = request
            .limits()
            .get("data-form")
            .unwrap_or(ByteUnit::Mebibyte(10));
        let announced = request
            .headers()
            .get_one("Content-Length")
            .and_then(|length| length.trim().parse::<u64>().ok());
        if announced.is_some_and(|length| length > limit.as_u64()) {
            return refuse(ApiError::payload_too_large());
        }
        // Each read of the file part is bounded in time by `read_body`, which also ends the
        // parse when it refuses the part; the parts around it are read by the multipart parser,
        // so the whole body gets the overall bound here.
        let total = BodyTimeouts::of(request).total;
        let refusal = request.local_cache(UploadRefused::default);
        let error = tokio::select! {
            biased;
            () = refusal.signal.notified() => refusal
                .error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take()
                .unwrap_or_else(not_multipart),
            parsed = Form::<UploadedFile>::from_data(request, data) => match parsed {
                Outcome::Success(form) => return Outcome::Success(form.into_inner()),
                // Within its announced length, a body the parser finds too long or cut short is
                // malformed; without one, it ran past the limit.
                Outcome::Error((status, _))
                    if status == Status::PayloadTooLarge && announced.is_none() =>
                {
                    ApiError::payload_too_large()
                }
                Outcome::Error((status, _)) if status == Status::RequestTimeout => {
                    ApiError::request_timeout()
                }
                Outcome::Error(_) | Outcome::Forward(_) => not_multipart(),
            },
            () = tokio::time::sleep(total) => ApiError::request_timeout(),
        };
        refuse(error)
    }
}

/// Stores an uploaded picture as the caller's.
#[derive(Clone)]
pub struct Upload;

#[rocket::async_trait]
impl Operation for Upload {
    type Caller = AuthUser;
    type Output = User;
    const SUMMARY: &'static str = "Upload a profile image";

    fn request(&self) -> RequestDoc {
        RequestDoc::Multipart
    }

    async fn run<'r>(&self, call: Call<'r, AuthUser>, body: Data<'r>) -> Done<User> {
        let file = call.read::<UploadedFile>(body).await?;
        Ok(call
            .accounts
            .set_uploaded_picture(call.caller.user.id, file.0)
            .await?)
    }
}

/// The canonical answer to an upload.
#[derive(Serialize, JsonSchema)]
pub struct Uploaded {
    message: &'static str,
    profile_image: String,
    image_url: String,
    filename: Option<String>,
}

pub fn uploaded(_: &Accounts<'_>, user: User) -> Uploaded {
    let url = user.profile_image.unwrap_or_default();
    Uploaded {
        message: "Profile image uploaded",
        profile_image: url.clone(),
        image_url: url,
        filename: user.image_file,
    }
}

/// A stored JPEG as served: immutable names get long caching, everything gets an ETag.
pub struct StoredImage {
    /// `None` for a `304 Not Modified`.
    bytes: Option<Arc<[u8]>>,
    etag: String,
    cache_control: &'static str,
}

/// The `If-None-Match` header of a request, read once for the image responses.
pub struct IfNoneMatch(Option<String>);

impl IfNoneMatch {
    pub fn of(request: &Request<'_>) -> IfNoneMatch {
        IfNoneMatch(
            request
                .headers()
                .get_one("If-None-Match")
                .map(str::to_owned),
        )
    }

    pub fn matches(&self, etag: &str) -> bool {
        self.0.as_deref().is_some_and(|header| {
            header
                .split(',')
                .any(|tag| tag.trim() == etag || tag.trim() == "*")
        })
    }
}

impl StoredImage {
    /// Loads the current picture `name` for serving; a name no user points at is a 404.
    pub async fn load(
        accounts: &Accounts<'_>,
        name: &str,
        cache_control: &'static str,
        if_none_match: &IfNoneMatch,
    ) -> ApiResult<StoredImage> {
        let images = &accounts.services.images;
        let etag = format!("\"{}\"", name.trim_end_matches(".jpg"));
        let bytes = if if_none_match.matches(&etag) {
            if !images.is_current(accounts.store, name).await? {
                return Err(ApiError::not_found());
            }
            None
        } else {
            let bytes = images.current(accounts.store, name).await?;
            Some(bytes.ok_or_else(ApiError::not_found)?)
        };
        Ok(StoredImage {
            bytes,
            etag,
            cache_control,
        })
    }
}

impl<'r> Responder<'r, 'static> for StoredImage {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        let mut response = Response::build();
        response
            .header(ContentType::JPEG)
            .header(Header::new("ETag", self.etag))
            .header(Header::new("Cache-Control", self.cache_control));
        match self.bytes {
            Some(bytes) => response.sized_body(bytes.len(), Cursor::new(bytes)),
            None => response.status(Status::NotModified),
        };
        Ok(response.finalize())
    }
}

/// A stored picture by its name. A name is served only if it is a current user's picture: a
/// replaced or deleted picture, or any other name, is a 404 and never reaches the file system.
#[derive(Clone)]
pub struct Picture;

#[rocket::async_trait]
impl Operation for Picture {
    type Caller = Anyone;
    type Output = StoredImage;
    const SUMMARY: &'static str = "A stored profile image";

    async fn run<'r>(&self, call: Call<'r, Anyone>, _: Data<'r>) -> Done<StoredImage> {
        // A name is never reused for other bytes, so a copy may be kept for as long as it is kept.
        Ok(StoredImage::load(
            &call.accounts,
            path_param(call.request, "filename")?,
            "public, max-age=31536000, immutable",
            &IfNoneMatch::of(call.request),
        )
        .await?)
    }
}

/// A user's current picture under a stable address, `<id>.jpg`; revalidated through the ETag.
#[derive(Clone)]
pub struct PictureOfUser;

#[rocket::async_trait]
impl Operation for PictureOfUser {
    type Caller = Anyone;
    type Output = StoredImage;
    const SUMMARY: &'static str = "A user's current picture";

    async fn run<'r>(&self, call: Call<'r, Anyone>, _: Data<'r>) -> Done<StoredImage> {
        let id: i64 = path_param(call.request, "file")?
            .strip_suffix(".jpg")
            .and_then(|id| id.parse().ok())
            .ok_or_else(ApiError::not_found)?;
        let user = call
            .accounts
            .find(id)
            .await?
            .ok_or_else(ApiError::not_found)?;
        let name = user.image_file.ok_or_else(ApiError::not_found)?;
        Ok(StoredImage::load(
            &call.accounts,
            &name,
            "no-cache",
            &IfNoneMatch::of(call.request),
        )
        .await?)
    }
}

/// The page's files answer `304` through the same header.
#[rocket::async_trait]
impl<'r> FromRequest<'r> for IfNoneMatch {
    type Error = std::convert::Infallible;

    async fn from_request(request: &'r Request<'_>) -> RequestOutcome<Self, Self::Error> {
        RequestOutcome::Success(IfNoneMatch::of(request))
    }
}

impl Answer for StoredImage {
    fn respond<'r>(self, request: &'r Request<'_>, _: Status) -> route::Outcome<'r> {
        route::Outcome::from(request, self)
    }

    fn document(_: &mut SchemaGenerator) -> AnswerDoc {
        AnswerDoc::Jpeg
    }
}
