//! The bundled web page, embedded in the binary (read from disk in debug builds).

use std::borrow::Cow;
use std::io::Cursor;
use std::path::PathBuf;

use rocket::http::uri::error::PathError;

use rocket::http::{ContentType, Header, Status};
use rocket::response::{self, Responder};
use rocket::{Request, Response, Route};
use rust_embed::RustEmbed;

use crate::api::endpoint::{Doc, Entry, Set};
use crate::api::images::IfNoneMatch;
use crate::error::ApiError;
use crate::headers::PAGE_CSP;

#[derive(RustEmbed)]
#[folder = "assets/"]
struct Assets;

/// The page, described in the OpenAPI document.
pub fn entries() -> Vec<Entry> {
    let mut set = Set::new("web");
    set.add_route(rocket::routes![index].remove(0), Doc::page("The web page"));
    set.entries()
}

/// The page's other files: not API operations, so left out of the document.
pub fn asset_routes() -> Vec<Route> {
    rocket::routes![asset]
}

pub struct Asset {
    body: Cow<'static, [u8]>,
    content_type: ContentType,
    etag: String,
    not_modified: bool,
}

fn load(path: &str, if_none_match: &IfNoneMatch) -> Option<Asset> {
    let file = Assets::get(path)?;
    let etag = format!(
        "\"{}\"",
        crate::hex::encode(&file.metadata.sha256_hash()[..12])
    );
    let extension = path.rsplit_once('.').map_or("", |(_, ext)| ext);
    Some(Asset {
        not_modified: if_none_match.matches(&etag),
        content_type: ContentType::from_extension(extension).unwrap_or(ContentType::Binary),
        body: file.data,
        etag,
    })
}

impl<'r> Responder<'r, 'static> for Asset {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        let mut response = Response::build();
        response
            .header(self.content_type)
            .header(Header::new("ETag", self.etag))
            // Revalidate every time: cheap with the ETag, and a new release shows at once.
            .header(Header::new("Cache-Control", "no-cache"))
            .header(Header::new("Content-Security-Policy", PAGE_CSP));
        if self.not_modified {
            response.status(Status::NotModified);
        } else {
            let body = self.body.into_owned();
            response.sized_body(body.len(), Cursor::new(body));
        }
        Ok(response.finalize())
    }
}

#[rocket::get("/")]
fn index(if_none_match: IfNoneMatch) -> Result<Asset, ApiError> {
    load("index.html", &if_none_match).ok_or_else(ApiError::not_found)
}

/// Ranked after every API route; anything that is not an embedded file goes to the catcher (a
/// JSON 404, or a 405 for a path that answers other methods).
#[rocket::get("/<path..>", rank = 20)]
fn asset(path: Result<PathBuf, PathError>, if_none_match: IfNoneMatch) -> Option<Asset> {
    // A path that is no file path (a `..` segment, say) names no file here either: a 404, not
    // the 422 Rocket would answer.
    load(path.ok()?.to_str()?, &if_none_match)
}
