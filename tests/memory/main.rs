//! Memory under hostile input, measured on the release binary (the peak resident set of the
//! child process, from /proc), so a debug build's allocations cannot make a target pass or fail
//! by accident. `.ci/run` builds the release binary first; run locally after
//! `cargo build --release`.

#[path = "../common/bombs.rs"]
mod bombs;
#[path = "../common/server.rs"]
mod server;

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use reqwest::blocking::{multipart, Client};
use serde_json::{json, Value};

use server::Server;

const MB: u64 = 1 << 20;
const PASSWORD: &str = "correct horse battery";

/// Held by each test while it runs: the tests measure time and memory, so they run one at a
/// time rather than share the two cores with each other.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The release binary beside the debug one `cargo test` built, with this test's turn to measure;
/// `None` (with a notice) when it has not been built, which CI does not accept.
fn release_binary() -> Option<(std::sync::MutexGuard<'static, ()>, PathBuf)> {
    let turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let debug = Path::new(env!("CARGO_BIN_EXE_profilebox"));
    let release = debug.parent()?.parent()?.join("release").join("profilebox");
    if release.exists() {
        return Some((turn, release));
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{} is missing: CI builds it (cargo build --release) before the tests",
        release.display()
    );
    eprintln!(
        "notice: {} not built; memory tests skipped (run cargo build --release)",
        release.display()
    );
    None
}

/// A release server with a signed-in user whose image pipeline has run once, so the measured
/// peak is the hostile request's and not the first upload's thread start-up.
struct Measured {
    server: Server,
    token: String,
    client: Client,
    _dir: tempfile::TempDir,
}

impl Measured {
    fn start(binary: &Path) -> Measured {
        let dir = tempfile::tempdir().unwrap();
        let server = Server::start_binary(
            binary,
            &dir.path().join("data"),
            &dir.path().join("log"),
            &[
                ("ROCKET_RATE_LIMIT", "false"),
                ("ROCKET_LOG_LEVEL", "critical"),
            ],
        );
        let client = Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .unwrap();
        let measured = Measured {
            token: server.sign_in("owner", PASSWORD),
            server,
            client,
            _dir: dir,
        };
        let warm_up = measured.upload(&small_jpeg());
        assert_eq!(warm_up.0, 200, "{}", warm_up.1);
        measured
    }

    fn peak(&self) -> u64 {
        self.server.status_kib("VmHWM") * 1024
    }

    fn upload(&self, file: &[u8]) -> (u16, Value) {
        let form = multipart::Form::new().part(
            "file",
            multipart::Part::bytes(file.to_vec()).file_name("upload.bin"),
        );
        let reply = self
            .client
            .post(self.server.url("/api/upload_profile_image"))
            .bearer_auth(&self.token)
            .multipart(form)
            .send()
            .unwrap();
        (reply.status().as_u16(), reply.json().unwrap_or(Value::Null))
    }

    /// A profile update with `body` as it is; the answer's status.
    fn put_profile(&self, body: &[u8]) -> u16 {
        self.client
            .put(self.server.url("/api/user/profile"))
            .bearer_auth(&self.token)
            .body(body.to_vec())
            .send()
            .unwrap()
            .status()
            .as_u16()
    }

    /// Registers a new user with `file` as a base64 picture: no account needed.
    fn register_with(&self, name: &str, file: &[u8]) -> (u16, Value) {
        let body =
            json!({ "username": name, "password": PASSWORD, "image": STANDARD.encode(file) });
        let reply = self
            .client
            .post(self.server.url("/api/register"))
            .json(&body)
            .send()
            .unwrap();
        (reply.status().as_u16(), reply.json().unwrap_or(Value::Null))
    }

    /// How much `action` raised the peak resident set (printed, for the record).
    fn growth(&self, what: &str, action: impl FnOnce(&Measured)) -> u64 {
        let before = self.peak();
        action(self);
        let grown = self.peak().saturating_sub(before);
        eprintln!(
            "memory: {what}: peak RSS grew {:.1} MB",
            grown as f64 / MB as f64
        );
        grown
    }
}

