//! Hostile images as an attacker builds them: small files that claim or inflate to huge sizes.
//! Written chunk by chunk, so the test process never holds the inflated data itself.

use std::io::Write;

use flate2::write::ZlibEncoder;
use flate2::Compression;

/// Zlib-compresses `len` zero bytes without holding them.
fn zlib_zeros(len: u64) -> Vec<u8> {
    let mut encoder = ZlibEncoder::new(Vec::new(), Compression::best());
    let block = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        encoder.write_all(&block[..n]).unwrap();
        left -= n as u64;
    }
    encoder.finish().unwrap()
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = flate2::Crc::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&crc.sum().to_be_bytes());
}

/// A black PNG of `width`x`height` RGBA samples of `bit_depth` (8 or 16) bits, with an iCCP
/// colour profile chunk that inflates to `profile_bytes` (none when 0). The pixel data is real,
/// so a decoder that gets past the header decodes all of it.
pub fn png_rgba(width: u32, height: u32, bit_depth: u8, profile_bytes: u64) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[bit_depth, 6, 0, 0, 0]);
    chunk(&mut png, b"IHDR", &ihdr);
    if profile_bytes > 0 {
        let mut iccp = b"bomb\0\0".to_vec();
        iccp.extend_from_slice(&zlib_zeros(profile_bytes));
        chunk(&mut png, b"iCCP", &iccp);
    }
    let row = 1 + u64::from(width) * 4 * u64::from(bit_depth) / 8;
    chunk(&mut png, b"IDAT", &zlib_zeros(row * u64::from(height)));
    chunk(&mut png, b"IEND", &[]);
    png
}

/// A GIF whose logical screen is `screen` and whose first frame claims `frame` pixels, with one
/// pixel of data: the sizes are what a decoder would allocate for.
pub fn gif(screen: (u16, u16), frame: (u16, u16)) -> Vec<u8> {
    let mut gif = b"GIF89a".to_vec();
    gif.extend_from_slice(&screen.0.to_le_bytes());
    gif.extend_from_slice(&screen.1.to_le_bytes());
    // A global colour table of two entries (black, white), no background, no aspect ratio.
    gif.extend_from_slice(&[0x80, 0, 0, 0, 0, 0, 255, 255, 255]);
    gif.extend_from_slice(&[0x2C, 0, 0, 0, 0]);
    gif.extend_from_slice(&frame.0.to_le_bytes());
    gif.extend_from_slice(&frame.1.to_le_bytes());
    // No local table; LZW minimum code size 2; one pixel of colour 0; trailer.
    gif.extend_from_slice(&[0, 2, 2, 0x44, 0x01, 0, 0x3B]);
    gif
}

/// A PNG header declaring `width`x`height` 8-bit RGB pixels, with one empty IDAT behind it.
pub fn png_header_only(width: u32, height: u32) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(&mut png, b"IDAT", &zlib_zeros(0));
    chunk(&mut png, b"IEND", &[]);
    png
}
