//! Kind 4 (lossless) files: written, read back to the same pixels, and refused where their
//! header and bitstream disagree.

mod common;
use common::fix_crc;

use aec_format::{
    vp8l_of_webp, AnyFile, CodedFile, FormatError, ModelKind, LOSSLESS_MAX_SIDE, UNIT_STEP,
};
use image_webp::{ColorType, WebPEncoder};

/// Pixels with flat runs, edges and noise, `channels` 3 or 4.
fn pixels(width: u32, height: u32, channels: usize) -> Vec<u8> {
    let mut state = 12345u32;
    let mut out = Vec::new();
    for y in 0..height {
        for x in 0..width {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let flat = (x / 7 + y / 5) % 3 == 0;
            let noise = if flat { 0 } else { (state >> 24) as u8 };
            out.extend([x as u8 ^ noise, y as u8, (x * y) as u8]);
            if channels == 4 {
                out.push(if x % 3 == 0 { 255 } else { (state >> 16) as u8 });
            }
        }
    }
    out
}

fn vp8l(data: &[u8], width: u32, height: u32, channels: usize) -> Vec<u8> {
    let mut webp = Vec::new();
    let colour = if channels == 4 {
        ColorType::Rgba8
    } else {
        ColorType::Rgb8
    };
    WebPEncoder::new(&mut webp)
        .encode(data, width, height, colour)
        .unwrap();
    vp8l_of_webp(&webp)
        .expect("a simple lossless file")
        .to_vec()
}

fn file(width: u32, height: u32, channels: u8) -> (CodedFile, Vec<u8>) {
    let samples = if channels.is_multiple_of(2) { 4 } else { 3 };
    let data = pixels(width, height, samples);
    let payload = vp8l(&data, width, height, samples);
    let f = CodedFile {
        kind: ModelKind::Lossless,
        channels,
        model_id: [0; 8],
        width,
        height,
        step: UNIT_STEP,
        alpha: None,
        exact: None,
        payload,
    };
    (f, data)
}

#[test]
fn lossless_files_give_back_their_pixels() {
    for (w, h, channels) in [
        (1, 1, 3),
        (37, 23, 3),
        (200, 3, 4),
        (64, 64, 1),
        (5, 130, 2),
    ] {
        let (f, data) = file(w, h, channels);
        let bytes = f.to_bytes().unwrap();
        assert_eq!(bytes[5], 4);
        assert_eq!(bytes.len(), f.encoded_len());
        let AnyFile::V2(back) = AnyFile::from_bytes(&bytes).unwrap() else {
            panic!("version 2")
        };
        assert_eq!(back, f);
        let p = back.decode_lossless().unwrap();
        assert_eq!((p.width, p.height, p.alpha), (w, h, channels % 2 == 0));
        assert_eq!(p.data, data, "{w}×{h}, {channels} channels");
    }
}

#[test]
fn lossless_headers_are_checked() {
    let (f, _) = file(37, 23, 3);
    let b = f.to_bytes().unwrap();
    let edit = |i: usize, v: u8| {
        let mut m = b.clone();
        m[i] = v;
        CodedFile::from_bytes(&fix_crc(m)).unwrap_err()
    };
    // A model id, and the alpha bit (the alpha is in the bitstream).
    assert!(matches!(
        edit(9, 1),
        FormatError::Lossless { offset: 7, .. }
    ));
    assert!(matches!(
        edit(5, 0x84),
        FormatError::UnsupportedKind { kind: 0x84 }
    ));
    // A header whose size is not the bitstream's.
    assert!(matches!(
        edit(15, 36),
        FormatError::Lossless { offset: 18, .. }
    ));
    // Alpha in the bitstream of a file of three channels.
    let (rgba, _) = file(20, 20, 4);
    let three = CodedFile {
        channels: 3,
        ..rgba
    };
    assert!(matches!(
        three.to_bytes(),
        Err(FormatError::Invalid {
            field: "payload",
            ..
        })
    ));
    let mut m = three.clone();
    m.channels = 4;
    let mut b = m.to_bytes().unwrap();
    b[6] = 3;
    assert!(matches!(
        CodedFile::from_bytes(&fix_crc(b)).unwrap_err(),
        FormatError::Lossless { offset: 21, .. }
    ));
    // Sides over what a bitstream holds, and a bitstream that is not one.
    let big = CodedFile {
        width: LOSSLESS_MAX_SIDE + 1,
        ..f.clone()
    };
    assert!(matches!(big.to_bytes(), Err(FormatError::Invalid { .. })));
    let mut m = f.clone();
    m.payload[0] = 0x2e;
    assert!(m.to_bytes().is_err());
    m.payload.truncate(3);
    assert!(m.to_bytes().is_err());
}

#[test]
fn damaged_bitstreams_are_refused_or_decoded_never_a_panic() {
    let (f, _) = file(48, 40, 4);
    let b = f.to_bytes().unwrap();
    let start = b.len() - 4 - f.payload.len();
    for bit in 8 * start..8 * (b.len() - 4) {
        let mut m = b.clone();
        m[bit / 8] ^= 1 << (bit % 8);
        if let Ok(file) = CodedFile::from_bytes(&fix_crc(m)) {
            if let Ok(p) = file.decode_lossless() {
                assert_eq!(p.data.len(), 48 * 40 * if p.alpha { 4 } else { 3 });
            }
        }
    }
    let cut = |n: usize| {
        let mut m = b[..n].to_vec();
        m.extend([0; 4]);
        CodedFile::from_bytes(&fix_crc(m)).and_then(|f| f.decode_lossless())
    };
    for n in start..b.len() - 4 {
        let _ = cut(n);
    }
    assert!(cut(start + f.payload.len() / 2).is_err());
}