fn small_jpeg() -> Vec<u8> {
    jpeg(64, 48)
}

fn jpeg(width: u32, height: u32) -> Vec<u8> {
    let picture = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8])
    });
    let mut out = Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(picture)
        .write_to(&mut out, image::ImageFormat::Jpeg)
        .unwrap();
    out.into_inner()
}

/// The outside probe's file: 8000x8000 16-bit RGBA whose colour profile inflates to 510 MB.
fn probe_png() -> &'static [u8] {
    static PNG: OnceLock<Vec<u8>> = OnceLock::new();
    PNG.get_or_init(|| bombs::png_rgba(8000, 8000, 16, 510 * MB))
}

/// Within every limit, and 49 megapixels of zeros behind a file of a few hundred KB.
fn zeros_png() -> &'static [u8] {
    static PNG: OnceLock<Vec<u8>> = OnceLock::new();
    PNG.get_or_init(|| bombs::png_rgba(7000, 7000, 8, 0))
}

fn hostile_gif() -> Vec<u8> {
    bombs::gif((8000, 8000), (8000, 8000))
}

#[test]
fn refused_images_raise_peak_memory_by_at_most_64_mb() {
    let Some((_measuring, binary)) = release_binary() else {
        return;
    };
    // Some bytes that are no image at all, as large as an upload may be.
    let mut not_an_image = b"BM".to_vec();
    not_an_image.resize(9 * MB as usize, 7);
    let cases: [(&str, Vec<u8>, &str); 5] = [
        ("probe PNG", probe_png().to_vec(), "image_too_large"),
        ("8000x8000 GIF", hostile_gif(), "image_too_large"),
        (
            "small GIF screen, huge frame",
            bombs::gif((100, 100), (8000, 8000)),
            "invalid_image",
        ),
        (
            "7100x7100 PNG header",
            bombs::png_header_only(7100, 7100),
            "image_too_large",
        ),
        ("9 MB of non-image", not_an_image, "invalid_image"),
    ];
    for (name, file, code) in cases {
        // Uploaded by a user, and sent base64 to register by nobody.
        let server = Measured::start(&binary);
        let grown = server.growth(&format!("{name} uploaded"), |s| {
            let (status, body) = s.upload(&file);
            assert_eq!((status, body["code"].as_str()), (400, Some(code)), "{name}");
        });
        assert!(
            grown <= 64 * MB,
            "{name} uploaded: peak grew {} MB",
            grown / MB
        );
        let server = Measured::start(&binary);
        let grown = server.growth(&format!("{name} at register"), |s| {
            let (status, body) = s.register_with("mallory", &file);
            assert_eq!((status, body["code"].as_str()), (400, Some(code)), "{name}");
        });
        assert!(
            grown <= 64 * MB,
            "{name} at register: peak grew {} MB",
            grown / MB
        );
    }
}

#[test]
fn an_accepted_image_costs_at_most_its_rgb_size_plus_32_mb() {
    let Some((_measuring, binary)) = release_binary() else {
        return;
    };
    let rgb_size = |w: u64, h: u64| w * h * 3;
    // A 16-bit RGBA PNG with a 100 MB colour profile: neither may multiply the cost.
    let png = bombs::png_rgba(4000, 3000, 16, 100 * MB);
    let server = Measured::start(&binary);
    let grown = server.growth("16-bit PNG with a profile", |s| {
        assert_eq!(s.upload(&png).0, 200)
    });
    let allowed = rgb_size(4000, 3000) + 32 * MB;
    assert!(
        grown <= allowed,
        "16-bit PNG: grew {} MB, allowed {} MB",
        grown / MB,
        allowed / MB
    );
    // A camera-sized JPEG, sent base64 at registration.
    let photo = jpeg(6000, 4000);
    let server = Measured::start(&binary);
    let grown = server.growth("24 MP JPEG at register", |s| {
        assert_eq!(s.register_with("photographer", &photo).0, 201)
    });
    let allowed = rgb_size(6000, 4000) + 32 * MB;
    assert!(
        grown <= allowed,
        "24 MP JPEG: grew {} MB, allowed {} MB",
        grown / MB,
        allowed / MB
    );
    // The largest accepted decompression bomb: 49 megapixels of transparent zeros.
    let server = Measured::start(&binary);
    let grown = server.growth("49 MP PNG of zeros", |s| {
        assert_eq!(s.upload(zeros_png()).0, 200)
    });
    let allowed = rgb_size(7000, 7000) + 32 * MB;
    assert!(
        grown <= allowed,
        "49 MP PNG: grew {} MB, allowed {} MB",
        grown / MB,
        allowed / MB
    );
}

