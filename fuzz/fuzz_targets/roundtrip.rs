//! Arbitrary valid files through the writer and back: the reader must give
//! the same file, and `encoded_len` must predict the length exactly.
#![no_main]

use aec_format::AecFile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|file: AecFile| {
    let bytes = file.to_bytes().expect("arbitrary files are valid");
    assert_eq!(file.encoded_len(), bytes.len());
    let back = AecFile::from_bytes(&bytes).expect("written file must read back");
    assert_eq!(back, file);
    // Canonical: writing what was read gives the same bytes.
    assert_eq!(back.to_bytes().expect("valid"), bytes);
});
