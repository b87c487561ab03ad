//! The version 2 vectors: `format-spec/vectors/v2/` (valid files with their JSON, the model
//! the invalid ones are decoded with, `invalid/` with the expected errors) and the seeds of
//! the `decode_v2` fuzz target.

use std::fs;
use std::path::Path;

use aec_format::{
    decode_symbols, encode_symbols_sealed, AlphaFilter, AlphaPlane, AnyFile, CodedFile,
    FormatError, Limits, ModelKind, SealCase, SymbolTable, SymbolTables,
};
use serde_json::json;

use crate::{crc_fix, variant_name, write};

/// A model as the vectors describe it: tile size and one table per dimension.
pub struct Model {
    tile_size: u32,
    tables: SymbolTables,
}

impl Model {
    fn json(&self) -> serde_json::Value {
        let tables: Vec<_> = self
            .tables
            .tables()
            .iter()
            .map(|t| json!({"min_symbol": t.min_symbol, "probabilities": t.probabilities}))
            .collect();
        json!({
            "tile_size": self.tile_size,
            "code_length": self.tables.code_length(),
            "tables": tables,
        })
    }
}

/// The model of most vectors and of every invalid one: 32-pixel tiles, 4 dimensions with
/// alphabets of 1, 3, 5 and 17 symbols. Dimension 3's smallest symbol has the smallest
/// probability there is, 2^−24.
pub fn standard_model() -> Model {
    let total = 1u32 << 24;
    // Dimension 3: weights 1, 3, …, 17, …, 3, 1 scaled to 2^24, the smallest symbol forced to
    // probability 1 and the rounding remainder given to the mode.
    let weights: Vec<u32> = (0..17)
        .map(|i: i32| 17 - 2 * (i - 8).unsigned_abs())
        .collect();
    let sum: u32 = weights.iter().sum();
    let mut p3: Vec<u32> = weights
        .iter()
        .map(|&w| (u64::from(w) * u64::from(total) / u64::from(sum)) as u32)
        .collect();
    p3[0] = 1;
    let rest = total - p3.iter().sum::<u32>();
    p3[8] += rest;
    let tables = vec![
        SymbolTable {
            min_symbol: 0,
            probabilities: vec![total],
        },
        SymbolTable {
            min_symbol: -1,
            probabilities: vec![1 << 20, total - (1 << 21), 1 << 20],
        },
        SymbolTable {
            min_symbol: -2,
            probabilities: vec![1 << 20, 3 << 20, 1 << 23, 3 << 20, 1 << 20],
        },
        SymbolTable {
            min_symbol: -8,
            probabilities: p3,
        },
    ];
    Model {
        tile_size: 32,
        tables: SymbolTables::new(tables).expect("valid tables"),
    }
}

/// xorshift32, as for the version 1 vectors.
struct Rng(u32);

impl Rng {
    fn next(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        self.0
    }

    /// A symbol drawn from `t`'s distribution.
    fn symbol(&mut self, t: &SymbolTable) -> i32 {
        let u = self.next() >> 8; // 24 bits
        let mut c = 0u32;
        for (i, &p) in t.probabilities.iter().enumerate() {
            c += p;
            if u < c {
                return t.min_symbol + i as i32;
            }
        }
        t.min_symbol + t.probabilities.len() as i32 - 1
    }

    fn symbols(&mut self, tables: &SymbolTables, n: usize) -> Vec<i32> {
        let l = tables.code_length();
        (0..n)
            .map(|k| self.symbol(&tables.tables()[k % l]))
            .collect()
    }
}

struct Vector {
    name: &'static str,
    what: &'static str,
    model: Model,
    file: CodedFile,
    symbols: Vec<i32>,
    seal: SealCase,
}

fn model_id(seed: u8) -> [u8; 8] {
    let mut id = [0u8; 8];
    for (i, b) in id.iter_mut().enumerate() {
        *b = seed.wrapping_mul(16).wrapping_add(i as u8 * 17);
    }
    id
}

