//! The files under `format-spec/vectors/`: valid ones decode to their JSON
//! description and re-encode to the same bytes; invalid ones give the named
//! error.

use std::fs;
use std::path::{Path, PathBuf};

use aec_format::{AecFile, Codes, Layout, Limits, Precision};
use serde_json::Value;

/// The crate's folder. Cargo sets it in the test's environment; the value compiled in is the
/// fallback, as it goes stale when a build cache is reused from another checkout.
fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

fn vectors_dir() -> PathBuf {
    manifest_dir().join("../../format-spec/vectors")
}

fn files_with_ext(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    v.sort();
    v
}

fn variant_name(e: &aec_format::FormatError) -> String {
    let dbg = format!("{e:?}");
    dbg.split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap()
        .to_string()
}

/// Builds the expected file from the JSON description alone.
fn file_from_json(j: &Value) -> AecFile {
    let hex = j["model_id"].as_str().unwrap();
    assert_eq!(hex.len(), 32);
    let mut model_id = [0u8; 16];
    for (i, b) in model_id.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
    }
    let precision: Precision = j["precision"].as_str().unwrap().parse().unwrap();
    let layout: Layout = j["layout"].as_str().unwrap().parse().unwrap();
    let values: Vec<f32> = j["codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect();
    let u = |k: &str| u32::try_from(j[k].as_u64().unwrap()).unwrap();
    AecFile {
        model_id,
        width: u("width"),
        height: u("height"),
        channels: u8::try_from(u("channels")).unwrap(),
        tile_size: u("tile_size"),
        code_length: u("code_length"),
        layout,
        codes: Codes::from_f32(&values, precision),
    }
}

fn bits(c: &Codes) -> Vec<u32> {
    c.to_f32().iter().map(|v| v.to_bits()).collect()
}

#[test]
fn valid_vectors_decode_and_reencode_identically() {
    let dir = vectors_dir();
    let files = files_with_ext(&dir, "aec");
    assert!(
        files.len() >= 6,
        "expected the valid vectors in {}",
        dir.display()
    );
    let mut seen = std::collections::HashSet::new();
    for path in files {
        let name = path.display().to_string();
        let bytes = fs::read(&path).unwrap();
        let j: Value =
            serde_json::from_str(&fs::read_to_string(path.with_extension("json")).unwrap())
                .unwrap();
        let expected = file_from_json(&j);

        let got = AecFile::from_bytes(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got, expected, "{name}");
        // PartialEq treats +0 and -0 alike; the bits must match too.
        assert_eq!(bits(&got.codes), bits(&expected.codes), "{name}");
        assert_eq!(
            u64::from(got.tiles_x()),
            j["tiles_x"].as_u64().unwrap(),
            "{name}"
        );
        assert_eq!(
            u64::from(got.tiles_y()),
            j["tiles_y"].as_u64().unwrap(),
            "{name}"
        );
        assert_eq!(
            bytes.len() as u64,
            j["file_len"].as_u64().unwrap(),
            "{name}"
        );

        assert_eq!(
            got.to_bytes().unwrap(),
            bytes,
            "{name}: re-encoding differs"
        );
        assert_eq!(
            expected.to_bytes().unwrap(),
            bytes,
            "{name}: encoding from JSON differs"
        );
        assert_eq!(got.encoded_len(), bytes.len(), "{name}");

        let streamed = AecFile::read_from(&bytes[..], &Limits::default()).unwrap();
        assert_eq!(streamed, got, "{name}");

        seen.insert((got.codes.precision(), got.layout));
    }
    for p in [Precision::F32, Precision::F16] {
        for l in [Layout::Dense, Layout::Sparse] {
            assert!(seen.contains(&(p, l)), "no vector for {p} {l}");
        }
    }
}

#[test]
fn invalid_vectors_give_their_named_error() {
    let dir = vectors_dir().join("invalid");
    let files = files_with_ext(&dir, "aec");
    assert!(
        files.len() >= 12,
        "expected the invalid vectors in {}",
        dir.display()
    );
    for path in files {
        let name = path.display().to_string();
        let bytes = fs::read(&path).unwrap();
        let txt = fs::read_to_string(path.with_extension("txt")).unwrap();
        let mut lines = txt.lines();
        let want_variant = lines.next().unwrap();
        let want_message = lines.next().unwrap();

        let err = AecFile::from_bytes(&bytes).expect_err(&name);
        assert_eq!(variant_name(&err), want_variant, "{name}: {err}");
        assert_eq!(err.to_string(), want_message, "{name}");

        let err = AecFile::read_from(&bytes[..], &Limits::default()).expect_err(&name);
        assert_eq!(
            variant_name(&err),
            want_variant,
            "{name} via read_from: {err}"
        );
    }
}

#[test]
fn spec_size_claim_holds() {
    // SPEC.md: a 32 × 32 image with a 128-value f16 code is 36 + 256 bytes.
    let bytes = fs::read(vectors_dir().join("f16_dense_32x32_l128.aec")).unwrap();
    assert_eq!(bytes.len(), 292);
    let f = AecFile::from_bytes(&bytes).unwrap();
    assert_eq!((f.width, f.height, f.code_length), (32, 32, 128));
    assert_eq!(f.codes.precision(), Precision::F16);
}
