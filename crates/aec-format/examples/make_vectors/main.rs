//! Writes the test vectors under `format-spec/vectors/` (version 2 ones under
//! `format-spec/vectors/v2/`) and the fuzzing seeds under `fuzz/seeds/`.
//! Deterministic: running it twice gives identical files.
//!
//! ```text
//! cargo run -p aec-format --example make_vectors
//! ```

use std::fs;
use std::path::{Path, PathBuf};

mod v2;

use aec_format::{AecFile, Codes, FormatError, Layout, Limits, Precision};
use serde_json::json;

/// Deterministic pseudo-random values that are exact in `f16`.
struct Rng(u32);

impl Rng {
    fn next(&mut self) -> u32 {
        // xorshift32
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        self.0
    }

    /// A non-zero multiple of 1/64 in [-4, 4].
    fn nonzero(&mut self) -> f32 {
        loop {
            let v = (self.next() % 513) as i32 - 256;
            if v != 0 {
                return v as f32 / 64.0;
            }
        }
    }
}

fn file(
    model_seed: u8,
    (width, height): (u32, u32),
    channels: u8,
    (tile_size, code_length): (u32, u32),
    layout: Layout,
    (values, precision): (&[f32], Precision),
) -> AecFile {
    let mut model_id = [0u8; 16];
    for (i, b) in model_id.iter_mut().enumerate() {
        *b = model_seed.wrapping_mul(16).wrapping_add(i as u8 * 17);
    }
    let f = AecFile {
        model_id,
        width,
        height,
        channels,
        tile_size,
        code_length,
        layout,
        codes: Codes::from_f32(values, precision),
    };
    f.validate().expect("vector is valid");
    f
}

/// Values of `tiles` tiles of `l` values where tile `t` has the non-zero
/// positions `nonzero[t]`.
fn sparse_values(rng: &mut Rng, l: usize, nonzero: &[Vec<usize>]) -> Vec<f32> {
    let mut v = vec![0.0; l * nonzero.len()];
    for (t, idx) in nonzero.iter().enumerate() {
        for &i in idx {
            v[t * l + i] = rng.nonzero();
        }
    }
    v
}

fn dense_values(rng: &mut Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.nonzero()).collect()
}