fn vector(
    (name, what): (&'static str, &'static str),
    model: Model,
    (width, height, channels): (u32, u32, u8),
    seed: u8,
    symbols: Vec<i32>,
) -> Vector {
    let (payload, seal) = encode_symbols_sealed(&symbols, &model.tables).expect("symbols fit");
    let file = CodedFile {
        kind: ModelKind::TiledFactorized,
        channels,
        model_id: model_id(seed),
        width,
        height,
        step: aec_format::UNIT_STEP,
        alpha: None,
        exact: None,
        payload,
    };
    let count = file
        .header()
        .symbol_count(
            model.tile_size,
            model.tables.code_length(),
            &Limits::default(),
        )
        .expect("within limits");
    assert_eq!(count, symbols.len(), "{name}: symbols for the geometry");
    Vector {
        name,
        what,
        model,
        file,
        symbols,
        seal,
    }
}

fn valid_vectors() -> Vec<Vector> {
    let mut rng = Rng(0x5eed_0002);
    let mut out = Vec::new();

    // The worked example of the spec: one tile, the rarest symbol of dimension 3 included.
    out.push(vector(
        (
            "v2_one_tile",
            "32 × 32, one tile: the worked example (symbol −8 of dimension 3 has probability 2^−24)",
        ),
        standard_model(),
        (32, 32, 3),
        0,
        vec![0, 1, -2, -8],
    ));

    let m = standard_model();
    let symbols = rng.symbols(&m.tables, 24);
    out.push(vector(
        (
            "v2_multitile",
            "70 × 40: 3 × 2 tiles, 24 symbols drawn from the distributions",
        ),
        m,
        (70, 40, 4),
        1,
        symbols,
    ));

    // Every symbol the smallest of its alphabet: the interval keeps its lower end at 0 and the
    // stream is empty.
    out.push(vector(
        (
            "v2_empty_payload",
            "64 × 32, every symbol the smallest of its alphabet: an empty payload, 21 bytes in all",
        ),
        standard_model(),
        (64, 32, 1),
        2,
        [0, -1, -2, -8].repeat(2),
    ));

    // The first draw whose encoder ends with held-back words (a carry): the case most easily
    // got wrong.
    let m = standard_model();
    let symbols = loop {
        let s = rng.symbols(&m.tables, 16);
        let (_, seal) = encode_symbols_sealed(&s, &m.tables).expect("symbols fit");
        if seal == SealCase::Carry {
            break s;
        }
    };
    out.push(vector(
        (
            "v2_carry",
            "64 × 64, 16 symbols whose encoder ends with held-back words and a carry into them",
        ),
        m,
        (64, 64, 3),
        3,
        symbols,
    ));

    // Long varints: width 65535 (3 bytes), height 128 (2 bytes); a model with 2048-pixel
    // tiles keeps it at 32 × 1 tiles.
    let m = Model {
        tile_size: 2048,
        ..standard_model()
    };
    let symbols = rng.symbols(&m.tables, 128);
    out.push(vector(
        (
            "v2_long_varints",
            "65535 × 128 (3- and 2-byte varints), a model with 2048-pixel tiles: 32 tiles",
        ),
        m,
        (65535, 128, 2),
        4,
        symbols,
    ));

    // A wide alphabet and a near-certain one.
    let wide: Vec<u32> = {
        let mut p = vec![16_777u32; 1000];
        p[500] += (1 << 24) - 16_777 * 1000;
        p
    };
    let m = Model {
        tile_size: 8,
        tables: SymbolTables::new(vec![
            SymbolTable {
                min_symbol: -500,
                probabilities: wide,
            },
            SymbolTable {
                min_symbol: 0,
                probabilities: vec![(1 << 24) - 17, 17],
            },
        ])
        .expect("valid tables"),
    };
    let symbols = rng.symbols(&m.tables, 2 * 12);
    out.push(vector(
        (
            "v2_wide_alphabet",
            "24 × 28 with 8-pixel tiles (3 × 4 tiles) and 2 dimensions: a near-uniform 1000-symbol alphabet and a 2-symbol one with p = 17 / 2^24",
        ),
        m,
        (24, 28, 3),
        5,
        symbols,
    ));

    out.push(alpha_vector(AlphaFilter::Gradient));
    out.push(alpha_vector(AlphaFilter::Context));
    out
}

