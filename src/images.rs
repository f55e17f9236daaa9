//! Profile images: decode by content under limits → apply EXIF orientation → fit the configured
//! square → re-encode as a metadata-free JPEG → store atomically; and the served-file lookup.

use std::fs;
use std::io::{Cursor, Write};
use std::path::PathBuf;

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::{alphabet, Engine};
use fast_image_resize::{self as fir, FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage};
use jpeg_encoder::{ColorType, Encoder};
use rand::RngCore;
use tokio::sync::Semaphore;

use crate::error::{ApiError, ApiResult};

const JPEG_QUALITY: u8 = 85;

pub struct ImageStore {
    dir: PathBuf,
    public_url: String,
    size: u32,
    max_dimension: u32,
    max_bytes: u64,
    permits: Semaphore,
}

/// A re-encoded image, ready to store.
pub struct Jpeg(Vec<u8>);

impl ImageStore {
    pub fn new(
        dir: PathBuf,
        public_url: String,
        size: u32,
        max_dimension: u32,
        max_bytes: u64,
        workers: usize,
    ) -> Self {
        let permits = Semaphore::new(workers.max(1));
        ImageStore {
            dir,
            public_url,
            size,
            max_dimension,
            max_bytes,
            permits,
        }
    }

    /// Validates and re-encodes uploaded bytes off the async workers.
    pub async fn process(&self, bytes: Vec<u8>) -> ApiResult<Jpeg> {
        if bytes.len() as u64 > self.max_bytes {
            return Err(ApiError::payload_too_large());
        }
        let (size, max_dimension) = (self.size, self.max_dimension);
        let _permit = self.permits.acquire().await.map_err(ApiError::internal)?;
        tokio::task::spawn_blocking(move || reencode(&bytes, size, max_dimension))
            .await
            .map_err(ApiError::internal)?
            .map(Jpeg)
    }

    /// Writes the image under a fresh name (temp file, fsync, rename) and returns that name.
    pub async fn save(&self, user_id: i64, jpeg: Jpeg) -> ApiResult<String> {
        let mut random = [0u8; 8];
        rand::rngs::OsRng.fill_bytes(&mut random);
        let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
        let name = format!("{user_id}-{hex}.jpg");
        let dir = self.dir.clone();
        let file_name = name.clone();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            let temp = dir.join(format!(".{file_name}.tmp"));
            let written = crate::private_fs::create_new_file(&temp).and_then(|mut file| {
                file.write_all(&jpeg.0)?;
                file.sync_all()
            });
            if let Err(e) = written.and_then(|()| fs::rename(&temp, dir.join(&file_name))) {
                let _ = fs::remove_file(&temp);
                return Err(e);
            }
            // Make the rename itself durable.
            fs::File::open(&dir)?.sync_all()
        })
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| ApiError::internal(format_args!("storing image: {e}")))?;
        Ok(name)
    }

    /// Removes a file the database no longer points at. Failures are logged, not raised: the
    /// user's change has already been committed.
    pub async fn remove(&self, name: &str) {
        if !is_stored_name(name) {
            return;
        }
        if let Err(e) = tokio::fs::remove_file(self.dir.join(name)).await {
            if e.kind() != std::io::ErrorKind::NotFound {
                log::warn!("could not remove old image {name}: {e}");
            }
        }
    }

    /// Reads a stored file. `name` must come from the database, not from a request.
    pub async fn read(&self, name: &str) -> Option<Vec<u8>> {
        if !is_stored_name(name) {
            return None;
        }
        tokio::fs::read(self.dir.join(name)).await.ok()
    }

    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    pub fn url(&self, name: &str) -> String {
        format!("{}/profile_images/{name}", self.public_url)
    }
}

