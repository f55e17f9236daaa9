//! `GET /api/openapi.json`: the OpenAPI 3.0 description of every mounted route. Paths and methods
//! come from Rocket's own route table, so a route cannot be served without being described; each
//! operation's shapes come from its [`Doc`], whose schemas are derived (by `schemars`) from the
//! request and answer types the handlers use, with the configured limits filled in.

use rocket::data::Data;
use std::collections::HashMap;
use std::sync::OnceLock;

use rocket::Route;
use schemars::generate::{Contract, SchemaSettings};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{json, Value};

use crate::api::endpoint::{
    AnswerDoc, Anyone, Bearer, Call, Doc, Done, Entry, Operation, RequestDoc,
};
use crate::api::rules::CONFIGURED_MIN_PASSWORD;
use crate::config::Settings;
use crate::error::{ApiError, ErrorBody};

/// Routes that are not API operations: the page's static files, CORS preflights and the
/// operator's metrics.
pub const UNDESCRIBED: [&str; 3] = ["web.asset", "cors.preflight", "metrics.scrape"];

/// The document entries of the mounted routes, by route name, and the document once made: the
/// routes and settings it is made from do not change while the instance runs.
pub struct Catalogue {
    docs: HashMap<String, Doc>,
    document: OnceLock<Value>,
}

/// The routes to mount, and the catalogue that describes them.
pub fn catalogue(entries: Vec<Entry>) -> (Vec<Route>, Catalogue) {
    let mut docs = HashMap::new();
    let routes = entries
        .into_iter()
        .map(|entry| {
            let name = entry.route.name.as_deref().unwrap_or_default().to_string();
            docs.insert(name, entry.doc);
            entry.route
        })
        .collect();
    let catalogue = Catalogue {
        docs,
        document: OnceLock::new(),
    };
    (routes, catalogue)
}

/// This document, as an operation.
#[derive(Clone)]
pub struct Describe;

#[rocket::async_trait]
impl Operation for Describe {
    type Caller = Anyone;
    type Output = Document;
    const SUMMARY: &'static str = "This document";

    async fn run<'r>(&self, call: Call<'r, Anyone>, _: Data<'r>) -> Done<Document> {
        let rocket = call.request.rocket();
        match (rocket.state::<Settings>(), rocket.state::<Catalogue>()) {
            (Some(settings), Some(catalogue)) => Ok(Document(
                catalogue
                    .document
                    .get_or_init(|| document(rocket.routes(), catalogue, settings))
                    .clone(),
            )),
            _ => Err(ApiError::internal("settings or catalogue not managed").into()),
        }
    }
}

/// An OpenAPI document.
#[derive(serde::Serialize)]
#[serde(transparent)]
pub struct Document(Value);

impl JsonSchema for Document {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "OpenApiDocument".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        schemars::json_schema!({ "type": "object" })
    }
}

/// The path as clients write it: `{param}` for `<param>`, and the trailing slash of the sets
/// whose clients write one (Rocket ignores it when matching).
fn documented_path(path: &str, written_with_slash: bool) -> String {
    let openapi_path: String = path
        .split('/')
        .map(
            |segment| match segment.strip_prefix('<').and_then(|s| s.strip_suffix('>')) {
                Some(param) => format!("{{{param}}}"),
                None => segment.to_string(),
            },
        )
        .collect::<Vec<_>>()
        .join("/");
    if written_with_slash {
        format!("{openapi_path}/")
    } else {
        openapi_path
    }
}

fn parameters(path: &str) -> Vec<Value> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|param| {
            let kind = if param == "id" { "integer" } else { "string" };
            json!({ "name": param, "in": "path", "required": true, "schema": { "type": kind } })
        })
        .collect()
}

fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// A schema as the generator's transforms leave it for OpenAPI 3.0.
fn finished(generator: &mut SchemaGenerator, mut schema: Schema) -> Value {
    for transform in generator.transforms_mut() {
        transform.transform(&mut schema);
    }
    schema.to_value()
}

/// A body that names the user by a non-empty `username` or `email` (register, login).
fn username_or_email() -> Value {
    let present =
        |key: &str| json!({ "required": [key], "properties": { key: { "minLength": 1 } } });
    json!([present("username"), present("email")])
}

/// A request body's schema as this use of it reads it: without its `unused` fields, with the
/// `required` ones required (and so not empty: an `anyOf` that allows `""` keeps only its first
/// alternative), and naming the user by `username` or `email` where asked.
fn request_schema(mut schema: Value, required: &[&str], unused: &[&str], naming: bool) -> Value {
    let mut required_list: Vec<Value> = schema["required"].as_array().cloned().unwrap_or_default();
    if let Some(properties) = schema["properties"].as_object_mut() {
        for field in unused {
            properties.remove(*field);
        }
        for field in required {
            if let Some(property) = properties.get_mut(*field) {
                if let Some(valid) = property["anyOf"].get(0).cloned() {
                    *property = valid;
                }
            }
        }
    }
    required_list.retain(|field| !unused.iter().any(|unused| field == unused));
    for field in required {
        if !required_list.iter().any(|listed| listed == field) {
            required_list.push(json!(field));
        }
    }
    if let Some(object) = schema.as_object_mut() {
        object.remove("required");
        if !required_list.is_empty() {
            object.insert("required".into(), Value::Array(required_list));
        }
    }
    if naming {
        schema["anyOf"] = username_or_email();
    }
    schema
}

/// Generators of the two directions: answers as the server writes them (`Serialize`, shared
/// components), requests as it reads them (`Deserialize`, inline, as clients see them).
struct Generators {
    answers: SchemaGenerator,
    requests: SchemaGenerator,
}

