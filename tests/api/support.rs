//! Test fixtures: the real application on a fresh temporary data directory, driven through
//! Rocket's local client, plus image builders.

use std::io::Cursor;

use profilebox::clock::Clock;
use rocket::figment::Figment;
use rocket::http::{ContentType, Header, Status};
use rocket::local::asynchronous::{Client, LocalResponse};
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::dbservers::{self, TestDatabase};

pub const PASSWORD: &str = "correct horse battery";
/// Low enough to keep tests fast; production uses 600000 (asserted in `config.rs`).
pub const TEST_ITERATIONS: u32 = 1000;

pub struct TestApp {
    pub client: Client,
    pub dir: TempDir,
    /// The test's own database on the throw-away server, when this target runs on one.
    pub database: Option<TestDatabase<'static>>,
    /// The app's clock: a test moves it forward instead of sleeping.
    pub clock: Clock,
}

/// The same tests run once per backend, as separate test targets of this one source (see
/// Cargo.toml): `api` on SQLite, `api_postgres` and `api_mariadb` on throw-away servers.
fn database_server() -> Option<&'static dbservers::Server> {
    match env!("CARGO_CRATE_NAME") {
        "api_postgres" => dbservers::postgres(),
        "api_mariadb" => dbservers::mariadb(),
        _ => None,
    }
}

pub struct Reply {
    pub status: Status,
    pub body: Value,
    pub headers: Vec<(String, String)>,
    pub bytes: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Asserts an error answer: status, JSON `{"error", "code"}` with the given code.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status.code, status, "body: {}", self.body);
        assert_eq!(self.body["code"], code, "body: {}", self.body);
        assert!(
            self.body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "body: {}",
            self.body
        );
        assert_eq!(self.header("content-type"), Some("application/json"));
    }
}

pub fn test_figment(dir: &TempDir) -> Figment {
    profilebox::default_figment()
        .merge(("log_level", "off"))
        .merge(("data_dir", dir.path()))
        .merge(("pbkdf2_iterations", TEST_ITERATIONS))
}

fn app_figment(dir: &TempDir, database: Option<&TestDatabase<'static>>) -> Figment {
    let figment = test_figment(dir);
    match database {
        // As an operator of instances that share a database must: an encryption key of their own.
        Some(database) => figment
            .merge(("database_url", database.url()))
            .merge(("encryption_key", ENCRYPTION_KEY)),
        None => figment,
    }
}

/// The encryption key of the apps on database servers (SQLite generates one in the data dir).
pub const ENCRYPTION_KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

impl TestApp {
    pub async fn new() -> TestApp {
        Self::with(|figment| figment).await
    }

