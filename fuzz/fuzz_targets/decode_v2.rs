//! Arbitrary bytes through the version 2 reader, its alpha planes and the symbol decoder.
//! None may panic; a file `AnyFile` accepts must re-encode to exactly the input and agree
//! with `AnyHeader`; an alpha plane it inflates must survive the writer's round trip; a symbol
//! stream `decode_symbols` accepts must be exactly what `encode_symbols` writes for
//! the decoded symbols (the stream's canonical form makes that hold for every accepted
//! stream, see SPEC.md §14.3).
//!
//! Each input is used three ways: as a file; as a file with its last four bytes replaced by
//! the CRC-32 of the bytes before them (to get past the CRC to the payload checks and the
//! symbol decoder); and, after its first byte (which picks the count), as a bare symbol
//! stream. Streams are decoded with two fixed models: the one of
//! `format-spec/vectors/v2/model.json` and one with a wide and a near-certain alphabet.
#![no_main]

use std::sync::OnceLock;

use aec_format::{
    decode_symbols, encode_symbols, AlphaFilter, AlphaPlane, AnyFile, AnyHeader, CodedFile,
    ExactBlocks, FormatError, Limits, ModelKind, SymbolTable, SymbolTables, EXACT_BLOCK,
};
use libfuzzer_sys::fuzz_target;

/// At most this many symbols are decoded per stream (the header may declare millions).
const MAX_COUNT: usize = 1 << 14;

struct Model {
    tile_size: u32,
    tables: SymbolTables,
}

fn models() -> &'static [Model; 2] {
    static MODELS: OnceLock<[Model; 2]> = OnceLock::new();
    MODELS.get_or_init(|| {
        let table = |min_symbol, probabilities| SymbolTable {
            min_symbol,
            probabilities,
        };
        // format-spec/vectors/v2/model.json
        let p3 = vec![
            1, 347114, 578524, 809934, 1041344, 1272754, 1504164, 1735574, 2082695, 1735574,
            1504164, 1272754, 1041344, 809934, 578524, 347114, 115704,
        ];
        assert_eq!(p3.iter().sum::<u32>(), 1 << 24);
        let standard = SymbolTables::new(vec![
            table(0, vec![1 << 24]),
            table(-1, vec![1 << 20, (1 << 24) - (1 << 21), 1 << 20]),
            table(-2, vec![1 << 20, 3 << 20, 1 << 23, 3 << 20, 1 << 20]),
            table(-8, p3),
        ])
        .expect("valid tables");
        let mut wide = vec![16_777u32; 1000];
        wide[500] += (1 << 24) - 16_777 * 1000;
        let wide = SymbolTables::new(vec![
            table(-500, wide),
            table(0, vec![(1 << 24) - 17, 17]),
            table(7, vec![1 << 24]),
        ])
        .expect("valid tables");
        [
            Model {
                tile_size: 32,
                tables: standard,
            },
            Model {
                tile_size: 8,
                tables: wide,
            },
        ]
    })
}

/// Decodes `payload` as `count` symbols; if accepted, re-encoding must give it back.
fn check_stream(payload: &[u8], tables: &SymbolTables, count: usize) {
    let mut out = Vec::new();
    match decode_symbols(payload, tables, count, &mut out) {
        Ok(()) => {
            assert_eq!(out.len(), count);
            let again = encode_symbols(&out, tables).expect("decoded symbols are in range");
            assert_eq!(again, payload, "accepted stream is not canonical");
        }
        Err(
            FormatError::TrailingZeroByte { .. }
            | FormatError::StreamInvalid { .. }
            | FormatError::StreamNotCanonical { .. },
        ) => assert!(out.len() <= count),
        Err(e) => panic!("unexpected error from the symbol decoder: {e}"),
    }
}

