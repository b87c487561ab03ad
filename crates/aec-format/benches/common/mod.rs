//! The file both the `container` benchmark and the `container_loop` example time: a 768×512
//! photo's codes (384 tiles of 128 values).

use aec_format::{AecFile, Codes, Layout, Precision};

/// Values spread over [-1, 1] in a scrambled order; the sparse layout zeroes those below 0.5
/// in magnitude (half of them, at unpredictable positions).
pub fn photo_file(precision: Precision, layout: Layout) -> AecFile {
    let mut values: Vec<f32> = (0..384 * 128)
        .map(|i| ((i * 7919) % 2001) as f32 / 1000.0 - 1.0)
        .collect();
    if layout == Layout::Sparse {
        values
            .iter_mut()
            .filter(|x| x.abs() < 0.5)
            .for_each(|x| *x = 0.0);
    }
    AecFile {
        model_id: [7; 16],
        width: 768,
        height: 512,
        channels: 3,
        tile_size: 32,
        code_length: 128,
        layout,
        codes: Codes::from_f32(&values, precision),
    }
}
