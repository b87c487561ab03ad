//! Arbitrary bytes through the reader: it must return `Ok` or `Err` without
//! panicking, anything it accepts must re-encode to exactly the input, and
//! the streaming reader must reach the same verdict as the slice reader, and so must the
//! tile-by-tile statistics (with the same statistics as the parsed file's values), and the
//! header reader must agree with the whole file's header.
//!
//! Random bytes almost never carry a correct CRC, so each input is parsed
//! twice: as given, and with its last four bytes replaced by the CRC-32 of the
//! bytes before them, which lets the fuzzer reach the payload checks.
#![no_main]

use aec_format::{AecFile, CodeStats, FileHeader, FormatError, Limits};
use libfuzzer_sys::fuzz_target;

fn variant(r: &Result<AecFile, FormatError>) -> String {
    match r {
        Ok(_) => "Ok".to_string(),
        Err(e) => format!("{e:?}")
            .split(|c: char| !c.is_alphanumeric())
            .next()
            .unwrap_or_default()
            .to_string(),
    }
}

fn check(data: &[u8]) {
    let parsed = AecFile::from_bytes(data);
    if let Ok(file) = &parsed {
        let bytes = file.to_bytes().expect("a parsed file must be writable");
        assert_eq!(bytes, data, "accepted input is not in canonical form");
        assert_eq!(file.encoded_len(), data.len());
    }
    let streamed = AecFile::read_from(data, &Limits::default());
    assert_eq!(variant(&parsed), variant(&streamed));
    if let (Ok(a), Ok(b)) = (&parsed, &streamed) {
        assert_eq!(a, b);
    }
    let stats = AecFile::stats_from_bytes(data, &Limits::default());
    match (&parsed, &stats) {
        (Ok(file), Ok((header, stats))) => {
            assert_eq!(*stats, CodeStats::of(&file.codes.to_f32()));
            assert_eq!(FileHeader::parse(data).ok(), Some(*header));
            assert_eq!(header.values(), file.codes.len() as u64);
        }
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
        _ => panic!("stats and reader disagree"),
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    if data.len() >= 4 {
        let mut fixed = data.to_vec();
        let n = fixed.len() - 4;
        let crc = crc32fast::hash(&fixed[..n]);
        if fixed[n..] != crc.to_le_bytes() {
            fixed[n..].copy_from_slice(&crc.to_le_bytes());
            check(&fixed);
        }
    }
});
