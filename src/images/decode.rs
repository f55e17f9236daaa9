//! Decoding uploads under a memory budget. The header is read first, by hand, so an image is
//! judged by its size before any decoder runs; then it is decoded straight into one buffer that is
//! already large enough to become the 8-bit RGB picture in place: no second full-size copy for
//! 16-bit samples, grey, palettes or transparency.

use std::io::Cursor;

use image::codecs::gif::GifDecoder;
use image::codecs::jpeg::JpegDecoder;
use image::codecs::webp::WebPDecoder;
use image::metadata::Orientation;
use image::{ImageDecoder, Limits, RgbImage};

use crate::domain_error::{DomainError, DomainResult};

/// Metadata a PNG decoder may hold (EXIF, palette, frame control); colour profiles and text
/// chunks, the ancillary chunks that inflate, are skipped before they are read.
const PNG_METADATA_LIMIT: usize = 16 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jpeg,
    Png,
    WebP,
    Gif,
}

/// What an image's header says, read before any pixel is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub format: Format,
    pub width: u32,
    pub height: u32,
    /// The most memory its decoding holds at once, in bytes.
    pub cost: u64,
}

/// The rules an upload must meet before it is decoded.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub max_dimension: u32,
    pub max_pixels: u64,
    /// The largest [`Header::cost`] one image may have.
    pub max_cost: u64,
}

pub fn invalid_image() -> DomainError {
    DomainError::InvalidImage(
        "The file is not a supported image (JPEG, PNG, WebP or GIF)".to_owned(),
    )
}

fn too_large(message: String) -> DomainError {
    DomainError::ImageTooLarge(message)
}

/// Reads the format and size from the first bytes and refuses what is too large to decode.
pub fn inspect(bytes: &[u8], bounds: &Bounds) -> DomainResult<Header> {
    let header = match image::guess_format(bytes).map_err(|_| invalid_image())? {
        image::ImageFormat::Jpeg => jpeg_header(bytes),
        image::ImageFormat::Png => png_header(bytes),
        image::ImageFormat::Gif => gif_header(bytes),
        image::ImageFormat::WebP => webp_header(bytes),
        _ => None,
    }
    .ok_or_else(invalid_image)?;
    let (width, height) = (header.width, header.height);
    if width == 0 || height == 0 {
        return Err(invalid_image());
    }
    if width > bounds.max_dimension || height > bounds.max_dimension {
        return Err(too_large(format!(
            "The image is {width}x{height} pixels; each side may be at most {}",
            bounds.max_dimension
        )));
    }
    let pixels = u64::from(width) * u64::from(height);
    if pixels > bounds.max_pixels {
        return Err(too_large(format!(
            "The image is {width}x{height} pixels ({:.1} megapixels); at most {:.1} megapixels are accepted",
            pixels as f64 / 1e6,
            bounds.max_pixels as f64 / 1e6
        )));
    }
    if header.cost > bounds.max_cost {
        return Err(too_large(format!(
            "The image ({width}x{height} pixels) needs too much memory to decode; send a smaller one"
        )));
    }
    Ok(header)
}

fn pixels(width: u32, height: u32) -> u64 {
    u64::from(width) * u64::from(height)
}

/// A baseline JPEG decodes into its output alone; a progressive one keeps every DCT
/// coefficient (two bytes per sample) until the last scan.
fn jpeg_header(bytes: &[u8]) -> Option<Header> {
    let frame = jpeg_frame(bytes)?;
    let n = pixels(frame.width, frame.height);
    let output = n * 3;
    let coefficients = if frame.progressive {
        n * 2 * u64::from(frame.components)
    } else {
        0
    };
    Some(Header {
        format: Format::Jpeg,
        width: frame.width,
        height: frame.height,
        cost: output + coefficients,
    })
}

/// The IHDR chunk, which the format puts first. A progressive (interlaced) PNG is decoded whole,
/// as up to four 8-bit channels; any other straight into RGB, a row at a time.
fn png_header(bytes: &[u8]) -> Option<Header> {
    if bytes.get(12..16)? != b"IHDR" {
        return None;
    }
    let width = u32::from_be_bytes(bytes.get(16..20)?.try_into().ok()?);
    let height = u32::from_be_bytes(bytes.get(20..24)?.try_into().ok()?);
    let interlaced = *bytes.get(28)? != 0;
    let per_pixel = if interlaced { 4 } else { 3 };
    Some(Header {
        format: Format::Png,
        width,
        height,
        cost: pixels(width, height) * per_pixel + u64::from(width) * 8,
    })
}