/// The shape of every name [`ImageStore::save`] produces: `<user id>-<16 hex>.jpg`.
pub fn is_stored_name(name: &str) -> bool {
    let Some(stem) = name.strip_suffix(".jpg") else {
        return false;
    };
    let Some((id, random)) = stem.split_once('-') else {
        return false;
    };
    (1..=19).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_digit())
        && random.len() == 16
        && random
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The `image` field of register and update bodies: base64, optionally as a `data:` URL.
pub fn decode_base64(field: &str, text: &str) -> ApiResult<Vec<u8>> {
    let payload = match text.strip_prefix("data:") {
        Some(rest) => match rest.split_once(',') {
            Some((meta, data)) if meta.ends_with(";base64") => data,
            _ => return Err(invalid_base64(field)),
        },
        None => text,
    };
    let compact: Vec<u8> = payload
        .bytes()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let config =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    let alphabet = if compact.iter().any(|b| matches!(b, b'-' | b'_')) {
        &alphabet::URL_SAFE
    } else {
        &alphabet::STANDARD
    };
    GeneralPurpose::new(alphabet, config)
        .decode(&compact)
        .map_err(|_| invalid_base64(field))
}

fn invalid_base64(field: &str) -> ApiError {
    ApiError::bad_request(
        "invalid_image",
        format!("{field} must be a base64-encoded image"),
    )
}

fn invalid_image() -> ApiError {
    ApiError::bad_request(
        "invalid_image",
        "The file is not a supported image (JPEG, PNG, WebP or GIF)",
    )
}

fn reencode(bytes: &[u8], size: u32, max_dimension: u32) -> ApiResult<Vec<u8>> {
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|_| invalid_image())?;
    let supported = [
        ImageFormat::Jpeg,
        ImageFormat::Png,
        ImageFormat::WebP,
        ImageFormat::Gif,
    ];
    let format = reader.format();
    if !format.is_some_and(|f| supported.contains(&f)) {
        return Err(invalid_image());
    }
    if format == Some(ImageFormat::Jpeg) && !jpeg_is_complete(bytes) {
        return Err(invalid_image());
    }
    let mut decoder = reader.into_decoder().map_err(|_| invalid_image())?;
    let (width, height) = decoder.dimensions();
    if width > max_dimension || height > max_dimension {
        return Err(ApiError::bad_request(
            "image_too_large",
            format!(
                "The image is {width}x{height} pixels; each side may be at most {max_dimension}"
            ),
        ));
    }
    if width == 0 || height == 0 {
        return Err(invalid_image());
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(max_dimension);
    limits.max_image_height = Some(max_dimension);
    limits.max_alloc = Some(u64::from(max_dimension).pow(2) * 4 + (16 << 20));
    decoder.set_limits(limits).map_err(|_| invalid_image())?;
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let picture = DynamicImage::from_decoder(decoder).map_err(|_| invalid_image())?;
    // Scale first and turn afterwards: fitting a square does not care which way is up, and
    // turning the small picture is cheap.
    let fitted = fit_within(flatten_on_white(picture), size)?;
    let mut upright = DynamicImage::ImageRgb8(fitted);
    upright.apply_orientation(orientation);
    encode_jpeg(&upright.into_rgb8())
}

/// Scales down (never up) to fit a `size`×`size` square, keeping the aspect ratio. A SIMD
/// Catmull-Rom convolution: several times faster than `image`'s own resize, and as sharp.
fn fit_within(picture: RgbImage, size: u32) -> ApiResult<RgbImage> {
    let (width, height) = picture.dimensions();
    if width <= size && height <= size {
        return Ok(picture);
    }
    let scale = f64::from(size) / f64::from(width.max(height));
    let scaled = |side: u32| ((f64::from(side) * scale).round() as u32).clamp(1, size);
    let (fitted_width, fitted_height) = (scaled(width), scaled(height));
    let source =
        fir::images::Image::from_vec_u8(width, height, picture.into_raw(), PixelType::U8x3)
            .map_err(ApiError::internal)?;
    let mut fitted = fir::images::Image::new(fitted_width, fitted_height, PixelType::U8x3);
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::CatmullRom));
    Resizer::new()
        .resize(&source, &mut fitted, &options)
        .map_err(ApiError::internal)?;
    RgbImage::from_raw(fitted_width, fitted_height, fitted.into_vec())
        .ok_or_else(|| ApiError::internal("resized buffer has the wrong length"))
}

