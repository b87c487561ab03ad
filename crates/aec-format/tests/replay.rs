//! Replays the fuzzing corpora, seeds and regression inputs through the
//! parser the way the `parse` fuzz target does: each input as it is and with
//! its CRC fixed up. Every input must give `Ok` or `Err`, never a panic, and
//! every accepted input must re-encode to itself. Each regression input must
//! also give the outcome that `fuzz/regressions/expected.txt` records for it.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use aec_format::AecFile;

/// The crate's folder. Cargo sets it in the test's environment; the value compiled in is the
/// fallback, as it goes stale when a build cache is reused from another checkout.
fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// The manifest of `fuzz/regressions/`: one line per input, `NAME OUTCOME`.
const MANIFEST: &str = "expected.txt";

fn fuzz_dir() -> PathBuf {
    manifest_dir().join("../../fuzz")
}

/// The input files in `dir` (the regressions' manifest is not one), sorted.
fn files_in(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut found: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n != MANIFEST))
        .collect();
    found.sort();
    out.extend(found);
}

/// Parses one input; returns `"Ok"` or the error variant's name.
fn parse(bytes: &[u8], path: &Path) -> String {
    match AecFile::from_bytes(bytes) {
        Ok(f) => {
            assert_eq!(
                f.to_bytes().unwrap(),
                bytes,
                "{}: accepted but not canonical",
                path.display()
            );
            "Ok".to_string()
        }
        Err(e) => format!("{e:?}")
            .split(|c: char| !c.is_alphanumeric())
            .next()
            .unwrap()
            .to_string(),
    }
}

/// Replays `files`, tallying outcomes of the raw and the CRC-fixed inputs.
fn replay(files: &[PathBuf]) -> BTreeMap<String, usize> {
    let mut outcomes = BTreeMap::new();
    for path in files {
        let bytes = fs::read(path).unwrap();
        *outcomes.entry(parse(&bytes, path)).or_insert(0) += 1;
        if bytes.len() >= 4 {
            let mut fixed = bytes.clone();
            let n = fixed.len() - 4;
            let crc = crc32fast::hash(&fixed[..n]);
            fixed[n..].copy_from_slice(&crc.to_le_bytes());
            if fixed != bytes {
                *outcomes
                    .entry(format!("{} (crc fixed)", parse(&fixed, path)))
                    .or_insert(0) += 1;
            }
        }
    }
    outcomes
}

/// Every regression input gives the outcome its manifest line records (`Ok`, re-encoded
/// byte for byte, or the `FormatError` variant), and every input has exactly one line.
#[test]
fn regressions_give_their_recorded_outcomes() {
    let dir = fuzz_dir().join("regressions");
    let manifest = fs::read_to_string(dir.join(MANIFEST)).unwrap();
    let mut expected = BTreeMap::new();
    for (i, line) in manifest.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [name, outcome] = fields[..] else {
            panic!(
                "{MANIFEST}:{}: expected `NAME OUTCOME`, got {line:?}",
                i + 1
            );
        };
        assert!(
            expected
                .insert(name.to_string(), outcome.to_string())
                .is_none(),
            "{MANIFEST}:{}: {name} listed twice",
            i + 1
        );
    }
    let mut files = Vec::new();
    files_in(&dir, &mut files);
    assert!(
        !files.is_empty(),
        "no regression inputs in {}",
        dir.display()
    );
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let Some(outcome) = expected.remove(&name) else {
            panic!("{name} has no line in {MANIFEST}");
        };
        let bytes = fs::read(path).unwrap();
        assert_eq!(parse(&bytes, path), outcome, "{name}");
    }
    assert!(
        expected.is_empty(),
        "{MANIFEST} lists files that are not there: {:?}",
        expected.keys()
    );
}

#[test]
fn regressions_and_seeds_do_not_panic() {
    let fuzz = fuzz_dir();
    let mut files = Vec::new();
    files_in(&fuzz.join("regressions"), &mut files);
    for target in ["parse", "roundtrip"] {
        files_in(&fuzz.join("seeds").join(target), &mut files);
    }
    assert!(
        !files.is_empty(),
        "no regression or seed inputs under {}",
        fuzz.display()
    );
    let outcomes = replay(&files);
    println!("replayed {} files: {outcomes:?}", files.len());
}

#[test]
fn local_corpora_do_not_panic() {
    // fuzz/corpus/ is not committed; replay whatever a local fuzzing run left.
    let corpus = fuzz_dir().join("corpus");
    let Ok(targets) = fs::read_dir(&corpus) else {
        return;
    };
    let mut files = Vec::new();
    for t in targets.flatten() {
        files_in(&t.path(), &mut files);
    }
    let outcomes = replay(&files);
    // Shown with `--nocapture`: which checks the corpus reaches.
    println!("replayed {} corpus files: {outcomes:?}", files.len());
}