/// The logical screen. The first frame is decoded as RGBA and composed onto an RGBA canvas.
fn gif_header(bytes: &[u8]) -> Option<Header> {
    let width = u32::from(u16::from_le_bytes(bytes.get(6..8)?.try_into().ok()?));
    let height = u32::from(u16::from_le_bytes(bytes.get(8..10)?.try_into().ok()?));
    Some(Header {
        format: Format::Gif,
        width,
        height,
        cost: pixels(width, height) * 8,
    })
}

/// WebP's RIFF chunks are read raw (no inflating); the decoder works on 32-bit pixels beside
/// its RGBA output.
fn webp_header(bytes: &[u8]) -> Option<Header> {
    let (width, height) = WebPDecoder::new(Cursor::new(bytes)).ok()?.dimensions();
    Some(Header {
        format: Format::WebP,
        width,
        height,
        cost: pixels(width, height) * 8,
    })
}

/// A JPEG's frame header, found by walking its segments through to the end-of-image marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct JpegFrame {
    width: u32,
    height: u32,
    components: u8,
    progressive: bool,
}

/// `None` when the segments do not run through to the end-of-image marker: the JPEG decoder
/// fills a cut-off scan with grey instead of failing, so a truncated upload is caught here.
fn jpeg_frame(bytes: &[u8]) -> Option<JpegFrame> {
    let is_restart = |b: u8| (0xD0..=0xD7).contains(&b);
    // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC).
    let is_frame = |b: u8| (0xC0..=0xCF).contains(&b) && !matches!(b, 0xC4 | 0xC8 | 0xCC);
    let mut frame = None;
    let mut i = 2; // past SOI
    while i + 1 < bytes.len() {
        if bytes[i] != 0xFF {
            return None;
        }
        let marker = bytes[i + 1];
        if marker == 0xD9 {
            return frame;
        }
        if marker == 0xFF || marker == 0x01 || is_restart(marker) {
            i += if marker == 0xFF { 1 } else { 2 };
            continue;
        }
        let length = bytes.get(i + 2..i + 4)?;
        let length = usize::from(u16::from_be_bytes([length[0], length[1]]));
        if is_frame(marker) && frame.is_none() {
            let sof = bytes.get(i + 4..i + 10)?;
            frame = Some(JpegFrame {
                height: u32::from(u16::from_be_bytes([sof[1], sof[2]])),
                width: u32::from(u16::from_be_bytes([sof[3], sof[4]])),
                components: sof[5],
                progressive: matches!(marker, 0xC2 | 0xC6 | 0xCA | 0xCE),
            });
        }
        i += 2 + length;
        if marker == 0xDA {
            // Entropy-coded data runs until a marker that is neither a stuffed 0x00 nor a restart.
            while i + 1 < bytes.len()
                && !(bytes[i] == 0xFF && bytes[i + 1] != 0x00 && !is_restart(bytes[i + 1]))
            {
                i += 1;
            }
        }
    }
    None
}

/// Decodes an inspected image into 8-bit RGB (transparency flattened onto white) and the way it
/// should be turned upright. Holds at most [`Header::cost`] bytes of pixels.
pub fn decode(bytes: &[u8], header: &Header) -> DomainResult<(RgbImage, Orientation)> {
    let mut limits = Limits::default();
    limits.max_image_width = Some(header.width);
    limits.max_image_height = Some(header.height);
    limits.max_alloc = Some(header.cost);
    let decoded = match header.format {
        Format::Png => decode_png(bytes, header),
        Format::Jpeg => with_image_decoder(JpegDecoder::new(Cursor::new(bytes)), limits, header),
        Format::Gif => with_image_decoder(GifDecoder::new(Cursor::new(bytes)), limits, header),
        Format::WebP => with_image_decoder(WebPDecoder::new(Cursor::new(bytes)), limits, header),
    };
    decoded.map_err(|e| {
        log::debug!("image refused while decoding: {e}");
        invalid_image()
    })
}

type Decoded = Result<(RgbImage, Orientation), String>;

/// A buffer for `output` decoded bytes that can also hold the picture as 8-bit RGB.
fn pixel_buffer(header: &Header, output: usize) -> Vec<u8> {
    let rgb = (pixels(header.width, header.height) * 3) as usize;
    vec![0; output.max(rgb)]
}

