//! Kind 4 files: the image's pixels, exactly, as a WebP lossless bitstream (SPEC.md §13.6).
//!
//! Screenshots, drawings and other flat-coloured images often cost fewer bytes stored exactly
//! than any lossy code of them; the writer then stores them so. The payload is the bitstream
//! of RFC 9649 §3 (what a WebP file's `VP8L` chunk holds), read here by the `image-webp` crate.

use std::io::Cursor;

use crate::{CodedFile, CodedHeader, FormatError, ModelKind};

/// Largest width or height of a kind 4 file (a VP8L header holds sides of 1 to 16,384; this
/// reader stays one below, where every decoder agrees on them).
pub const LOSSLESS_MAX_SIDE: u32 = 16383;
/// Length of a VP8L bitstream's header: the signature byte and 32 bits of fields.
pub const VP8L_HEADER_LEN: usize = 5;
/// The signature byte a VP8L bitstream starts with.
const VP8L_SIGNATURE: u8 = 0x2f;

/// What a VP8L bitstream's header says (RFC 9649 §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vp8lHeader {
    /// Width in pixels, 1 to 16,384.
    pub width: u32,
    /// Height in pixels, 1 to 16,384.
    pub height: u32,
    /// The `alpha_is_used` bit: the decoded pixels carry alpha.
    pub alpha: bool,
}

impl Vp8lHeader {
    /// Reads the header at the start of `payload`; `offset` is the payload's place in the
    /// file, for errors.
    pub fn parse(payload: &[u8], offset: usize) -> Result<Vp8lHeader, FormatError> {
        let Some(head) = payload.get(..VP8L_HEADER_LEN) else {
            return Err(FormatError::Truncated {
                offset,
                needed: VP8L_HEADER_LEN - payload.len(),
            });
        };
        if head[0] != VP8L_SIGNATURE {
            return Err(lossless(
                offset,
                format!(
                    "signature {:#04x}, a VP8L bitstream starts with 0x2f",
                    head[0]
                ),
            ));
        }
        let bits = u32::from_le_bytes(head[1..].try_into().expect("4 bytes"));
        if bits >> 29 != 0 {
            return Err(lossless(
                offset + 4,
                format!("VP8L version {}, only 0 is defined", bits >> 29),
            ));
        }
        Ok(Vp8lHeader {
            width: (bits & 0x3fff) + 1,
            height: ((bits >> 14) & 0x3fff) + 1,
            alpha: (bits >> 28) & 1 == 1,
        })
    }
}

/// The VP8L bitstream inside a simple lossless WebP file (`RIFF`, `WEBP`, one `VP8L` chunk and
/// nothing after it but its pad byte), or `None` for any other file.
pub fn vp8l_of_webp(webp: &[u8]) -> Option<&[u8]> {
    let (riff, rest) = webp.split_at_checked(12)?;
    if &riff[..4] != b"RIFF" || &riff[8..] != b"WEBP" {
        return None;
    }
    let (chunk, body) = rest.split_at_checked(8)?;
    if &chunk[..4] != b"VP8L" {
        return None;
    }
    let len = u32::from_le_bytes(chunk[4..].try_into().expect("4 bytes")) as usize;
    let padded = len.checked_add(len & 1)?;
    (body.len() == padded).then(|| &body[..len])
}

fn lossless(offset: usize, reason: String) -> FormatError {
    FormatError::Lossless { offset, reason }
}

/// Checks a kind 4 header's fields: no model id (all zero), no alpha section (the alpha is in
/// the payload), sides of at most [`LOSSLESS_MAX_SIDE`].
pub(crate) fn check_header(h: &CodedHeader) -> Result<(), FormatError> {
    if h.model_id != [0; 8] {
        return Err(lossless(
            7,
            "model id is not zero: a lossless file has no model".into(),
        ));
    }
    check_sides(h, "a lossless file's", lossless)
}

/// Checks that a header's sides are at most [`LOSSLESS_MAX_SIDE`], as a lossless bitstream's
/// (`whose` names the file or section in the error `err` makes).
pub(crate) fn check_sides(
    h: &CodedHeader,
    whose: &str,
    err: fn(usize, String) -> FormatError,
) -> Result<(), FormatError> {
    if h.width > LOSSLESS_MAX_SIDE || h.height > LOSSLESS_MAX_SIDE {
        return Err(err(
            crate::CODED_WIDTH_OFFSET,
            format!(
                "{}×{} pixels: {whose} sides are at most {LOSSLESS_MAX_SIDE}",
                h.width, h.height
            ),
        ));
    }
    Ok(())
}

