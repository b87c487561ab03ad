//! Version 2 files: the container around the symbol stream, and reading either version.

mod common;
use common::fix_crc;

use aec_format::{
    AecFile, AnyFile, AnyHeader, CodedFile, CodedHeader, Codes, FileHeader, FormatError, Layout,
    Limits, ModelKind, Precision, CODED_HEADER_MAX_LEN, UNIT_STEP,
};

fn coded(width: u32, height: u32, payload: &[u8]) -> CodedFile {
    CodedFile {
        kind: ModelKind::TiledFactorized,
        channels: 3,
        model_id: [1, 2, 3, 4, 5, 6, 7, 8],
        width,
        height,
        step: aec_format::UNIT_STEP,
        alpha: None,
        exact: None,
        payload: payload.to_vec(),
    }
}

fn v1_file() -> AecFile {
    AecFile {
        model_id: [9; 16],
        width: 40,
        height: 20,
        channels: 1,
        tile_size: 32,
        code_length: 4,
        layout: Layout::Dense,
        codes: Codes::from_f32(&[0.5; 8], Precision::F16),
    }
}

#[test]
fn files_round_trip_at_every_varint_length() {
    let sizes = [1u32, 2, 127, 128, 129, 16383, 16384, 16385, 65535];
    for &w in &sizes {
        for &h in &sizes {
            for payload in [&[][..], &[0x80], &[1, 0, 2, 0, 0, 3]] {
                let f = coded(w, h, payload);
                let b = f.to_bytes().unwrap();
                assert_eq!(b.len(), f.encoded_len());
                let header_len = 15
                    + [w, h]
                        .iter()
                        .map(|&v| 1 + usize::from(v >= 128) + usize::from(v >= 16384))
                        .sum::<usize>();
                assert_eq!(f.header().encoded_len(), header_len);
                assert!(header_len <= CODED_HEADER_MAX_LEN);
                assert_eq!(b.len(), header_len + payload.len() + 4);
                assert_eq!(CodedFile::from_bytes(&b).unwrap(), f);
                assert_eq!(AnyFile::from_bytes(&b).unwrap(), AnyFile::V2(f.clone()));
                assert_eq!(AnyHeader::parse(&b).unwrap(), AnyHeader::V2(f.header()));
                // The header alone is enough to read it.
                assert_eq!(CodedHeader::parse(&b[..header_len]).unwrap(), f.header());
            }
        }
    }
}

#[test]
fn a_32x32_image_costs_21_bytes_besides_its_payload() {
    let f = coded(32, 32, &[0x42; 10]);
    assert_eq!(f.to_bytes().unwrap().len(), 21 + 10);
}

#[test]
fn validate_refuses_what_cannot_be_written() {
    let cases = [
        (coded(0, 5, &[]), "width"),
        (coded(65536, 5, &[]), "width"),
        (coded(5, 0, &[]), "height"),
        (coded(5, 70000, &[]), "height"),
        (
            CodedFile {
                channels: 0,
                ..coded(5, 5, &[])
            },
            "channels",
        ),
        (
            CodedFile {
                channels: 5,
                ..coded(5, 5, &[])
            },
            "channels",
        ),
        (coded(5, 5, &[1, 0]), "payload"),
    ];
    for (f, field) in cases {
        match f.to_bytes() {
            Err(FormatError::Invalid { field: got, .. }) => assert_eq!(got, field),
            other => panic!("{field}: {other:?}"),
        }
    }
}

#[test]
fn every_truncation_and_every_bit_flip_is_rejected() {
    let b = coded(300, 20, &[7, 0, 9, 200, 1]).to_bytes().unwrap();
    for n in 0..b.len() {
        assert!(CodedFile::from_bytes(&b[..n]).is_err(), "{n} bytes");
        assert!(AnyFile::from_bytes(&b[..n]).is_err(), "{n} bytes");
    }
    for bit in 0..8 * b.len() {
        let mut m = b.clone();
        m[bit / 8] ^= 1 << (bit % 8);
        assert!(AnyFile::from_bytes(&m).is_err(), "bit {bit}");
    }
}

#[test]
fn header_errors_come_in_offset_order() {
    let b = coded(32, 32, &[5]).to_bytes().unwrap();
    let with = |edits: &[(usize, u8)]| {
        let mut m = b.clone();
        for &(i, v) in edits {
            m[i] = v;
        }
        fix_crc(m)
    };
    let err = |m: &[u8]| CodedFile::from_bytes(m).unwrap_err();
    assert!(matches!(
        err(&with(&[(5, 5), (6, 0), (15, 0)])),
        FormatError::UnsupportedKind { kind: 5 }
    ));
    assert!(matches!(
        err(&with(&[(6, 0), (15, 0)])),
        FormatError::BadChannels {
            channels: 0,
            offset: 6
        }
    ));
    assert!(matches!(
        err(&with(&[(15, 0), (16, 0)])),
        FormatError::ZeroField {
            field: "width",
            offset: 15
        }
    ));
    assert!(matches!(
        err(&with(&[(16, 0)])),
        FormatError::ZeroField {
            field: "height",
            offset: 16
        }
    ));
    // A bad CRC is found before a trailing zero byte of the payload.
    let mut m = with(&[(17, 0)]);
    assert!(matches!(
        err(&m),
        FormatError::TrailingZeroByte { offset: 17 }
    ));
    m[18] ^= 1;
    assert!(matches!(err(&m), FormatError::CrcMismatch { .. }));
}