    pub async fn with(configure: impl FnOnce(Figment) -> Figment) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let database = database_server().map(dbservers::Server::create_database);
        Self::start(dir, database, configure).await
    }

    async fn start(
        dir: TempDir,
        database: Option<TestDatabase<'static>>,
        configure: impl FnOnce(Figment) -> Figment,
    ) -> TestApp {
        let clock = Clock::default();
        let rocket = profilebox::rocket(configure(app_figment(&dir, database.as_ref())))
            .manage(clock.clone());
        let client = Client::untracked(rocket).await.expect("app ignites");
        TestApp {
            client,
            dir,
            database,
            clock,
        }
    }

    /// An app on SQLite in a data directory prepared beforehand (a restored backup, say).
    pub async fn on_data_dir(dir: TempDir) -> TestApp {
        Self::start(dir, None, |figment| figment).await
    }

    /// An app on a database of a server, prepared beforehand (a copy's target, say).
    pub async fn on_database(database: TestDatabase<'static>) -> TestApp {
        Self::start(tempfile::tempdir().unwrap(), Some(database), |figment| {
            figment
        })
        .await
    }

    /// Whether the app runs on a database server rather than SQLite.
    pub fn on_server(&self) -> bool {
        self.database.is_some()
    }

    /// Stops this app and starts a new one on the same data directory and database, configured
    /// afresh.
    pub async fn restart(self, configure: impl FnOnce(Figment) -> Figment) -> TestApp {
        drop(self.client);
        Self::start(self.dir, self.database, configure).await
    }

    /// The configuration the app started from, before the test's own changes: for running the
    /// binary's commands on its data directory and database.
    pub fn figment(&self) -> Figment {
        app_figment(&self.dir, self.database.as_ref())
    }

    /// A store on the app's database, for calling `profilebox::db` directly.
    pub async fn store(&self) -> profilebox::db::Store {
        let url = match &self.database {
            Some(database) => database.url(),
            None => format!(
                "sqlite://{}",
                self.dir.path().join("profilebox.db").display()
            ),
        };
        let settings = profilebox::db::PoolSettings {
            max_connections: 1,
            ..Default::default()
        };
        profilebox::db::Store::connect(&url, settings)
            .await
            .unwrap()
    }

    /// The JWT key the app generated: kept in the database on a server, in the data directory
    /// on SQLite.
    pub async fn jwt_secret(&self) -> Vec<u8> {
        if self.database.is_some() {
            let stored = self
                .sql("SELECT value FROM settings WHERE name = 'jwt_secret'")
                .await;
            return stored.into_bytes();
        }
        std::fs::read(self.dir.path().join("jwt_secret")).unwrap()
    }

    /// One value that `sql` selects (or `""` when it selects nothing), read straight from the
    /// app's database behind its back.
    pub async fn sql(&self, sql: &str) -> String {
        self.sql_rows(sql)
            .await
            .into_iter()
            .next()
            .unwrap_or_default()
    }

    /// The first column of every row that `sql` selects, as text.
    pub async fn sql_rows(&self, sql: &str) -> Vec<String> {
        if let Some(database) = &self.database {
            return database.sql(sql).lines().map(str::to_owned).collect();
        }
        let file = self.dir.path().join("profilebox.db");
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", file.display()))
            .await
            .unwrap();
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&pool)
            .await
            .unwrap();
        pool.close().await;
        // As the servers' CLI clients print it: text as it is, a number in decimal.
        rows.iter()
            .map(|row| {
                use sqlx::Row;
                row.try_get::<String, _>(0)
                    .or_else(|_| row.try_get::<i64, _>(0).map(|n| n.to_string()))
                    .unwrap()
            })
            .collect()
    }

    pub async fn reply(response: LocalResponse<'_>) -> Reply {
        let status = response.status();
        let headers = response
            .headers()
            .iter()
            .map(|h| (h.name().to_string(), h.value().to_string()))
            .collect();
        let bytes = response.into_bytes().await.unwrap_or_default();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            body,
            headers,
            bytes,
        }
    }

    pub async fn send(
        &self,
        method: rocket::http::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Vec<u8>>,
        content_type: Option<ContentType>,
    ) -> Reply {
        let mut request = self.client.req(method, path.to_string());
        if let Some(token) = token {
            request.add_header(Header::new("Authorization", format!("Bearer {token}")));
        }
        if let Some(ct) = content_type {
            request.add_header(ct);
        }
        if let Some(body) = body {
            request.set_body(body);
        }
        Self::reply(request.dispatch().await).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(
            rocket::http::Method::Post,
            path,
            None,
            Some(body.to_string().into_bytes()),
            Some(ContentType::JSON),
        )
        .await
    }

    pub async fn post_auth(&self, path: &str, token: &str, body: Value) -> Reply {
        self.send(
            rocket::http::Method::Post,
            path,
            Some(token),
            Some(body.to_string().into_bytes()),
            Some(ContentType::JSON),
        )
        .await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> Reply {
        self.send(
            rocket::http::Method::Put,
            path,
            Some(token),
            Some(body.to_string().into_bytes()),
            Some(ContentType::JSON),
        )
        .await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.send(rocket::http::Method::Get, path, token, None, None)
            .await
    }

    pub async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        let mut request = self.client.get(path.to_string());
        for (name, value) in headers {
            request.add_header(Header::new(name.to_string(), value.to_string()));
        }
        Self::reply(request.dispatch().await).await
    }

    /// Registers `username` with [`PASSWORD`] and `<username>@example.org`; returns the user.
    pub async fn register(&self, username: &str) -> Value {
        let reply = self
            .post(
                "/api/register",
                json!({ "username": username, "email": format!("{username}@example.org"), "password": PASSWORD }),
            )
            .await;
        assert_eq!(reply.status, Status::Created, "{}", reply.body);
        reply.body["user"].clone()
    }

    pub async fn login(&self, username: &str) -> String {
        let reply = self
            .post(
                "/api/login",
                json!({ "username": username, "password": PASSWORD }),
            )
            .await;
        assert_eq!(reply.status, Status::Ok, "{}", reply.body);
        reply.body["token"].as_str().unwrap().to_string()
    }

    /// A registered and logged-in user: (user object, access token).
    pub async fn user(&self, username: &str) -> (Value, String) {
        let user = self.register(username).await;
        (user, self.login(username).await)
    }

    pub async fn upload(&self, token: &str, field: &str, file: &[u8]) -> Reply {
        let (content_type, body) = multipart(field, "photo.bin", file);
        self.send(
            rocket::http::Method::Post,
            "/api/upload_profile_image",
            Some(token),
            Some(body),
            Some(content_type),
        )
        .await
    }

    /// The stored picture an upload or update answer points at, decoded.
    pub async fn stored_picture(&self, reply: &Reply) -> image::RgbImage {
        let url = reply.body["profile_image"]
            .as_str()
            .or_else(|| reply.body["user"]["profile_image"].as_str())
            .unwrap_or_else(|| panic!("no picture in {}", reply.body));
        decode_jpeg(&self.get(&path_of(url), None).await.bytes).into_rgb8()
    }

    /// The names of every stored picture, in the image folder or in the database.
    pub async fn stored_pictures(&self) -> Vec<String> {
        let mut names = self.pictures_in_folder();
        names.extend(self.sql_rows("SELECT name FROM images").await);
        names.sort();
        names
    }

    pub fn pictures_in_folder(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir.path().join("images"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

/// A multipart/form-data body with one file part.
pub fn multipart(field: &str, file_name: &str, file: &[u8]) -> (ContentType, Vec<u8>) {
    let boundary = "----profileboxtestboundary7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{file_name}\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let content_type =
        ContentType::new("multipart", "form-data").with_params(("boundary", boundary));
    (content_type, body)
}

/// A photo-like test picture: smooth gradients, so JPEG sizes are realistic.
pub fn picture(width: u32, height: u32) -> image::RgbImage {
    image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([
            (x * 255 / width.max(1)) as u8,
            (y * 255 / height.max(1)) as u8,
            ((x + y) % 256) as u8,
        ])
    })
}

pub fn encode(picture: &image::RgbImage, format: image::ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(picture.clone())
        .write_to(&mut out, format)
        .unwrap();
    out.into_inner()
}

pub fn jpeg(width: u32, height: u32) -> Vec<u8> {
    encode(&picture(width, height), image::ImageFormat::Jpeg)
}

pub fn png(width: u32, height: u32) -> Vec<u8> {
    encode(&picture(width, height), image::ImageFormat::Png)
}

/// Decodes a served file, asserting it is a JPEG.
pub fn decode_jpeg(bytes: &[u8]) -> image::DynamicImage {
    assert_eq!(
        image::guess_format(bytes).unwrap(),
        image::ImageFormat::Jpeg
    );
    image::load_from_memory_with_format(bytes, image::ImageFormat::Jpeg).unwrap()
}

/// The path part of an absolute image URL from the API.
pub fn path_of(url: &str) -> String {
    let rest = url
        .strip_prefix("http://localhost:8000")
        .unwrap_or_else(|| panic!("unexpected URL {url}"));
    rest.to_string()
}
