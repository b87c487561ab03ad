//! Edge cases of reading and writing.

use std::io::{self, Read};

use aec_format::{AecFile, Codes, FormatError, Layout, Limits, Precision, HEADER_LEN, OVERHEAD};

fn sample(layout: Layout, precision: Precision, code_length: u32, values: &[f32]) -> AecFile {
    let tiles = values.len() / code_length as usize;
    AecFile {
        model_id: *b"0123456789abcdef",
        width: 8 * tiles as u32,
        height: 5,
        channels: 3,
        tile_size: 8,
        code_length,
        layout,
        codes: Codes::from_f32(values, precision),
    }
}

/// A few valid files covering both layouts and precisions.
fn samples() -> Vec<AecFile> {
    let mut v: Vec<f32> = (0..48).map(|i| (i as f32 - 20.0) / 8.0).collect();
    v[7] = 0.0;
    v[30] = -0.0;
    let mut sparse = vec![0.0f32; 3 * 40];
    for &i in &[0, 1, 39, 41, 50, 60, 70, 80, 90, 100, 110, 119] {
        sparse[i] = i as f32 + 0.5;
    }
    vec![
        sample(Layout::Dense, Precision::F32, 16, &v),
        sample(Layout::Dense, Precision::F16, 24, &v),
        sample(Layout::Sparse, Precision::F32, 40, &sparse),
        sample(Layout::Sparse, Precision::F16, 40, &sparse),
        sample(Layout::Sparse, Precision::F16, 12, &v),
    ]
}

#[test]
fn samples_roundtrip() {
    for f in samples() {
        let b = f.to_bytes().unwrap();
        assert_eq!(b.len(), f.encoded_len());
        assert_eq!(AecFile::from_bytes(&b).unwrap(), f);
        let mut w = Vec::new();
        f.write_to(&mut w).unwrap();
        assert_eq!(w, b);
    }
}

#[test]
fn every_truncation_is_an_error() {
    for f in samples() {
        let b = f.to_bytes().unwrap();
        for n in 0..b.len() {
            let e = AecFile::from_bytes(&b[..n]).expect_err("truncated input accepted");
            // The header fixes the payload size (dense) or the walk over the
            // tile records runs past the cut (sparse): always "truncated".
            assert!(
                matches!(e, FormatError::Truncated { .. }),
                "cut at {n}: {e}"
            );
            assert!(AecFile::read_from(&b[..n], &Limits::default()).is_err());
        }
    }
}

#[test]
fn every_single_bit_flip_is_rejected() {
    for f in samples() {
        let b = f.to_bytes().unwrap();
        for byte in 0..b.len() {
            for bit in 0..8 {
                let mut m = b.clone();
                m[byte] ^= 1 << bit;
                assert!(
                    AecFile::from_bytes(&m).is_err(),
                    "flip of bit {bit} in byte {byte} accepted"
                );
            }
        }
    }
}

#[test]
fn payload_bit_flip_is_a_crc_mismatch() {
    let f = &samples()[0];
    let mut b = f.to_bytes().unwrap();
    b[HEADER_LEN + 5] ^= 0x40;
    assert!(matches!(
        AecFile::from_bytes(&b),
        Err(FormatError::CrcMismatch { .. })
    ));
}

#[test]
fn empty_and_tiny_inputs() {
    let e = AecFile::from_bytes(&[]).unwrap_err();
    assert!(
        matches!(
            e,
            FormatError::Truncated {
                offset: 0,
                needed: 4
            }
        ),
        "{e}"
    );
    assert_eq!(e.to_string(), "truncated at byte 0: needs 4 more bytes");
    let e = AecFile::from_bytes(&aec_format::MAGIC).unwrap_err();
    assert!(
        matches!(
            e,
            FormatError::Truncated {
                offset: 4,
                needed: 1
            }
        ),
        "{e}"
    );
    let e = AecFile::from_bytes(b"GIF89a").unwrap_err();
    assert!(matches!(e, FormatError::BadMagic { found } if &found == b"GIF8"));
}