/// Checks a kind 4 payload's VP8L header against the file's: the same sides, and alpha only
/// in a file of 2 or 4 channels.
pub(crate) fn check_payload(
    h: &CodedHeader,
    payload: &[u8],
    offset: usize,
) -> Result<Vp8lHeader, FormatError> {
    let v = Vp8lHeader::parse(payload, offset)?;
    if (v.width, v.height) != (h.width, h.height) {
        return Err(lossless(
            offset + 1,
            format!(
                "the bitstream is {}×{} pixels, the file {}×{}",
                v.width, v.height, h.width, h.height
            ),
        ));
    }
    if v.alpha && h.channels % 2 == 1 {
        return Err(lossless(
            offset + 4,
            format!(
                "the bitstream has alpha, a source of {} channel(s) none",
                h.channels
            ),
        ));
    }
    Ok(v)
}

/// The pixels of a lossless file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LosslessPixels {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Whether `data` is RGBA (else RGB).
    pub alpha: bool,
    /// The pixels, row by row, RGB or RGBA, 8 bits a sample.
    pub data: Vec<u8>,
}

impl CodedFile {
    /// Decodes a kind 4 file's pixels: RGBA where its bitstream says alpha is used, RGB
    /// otherwise (its alpha, if any, ignored). Allocates the image (and, for RGB, a second
    /// plane of 4 bytes a pixel while decoding) only after the headers agree.
    pub fn decode_lossless(&self) -> Result<LosslessPixels, FormatError> {
        let h = self.header();
        if h.kind != ModelKind::Lossless {
            return Err(FormatError::Invalid {
                field: "kind",
                reason: "not a lossless file".into(),
            });
        }
        let offset = h.encoded_len();
        let v = check_payload(&h, &self.payload, offset)?;
        Ok(LosslessPixels {
            width: v.width,
            height: v.height,
            alpha: v.alpha,
            data: decode_vp8l(&self.payload, offset)?,
        })
    }
}

/// Decodes a VP8L bitstream whose header has been checked: RGBA where it says alpha is used,
/// RGB otherwise; `offset` is its place in the file, for errors.
pub(crate) fn decode_vp8l(bitstream: &[u8], offset: usize) -> Result<Vec<u8>, FormatError> {
    // image-webp reads a whole WebP file: the bitstream goes into a RIFF `VP8L` chunk.
    let mut riff = Vec::with_capacity(bitstream.len() + 21);
    let chunk = bitstream.len() as u32;
    let padded = chunk + (chunk & 1);
    riff.extend_from_slice(b"RIFF");
    riff.extend_from_slice(&(4 + 8 + padded).to_le_bytes());
    riff.extend_from_slice(b"WEBPVP8L");
    riff.extend_from_slice(&chunk.to_le_bytes());
    riff.extend_from_slice(bitstream);
    if chunk & 1 == 1 {
        riff.push(0);
    }
    let fail = |e: image_webp::DecodingError| lossless(offset, e.to_string());
    let mut decoder = image_webp::WebPDecoder::new(Cursor::new(riff)).map_err(fail)?;
    let size = decoder
        .output_buffer_size()
        .ok_or_else(|| lossless(offset, "image too large".into()))?;
    let mut data = vec![0; size];
    decoder.read_image(&mut data).map_err(fail)?;
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(width: u32, height: u32, alpha: bool) -> [u8; 5] {
        let bits = (width - 1) | ((height - 1) << 14) | (u32::from(alpha) << 28);
        let b = bits.to_le_bytes();
        [0x2f, b[0], b[1], b[2], b[3]]
    }

    #[test]
    fn vp8l_headers_are_read_and_refused() {
        let v = Vp8lHeader::parse(&header(640, 400, true), 0).unwrap();
        assert_eq!((v.width, v.height, v.alpha), (640, 400, true));
        let v = Vp8lHeader::parse(&header(16384, 1, false), 0).unwrap();
        assert_eq!((v.width, v.height, v.alpha), (16384, 1, false));
        assert!(matches!(
            Vp8lHeader::parse(&header(3, 3, false)[..4], 20),
            Err(FormatError::Truncated {
                offset: 20,
                needed: 1
            })
        ));
        let mut bad = header(3, 3, false);
        bad[0] = 0x2e;
        assert!(matches!(
            Vp8lHeader::parse(&bad, 20),
            Err(FormatError::Lossless { offset: 20, .. })
        ));
        let mut bad = header(3, 3, false);
        bad[4] |= 0x20;
        assert!(matches!(
            Vp8lHeader::parse(&bad, 20),
            Err(FormatError::Lossless { offset: 24, .. })
        ));
    }
}