fn with_image_decoder<D: ImageDecoder>(
    decoder: image::ImageResult<D>,
    limits: Limits,
    header: &Header,
) -> Decoded {
    let mut decoder = decoder.map_err(|e| e.to_string())?;
    decoder.set_limits(limits).map_err(|e| e.to_string())?;
    if decoder.dimensions() != (header.width, header.height) {
        return Err("the decoder disagrees with the header about the size".into());
    }
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let color = decoder.color_type();
    if color.bytes_per_pixel() != color.channel_count() {
        return Err(format!("unexpected sample size in {color:?}"));
    }
    let output = usize::try_from(decoder.total_bytes()).map_err(|e| e.to_string())?;
    let mut buffer = pixel_buffer(header, output);
    decoder
        .read_image(&mut buffer[..output])
        .map_err(|e| e.to_string())?;
    let picture = into_rgb(buffer, usize::from(color.channel_count()), header)?;
    Ok((picture, orientation))
}

/// PNG through the `png` crate itself: colour profiles and text chunks are skipped unread, and
/// 16-bit samples, palettes and low bit depths become 8-bit channels while decoding.
fn decode_png(bytes: &[u8], header: &Header) -> Decoded {
    let mut decoder = png::Decoder::new_with_limits(
        Cursor::new(bytes),
        png::Limits {
            bytes: PNG_METADATA_LIMIT,
        },
    );
    decoder.set_ignore_iccp_chunk(true);
    decoder.set_ignore_text_chunk(true);
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().map_err(|e| e.to_string())?;
    let info = reader.info();
    if (info.width, info.height) != (header.width, header.height) {
        return Err("the decoder disagrees with the header about the size".into());
    }
    let orientation = info
        .exif_metadata
        .as_deref()
        .and_then(Orientation::from_exif_chunk)
        .unwrap_or(Orientation::NoTransforms);
    let channels = match reader.output_color_type().0 {
        png::ColorType::Grayscale => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        png::ColorType::Indexed => return Err("palette was not expanded".into()),
    };
    if reader.info().interlaced {
        let output = reader
            .output_buffer_size()
            .ok_or("the image does not fit in memory")?;
        if output as u64 > header.cost {
            return Err("the decoded image is larger than its header said".into());
        }
        let mut buffer = pixel_buffer(header, output);
        reader
            .next_frame(&mut buffer[..output])
            .map_err(|e| e.to_string())?;
        return Ok((into_rgb(buffer, channels, header)?, orientation));
    }
    let row_length = header.width as usize * 3;
    let mut rgb = pixel_buffer(header, 0);
    for out in rgb.chunks_exact_mut(row_length) {
        let row = reader
            .next_row()
            .map_err(|e| e.to_string())?
            .ok_or("the image ends early")?;
        row_into_rgb(row.data(), channels, out)?;
    }
    let picture = RgbImage::from_raw(header.width, header.height, rgb)
        .ok_or("pixel buffer has the wrong length")?;
    Ok((picture, orientation))
}

/// Transparent pixels become white: JPEG has no transparency, and white is what a transparent
/// picture shows on the page.
fn over_white(c: u8, alpha: u8) -> u8 {
    let (c, a) = (u16::from(c), u16::from(alpha));
    ((c * a + 255 * (255 - a)) / 255) as u8
}

/// One row of `channels`-byte pixels into RGB.
fn row_into_rgb(row: &[u8], channels: usize, out: &mut [u8]) -> Result<(), String> {
    if row.len() * 3 != out.len() * channels {
        return Err("a row has the wrong length".into());
    }
    for (pixel, rgb) in row.chunks_exact(channels).zip(out.chunks_exact_mut(3)) {
        match *pixel {
            [grey] => rgb.fill(grey),
            [grey, alpha] => rgb.fill(over_white(grey, alpha)),
            [r, g, b] => rgb.copy_from_slice(&[r, g, b]),
            [r, g, b, a] => {
                rgb.copy_from_slice(&[over_white(r, a), over_white(g, a), over_white(b, a)])
            }
            _ => return Err(format!("unexpected {channels}-channel pixels")),
        }
    }
    Ok(())
}

