//! The files under `format-spec/vectors/v2/`: valid ones decode to their JSON description
//! (header fields, model, symbols, payload) and re-encode to the same bytes; invalid ones give
//! the named error, from the container or, for those it accepts, from the symbol decoder with
//! the tables of `model.json`.

use std::fs;
use std::path::{Path, PathBuf};

use aec_format::{
    decode_symbols, encode_symbols, encode_symbols_sealed, AlphaFilter, AlphaPlane, AnyFile,
    AnyHeader, CodedFile, ExactBlocks, FormatError, Limits, ModelKind, SymbolTable, SymbolTables,
    ALPHA_FLAG, EXACT_FLAG,
};
use serde_json::Value;

fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

fn dir() -> PathBuf {
    manifest_dir().join("../../format-spec/vectors/v2")
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

fn variant_name(e: &FormatError) -> String {
    format!("{e:?}")
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap()
        .to_string()
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap()
}

/// (tile size, tables) of a JSON model.
fn model(j: &Value) -> (u32, SymbolTables) {
    let tables = j["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| SymbolTable {
            min_symbol: i32::try_from(t["min_symbol"].as_i64().unwrap()).unwrap(),
            probabilities: t["probabilities"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| u32::try_from(p.as_u64().unwrap()).unwrap())
                .collect(),
        })
        .collect();
    let tables = SymbolTables::new(tables).unwrap();
    assert_eq!(
        j["code_length"].as_u64().unwrap(),
        tables.code_length() as u64
    );
    (
        u32::try_from(j["tile_size"].as_u64().unwrap()).unwrap(),
        tables,
    )
}

#[test]
fn valid_vectors_decode_and_reencode_identically() {
    let files = files_with_ext(&dir(), "aec");
    assert!(
        files.len() >= 5,
        "expected the v2 vectors in {}",
        dir().display()
    );
    let (mut empty, mut carry, mut long_varint, mut alpha) = (false, false, false, false);
    for path in files {
        let name = path.display().to_string();
        let bytes = fs::read(&path).unwrap();
        let j = read_json(&path.with_extension("json"));
        let u = |k: &str| j[k].as_u64().unwrap();
        assert_eq!(u("version"), 2);
        let expected = CodedFile {
            kind: ModelKind::from_byte(u("kind") as u8 & !(ALPHA_FLAG | EXACT_FLAG)).unwrap(),
            channels: u("channels") as u8,
            model_id: hex(j["model_id"].as_str().unwrap()).try_into().unwrap(),
            width: u("width") as u32,
            height: u("height") as u32,
            step: aec_format::UNIT_STEP,
            alpha: j["alpha_filter"].as_u64().map(|f| AlphaPlane {
                filter: AlphaFilter::from_byte(f as u8).unwrap(),
                stream: hex(j["alpha_stream"].as_str().unwrap()),
            }),
            exact: j["exact_map"].as_str().map(|m| ExactBlocks {
                map: hex(m),
                bitstream: hex(j["exact_bitstream"].as_str().unwrap()),
            }),
            payload: hex(j["payload"].as_str().unwrap()),
        };
        let got = match AnyFile::from_bytes(&bytes).unwrap_or_else(|e| panic!("{name}: {e}")) {
            AnyFile::V2(f) => f,
            AnyFile::V1(_) => panic!("{name}: read as version 1"),
        };
        assert_eq!(got, expected, "{name}");
        assert_eq!(CodedFile::from_bytes(&bytes).unwrap(), expected, "{name}");
        assert_eq!(
            expected.to_bytes().unwrap(),
            bytes,
            "{name}: encoding differs"
        );
        assert_eq!(expected.encoded_len() as u64, u("file_len"), "{name}");
        assert_eq!(bytes.len() as u64, u("file_len"), "{name}");
        assert_eq!(got.payload.len() as u64, u("payload_len"), "{name}");
        let header = AnyHeader::parse(&bytes).unwrap();
        assert_eq!(header, AnyHeader::V2(expected.header()), "{name}");
        assert_eq!(header.encoded_len() as u64, u("header_len"), "{name}");
        assert_eq!(header.has_alpha(), !j["alpha"].is_null(), "{name}");
        let plane = got.decode_alpha().unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            plane.map(|p| p.into_iter().map(u64::from).collect::<Vec<_>>()),
            j["alpha"]
                .as_array()
                .map(|a| a.iter().map(|v| v.as_u64().unwrap()).collect()),
            "{name}"
        );
        alpha |= got.alpha.is_some();

        let (tile_size, tables) = model(&j["model"]);
        let h = expected.header();
        assert_eq!(u64::from(h.width.div_ceil(tile_size)), u("tiles_x"));
        assert_eq!(u64::from(h.height.div_ceil(tile_size)), u("tiles_y"));
        let count = h
            .symbol_count(tile_size, tables.code_length(), &Limits::default())
            .unwrap();
        assert_eq!(count as u64, u("symbol_count"), "{name}");
        let symbols: Vec<i32> = j["symbols"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| i32::try_from(v.as_i64().unwrap()).unwrap())
            .collect();
        let mut out = Vec::new();
        decode_symbols(&got.payload, &tables, count, &mut out)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(out, symbols, "{name}");
        assert_eq!(
            encode_symbols(&symbols, &tables).unwrap(),
            got.payload,
            "{name}"
        );
        let (_, seal) = encode_symbols_sealed(&symbols, &tables).unwrap();
        assert_eq!(seal.as_str(), j["seal"].as_str().unwrap(), "{name}");

        empty |= got.payload.is_empty();
        carry |= seal == aec_format::SealCase::Carry;
        long_varint |= h.width > 16383 || h.height > 16383;
    }
    assert!(empty && carry && long_varint && alpha);
}