#[test]
fn eight_concurrent_hostile_uploads_keep_the_process_under_256_mb() {
    let Some((_measuring, binary)) = release_binary() else {
        return;
    };
    let (probe, zeros, gif) = (probe_png(), zeros_png(), hostile_gif());
    let server = Measured::start(&binary);
    std::thread::scope(|scope| {
        let server = &server;
        let gif = &gif;
        let workers: Vec<_> = (0..8)
            .map(|n| {
                scope.spawn(move || match n % 4 {
                    0 => server.upload(probe).0,
                    1 => server.register_with(&format!("mallory{n}"), probe).0,
                    2 => server.upload(zeros).0,
                    _ => server.upload(gif).0,
                })
            })
            .collect();
        for worker in workers {
            let status = worker.join().unwrap();
            assert!(status == 200 || status == 400, "{status}");
        }
    });
    let peak = server.peak();
    eprintln!(
        "memory: 8 concurrent hostile uploads: peak RSS {:.1} MB",
        peak as f64 / MB as f64
    );
    assert!(peak < 256 * MB, "peak {} MB", peak / MB);
}

#[test]
fn hostile_json_bodies_cost_at_most_twice_their_size() {
    let Some((_measuring, binary)) = release_binary() else {
        return;
    };
    // Numbers where a name belongs: 13 MiB is parsed (a body may be that large for an image),
    // 14 MiB is over the limit and refused as it is read.
    for (size, status) in [(13 * MB, 400), (14 * MB, 413)] {
        let body = hostile_json(size);
        let server = Measured::start(&binary);
        let grown = server.growth(&format!("{} MB JSON", size / MB), |s| {
            assert_eq!(s.put_profile(&body), status)
        });
        let allowed = 2 * size;
        assert!(
            grown <= allowed,
            "{} MB body: grew {} MB",
            size / MB,
            grown / MB
        );
    }
}

/// `{"name": [0,0,…]}` of `size` bytes.
fn hostile_json(size: u64) -> Vec<u8> {
    let mut body = br#"{"name": ["#.to_vec();
    while body.len() < size as usize - 16 {
        body.extend_from_slice(b"0,");
    }
    body.extend_from_slice(b"0]}");
    body
}

#[test]
fn health_answers_within_50_ms_while_six_hostile_bodies_are_parsed() {
    let Some((_measuring, binary)) = release_binary() else {
        return;
    };
    let body = hostile_json(13 * MB);
    let server = Measured::start(&binary);
    let deadline = Instant::now() + Duration::from_secs(4);
    let mut slowest = Duration::ZERO;
    let mut probes = 0;
    std::thread::scope(|scope| {
        for _ in 0..6 {
            scope.spawn(|| {
                while Instant::now() < deadline {
                    assert_eq!(server.put_profile(&body), 400);
                }
            });
        }
        // Let the six get going, then probe health while they run.
        std::thread::sleep(Duration::from_millis(300));
        let health = Client::new();
        while Instant::now() + Duration::from_millis(500) < deadline {
            let started = Instant::now();
            let reply = health.get(server.server.url("/api/health")).send().unwrap();
            assert_eq!(reply.status().as_u16(), 200);
            slowest = slowest.max(started.elapsed());
            probes += 1;
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    eprintln!("memory: slowest of {probes} health answers under 6 hostile bodies: {slowest:?}");
    assert!(probes >= 20, "{probes} probes");
    assert!(
        slowest < Duration::from_millis(50),
        "slowest health answer: {slowest:?}"
    );
}