#[test]
fn truncation_message_names_offset_and_shortfall() {
    // One f16 tile of 128 values: payload 256 bytes starting at byte 32.
    let f = sample(Layout::Dense, Precision::F16, 128, &[1.0; 128]);
    let b = f.to_bytes().unwrap();
    assert_eq!(b.len(), OVERHEAD + 256);
    let e = AecFile::from_bytes(&b[..40]).unwrap_err();
    assert_eq!(e.to_string(), "truncated at byte 32: needs 252 more bytes");
}

#[test]
fn index_widths() {
    // Code length 256: u8 indices reach 255.
    let mut v = vec![0.0f32; 256];
    v[3] = 1.0;
    v[255] = 2.0;
    let f = sample(Layout::Sparse, Precision::F32, 256, &v);
    let b = f.to_bytes().unwrap();
    assert_eq!(&b[32..36], &[2, 0, 3, 255]);
    assert_eq!(b.len(), OVERHEAD + 2 + 2 + 8);
    assert_eq!(AecFile::from_bytes(&b).unwrap(), f);

    // Code length 257: u16 indices.
    let mut v = vec![0.0f32; 257];
    v[3] = 1.0;
    v[256] = 2.0;
    let f = sample(Layout::Sparse, Precision::F16, 257, &v);
    let b = f.to_bytes().unwrap();
    assert_eq!(&b[32..38], &[2, 0, 3, 0, 0, 1]);
    assert_eq!(b.len(), OVERHEAD + 2 + 4 + 4);
    assert_eq!(AecFile::from_bytes(&b).unwrap(), f);
}

/// Length of the position record of a one-tile sparse file with `k` values.
fn selector_len(code_length: u32, k: usize) -> usize {
    let mut v = vec![0.0f32; code_length as usize];
    for x in v.iter_mut().take(k) {
        *x = 1.0;
    }
    let f = sample(Layout::Sparse, Precision::F16, code_length, &v);
    let b = f.to_bytes().unwrap();
    assert_eq!(AecFile::from_bytes(&b).unwrap(), f);
    b.len() - OVERHEAD - 2 - 2 * k
}

#[test]
fn bitmap_versus_index_list() {
    // Code length 64: bitmap is 8 bytes, u8 indices.
    assert_eq!(selector_len(64, 0), 0);
    assert_eq!(selector_len(64, 7), 7);
    assert_eq!(selector_len(64, 8), 8); // tie: bitmap
    assert_eq!(selector_len(64, 9), 8);
    assert_eq!(selector_len(64, 64), 8);
    // Code length 300: bitmap is 38 bytes, u16 indices.
    assert_eq!(selector_len(300, 18), 36);
    assert_eq!(selector_len(300, 19), 38); // tie: bitmap
    assert_eq!(selector_len(300, 300), 38);
    // Code length 1..=8: bitmap of 1 byte; only k = 0 uses the (empty) list.
    assert_eq!(selector_len(1, 0), 0);
    assert_eq!(selector_len(1, 1), 1);
    assert_eq!(selector_len(8, 1), 1);

    // On a tie the bits really are a bitmap: indices 0..8 -> 0xff, then zeros.
    let mut v = vec![0.0f32; 64];
    for x in v.iter_mut().take(8) {
        *x = 1.0;
    }
    let b = sample(Layout::Sparse, Precision::F16, 64, &v)
        .to_bytes()
        .unwrap();
    assert_eq!(&b[32..42], &[8, 0, 0xff, 0, 0, 0, 0, 0, 0, 0]);
}

#[test]
fn negative_zero_is_not_stored_in_sparse() {
    let f = sample(Layout::Sparse, Precision::F32, 4, &[-0.0, 1.0, 0.0, -0.0]);
    let b = f.to_bytes().unwrap();
    // k = 1, bitmap 0b0010, one value.
    assert_eq!(&b[32..35], &[1, 0, 0b0010]);
    let back = AecFile::from_bytes(&b).unwrap();
    assert_eq!(back, f);
    assert_eq!(back.codes.to_f32()[0].to_bits(), 0);
}

#[test]
fn dense_keeps_negative_zero_bits() {
    let f = sample(Layout::Dense, Precision::F16, 2, &[-0.0, 0.0]);
    let back = AecFile::from_bytes(&f.to_bytes().unwrap()).unwrap();
    let bits: Vec<u32> = back.codes.to_f32().iter().map(|v| v.to_bits()).collect();
    assert_eq!(bits, [0x8000_0000, 0]);
}