/// The alpha plane of `v2_alpha`: 24 × 5, transparent on the left, a soft edge, opaque on the
/// right.
fn alpha_plane() -> Vec<u8> {
    (0..5u32)
        .flat_map(|y| (0..24u32).map(move |x| (x * 16 + y * 4).min(255) as u8))
        .collect()
}

/// An RGBA file with an alpha plane, DEFLATE-compressed after the gradient filter or
/// context-coded.
fn alpha_vector(filter: AlphaFilter) -> Vector {
    let name = match filter {
        AlphaFilter::Context => (
            "v2_alpha_context",
            "24 × 5 RGBA, one tile, with a context-coded alpha plane: transparent on the left, a soft edge, opaque on the right",
        ),
        _ => (
            "v2_alpha",
            "24 × 5 RGBA, one tile, with an alpha plane: transparent on the left, a soft edge, opaque on the right",
        ),
    };
    let mut v = vector(name, standard_model(), (24, 5, 4), 6, vec![0, -1, 2, 5]);
    v.file.alpha = Some(AlphaPlane::with_filter(&alpha_plane(), 24, 5, filter).expect("a plane"));
    v
}

/// The invalid files with an alpha section, made from `v2_alpha`'s bytes `a` (header 17
/// bytes, then the section).
fn invalid_alpha_vectors(a: &[u8]) -> Vec<(&'static str, Vec<u8>, String)> {
    let mut out = invalid_deflate_vectors(a);
    out.extend(invalid_context_vectors(a));
    out
}

/// `v2_alpha`'s bytes split into the header, the alpha stream and the payload.
struct AlphaParts<'a> {
    head: &'a [u8],
    stream: &'a [u8],
    rest: &'a [u8],
}

impl<'a> AlphaParts<'a> {
    fn of(a: &'a [u8]) -> Self {
        let len = u32::from_le_bytes(a[18..22].try_into().expect("4 bytes")) as usize;
        let (head, stream, rest) = (&a[..17], &a[22..22 + len], &a[22 + len..a.len() - 4]);
        Self { head, stream, rest }
    }

    /// The file with another alpha section: `filter` and the stream `s`.
    fn section(&self, filter: u8, s: &[u8]) -> Vec<u8> {
        let mut m = self.head.to_vec();
        m.push(filter);
        m.extend_from_slice(&(s.len() as u32).to_le_bytes());
        m.extend_from_slice(s);
        m.extend_from_slice(self.rest);
        m.extend_from_slice(&[0; 4]);
        crc_fix(m)
    }
}

/// Invalid context-coded alpha sections.
fn invalid_context_vectors(a: &[u8]) -> Vec<(&'static str, Vec<u8>, String)> {
    let parts = AlphaParts::of(a);
    let (head, section) = (parts.head, |f, s: &[u8]| parts.section(f, s));
    let context = AlphaFilter::Context.to_byte();
    let code = AlphaPlane::with_filter(&alpha_plane(), 24, 5, AlphaFilter::Context)
        .expect("a plane")
        .stream;
    let mut out = Vec::new();
    let mut long = code.clone();
    long.extend_from_slice(&[0x5a; 8]);
    out.push((
        "alpha_context_extra_bytes",
        section(context, &long),
        "eight bytes appended to a context-coded alpha stream (its length counting them)".into(),
    ));
    let mut m = [&head[..15], &[0xff, 0xff, 0x03, 0xff, 0xff, 0x03]].concat();
    m.extend_from_slice(&section(context, &[0x03])[17..]);
    out.push((
        "alpha_context_too_large",
        crc_fix(m),
        "65535 × 65535 with a context-coded alpha plane: over 2^28 pixels, refused before decoding"
            .into(),
    ));
    // The first of the streams 00 00 00 01, 00 00 00 02, … that spells a residual no encoder
    // writes (a magnitude over 128, or 128 positive) in the 24 × 5 plane.
    let out_of_range = (1u32..)
        .map(|i| i.to_be_bytes().to_vec())
        .find(|s| {
            let plane = AlphaPlane {
                filter: AlphaFilter::Context,
                stream: s.clone(),
            };
            matches!(plane.decode(24, 5, 0), Err(FormatError::AlphaStream { reason, .. })
                if reason.contains("out of range"))
        })
        .expect("some stream");
    out.push((
        "alpha_context_residual",
        section(context, &out_of_range),
        format!(
            "the context-coded alpha stream {:02x?}: a residual out of range",
            out_of_range
        ),
    ));
    out
}