fn valid_vectors() -> Vec<(&'static str, AecFile)> {
    let mut rng = Rng(0x2545_f491);
    let mut out = Vec::new();

    // f32, dense, one tile, with -0.0 and a subnormal to pin bit-exactness.
    let mut v = dense_values(&mut rng, 16);
    v[3] = -0.0;
    v[4] = 0.0;
    v[5] = f32::from_bits(1);
    v[6] = f32::MAX;
    out.push((
        "f32_dense",
        file(
            1,
            (32, 32),
            3,
            (32, 16),
            Layout::Dense,
            (&v, Precision::F32),
        ),
    ));

    // f16, dense, 3 × 2 tiles of a non-square image.
    let v = dense_values(&mut rng, 6 * 8);
    out.push((
        "f16_dense_multitile",
        file(2, (70, 40), 4, (32, 8), Layout::Dense, (&v, Precision::F16)),
    ));

    // The size quoted in the spec: 32 × 32, 128 f16 values = 36 + 256 bytes.
    let v = dense_values(&mut rng, 128);
    out.push((
        "f16_dense_32x32_l128",
        file(
            3,
            (32, 32),
            3,
            (32, 128),
            Layout::Dense,
            (&v, Precision::F16),
        ),
    ));

    // f32, sparse, u8 index lists (bitmap would be 8 bytes).
    let v = sparse_values(&mut rng, 64, &[vec![0, 9, 63], vec![]]);
    out.push((
        "f32_sparse_index",
        file(
            4,
            (64, 32),
            1,
            (32, 64),
            Layout::Sparse,
            (&v, Precision::F32),
        ),
    ));

    // f16, sparse, bitmaps (4-byte bitmap vs index list of >= 4 bytes),
    // 2 × 2 tiles: one full tile, one empty, two partial.
    let all: Vec<usize> = (0..32).collect();
    let v = sparse_values(
        &mut rng,
        32,
        &[all, vec![], vec![1, 2, 3, 31], vec![0, 5, 6, 7, 8, 20, 30]],
    );
    out.push((
        "f16_sparse_bitmap",
        file(
            5,
            (48, 48),
            3,
            (32, 32),
            Layout::Sparse,
            (&v, Precision::F16),
        ),
    ));

    // f16, sparse, code length 300: u16 indices (bitmap is 38 bytes).
    let v = sparse_values(&mut rng, 300, &[vec![0, 7, 255, 256, 299], vec![1; 0]]);
    out.push((
        "f16_sparse_u16_index",
        file(
            6,
            (20, 33),
            2,
            (32, 300),
            Layout::Sparse,
            (&v, Precision::F16),
        ),
    ));

    // f32, sparse, code length 64: k = 7 (index list, 7 < 8), k = 8 (tie:
    // bitmap), k = 64 (bitmap); 3 × 1 tiles, last one partial.
    let v = sparse_values(
        &mut rng,
        64,
        &[
            vec![1, 2, 3, 10, 20, 40, 62],
            vec![0, 8, 16, 24, 32, 40, 48, 56],
            (0..64).collect(),
        ],
    );
    out.push((
        "f32_sparse_mixed",
        file(
            7,
            (96, 20),
            3,
            (32, 64),
            Layout::Sparse,
            (&v, Precision::F32),
        ),
    ));

    // The worked example of the spec: 3 × 2 pixels, 2-pixel tiles (2 × 1
    // tiles), 16 values per tile; tile 0 uses an index list, tile 1 a bitmap.
    let mut v = vec![0.0f32; 32];
    v[5] = 1.0;
    v[16] = -2.0;
    v[16 + 9] = 0.5;
    v[16 + 15] = 3.0;
    let mut f = file(0, (3, 2), 3, (2, 16), Layout::Sparse, (&v, Precision::F16));
    f.model_id = [
        0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee,
        0xff,
    ];
    out.push(("example_sparse_f16", f));

    // Grey image, tile size 1, code length 1: the smallest geometry.
    let v = dense_values(&mut rng, 3);
    out.push((
        "f32_dense_minimal",
        file(8, (3, 1), 1, (1, 1), Layout::Dense, (&v, Precision::F32)),
    ));

    out
}

pub(crate) fn crc_fix(mut b: Vec<u8>) -> Vec<u8> {
    let n = b.len() - 4;
    let crc = crc32fast::hash(&b[..n]);
    b[n..].copy_from_slice(&crc.to_le_bytes());
    b
}

fn bytes_of(name: &str) -> Vec<u8> {
    valid_vectors()
        .into_iter()
        .find(|(n, _)| *n == name)
        .expect("known vector")
        .1
        .to_bytes()
        .expect("valid")
}