#[test]
fn each_reader_names_the_versions_it_knows() {
    let v1 = v1_file().to_bytes().unwrap();
    let v2 = coded(40, 20, &[3]).to_bytes().unwrap();
    let mut v3 = v2.clone();
    v3[4] = 3;
    let v3 = fix_crc(v3);
    let supported = |e: FormatError| match e {
        FormatError::UnsupportedVersion { supported, .. } => supported,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        supported(AecFile::from_bytes(&v2).unwrap_err()),
        "version 1 only"
    );
    assert_eq!(
        supported(FileHeader::parse(&v2).unwrap_err()),
        "version 1 only"
    );
    assert_eq!(
        supported(CodedFile::from_bytes(&v1).unwrap_err()),
        "version 2 only"
    );
    assert_eq!(
        supported(CodedHeader::parse(&v1).unwrap_err()),
        "version 2 only"
    );
    assert_eq!(
        supported(AnyFile::from_bytes(&v3).unwrap_err()),
        "versions 1 and 2"
    );
    assert_eq!(
        supported(AnyHeader::parse(&v3).unwrap_err()),
        "versions 1 and 2"
    );
    assert_eq!(
        AnyFile::from_bytes(&v3).unwrap_err().to_string(),
        "unsupported version 3 at byte 4: this reader knows versions 1 and 2"
    );
}

#[test]
fn any_file_reads_version_1_as_aec_file_does() {
    let f = v1_file();
    let b = f.to_bytes().unwrap();
    let any = AnyFile::from_bytes(&b).unwrap();
    assert_eq!(any, AnyFile::V1(f.clone()));
    assert_eq!(any.version(), 1);
    assert_eq!(any.to_bytes().unwrap(), b);
    assert_eq!(any.encoded_len(), b.len());
    let h = AnyHeader::parse(&b).unwrap();
    assert_eq!(h, AnyHeader::V1(FileHeader::parse(&b).unwrap()));
    assert_eq!(any.header(), h);
    assert_eq!((h.width(), h.height(), h.channels()), (40, 20, 1));
    assert_eq!(h.model_id(), &[9; 16]);
    assert_eq!(h.encoded_len(), 32);
    // The same errors, for every truncation and for a damaged file.
    for n in 0..b.len() {
        let a = AecFile::from_bytes(&b[..n]).unwrap_err().to_string();
        assert_eq!(AnyFile::from_bytes(&b[..n]).unwrap_err().to_string(), a);
    }
    let mut m = b.clone();
    m[40] ^= 4;
    assert_eq!(
        AnyFile::from_bytes(&m).unwrap_err().to_string(),
        AecFile::from_bytes(&m).unwrap_err().to_string()
    );
    let v2 = coded(40, 20, &[3]);
    let any = AnyFile::V2(v2.clone());
    assert_eq!(any.version(), 2);
    assert_eq!(any.header(), AnyHeader::V2(v2.header()));
    assert_eq!(any.header().model_id(), &[1, 2, 3, 4, 5, 6, 7, 8]);
}