/// Baseline JPEG without metadata. `jpeg-encoder` (SIMD) takes a quarter of the time of
/// `image`'s encoder on a 512-pixel picture.
fn encode_jpeg(picture: &RgbImage) -> ApiResult<Vec<u8>> {
    let side = |n: u32| u16::try_from(n).map_err(ApiError::internal);
    let mut out = Vec::with_capacity(64 * 1024);
    Encoder::new(&mut out, JPEG_QUALITY)
        .encode(
            picture.as_raw(),
            side(picture.width())?,
            side(picture.height())?,
            ColorType::Rgb,
        )
        .map_err(ApiError::internal)?;
    Ok(out)
}

/// Whether a JPEG's segments run through to the end-of-image marker. The JPEG decoder fills a
/// cut-off scan with grey instead of failing, so a truncated upload is caught here.
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let is_restart = |b: u8| (0xD0..=0xD7).contains(&b);
    let mut i = 2; // past SOI
    while i + 1 < bytes.len() {
        if bytes[i] != 0xFF {
            return false;
        }
        let marker = bytes[i + 1];
        if marker == 0xD9 {
            return true;
        }
        if marker == 0xFF || marker == 0x01 || is_restart(marker) {
            i += if marker == 0xFF { 1 } else { 2 };
            continue;
        }
        let Some(length) = bytes.get(i + 2..i + 4) else {
            return false;
        };
        i += 2 + usize::from(u16::from_be_bytes([length[0], length[1]]));
        if marker == 0xDA {
            // Entropy-coded data runs until a marker that is neither a stuffed 0x00 nor a restart.
            while i + 1 < bytes.len()
                && !(bytes[i] == 0xFF && bytes[i + 1] != 0x00 && !is_restart(bytes[i + 1]))
            {
                i += 1;
            }
        }
    }
    false
}