/// Turns `channels`-byte pixels (grey, grey+alpha, RGB, RGBA) at the start of `buffer` into RGB
/// in the same buffer, flattening transparency onto white. Widening runs back to front and
/// narrowing front to back, so no pixel is overwritten before it is read.
fn into_rgb(mut buffer: Vec<u8>, channels: usize, header: &Header) -> Result<RgbImage, String> {
    let n = (pixels(header.width, header.height)) as usize;
    if buffer.len() < n * channels.max(3) {
        return Err("pixel buffer too small".into());
    }
    match channels {
        1 => {
            for i in (0..n).rev() {
                let grey = buffer[i];
                buffer[3 * i..3 * i + 3].fill(grey);
            }
        }
        2 => {
            for i in (0..n).rev() {
                let grey = over_white(buffer[2 * i], buffer[2 * i + 1]);
                buffer[3 * i..3 * i + 3].fill(grey);
            }
        }
        3 => {}
        4 => {
            for i in 0..n {
                let [r, g, b, a] = [0, 1, 2, 3].map(|k| buffer[4 * i + k]);
                buffer[3 * i] = over_white(r, a);
                buffer[3 * i + 1] = over_white(g, a);
                buffer[3 * i + 2] = over_white(b, a);
            }
        }
        _ => return Err(format!("unexpected {channels}-channel pixels")),
    }
    buffer.truncate(n * 3);
    RgbImage::from_raw(header.width, header.height, buffer)
        .ok_or_else(|| "pixel buffer has the wrong length".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::codecs::jpeg::JpegEncoder;

    const BOUNDS: Bounds = Bounds {
        max_dimension: 8000,
        max_pixels: 50_000_000,
        max_cost: 200_000_000,
    };

    fn jpeg(picture: &RgbImage) -> Vec<u8> {
        let mut full = Vec::new();
        JpegEncoder::new_with_quality(&mut full, 80)
            .encode_image(picture)
            .unwrap();
        full
    }

    #[test]
    fn jpegs_must_reach_their_end_marker() {
        let picture = RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8 * 4, y as u8 * 5, 90]));
        let full = jpeg(&picture);
        let frame = jpeg_frame(&full).unwrap();
        assert_eq!((frame.width, frame.height, frame.components), (64, 48, 3));
        assert!(!frame.progressive);
        let mut with_trailer = full.clone();
        with_trailer.extend_from_slice(b"camera trailer");
        assert!(jpeg_frame(&with_trailer).is_some());
        for cut in [full.len() - 2, full.len() / 2, 100, 3] {
            assert!(jpeg_frame(&full[..cut]).is_none(), "cut at {cut}");
        }
    }

    #[test]
    fn a_header_over_the_pixel_budget_is_refused_before_decoding() {
        // A PNG signature and an IHDR claiming 7100x7100 (50.4 MP), and nothing else: there is
        // nothing to decode, so only the header can have refused it.
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        png.extend_from_slice(&7100u32.to_be_bytes());
        png.extend_from_slice(&7100u32.to_be_bytes());
        png.extend_from_slice(&[8, 6, 0, 0, 0]);
        assert!(matches!(
            inspect(&png, &BOUNDS),
            Err(DomainError::ImageTooLarge(_))
        ));
        let within = Bounds {
            max_pixels: 51_000_000,
            max_cost: 400_000_000,
            ..BOUNDS
        };
        // Not interlaced: decoded a row at a time straight into RGB.
        assert_eq!(
            inspect(&png, &within).unwrap().cost,
            7100 * 7100 * 3 + 7100 * 8
        );
    }

    #[test]
    fn pixels_become_rgb_in_place_with_transparency_on_white() {
        let header = Header {
            format: Format::Png,
            width: 2,
            height: 1,
            cost: 8,
        };
        let mut buffer = vec![0u8; 8];
        buffer[..4].copy_from_slice(&[10, 255, 200, 0]);
        let grey_alpha = into_rgb(buffer, 2, &header).unwrap();
        assert_eq!(grey_alpha.as_raw(), &[10, 10, 10, 255, 255, 255]);
        let rgba = vec![1, 2, 3, 255, 0, 0, 0, 0];
        assert_eq!(
            into_rgb(rgba, 4, &header).unwrap().as_raw(),
            &[1, 2, 3, 255, 255, 255]
        );
        let grey = vec![7, 9, 0, 0, 0, 0];
        assert_eq!(
            into_rgb(grey, 1, &header).unwrap().as_raw(),
            &[7, 7, 7, 9, 9, 9]
        );
        assert!(into_rgb(vec![0; 5], 3, &header).is_err());
    }

    #[test]
    fn rows_become_rgb_with_transparency_on_white() {
        let mut out = [0u8; 6];
        row_into_rgb(&[9, 255, 9, 0], 2, &mut out).unwrap();
        assert_eq!(out, [9, 9, 9, 255, 255, 255]);
        row_into_rgb(&[1, 2, 3, 255, 1, 2, 3, 0], 4, &mut out).unwrap();
        assert_eq!(out, [1, 2, 3, 255, 255, 255]);
        assert!(row_into_rgb(&[1, 2, 3], 4, &mut out).is_err());
    }
}