#[test]
fn validate_rejects_bad_files() {
    let good = sample(Layout::Dense, Precision::F32, 4, &[1.0; 8]);
    good.validate().unwrap();
    type Change = Box<dyn Fn(&mut AecFile)>;
    let cases: Vec<(&str, Change)> = vec![
        ("width", Box::new(|f| f.width = 0)),
        ("width", Box::new(|f| f.width = 65536)),
        ("height", Box::new(|f| f.height = 0)),
        ("height", Box::new(|f| f.height = 70000)),
        ("tile size", Box::new(|f| f.tile_size = 0)),
        ("tile size", Box::new(|f| f.tile_size = 256)),
        ("code length", Box::new(|f| f.code_length = 0)),
        ("code length", Box::new(|f| f.code_length = 65536)),
        ("channels", Box::new(|f| f.channels = 0)),
        ("channels", Box::new(|f| f.channels = 5)),
        ("codes", Box::new(|f| f.codes = Codes::F32(vec![1.0; 7]))),
        ("codes", Box::new(|f| f.codes = Codes::F32(vec![1.0; 9]))),
        (
            "codes",
            Box::new(|f| f.codes = Codes::F32(vec![f32::NAN; 8])),
        ),
        (
            "codes",
            Box::new(|f| f.codes = Codes::F32(vec![f32::NEG_INFINITY; 8])),
        ),
        (
            "codes",
            Box::new(|f| f.codes = Codes::from_f32(&[1e6; 8], Precision::F16)),
        ),
    ];
    for (field, change) in cases {
        let mut f = good.clone();
        change(&mut f);
        match f.to_bytes() {
            Err(FormatError::Invalid { field: got, .. }) => assert_eq!(got, field),
            other => panic!("{field}: expected Invalid, got {other:?}"),
        }
        assert!(f.write_to(Vec::new()).is_err());
    }
}

#[test]
fn limits_are_enforced() {
    let f = sample(Layout::Sparse, Precision::F16, 40, &[0.5; 120]);
    let b = f.to_bytes().unwrap();
    let ok = Limits::default();
    assert!(AecFile::from_bytes_with_limits(&b, &ok).is_ok());
    let cases = [
        (
            "width",
            Limits {
                max_width: 23,
                ..ok.clone()
            },
        ),
        (
            "height",
            Limits {
                max_height: 4,
                ..ok.clone()
            },
        ),
        (
            "tile count",
            Limits {
                max_tiles: 2,
                ..ok.clone()
            },
        ),
        (
            "code length",
            Limits {
                max_code_length: 39,
                ..ok.clone()
            },
        ),
        (
            "value count",
            Limits {
                max_values: 119,
                ..ok.clone()
            },
        ),
        (
            "file length",
            Limits {
                max_file_len: b.len() as u64 - 1,
                ..ok.clone()
            },
        ),
    ];
    for (what, limits) in cases {
        for e in [
            AecFile::from_bytes_with_limits(&b, &limits).unwrap_err(),
            AecFile::read_from(&b[..], &limits).unwrap_err(),
        ] {
            match e {
                FormatError::LimitExceeded { what: w, .. } => assert_eq!(w, what),
                other => panic!("{what}: {other}"),
            }
        }
    }
    // Exactly at the limits is fine.
    let exact = Limits {
        max_width: 24,
        max_height: 5,
        max_tiles: 3,
        max_code_length: 40,
        max_values: 120,
        max_file_len: b.len() as u64,
        max_symbols: 0, // version 2 only
    };
    assert_eq!(AecFile::from_bytes_with_limits(&b, &exact).unwrap(), f);
    assert_eq!(AecFile::read_from(&b[..], &exact).unwrap(), f);
}