/// JPEG has no transparency: transparent pixels become white rather than black.
fn flatten_on_white(picture: DynamicImage) -> RgbImage {
    if !picture.color().has_alpha() {
        return picture.into_rgb8();
    }
    // Runs on the full-size picture, before scaling (so no resize has to weigh by alpha): one
    // pass over the raw bytes.
    let rgba = picture.into_rgba8();
    let (width, height) = rgba.dimensions();
    let over_white = |c: u8, a: u8| {
        let (c, a) = (u16::from(c), u16::from(a));
        ((c * a + 255 * (255 - a)) / 255) as u8
    };
    let pixels = rgba
        .as_raw()
        .chunks_exact(4)
        .flat_map(|p| {
            [
                over_white(p[0], p[3]),
                over_white(p[1], p[3]),
                over_white(p[2], p[3]),
            ]
        })
        .collect();
    RgbImage::from_raw(width, height, pixels).expect("three bytes for each pixel")
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::codecs::jpeg::JpegEncoder;

    #[test]
    fn stored_names_are_recognised_and_traversal_is_not() {
        assert!(is_stored_name("12-0123456789abcdef.jpg"));
        for bad in [
            "../12-0123456789abcdef.jpg",
            "12-0123456789abcdef.jpg/..",
            "12-0123456789ABCDEF.jpg",
            "12-0123456789abcde.jpg",
            "x-0123456789abcdef.jpg",
            "12-0123456789abcdef.png",
            "jwt_secret",
            "",
        ] {
            assert!(!is_stored_name(bad), "{bad}");
        }
    }

    #[test]
    fn base64_accepts_data_urls_padding_and_line_breaks() {
        let expected = b"hello world!?".to_vec();
        for text in [
            "aGVsbG8gd29ybGQhPw==",
            "aGVsbG8gd29ybGQhPw",
            "data:image/png;base64,aGVsbG8gd29y\nbGQhPw==",
        ] {
            assert_eq!(decode_base64("image", text).unwrap(), expected, "{text}");
        }
        assert_eq!(
            decode_base64("image", "not base64 !").unwrap_err().code,
            "invalid_image"
        );
        assert!(decode_base64("image", "data:text/plain,hello").is_err());
    }

    #[test]
    fn jpegs_must_reach_their_end_marker() {
        let picture = RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8 * 4, y as u8 * 5, 90]));
        let mut full = Vec::new();
        JpegEncoder::new_with_quality(&mut full, 80)
            .encode_image(&picture)
            .unwrap();
        assert!(jpeg_is_complete(&full));
        let mut with_trailer = full.clone();
        with_trailer.extend_from_slice(b"camera trailer");
        assert!(jpeg_is_complete(&with_trailer));
        for cut in [full.len() - 2, full.len() / 2, 100, 3] {
            assert!(!jpeg_is_complete(&full[..cut]), "cut at {cut}");
        }
    }

    #[test]
    fn transparent_pixels_become_white() {
        let mut rgba = image::RgbaImage::new(1, 1);
        rgba.put_pixel(0, 0, image::Rgba([0, 0, 0, 0]));
        let rgb = flatten_on_white(DynamicImage::ImageRgba8(rgba));
        assert_eq!(rgb.get_pixel(0, 0).0, [255, 255, 255]);
    }

    #[test]
    fn transparent_pixels_do_not_bleed_into_the_stored_picture() {
        // Left half opaque red, right half transparent black, twice the stored size.
        let half = image::RgbaImage::from_fn(1024, 64, |x, _| {
            if x < 512 {
                image::Rgba([255, 0, 0, 255])
            } else {
                image::Rgba([0, 0, 0, 0])
            }
        });
        let mut png = Vec::new();
        DynamicImage::ImageRgba8(half)
            .write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
            .unwrap();
        let stored = image::load_from_memory(&reencode(&png, 512, 8000).unwrap())
            .unwrap()
            .into_rgb8();
        assert_eq!(stored.dimensions(), (512, 32));
        let [r, g, b] = stored.get_pixel(10, 16).0;
        assert!(r > 240 && g < 20 && b < 20, "red half: {r},{g},{b}");
        assert!(
            stored.get_pixel(500, 16).0.iter().all(|&c| c > 240),
            "white half"
        );
        // Where the halves meet, red fades into white, never through black.
        assert!(stored.pixels().all(|p| p.0[0] > 200), "no dark edge");
    }

    #[test]
    fn fitting_keeps_the_aspect_ratio_and_never_enlarges() {
        let tall = RgbImage::from_pixel(100, 1000, image::Rgb([10, 200, 30]));
        let fitted = fit_within(tall, 512).unwrap();
        assert_eq!(fitted.dimensions(), (51, 512));
        // A flat colour stays that colour through the convolution.
        assert!(fitted.pixels().all(|p| p
            .0
            .iter()
            .zip([10, 200, 30])
            .all(|(a, b)| a.abs_diff(b) <= 1)));
        let small = RgbImage::new(300, 20);
        assert_eq!(fit_within(small, 512).unwrap().dimensions(), (300, 20));
        let sliver = RgbImage::new(5000, 2);
        assert_eq!(fit_within(sliver, 512).unwrap().dimensions(), (512, 1));
    }

    #[test]
    fn encoded_pictures_decode_to_the_same_size() {
        let picture = RgbImage::from_fn(40, 30, |x, y| image::Rgb([x as u8 * 6, y as u8 * 8, 128]));
        let jpeg = encode_jpeg(&picture).unwrap();
        assert!(jpeg_is_complete(&jpeg));
        let decoded = image::load_from_memory_with_format(&jpeg, ImageFormat::Jpeg).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (40, 30));
    }
}