fn describe(name: &str, path: &str, doc: &Doc, generators: &mut Generators) -> Value {
    let mut operation = json!({
        "operationId": name,
        "summary": doc.summary,
        "parameters": parameters(path),
        "responses": { "default": { "description": "An error", "content": { "application/json": { "schema": reference("Error") } } } },
    });
    match doc.bearer {
        Bearer::Unused => {}
        Bearer::Required => operation["security"] = json!([{ "bearer": [] }]),
        // An empty requirement object is OpenAPI's "or nothing".
        Bearer::Optional => operation["security"] = json!([{}, { "bearer": [] }]),
    }
    match &doc.request {
        RequestDoc::None => {}
        RequestDoc::Json {
            schema,
            needed,
            required,
            unused,
            naming,
        } => {
            let generated = schema(&mut generators.requests);
            let body = finished(&mut generators.requests, generated);
            let schema = request_schema(body, required, unused, *naming);
            operation["requestBody"] = json!({ "required": needed, "content": { "application/json": { "schema": schema } } });
        }
        RequestDoc::Multipart => {
            operation["requestBody"] = json!({ "required": true, "content": { "multipart/form-data": { "schema":
                { "type": "object", "required": ["file"], "properties": { "file": { "type": "string", "format": "binary" } } } } } })
        }
    }
    let (content, not_modified) = match (doc.answer)(&mut generators.answers) {
        AnswerDoc::Json(schema) => {
            let schema = finished(&mut generators.answers, schema);
            (json!({ "application/json": { "schema": schema } }), None)
        }
        AnswerDoc::Jpeg => (
            json!({ "image/jpeg": { "schema": { "type": "string", "format": "binary" } } }),
            Some("Not modified (If-None-Match)"),
        ),
        AnswerDoc::Html => (
            json!({ "text/html": { "schema": { "type": "string" } } }),
            Some("Not modified"),
        ),
    };
    operation["responses"][doc.status.code.to_string()] =
        json!({ "description": doc.summary, "content": content });
    if let Some(description) = not_modified {
        operation["responses"]["304"] = json!({ "description": description });
    }
    operation
}

/// Puts the configured minimum password length wherever a schema is marked for it.
fn fill_configured(value: &mut Value, min_password_length: usize) {
    match value {
        Value::Object(map) => {
            if map.remove(CONFIGURED_MIN_PASSWORD).is_some() {
                map.insert("minLength".into(), json!(min_password_length));
            }
            map.values_mut()
                .for_each(|inner| fill_configured(inner, min_password_length));
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|inner| fill_configured(inner, min_password_length)),
        _ => {}
    }
}

/// The document for these mounted routes, with these settings' field rules.
pub fn document<'a>(
    routes: impl Iterator<Item = &'a Route>,
    catalogue: &Catalogue,
    settings: &Settings,
) -> Value {
    let mut generators = Generators {
        answers: SchemaSettings::openapi3()
            .with(|s| s.contract = Contract::Serialize)
            .into_generator(),
        requests: SchemaSettings::openapi3()
            .with(|s| s.inline_subschemas = true)
            .into_generator(),
    };
    // The `Error` component that every operation's default response names.
    generators.answers.subschema_for::<ErrorBody>();
    let mut paths = serde_json::Map::new();
    for route in routes {
        let name = route.name.as_deref().unwrap_or_default();
        if UNDESCRIBED.contains(&name) {
            continue;
        }
        let method = route.method.as_str().to_ascii_lowercase();
        let operation = match catalogue.docs.get(name) {
            Some(doc) => {
                let path = documented_path(route.uri.path(), doc.written_with_slash);
                let operation = describe(name, &path, doc, &mut generators);
                (path, operation)
            }
            None => {
                let path = documented_path(route.uri.path(), false);
                let operation = json!({ "operationId": name, "summary": "Undocumented route",
                    "parameters": parameters(&path), "responses": { "200": { "description": "Undocumented" } } });
                (path, operation)
            }
        };
        let entry = paths.entry(operation.0).or_insert_with(|| json!({}));
        entry[method] = operation.1;
    }
    let schemas = generators.answers.take_definitions(true);
    let mut doc = json!({
        "openapi": "3.0.3",
        "info": { "title": "profilebox", "version": env!("CARGO_PKG_VERSION"), "description": "A complete user-account service in one binary." },
        "servers": [{ "url": settings.public_url() }],
        "paths": paths,
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT" } },
            "schemas": schemas,
        },
    });
    fill_configured(&mut doc, settings.min_password_length);
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_get_their_parameters_and_slashes() {
        assert_eq!(
            documented_path("/api/user/sessions/<id>", false),
            "/api/user/sessions/{id}"
        );
        assert_eq!(documented_path("/api/profile", true), "/api/profile/");
        let params = parameters("/api/user/sessions/{id}");
        assert_eq!(params[0]["schema"]["type"], "integer");
    }

    #[test]
    fn a_use_of_a_body_requires_removes_and_names_fields() {
        let schema = json!({
            "type": "object",
            "properties": {
                "username": { "anyOf": [{ "pattern": "x" }, { "maxLength": 0 }] },
                "token": { "type": "string" },
                "password": { "type": "string" },
            },
            "required": ["token", "password"],
        });
        let used = request_schema(schema.clone(), &["username"], &["token"], false);
        assert_eq!(used["required"], json!(["password", "username"]));
        assert_eq!(used["properties"]["username"], json!({ "pattern": "x" }));
        assert!(used["properties"].get("token").is_none());
        let nothing_required = request_schema(schema, &[], &["token", "password"], true);
        assert!(nothing_required.get("required").is_none());
        assert_eq!(nothing_required["anyOf"][1]["required"], json!(["email"]));
    }
}
