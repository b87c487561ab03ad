//! Exact blocks (kind bit 6): written, read back, copied over a lossy decode block by block,
//! and refused where the section does not hold together.

mod common;
use common::fix_crc;

use aec_format::{
    vp8l_of_webp, AlphaFilter, AlphaPlane, AnyHeader, CodedFile, CodedHeader, ExactBlocks,
    FormatError, ModelKind, EXACT_BLOCK, EXACT_FLAG, UNIT_STEP,
};
use image_webp::{ColorType, WebPEncoder};

/// 40 × 20 pixels: 3 × 2 blocks, the last column 8 pixels wide, the last row 4 high.
const W: u32 = 40;
const H: u32 = 20;
/// Blocks 0, 2 and 4 exact.
const FLAGS: [bool; 6] = [true, false, true, false, true, false];

fn pixels() -> Vec<u8> {
    (0..W * H * 3).map(|i| (i * 37 % 251) as u8).collect()
}

fn vp8l(data: &[u8], width: u32, height: u32) -> Vec<u8> {
    let mut webp = Vec::new();
    WebPEncoder::new(&mut webp)
        .encode(data, width, height, ColorType::Rgb8)
        .unwrap();
    vp8l_of_webp(&webp).unwrap().to_vec()
}

fn file(step: u16) -> CodedFile {
    CodedFile {
        kind: ModelKind::WholeImageHyperprior,
        channels: 3,
        model_id: [1, 2, 3, 4, 5, 6, 7, 8],
        width: W,
        height: H,
        step,
        alpha: None,
        exact: Some(ExactBlocks::from_flags(&FLAGS, vp8l(&pixels(), W, H))),
        payload: vec![9, 8, 7],
    }
}

#[test]
fn files_round_trip_and_say_so_in_their_kind_byte() {
    for (step, kind) in [(UNIT_STEP, 0x42), (192, 0x43)] {
        let f = file(step);
        let bytes = f.to_bytes().unwrap();
        assert_eq!(bytes[5], kind);
        assert_eq!(bytes.len(), f.encoded_len());
        assert_eq!(CodedFile::from_bytes(&bytes).unwrap(), f);
        let AnyHeader::V2(h) = AnyHeader::parse(&bytes).unwrap() else {
            panic!("version 2");
        };
        assert!(h.exact && !h.alpha);
        assert_eq!(h.kind_byte(), kind);
        // The section follows the header: map, length, bitstream; then the payload.
        let start = h.encoded_len();
        assert_eq!(bytes[start], 0b1_0101);
        let e = f.exact.as_ref().unwrap();
        assert_eq!(e.exact_count(), 3);
        let len = u32::from_le_bytes(bytes[start + 1..start + 5].try_into().unwrap());
        assert_eq!(len as usize, e.bitstream.len());
        assert_eq!(&bytes[bytes.len() - 7..bytes.len() - 4], &[9, 8, 7]);
    }
}

#[test]
fn exact_blocks_replace_the_lossy_pixels_and_no_others() {
    let f = file(UNIT_STEP);
    let source = pixels();
    let mut rgb = vec![7u8; source.len()];
    f.apply_exact(&mut rgb).unwrap();
    let b = EXACT_BLOCK as usize;
    for y in 0..H as usize {
        for x in 0..W as usize {
            let block = y / b * 3 + x / b;
            let i = (y * W as usize + x) * 3;
            let want = if FLAGS[block] {
                &source[i..i + 3]
            } else {
                &[7, 7, 7][..]
            };
            assert_eq!(&rgb[i..i + 3], want, "({x}, {y}), block {block}");
        }
    }
    // A file without the section leaves the decode as it is; a buffer of another size is
    // refused.
    let plain = CodedFile {
        exact: None,
        ..f.clone()
    };
    let mut same = vec![7u8; source.len()];
    plain.apply_exact(&mut same).unwrap();
    assert!(same.iter().all(|&v| v == 7));
    assert!(matches!(
        f.apply_exact(&mut [0; 3]),
        Err(FormatError::Invalid { .. })
    ));
}

#[test]
fn damaged_sections_are_refused_with_their_place() {
    let bytes = file(UNIT_STEP).to_bytes().unwrap();
    let start = CodedHeader::parse(&bytes).unwrap().encoded_len();
    let refuse = |b: Vec<u8>| CodedFile::from_bytes(&fix_crc(b)).unwrap_err();
    // A bit past the six blocks.
    let mut b = bytes.clone();
    b[start] |= 0x40;
    assert!(
        matches!(refuse(b), FormatError::ExactBlocks { offset, .. } if offset == start),
        "bits past the map"
    );
    // Every block, and none.
    for map in [0x3f, 0] {
        let mut b = bytes.clone();
        b[start] = map;
        assert!(
            matches!(refuse(b), FormatError::ExactBlocks { .. }),
            "{map}"
        );
    }
    // A length past the end.
    let mut b = bytes.clone();
    b[start + 3] = 0x10;
    assert!(matches!(refuse(b), FormatError::Truncated { .. }));
    // A bitstream of another size.
    let other = vp8l(&pixels()[..20 * 20 * 3], 20, H);
    let mut f = file(UNIT_STEP);
    f.exact.as_mut().unwrap().bitstream = other;
    assert!(matches!(f.to_bytes(), Err(FormatError::Invalid { .. })));
    // Kind bits that exact blocks do not go with: a lossless or tiled file, an alpha section.
    for kind in [0x44, 0x41, 0xc2] {
        let mut b = bytes.clone();
        b[5] = kind;
        assert!(
            matches!(refuse(b), FormatError::UnsupportedKind { .. }),
            "kind {kind:#x}"
        );
    }
    // A grey source.
    let mut b = bytes.clone();
    b[6] = 1;
    assert!(matches!(
        refuse(b),
        FormatError::ExactBlocks { offset: 6, .. }
    ));
    // Nor are such files written.
    let with_alpha = CodedFile {
        channels: 4,
        alpha: Some(AlphaPlane {
            filter: AlphaFilter::None,
            stream: vec![1],
        }),
        ..file(UNIT_STEP)
    };
    assert!(matches!(
        with_alpha.to_bytes(),
        Err(FormatError::Invalid { .. })
    ));
    let grey = CodedFile {
        channels: 1,
        ..file(UNIT_STEP)
    };
    assert!(matches!(grey.to_bytes(), Err(FormatError::Invalid { .. })));
    assert_eq!(EXACT_FLAG, 0x40);
}