/// Builds the invalid vectors as (name, bytes, what the file shows).
fn invalid_vectors() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let dense = bytes_of("f16_dense_multitile");
    let dense32 = bytes_of("f32_dense");
    let idx = bytes_of("f32_sparse_index");
    let bm = bytes_of("f16_sparse_bitmap");
    let mut out = Vec::new();

    out.push((
        "truncated_header",
        dense[..20].to_vec(),
        "the file ends inside the header",
    ));
    out.push((
        "truncated",
        dense[..dense.len() - 7].to_vec(),
        "a dense file missing its last 7 bytes",
    ));

    let mut b = dense.clone();
    b[..8].copy_from_slice(&[0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a]);
    out.push(("bad_magic", b, "a PNG signature instead of the .aec magic"));

    let mut b = dense.clone();
    b[4] = 3;
    out.push((
        "bad_version",
        crc_fix(b),
        "version 3 (a version 1 reader also rejects version 2; 3 is unknown to every reader)",
    ));

    let mut b = dense.clone();
    b[40] ^= 0x01;
    out.push((
        "crc_mismatch",
        b,
        "one payload bit flipped, CRC left as it was",
    ));

    let mut b = dense.clone();
    b[26] = 200; // height 40 -> 200: 7 tile rows instead of 2
    out.push((
        "declared_size_larger",
        crc_fix(b),
        "the header's height is raised so the dense payload it declares is larger than the file",
    ));

    let mut b = idx.clone();
    // Tile 1 (empty, at the end) claims 5 values but the file ends.
    let k1 = b.len() - 4 - 2;
    b[k1] = 5;
    out.push((
        "sparse_count_past_end",
        crc_fix(b),
        "the last sparse tile declares 5 values that are not in the file",
    ));

    let mut b = dense.clone();
    let n = b.len() - 4;
    b.splice(n..n, [0xde, 0xad, 0xbe]);
    out.push((
        "trailing_bytes",
        crc_fix(b),
        "three extra bytes between the dense payload and the CRC, covered by the CRC",
    ));

    let mut b = idx.clone();
    b.extend_from_slice(b"extra");
    out.push((
        "appended_bytes",
        b,
        "five bytes appended after a complete sparse file",
    ));

    let mut b = dense.clone();
    b[5] = 0x02;
    out.push(("reserved_flag", crc_fix(b), "flag bit 1 set"));

    let mut b = dense.clone();
    b[6] = 2;
    out.push(("reserved_precision", crc_fix(b), "precision byte 2"));

    let mut b = dense.clone();
    b[7] = 0;
    out.push(("bad_channels", crc_fix(b), "channel count 0"));

    let mut b = dense.clone();
    b[29] = 1;
    out.push(("reserved_byte", crc_fix(b), "byte 29 set to 1"));

    let mut b = dense.clone();
    b[24] = 0;
    b[25] = 0;
    out.push(("zero_width", crc_fix(b), "width 0"));

    // f32_sparse_index tile 0: k = 3, indices [0, 9, 63] at bytes 34..37.
    let mut b = idx.clone();
    assert_eq!(&b[32..37], &[3, 0, 0, 9, 63]);
    b.swap(35, 36);
    out.push((
        "unsorted_indices",
        crc_fix(b),
        "sparse index list [0, 63, 9]",
    ));

    let mut b = idx.clone();
    b[35] = 0;
    out.push((
        "duplicate_index",
        crc_fix(b),
        "sparse index list [0, 0, 63]",
    ));

    let mut b = idx.clone();
    b[36] = 64;
    out.push((
        "index_out_of_range",
        crc_fix(b),
        "sparse index 64 with code length 64",
    ));

    // First stored value of tile 0 (f32 at bytes 37..41) set to +0 / -0.
    let mut b = idx.clone();
    b[37..41].copy_from_slice(&0.0f32.to_le_bytes());
    out.push((
        "stored_zero",
        crc_fix(b),
        "a sparse tile stores the value +0",
    ));

    let mut b = idx.clone();
    b[37..41].copy_from_slice(&(-0.0f32).to_le_bytes());
    out.push((
        "stored_negative_zero",
        crc_fix(b),
        "a sparse tile stores the value -0",
    ));

    let mut b = dense32.clone();
    b[32 + 4 * 2..32 + 4 * 3].copy_from_slice(&f32::NAN.to_le_bytes());
    out.push(("nan_value", crc_fix(b), "a dense f32 value is NaN"));

    // f16_sparse_bitmap tile 0: k = 32, bitmap ff ff ff ff at 34..38, values after.
    let mut b = bm.clone();
    assert_eq!(&b[32..38], &[32, 0, 0xff, 0xff, 0xff, 0xff]);
    b[38..40].copy_from_slice(&half::f16::INFINITY.to_bits().to_le_bytes());
    out.push((
        "infinite_value_sparse",
        crc_fix(b),
        "a sparse f16 value is +infinity",
    ));

    let mut b = bm.clone();
    b[35] = 0xfe;
    out.push((
        "bitmap_count",
        crc_fix(b),
        "a bitmap with 31 bits set for k = 32",
    ));

    let mut b = bm.clone();
    b[32] = 33;
    out.push((
        "too_many_values",
        crc_fix(b),
        "a sparse tile declares k = 33 with code length 32",
    ));

    // Code length 12: the bitmap has 2 bytes, 4 padding bits in the second.
    let mut v = vec![0.0f32; 12];
    v[0] = 1.0;
    v[1] = 2.0;
    v[2] = 3.0;
    v[11] = 4.0;
    let f = file(9, (8, 8), 3, (8, 12), Layout::Sparse, (&v, Precision::F16));
    let mut b = f.to_bytes().expect("valid");
    assert_eq!(&b[32..36], &[4, 0, 0x07, 0x08]);
    b[35] = 0x10; // index 11 -> 12, past the code length
    out.push((
        "bitmap_padding",
        crc_fix(b),
        "a bitmap bit set past the code length of 12",
    ));

    // Code length 5000 (default limit 4096): one empty sparse tile.
    let f = file(
        10,
        (4, 4),
        3,
        (4, 5000),
        Layout::Sparse,
        (&vec![0.0; 5000], Precision::F16),
    );
    out.push((
        "over_limit_code_length",
        f.to_bytes().expect("valid"),
        "code length 5000, over the default limit of 4096",
    ));

    // 65535 × 65535 pixels with 1-pixel tiles: 4294836225 tiles.
    let mut b = bytes_of("f32_dense_minimal");
    b[24..28].copy_from_slice(&[0xff, 0xff, 0xff, 0xff]);
    out.push((
        "over_limit_tiles",
        crc_fix(b),
        "65535 × 65535 one-pixel tiles, over the default limit of 2^22 tiles",
    ));

    out
}