/// Invalid alpha sections around DEFLATE.
fn invalid_deflate_vectors(a: &[u8]) -> Vec<(&'static str, Vec<u8>, String)> {
    let parts = AlphaParts::of(a);
    let (head, stream) = (parts.head, parts.stream);
    let section = |f, s: &[u8]| parts.section(f, s);
    let len = stream.len();
    let mut out = Vec::new();
    out.push((
        "alpha_bad_filter",
        section(5, stream),
        "alpha filter 5 (reserved)".into(),
    ));
    let mut m = a.to_vec();
    m[6] = 3;
    out.push((
        "alpha_rgb",
        crc_fix(m),
        "kind 0x81 (an alpha plane) in a file of 3 channels".into(),
    ));
    let mut m = a.to_vec();
    m[18..22].copy_from_slice(&(len as u32 + 100).to_le_bytes());
    out.push((
        "alpha_length_past_end",
        crc_fix(m),
        "the alpha stream's length 100 bytes more than the file holds".into(),
    ));
    out.push((
        "alpha_empty_stream",
        section(0, &[]),
        "an alpha stream of length 0".into(),
    ));
    let mut m = [&head[..15], &[0xff, 0xff, 0x03, 0xff, 0xff, 0x03]].concat();
    m.extend_from_slice(&section(0, &[0x03, 0x00])[17..]);
    out.push((
        "alpha_stream_too_short",
        crc_fix(m),
        "65535 × 65535 with a 2-byte alpha stream: refused before inflating (at most 1032 bytes a byte)".into(),
    ));
    let mut long = stream.to_vec();
    long.push(0);
    out.push((
        "alpha_extra_byte",
        section(a[17], &long),
        "a zero byte after the alpha stream's final block (its length counting it)".into(),
    ));
    let short = miniz_oxide::deflate::compress_to_vec(&alpha_plane()[..100], 9);
    out.push((
        "alpha_plane_short",
        section(0, &short),
        "an alpha stream that inflates to 100 bytes for a 24 × 5 plane".into(),
    ));
    let opaque = miniz_oxide::deflate::compress_to_vec(&[255; 120], 9);
    out.push((
        "alpha_opaque",
        section(AlphaFilter::None.to_byte(), &opaque),
        "an alpha plane of 255 everywhere (written without one)".into(),
    ));
    out
}

