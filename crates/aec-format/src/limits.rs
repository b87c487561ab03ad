//! Bounds a reader enforces before it allocates.

/// Upper bounds a reader checks against the header before it allocates
/// anything proportional to the declared sizes.
///
/// The defaults allow every image the format can describe (up to
/// 65535 × 65535 pixels) as long as its code is at most 2^28 values
/// (1 GiB as `f32`) or, in version 2, 2^28 symbols (1 GiB as `i32`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted image width, in pixels.
    pub max_width: u32,
    /// Largest accepted image height, in pixels.
    pub max_height: u32,
    /// Largest accepted number of tiles (`tiles_x * tiles_y`).
    pub max_tiles: usize,
    /// Largest accepted code length (values per tile).
    pub max_code_length: u32,
    /// Largest accepted total number of code values (`tiles * code_length`);
    /// this bounds the size of the decoded [`crate::Codes`].
    pub max_values: usize,
    /// Largest accepted input length, in bytes.
    pub max_file_len: u64,
    /// Largest accepted number of symbols of a version 2 file (`tiles * code_length`, both
    /// known only with the model; see [`crate::CodedHeader::symbol_count`]); this bounds the
    /// size of the decoded symbols and the work of decoding them.
    pub max_symbols: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_width: 65535,
            max_height: 65535,
            max_tiles: 1 << 22,
            max_code_length: 4096,
            max_values: 1 << 28,
            max_file_len: 1 << 32,
            max_symbols: 1 << 28,
        }
    }
}