#[test]
fn invalid_vectors_give_their_named_error() {
    let d = dir().join("invalid");
    let files = files_with_ext(&d, "aec");
    assert!(
        files.len() >= 15,
        "expected the invalid v2 vectors in {}",
        d.display()
    );
    let (tile_size, tables) = model(&read_json(&dir().join("model.json")));
    for path in files {
        let name = path.display().to_string();
        let bytes = fs::read(&path).unwrap();
        let txt = fs::read_to_string(path.with_extension("txt")).unwrap();
        let mut lines = txt.lines();
        let want_variant = lines.next().unwrap();
        let want_message = lines.next().unwrap();
        let err = match AnyFile::from_bytes(&bytes) {
            Err(e) => {
                // The version 2 reader fails the same way, but for an unknown version it
                // names only version 2.
                let v2 = CodedFile::from_bytes(&bytes).unwrap_err();
                assert_eq!(variant_name(&v2), variant_name(&e), "{name}");
                e
            }
            Ok(AnyFile::V2(f)) if f.decode_alpha().is_err() => f.decode_alpha().unwrap_err(),
            Ok(AnyFile::V2(f)) => {
                let count = f
                    .header()
                    .symbol_count(tile_size, tables.code_length(), &Limits::default())
                    .unwrap();
                let mut out = Vec::new();
                decode_symbols(&f.payload, &tables, count, &mut out)
                    .expect_err(&format!("{name}: the symbols decode"))
            }
            Ok(AnyFile::V1(_)) => panic!("{name}: read as version 1"),
        };
        assert_eq!(variant_name(&err), want_variant, "{name}: {err}");
        assert_eq!(err.to_string(), want_message, "{name}");
    }
}

#[test]
fn spec_size_claims_hold() {
    // SPEC.md: a 32 × 32 image costs 21 bytes besides its payload; an all-smallest-symbols
    // image is 21 bytes in all.
    for name in ["v2_one_tile", "v2_empty_payload"] {
        let bytes = fs::read(dir().join(format!("{name}.aec"))).unwrap();
        let f = CodedFile::from_bytes(&bytes).unwrap();
        assert_eq!(bytes.len(), 21 + f.payload.len());
    }
    let bytes = fs::read(dir().join("v2_empty_payload.aec")).unwrap();
    assert_eq!(bytes.len(), 21);
}