/// The invalid version 2 vectors: (name, bytes, what the file shows). Those the container
/// accepts fail when decoded with [`standard_model`].
fn invalid_vectors(one_tile: &[u8]) -> Vec<(&'static str, Vec<u8>, String)> {
    let b = one_tile;
    assert_eq!(&b[15..17], &[32, 32]);
    let with_header = |head: &[u8], rest_from: usize| {
        let mut v = head.to_vec();
        v.extend_from_slice(&b[rest_from..]);
        crc_fix(v)
    };
    let mut out = Vec::new();

    out.push((
        "truncated_header",
        b[..16].to_vec(),
        "the file ends after the width, before the height".into(),
    ));
    out.push((
        "truncated_crc",
        b[..19].to_vec(),
        "a complete header followed by 2 bytes: no room for the CRC".into(),
    ));
    let mut m = b.to_vec();
    m[..4].copy_from_slice(b"GIF8");
    out.push(("bad_magic", m, "GIF8 instead of the .aec magic".into()));
    let mut m = b.to_vec();
    m[4] = 3;
    out.push(("unknown_version", crc_fix(m), "version 3".into()));
    let mut m = b.to_vec();
    m[5] = 0;
    out.push(("reserved_kind_0", crc_fix(m), "kind 0".into()));
    let mut m = b.to_vec();
    m[5] = 5;
    out.push(("reserved_kind_5", crc_fix(m), "kind 5".into()));
    let mut m = b.to_vec();
    m[5] = 4;
    out.push((
        "lossless_with_model_id",
        crc_fix(m),
        "kind 4 (lossless), which has no model, with a model id".into(),
    ));
    out.extend(invalid_exact_vectors(b));
    let stepped = |step: u16| {
        with_header(
            &[&b[..5], &[3], &b[6..17], &step.to_le_bytes()].concat(),
            17,
        )
    };
    out.push((
        "kind_3_step_0",
        stepped(0),
        "kind 3 with a quantization step of 0".into(),
    ));
    out.push((
        "kind_3_step_256",
        stepped(256),
        "kind 3 with a quantization step of 256, which must be written as kind 2".into(),
    ));
    let mut m = b.to_vec();
    m[6] = 5;
    out.push(("bad_channels", crc_fix(m), "channel count 5".into()));
    out.push((
        "zero_width",
        with_header(&[&b[..15], &[0x00, 32]].concat(), 17),
        "width 0".into(),
    ));
    out.push((
        "zero_height",
        with_header(&[&b[..15], &[32, 0x00]].concat(), 17),
        "height 0".into(),
    ));
    out.push((
        "non_minimal_width",
        with_header(&[&b[..15], &[0xa0, 0x00, 32]].concat(), 17),
        "width 32 written as the 2-byte varint a0 00".into(),
    ));
    out.push((
        "non_minimal_zero_height",
        with_header(&[&b[..15], &[32, 0x80, 0x00]].concat(), 17),
        "height 0 written as the 2-byte varint 80 00: non-minimal is reported before zero".into(),
    ));
    out.push((
        "varint_four_bytes",
        with_header(&[&b[..15], &[0x80, 0x80, 0x80, 0x01, 32]].concat(), 17),
        "width as a 4-byte varint (80 80 80 01)".into(),
    ));
    out.push((
        "varint_over_65535",
        with_header(&[&b[..15], &[0x80, 0x80, 0x04, 32]].concat(), 17),
        "width 65536 (80 80 04)".into(),
    ));
    let mut m = b.to_vec();
    m[17] ^= 0x01;
    out.push((
        "crc_mismatch",
        m,
        "one payload bit flipped, CRC left as it was".into(),
    ));
    let mut m = b.to_vec();
    m.extend_from_slice(b"extra");
    out.push((
        "appended_bytes",
        m,
        "five bytes appended after a complete file: with no length field they read as payload and CRC, and the CRC fails".into(),
    ));
    let n = b.len() - 4;
    let mut m = b[..n].to_vec();
    m.push(0);
    m.extend_from_slice(&[0; 4]);
    out.push((
        "trailing_zero_byte",
        crc_fix(m),
        "a zero byte appended to the payload, CRC fixed".into(),
    ));
    // Accepted by the container, rejected by the symbol decoder (standard model, 4 symbols).
    let mut m = b[..17].to_vec();
    m.extend_from_slice(&[0xff; 8]);
    m.extend_from_slice(&[0; 4]);
    out.push((
        "stream_invalid",
        crc_fix(m),
        "payload ff ff ff ff ff ff ff ff: the first symbol already falls outside the interval"
            .into(),
    ));
    // Some appended bytes make the canonical stream of other symbols: take the first that
    // does not.
    let (m, extra) = (1..=255u8)
        .map(|x| {
            let mut m = b[..n].to_vec();
            m.push(x);
            m.extend_from_slice(&[0; 4]);
            (crc_fix(m), x)
        })
        .find(|(m, _)| {
            matches!(
                error_of(m, &standard_model()),
                Some(FormatError::StreamNotCanonical { .. })
            )
        })
        .expect("some byte");
    out.push((
        "stream_extra_byte",
        m,
        format!(
            "the byte {extra:02x} appended to the payload, CRC fixed: the stream decodes but is not the canonical encoding of what it decodes to{}",
            if extra > 1 {
                " (each smaller byte appended instead gives the canonical stream of other symbols)"
            } else {
                ""
            }
        ),
    ));
    let mut m = b[..17].to_vec();
    m.extend_from_slice(&[0x55; 25]);
    m.extend_from_slice(&[0; 4]);
    out.push((
        "stream_too_long",
        crc_fix(m),
        "a 25-byte payload for 4 symbols: longer than 4 × (4 + 2) bytes, rejected before decoding"
            .into(),
    ));
    out
}