#[test]
fn limits_are_enforced() {
    let f = coded(1000, 600, &[1, 2, 3]);
    let b = f.to_bytes().unwrap();
    let ok = Limits::default();
    assert_eq!(CodedFile::from_bytes_with_limits(&b, &ok).unwrap(), f);
    for (what, limits) in [
        (
            "file length",
            Limits {
                max_file_len: b.len() as u64 - 1,
                ..ok.clone()
            },
        ),
        (
            "width",
            Limits {
                max_width: 999,
                ..ok.clone()
            },
        ),
        (
            "height",
            Limits {
                max_height: 599,
                ..ok.clone()
            },
        ),
    ] {
        for e in [
            CodedFile::from_bytes_with_limits(&b, &limits).unwrap_err(),
            AnyFile::from_bytes_with_limits(&b, &limits).unwrap_err(),
        ] {
            match e {
                FormatError::LimitExceeded { what: w, .. } => assert_eq!(w, what),
                other => panic!("{what}: {other}"),
            }
        }
    }
    // The symbol count: 32 × 19 tiles of 128 symbols.
    let h = f.header();
    assert_eq!(h.tiles(32), 32 * 19);
    assert_eq!(h.symbol_count(32, 128, &ok).unwrap(), 32 * 19 * 128);
    for (what, limits, l) in [
        (
            "code length",
            Limits {
                max_code_length: 127,
                ..ok.clone()
            },
            128,
        ),
        (
            "tile count",
            Limits {
                max_tiles: 32 * 19 - 1,
                ..ok.clone()
            },
            128,
        ),
        (
            "symbol count",
            Limits {
                max_symbols: 32 * 19 * 128 - 1,
                ..ok.clone()
            },
            128,
        ),
    ] {
        match h.symbol_count(32, l, &limits) {
            Err(FormatError::LimitExceeded { what: w, .. }) => assert_eq!(w, what),
            other => panic!("{what}: {other:?}"),
        }
    }
    assert!(matches!(
        h.symbol_count(0, 128, &ok),
        Err(FormatError::Invalid { .. })
    ));
    assert!(matches!(
        h.symbol_count(32, 0, &ok),
        Err(FormatError::Invalid { .. })
    ));
    // The largest image with 1-pixel tiles is over the default tile limit.
    let huge = coded(65535, 65535, &[]).header();
    assert!(matches!(
        huge.symbol_count(1, 1, &ok),
        Err(FormatError::LimitExceeded {
            what: "tile count",
            ..
        })
    ));
}

#[test]
fn model_kinds() {
    assert_eq!(ModelKind::from_byte(1), Some(ModelKind::TiledFactorized));
    assert_eq!(ModelKind::TiledFactorized.to_byte(), 1);
    assert_eq!(
        ModelKind::from_byte(2),
        Some(ModelKind::WholeImageHyperprior)
    );
    assert_eq!(ModelKind::WholeImageHyperprior.to_byte(), 2);
    assert_eq!(ModelKind::from_byte(4), Some(ModelKind::Lossless));
    assert_eq!(ModelKind::Lossless.to_byte(), 4);
    for b in (0..=255u8).filter(|&b| ![1, 2, 4].contains(&b)) {
        assert_eq!(ModelKind::from_byte(b), None);
    }
}

/// A whole-image file with quantization step `step` (256ths).
fn stepped(width: u32, height: u32, step: u16) -> CodedFile {
    CodedFile {
        kind: ModelKind::WholeImageHyperprior,
        step,
        ..coded(width, height, &[9, 1])
    }
}

#[test]
fn a_step_other_than_one_is_stored_as_kind_3() {
    for (w, h) in [(1, 1), (32, 32), (300, 20), (65535, 65535)] {
        for step in [1, 128, 255, 257, 300, 65535] {
            let f = stepped(w, h, step);
            let b = f.to_bytes().unwrap();
            let at = f.header().encoded_len() - 2;
            assert_eq!((b[5], &b[at..at + 2]), (3, &step.to_le_bytes()[..]));
            assert!(f.header().encoded_len() <= CODED_HEADER_MAX_LEN);
            assert_eq!(CodedFile::from_bytes(&b).unwrap(), f);
            assert_eq!(CodedHeader::parse(&b[..at + 2]).unwrap().step, step);
            assert!(matches!(
                CodedHeader::parse(&b[..at + 1]),
                Err(FormatError::Truncated { .. })
            ));
        }
        // Step 1 (256ths of 256) is kind 2, two bytes shorter.
        let unit = stepped(w, h, UNIT_STEP).to_bytes().unwrap();
        assert_eq!(unit[5], 2);
        assert_eq!(unit.len() + 2, stepped(w, h, 300).to_bytes().unwrap().len());
        assert_eq!(CodedFile::from_bytes(&unit).unwrap().step, UNIT_STEP);
    }
    assert_eq!(stepped(5, 5, 384).header().step_value(), 1.5);
}

#[test]
fn a_stored_step_of_0_or_256_is_rejected_where_it_is() {
    let b = stepped(300, 20, 300).to_bytes().unwrap();
    // 15 + 2 + 1 bytes of header before the step.
    for bad in [0u16, UNIT_STEP] {
        let mut m = b.clone();
        m[18..20].copy_from_slice(&bad.to_le_bytes());
        match CodedFile::from_bytes(&fix_crc(m)) {
            Err(e @ FormatError::BadStep { step, offset: 18 }) => {
                assert_eq!(step, bad);
                assert!(e.to_string().contains("byte 18"), "{e}");
            }
            other => panic!("step {bad}: {other:?}"),
        }
    }
    // A file that cannot be written: step 0, or a tiled model's file with a step.
    for f in [
        stepped(5, 5, 0),
        CodedFile {
            step: 300,
            ..coded(5, 5, &[1])
        },
    ] {
        assert!(matches!(
            f.to_bytes(),
            Err(FormatError::Invalid {
                field: "quantization step",
                ..
            })
        ));
    }
}