pub(crate) fn variant_name(e: &FormatError) -> String {
    let dbg = format!("{e:?}");
    dbg.split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or("")
        .to_string()
}

pub(crate) fn write(path: &Path, bytes: &[u8]) {
    fs::write(path, bytes).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let vectors = root.join("format-spec/vectors");
    let invalid = vectors.join("invalid");
    let seeds_parse = root.join("fuzz/seeds/parse");
    let seeds_roundtrip = root.join("fuzz/seeds/roundtrip");
    for d in [&vectors, &invalid, &seeds_parse, &seeds_roundtrip] {
        fs::create_dir_all(d).expect("create dir");
    }

    for (name, f) in valid_vectors() {
        let bytes = f.to_bytes().expect("valid");
        assert_eq!(AecFile::from_bytes(&bytes).expect("reads back"), f);
        let hex: String = f.model_id.iter().map(|b| format!("{b:02x}")).collect();
        let codes: Vec<f64> = f.codes.to_f32().iter().map(|&v| f64::from(v)).collect();
        let j = json!({
            "model_id": hex,
            "width": f.width,
            "height": f.height,
            "channels": f.channels,
            "tile_size": f.tile_size,
            "code_length": f.code_length,
            "precision": f.codes.precision().as_str(),
            "layout": f.layout.as_str(),
            "tiles_x": f.tiles_x(),
            "tiles_y": f.tiles_y(),
            "file_len": bytes.len(),
            "codes": codes,
        });
        let mut text = serde_json::to_string_pretty(&j).expect("json");
        text.push('\n');
        write(&vectors.join(format!("{name}.aec")), &bytes);
        write(&vectors.join(format!("{name}.json")), text.as_bytes());
        write(&seeds_parse.join(format!("{name}.aec")), &bytes);
        write(&seeds_roundtrip.join(format!("{name}.aec")), &bytes);
        println!("{name}.aec: {} bytes", bytes.len());
    }

    for (name, bytes, what) in invalid_vectors() {
        let err = AecFile::from_bytes(&bytes).expect_err("invalid vector must be rejected");
        let limits_err = AecFile::read_from(&bytes[..], &Limits::default())
            .expect_err("invalid vector must be rejected by read_from");
        assert_eq!(variant_name(&err), variant_name(&limits_err), "{name}");
        let text = format!("{}\n{}\n{}\n", variant_name(&err), err, what);
        write(&invalid.join(format!("{name}.aec")), &bytes);
        write(&invalid.join(format!("{name}.txt")), text.as_bytes());
        write(&seeds_parse.join(format!("invalid_{name}.aec")), &bytes);
        println!("invalid/{name}.aec: {} ({err})", variant_name(&err));
    }

    v2::write_all(&root);
}