/// A VP8L bitstream of a `width × height` RGB image (image-webp's lossless encoder).
fn vp8l(width: u32, height: u32) -> Vec<u8> {
    let rgb: Vec<u8> = (0..width * height * 3)
        .map(|i| (i * 7 % 256) as u8)
        .collect();
    let mut webp = Vec::new();
    image_webp::WebPEncoder::new(&mut webp)
        .encode(&rgb, width, height, image_webp::ColorType::Rgb8)
        .expect("encodes");
    aec_format::vp8l_of_webp(&webp)
        .expect("a VP8L chunk")
        .to_vec()
}

/// Files with an exact-blocks section that a reader refuses. `b` is the 32 × 32 one-tile file
/// (2 × 2 blocks of 16 pixels): its header with kind byte `kind` and channel count `channels`,
/// then `map`, `bitstream` with its length (`len` where given), and its payload.
fn invalid_exact_vectors(b: &[u8]) -> Vec<(&'static str, Vec<u8>, String)> {
    let file = |kind: u8, channels: u8, map: u8, bitstream: &[u8], len: Option<u32>| {
        let mut v = [&b[..5], &[kind, channels], &b[7..17], &[map]].concat();
        v.extend_from_slice(&len.unwrap_or(bitstream.len() as u32).to_le_bytes());
        v.extend_from_slice(bitstream);
        v.extend_from_slice(&b[17..]);
        crc_fix(v)
    };
    let good = vp8l(32, 32);
    let mut with_alpha = good.clone();
    with_alpha[4] |= 0x10;
    let long = Some(good.len() as u32 + 1000);
    vec![
        (
            "exact_blocks_tiled",
            file(0x41, 3, 0b0101, &good, None),
            "kind byte 0x41: exact blocks on a tiled file".into(),
        ),
        (
            "exact_blocks_with_alpha",
            file(0xc2, 3, 0b0101, &good, None),
            "kind byte 0xc2: exact blocks with an alpha section".into(),
        ),
        (
            "exact_blocks_grey",
            file(0x42, 1, 0b0101, &good, None),
            "kind byte 0x42 with a grey source (1 channel)".into(),
        ),
        (
            "exact_blocks_bits_past_the_map",
            file(0x42, 3, 0b1_0101, &good, None),
            "2 × 2 blocks, map byte 0x15: bit 4 is past the last block".into(),
        ),
        (
            "exact_blocks_every_block",
            file(0x42, 3, 0b1111, &good, None),
            "map byte 0x0f: every block exact (such an image is a lossless file)".into(),
        ),
        (
            "exact_blocks_no_block",
            file(0x42, 3, 0, &good, None),
            "map byte 0x00: no block exact (such a file has no section)".into(),
        ),
        (
            "exact_blocks_wrong_size",
            file(0x42, 3, 0b0101, &vp8l(16, 32), None),
            "a 16 × 32 bitstream in a 32 × 32 file".into(),
        ),
        (
            "exact_blocks_alpha_bitstream",
            file(0x42, 3, 0b0101, &with_alpha, None),
            "a bitstream whose header says alpha is used".into(),
        ),
        (
            "exact_blocks_truncated",
            file(0x42, 3, 0b0101, &good, long),
            "a bitstream length 1000 bytes past the file's end".into(),
        ),
    ]
}

