//! Arbitrary bytes through the whole decoder: the file's model found among the built-in ones
//! by its id, then `ImageCodec::decode_bytes`, as `aec decompress` does. It may refuse a file,
//! never panic; an image it returns has the header's size, the kind (grey or RGB) the
//! header's channel count gives, and an alpha channel where the file has an alpha plane.
//!
//! Each input is tried as given and with its last four bytes replaced by the CRC-32 of the
//! bytes before them, so that mutations of a valid file reach the symbol stream, the
//! entropy decoder and the networks. The pixel limit is 64×64, so that a header can ask for
//! no more work than a small image's.
#![no_main]

use aec::codec::Builtin;
use aec_format::AnyHeader;
use libfuzzer_sys::fuzz_target;

/// The largest image a fuzzed header may declare and still be decoded.
const MAX_PIXELS: u64 = 64 * 64;

#[path = "codecs.rs"]
mod codecs;

fn with_crc_fixed(data: &[u8]) -> Option<Vec<u8>> {
    let n = data.len().checked_sub(4)?;
    let mut bytes = data.to_vec();
    let crc = crc32fast::hash(&data[..n]);
    bytes[n..].copy_from_slice(&crc.to_le_bytes());
    Some(bytes)
}

fn check(bytes: &[u8]) {
    let Ok(header) = AnyHeader::parse(bytes) else {
        return;
    };
    let Some(model) = Builtin::of_model_id(header.model_id()) else {
        return;
    };
    if let Ok(image) = codecs::codec(model, MAX_PIXELS).decode_bytes(bytes) {
        assert_eq!(
            (image.width(), image.height()),
            (header.width(), header.height())
        );
        assert!(u64::from(image.width()) * u64::from(image.height()) <= MAX_PIXELS);
        assert_eq!(image.color().has_color(), header.channels() > 2);
        assert_eq!(image.color().has_alpha(), header.has_alpha());
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    if let Some(fixed) = with_crc_fixed(data) {
        if fixed != data {
            check(&fixed);
        }
    }
});