/// Header of a sparse f16 file declaring `tiles_x × 1` tiles of `l` values.
fn sparse_header(width: u16, tile: u8, l: u16) -> Vec<u8> {
    let mut h = aec_format::MAGIC.to_vec();
    h.extend_from_slice(&[1, 1, 1, 3]);
    h.extend_from_slice(&[0; 16]);
    h.extend_from_slice(&width.to_le_bytes());
    h.extend_from_slice(&1u16.to_le_bytes());
    h.extend_from_slice(&[tile, 0]);
    h.extend_from_slice(&l.to_le_bytes());
    h
}

#[test]
fn huge_declared_sizes_fail_fast_on_small_inputs() {
    // 65535 one-pixel tiles of 4096 values: 268M values declared, 40 bytes given.
    let mut b = sparse_header(65535, 1, 4096);
    b.extend_from_slice(&[0; 8]);
    let e = AecFile::from_bytes(&b).unwrap_err();
    assert!(
        matches!(e, FormatError::Truncated { offset: 32, needed } if needed == 36 + 2 * 65535 - 40),
        "{e}"
    );
    // Streaming from an endless source reads only what the header allows.
    let mut r = CountingReader {
        inner: io::repeat(0),
        count: 0,
    };
    let h = sparse_header(65535, 1, 4096);
    let e = AecFile::read_from((&h[..]).chain(&mut r), &Limits::default()).unwrap_err();
    let max = 36 + 65535 * (2 + 512 + 4096 * 2);
    assert!(r.count < max as u64 + 1, "read {} bytes", r.count);
    // All-zero records: every tile has k = 0, so the payload ends after
    // 2 × 65535 bytes and the rest is trailing.
    assert!(
        matches!(e, FormatError::TrailingBytes { offset, .. } if offset == 32 + 2 * 65535),
        "{e}"
    );
}

struct CountingReader<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

#[test]
fn read_from_stops_after_one_file() {
    let f = &samples()[2];
    let b = f.to_bytes().unwrap();
    // Exactly one file: fine.
    assert_eq!(&AecFile::read_from(&b[..], &Limits::default()).unwrap(), f);
    // A dense file followed by more data: the reader takes the file plus one
    // byte and reports trailing data.
    let d = samples()[0].to_bytes().unwrap();
    let mut two = d.clone();
    two.extend_from_slice(&d);
    let mut r = CountingReader {
        inner: &two[..],
        count: 0,
    };
    let e = AecFile::read_from(&mut r, &Limits::default()).unwrap_err();
    assert!(
        matches!(e, FormatError::TrailingBytes { count: 1, .. }),
        "{e}"
    );
    assert_eq!(r.count, d.len() as u64 + 1);
}

#[test]
fn read_from_passes_io_errors() {
    struct Broken;
    impl Read for Broken {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::other("disk on fire"))
        }
    }
    let e = AecFile::read_from(Broken, &Limits::default()).unwrap_err();
    assert!(matches!(e, FormatError::Io(_)));
    assert!(e.to_string().contains("disk on fire"));
}

#[test]
fn reserved_values_are_rejected() {
    let b = samples()[0].to_bytes().unwrap();
    let fix = |mut m: Vec<u8>| {
        let n = m.len() - 4;
        let crc = crc32fast::hash(&m[..n]);
        m[n..].copy_from_slice(&crc.to_le_bytes());
        m
    };
    for v in [0u8, 2, 255] {
        let mut m = b.clone();
        m[4] = v;
        assert!(
            matches!(AecFile::from_bytes(&fix(m)), Err(FormatError::UnsupportedVersion { version, .. }) if version == v)
        );
    }
    for flags in [2u8, 3, 0x80, 0xff] {
        let mut m = b.clone();
        m[5] = flags;
        assert!(matches!(
            AecFile::from_bytes(&fix(m)),
            Err(FormatError::ReservedFlags { .. })
        ));
    }
    for p in [2u8, 3, 255] {
        let mut m = b.clone();
        m[6] = p;
        assert!(
            matches!(AecFile::from_bytes(&fix(m)), Err(FormatError::UnsupportedPrecision { value }) if value == p)
        );
    }
    for c in [0u8, 5, 255] {
        let mut m = b.clone();
        m[7] = c;
        assert!(matches!(
            AecFile::from_bytes(&fix(m)),
            Err(FormatError::BadChannels { .. })
        ));
    }
    for (offset, field) in [(24, "width"), (26, "height"), (30, "code length")] {
        let mut m = b.clone();
        m[offset] = 0;
        m[offset + 1] = 0;
        assert!(
            matches!(AecFile::from_bytes(&fix(m)), Err(FormatError::ZeroField { field: f, .. }) if f == field)
        );
    }
    let mut m = b.clone();
    m[28] = 0;
    assert!(matches!(
        AecFile::from_bytes(&fix(m)),
        Err(FormatError::ZeroField {
            field: "tile size",
            offset: 28
        })
    ));
}