/// The error of a file: the container's, or the symbol decoder's with `model`.
fn error_of(bytes: &[u8], model: &Model) -> Option<FormatError> {
    match AnyFile::from_bytes(bytes) {
        Err(e) => Some(e),
        Ok(AnyFile::V2(f)) => {
            if let Err(e) = f.decode_alpha() {
                return Some(e);
            }
            let count = f
                .header()
                .symbol_count(
                    model.tile_size,
                    model.tables.code_length(),
                    &Limits::default(),
                )
                .expect("within limits");
            let mut out = Vec::new();
            decode_symbols(&f.payload, &model.tables, count, &mut out).err()
        }
        Ok(AnyFile::V1(_)) => panic!("a version 1 file among the version 2 vectors"),
    }
}

pub fn write_all(root: &Path) {
    let dir = root.join("format-spec/vectors/v2");
    let invalid = dir.join("invalid");
    let seeds = root.join("fuzz/seeds/decode_v2");
    for d in [&dir, &invalid, &seeds] {
        fs::create_dir_all(d).expect("create dir");
    }

    let model = standard_model();
    let mut text = serde_json::to_string_pretty(&model.json()).expect("json");
    text.push('\n');
    write(&dir.join("model.json"), text.as_bytes());

    let (mut one_tile, mut alpha) = (Vec::new(), Vec::new());
    for v in valid_vectors() {
        let bytes = v.file.to_bytes().expect("valid");
        let AnyFile::V2(back) = AnyFile::from_bytes(&bytes).expect("reads back") else {
            panic!("not version 2");
        };
        assert_eq!(back, v.file);
        let mut decoded = Vec::new();
        decode_symbols(
            &back.payload,
            &v.model.tables,
            v.symbols.len(),
            &mut decoded,
        )
        .expect("decodes");
        assert_eq!(decoded, v.symbols);
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        let h = v.file.header();
        let tiles_x = v.file.width.div_ceil(v.model.tile_size);
        let tiles_y = v.file.height.div_ceil(v.model.tile_size);
        let j = json!({
            "description": v.what,
            "version": 2,
            "kind": v.file.header().kind_byte(),
            "channels": v.file.channels,
            "model_id": hex(&v.file.model_id),
            "width": v.file.width,
            "height": v.file.height,
            "header_len": h.encoded_len(),
            "payload_len": v.file.payload.len(),
            "file_len": bytes.len(),
            "model": v.model.json(),
            "tiles_x": tiles_x,
            "tiles_y": tiles_y,
            "symbol_count": v.symbols.len(),
            "symbols": v.symbols,
            "payload": hex(&v.file.payload),
            "seal": v.seal.as_str(),
            "alpha_filter": v.file.alpha.as_ref().map(|a| a.filter.to_byte()),
            "alpha_stream": v.file.alpha.as_ref().map(|a| hex(&a.stream)),
            "alpha": back.decode_alpha().expect("decodes"),
        });
        let mut text = serde_json::to_string_pretty(&j).expect("json");
        text.push('\n');
        write(&dir.join(format!("{}.aec", v.name)), &bytes);
        write(&dir.join(format!("{}.json", v.name)), text.as_bytes());
        write(&seeds.join(format!("{}.aec", v.name)), &bytes);
        println!(
            "v2/{}.aec: {} bytes, payload {} bytes, seal {}",
            v.name,
            bytes.len(),
            v.file.payload.len(),
            v.seal.as_str()
        );
        match v.name {
            "v2_one_tile" => one_tile = bytes,
            "v2_alpha" => alpha = bytes,
            _ => {}
        }
    }

    let all = invalid_vectors(&one_tile)
        .into_iter()
        .chain(invalid_alpha_vectors(&alpha));
    for (name, bytes, what) in all {
        let err = error_of(&bytes, &model).expect("invalid vector must be rejected");
        let text = format!("{}\n{}\n{}\n", variant_name(&err), err, what);
        write(&invalid.join(format!("{name}.aec")), &bytes);
        write(&invalid.join(format!("{name}.txt")), text.as_bytes());
        write(&seeds.join(format!("invalid_{name}.aec")), &bytes);
        println!("v2/invalid/{name}.aec: {} ({err})", variant_name(&err));
    }
}