/// An accepted file's alpha plane: inflating never panics; a plane it gives is the image's
/// size, not opaque, and (when small) survives the writer's own round trip; a context code
/// is the writer's.
fn check_alpha(file: &CodedFile) {
    match file.decode_alpha() {
        Ok(None) => assert!(file.alpha.is_none()),
        Ok(Some(plane)) => {
            assert_eq!(plane.len() as u64, file.header().pixels());
            assert!(plane.iter().any(|&a| a < 255));
            if plane.len() <= 1 << 16 {
                let again = AlphaPlane::encode(&plane, file.width, file.height).expect("a plane");
                let back = again.decode(file.width, file.height, 0).expect("decodes");
                assert_eq!(back, plane);
                // A context code is unique: the writer's is the one that was read.
                let read = file.alpha.as_ref().expect("a section");
                if read.filter == AlphaFilter::Context {
                    let (w, h) = (file.width, file.height);
                    let ours = AlphaPlane::with_filter(&plane, w, h, AlphaFilter::Context);
                    assert_eq!(ours.expect("codes").stream, read.stream);
                }
            }
        }
        Err(FormatError::AlphaStream { .. } | FormatError::OpaqueAlpha { .. }) => {}
        Err(e) => panic!("unexpected error from the alpha plane: {e}"),
    }
}

/// An accepted lossless file: decoding its bitstream never panics, and pixels it gives are
/// the image's, RGBA where the bitstream says alpha is used.
fn check_lossless(file: &CodedFile) {
    match file.decode_lossless() {
        Ok(p) => {
            let size = if p.alpha { 4 } else { 3 };
            assert_eq!(p.data.len() as u64, file.header().pixels() * size);
        }
        Err(FormatError::Lossless { .. }) => {}
        Err(e) => panic!("unexpected error from the lossless bitstream: {e}"),
    }
}

/// An accepted file with exact blocks: copying them over a lossy decode never panics, fails
/// only on the bitstream, and changes no pixel outside the exact blocks.
fn check_exact(file: &CodedFile) {
    // Images up to 2^20 pixels (the header may declare 2^28).
    let Some(exact) = file.exact.as_ref().filter(|_| file.header().pixels() <= 1 << 20) else {
        return;
    };
    let (w, h) = (file.width as usize, file.height as usize);
    let mut rgb = vec![7u8; w * h * 3];
    match file.apply_exact(&mut rgb) {
        Ok(()) => {
            let bx = ExactBlocks::grid(file.width, file.height).0 as usize;
            let b = EXACT_BLOCK as usize;
            for (i, p) in rgb.chunks_exact(3).enumerate() {
                let (x, y) = (i % w, i / w);
                if !exact.is_exact(y / b * bx + x / b) {
                    assert_eq!(p, [7, 7, 7], "pixel ({x}, {y}) outside the exact blocks");
                }
            }
        }
        Err(FormatError::Lossless { .. } | FormatError::ExactBlocks { .. }) => {}
        Err(e) => panic!("unexpected error from the exact blocks: {e}"),
    }
}

fn check_file(data: &[u8]) {
    let parsed = AnyFile::from_bytes_with_limits(data, &Limits::default());
    let header = AnyHeader::parse(data);
    match (&parsed, &header) {
        (Ok(file), Ok(h)) => {
            assert_eq!(file.header(), *h);
            assert_eq!(file.to_bytes().expect("a parsed file is writable"), data);
            assert_eq!(file.encoded_len(), data.len());
        }
        (Ok(_), Err(e)) => panic!("file accepted but its header is not: {e}"),
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
        (Err(_), Ok(_)) => {}
    }
    let Ok(AnyFile::V2(file)) = parsed else {
        return;
    };
    if file.kind == ModelKind::Lossless {
        check_lossless(&file);
        return;
    }
    check_exact(&file);
    check_alpha(&file);
    for m in models() {
        let l = m.tables.code_length();
        let Ok(count) = file
            .header()
            .symbol_count(m.tile_size, l, &Limits::default())
        else {
            continue;
        };
        check_stream(&file.payload, &m.tables, count.min(MAX_COUNT / l * l));
    }
}

fuzz_target!(|data: &[u8]| {
    check_file(data);
    if data.len() >= 4 {
        let mut fixed = data.to_vec();
        let n = fixed.len() - 4;
        let crc = crc32fast::hash(&fixed[..n]);
        if fixed[n..] != crc.to_le_bytes() {
            fixed[n..].copy_from_slice(&crc.to_le_bytes());
            check_file(&fixed);
        }
    }
    if let Some((&tiles, payload)) = data.split_first() {
        for m in models() {
            check_stream(
                payload,
                &m.tables,
                usize::from(tiles % 64) * m.tables.code_length(),
            );
        }
    }
});
