//! `FileHeader::parse` on its own, and `AecFile::stats_from_bytes` against the whole-file reader.

use aec_format::{
    AecFile, CodeStats, Codes, FileHeader, FormatError, Layout, Limits, Precision, HEADER_LEN,
};

fn file(layout: Layout, precision: Precision, code_length: u32, values: &[f32]) -> AecFile {
    let tiles = values.len() / code_length as usize;
    AecFile {
        model_id: *b"0123456789abcdef",
        width: 4 * tiles as u32 - 1,
        height: 3,
        channels: 1,
        tile_size: 4,
        code_length,
        layout,
        codes: Codes::from_f32(values, precision),
    }
}

/// Valid files of both layouts and precisions, with zeros of both signs, index-list tiles,
/// bitmap tiles and empty tiles.
fn files() -> Vec<AecFile> {
    let dense: Vec<f32> = (0..60).map(|i| (i as f32 - 23.0) / 7.0).collect();
    let mut sparse = vec![0.0f32; 5 * 24];
    for &i in &[0, 3, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 100, 119] {
        sparse[i] = 0.25 * i as f32 - 6.0;
    }
    sparse[30] = -0.0;
    let mut out = Vec::new();
    for p in [Precision::F32, Precision::F16] {
        out.push(file(Layout::Dense, p, 12, &dense));
        out.push(file(Layout::Sparse, p, 24, &sparse));
        out.push(file(Layout::Sparse, p, 8, &sparse));
    }
    out
}

fn variant(e: &FormatError) -> String {
    format!("{e:?}")
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn header_is_read_without_the_payload() {
    for f in files() {
        let bytes = f.to_bytes().unwrap();
        let h = FileHeader::parse(&bytes[..HEADER_LEN]).unwrap();
        assert_eq!(h, FileHeader::parse(&bytes).unwrap());
        assert_eq!(
            (h.width, h.height, h.tile_size, h.code_length, h.channels),
            (f.width, f.height, f.tile_size, f.code_length, f.channels)
        );
        assert_eq!((h.layout, h.precision), (f.layout, f.codes.precision()));
        assert_eq!(h.model_id, f.model_id);
        assert_eq!(h.tiles(), f.tile_count() as u64);
        assert_eq!(h.values(), f.codes.len() as u64);
        assert_eq!(h.pixels(), u64::from(f.width * f.height));
        assert!(h.max_file_len() >= bytes.len() as u64);
        // The whole-file reader needs the payload; the header alone is enough here.
        assert!(matches!(
            AecFile::from_bytes(&bytes[..HEADER_LEN]),
            Err(FormatError::Truncated { .. })
        ));
    }
    assert!(matches!(
        FileHeader::parse(&[0x8a, b'A', b'E', b'C', 1]),
        Err(FormatError::Truncated { offset: 5, .. })
    ));
}

#[test]
fn stats_match_the_decoded_values() {
    for f in files() {
        let bytes = f.to_bytes().unwrap();
        let (h, stats) = AecFile::stats_from_bytes(&bytes, &Limits::default()).unwrap();
        assert_eq!(h, FileHeader::parse(&bytes).unwrap());
        let expected = CodeStats::of(&f.codes.to_f32());
        assert_eq!(stats, expected, "{:?} {:?}", f.layout, f.codes.precision());
        assert_eq!(stats.count, f.codes.len() as u64);
        assert_eq!(stats.zeros, f.codes.count_zeros() as u64);
    }
}

#[test]
fn stats_reject_what_the_reader_rejects() {
    for f in files() {
        let bytes = f.to_bytes().unwrap();
        let mut inputs: Vec<Vec<u8>> = (0..bytes.len()).map(|n| bytes[..n].to_vec()).collect();
        for i in 0..bytes.len() * 8 {
            let mut b = bytes.clone();
            b[i / 8] ^= 1 << (i % 8);
            inputs.push(b.clone());
            // With the CRC repaired, the damage reaches the payload checks.
            let n = b.len() - 4;
            let crc = crc32fast::hash(&b[..n]);
            b[n..].copy_from_slice(&crc.to_le_bytes());
            inputs.push(b);
        }
        for input in &inputs {
            let whole = AecFile::from_bytes(input);
            let streamed = AecFile::stats_from_bytes(input, &Limits::default());
            match (&whole, &streamed) {
                (Ok(w), Ok((_, s))) => assert_eq!(*s, CodeStats::of(&w.codes.to_f32())),
                (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
                _ => panic!(
                    "reader and stats disagree: {:?} vs {:?}",
                    whole.as_ref().map(|_| ()).map_err(variant),
                    streamed.as_ref().map(|_| ()).map_err(variant)
                ),
            }
        }
    }
}

/// A valid sparse f16 file of 256 × 256 one-pixel tiles of 4,096 values, every tile empty:
/// 131,108 bytes that declare 2^28 values (512 MiB as f16, 1 GiB as f32).
fn empty_sparse_file() -> Vec<u8> {
    let mut b = aec_format::MAGIC.to_vec();
    b.extend_from_slice(&[1, 1, 1, 3]);
    b.extend_from_slice(&[7; 16]);
    b.extend_from_slice(&256u16.to_le_bytes());
    b.extend_from_slice(&256u16.to_le_bytes());
    b.extend_from_slice(&[1, 0]);
    b.extend_from_slice(&4096u16.to_le_bytes());
    b.resize(HEADER_LEN + 2 * 65536, 0);
    let crc = crc32fast::hash(&b);
    b.extend_from_slice(&crc.to_le_bytes());
    b
}

#[test]
fn stats_of_a_huge_declared_code_hold_one_tile() {
    let bytes = empty_sparse_file();
    assert_eq!(bytes.len(), 131_108);
    let h = FileHeader::parse(&bytes).unwrap();
    assert_eq!(h.values(), 1 << 28);
    let (_, stats) = AecFile::stats_from_bytes(&bytes, &Limits::default()).unwrap();
    assert_eq!((stats.count, stats.zeros), (1 << 28, 1 << 28));
    assert_eq!(
        (stats.min, stats.max, stats.mean(), stats.std()),
        (0.0, 0.0, 0.0, 0.0)
    );
    // A command that bounds the values it accepts refuses it from the header alone.
    let limits = Limits {
        max_values: 1 << 20,
        ..Limits::default()
    };
    assert!(matches!(
        AecFile::stats_from_bytes(&bytes, &limits),
        Err(FormatError::LimitExceeded {
            what: "value count",
            ..
        })
    ));
}