#[test]
fn geometry_helpers() {
    let f = AecFile {
        model_id: [0; 16],
        width: 70,
        height: 33,
        channels: 4,
        tile_size: 32,
        code_length: 2,
        layout: Layout::Dense,
        codes: Codes::F16(vec![half::f16::ONE; 3 * 2 * 2]),
    };
    assert_eq!((f.tiles_x(), f.tiles_y(), f.tile_count()), (3, 2, 6));
    f.validate().unwrap();
    assert_eq!(f.encoded_len(), OVERHEAD + 24);
}

#[test]
fn unbounded_limits_do_not_overflow() {
    let unbounded = Limits {
        max_width: u32::MAX,
        max_height: u32::MAX,
        max_tiles: usize::MAX,
        max_code_length: u32::MAX,
        max_values: usize::MAX,
        max_file_len: u64::MAX,
        max_symbols: usize::MAX,
    };
    for f in samples() {
        let b = f.to_bytes().unwrap();
        assert_eq!(AecFile::read_from(&b[..], &unbounded).unwrap(), f);
        assert_eq!(AecFile::from_bytes_with_limits(&b, &unbounded).unwrap(), f);
    }
    // The largest declarable geometry with no limits still fails on length
    // before allocating: 65535² one-pixel tiles of 65535 values each.
    let mut h = sparse_header(65535, 1, 65535);
    h[26..28].copy_from_slice(&65535u16.to_le_bytes());
    h.extend_from_slice(&[0; 4]);
    assert!(matches!(
        AecFile::from_bytes_with_limits(&h, &unbounded),
        Err(FormatError::Truncated { .. })
    ));
    assert!(matches!(
        AecFile::read_from(&h[..], &unbounded),
        Err(FormatError::Truncated { .. })
    ));
}

/// Rewrites the CRC after a payload edit, so that the parser reaches the value checks.
fn fix_crc(bytes: &mut [u8]) {
    let end = bytes.len() - 4;
    let crc = crc32fast::hash(&bytes[..end]);
    bytes[end..].copy_from_slice(&crc.to_le_bytes());
}

#[test]
fn bad_values_in_bitmap_tiles_are_located() {
    // Two tiles of 16 f32 values, every other one stored: bitmaps, 8 values each.
    let values: Vec<f32> = (0..32)
        .map(|i| if i % 2 == 1 { i as f32 } else { 0.0 })
        .collect();
    let file = sample(Layout::Sparse, Precision::F32, 16, &values);
    let good = file.to_bytes().unwrap();
    assert_eq!(AecFile::from_bytes(&good).unwrap(), file);
    // Tile 1 starts after tile 0's count (2), bitmap (2) and values (32); its 4th stored value
    // (index 7) sits 2 + 2 + 3 * 4 bytes into it.
    let offset = HEADER_LEN + 36 + 2 + 2 + 12;
    for (bits, zero) in [(0u32, true), (0x8000_0000, true), (0x7f80_0000, false)] {
        let mut bytes = good.clone();
        bytes[offset..offset + 4].copy_from_slice(&bits.to_le_bytes());
        fix_crc(&mut bytes);
        let err = AecFile::from_bytes(&bytes).unwrap_err();
        match (zero, err) {
            (
                true,
                FormatError::StoredZero {
                    offset: o,
                    tile,
                    index,
                },
            )
            | (
                false,
                FormatError::NonFinite {
                    offset: o,
                    tile,
                    index,
                },
            ) => {
                assert_eq!((o, tile, index), (offset, 1, 7));
            }
            (_, other) => panic!("unexpected error {other:?} for bits {bits:#x}"),
        }
    }
}
