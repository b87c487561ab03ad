//! The AMX tile kernel (`tdpbf16ps`): a block of two row blocks by two panels in tiles 0–3
//! (16 rows of 16 `f32` each), the two row blocks' values in tiles 4 and 5, the two panels'
//! weights in 6 and 7; the tile instructions as inline assembly (stable Rust has no AMX
//! intrinsics).

use std::arch::asm;

use super::{Tiles, CHUNK, PANEL, PIXELS, ROWS, TILE};

/// The sums of one or two row blocks (at `first`, `row_len` values apart) by the two
/// panels of `pair`, from the bias, into `sums` (row block major, then panel).
///
/// # Safety
/// The tiles are configured; the blocks hold 16 (or 32) rows of `row_len` values.
#[inline(always)]
pub unsafe fn tile_sums(
    b: &Tiles,
    pair: usize,
    (first, row_len, two): (*const u16, usize, bool),
    sums: &mut [[f32; ROWS * PANEL]; 4],
) {
    let bias = b.bias.as_ptr().wrapping_add(pair * 2 * PANEL);
    let weights = b.values.as_ptr().wrapping_add(pair * b.chunks * 2 * TILE);
    let stride = row_len * 2;
    let second = first.wrapping_add(ROWS * row_len);
    // Every row of a sum tile starts as the bias (a stride of zero repeats it).
    unsafe {
        asm!(
            "tileloadd tmm0, [{b0} + {zero} * 1]",
            "tileloadd tmm1, [{b1} + {zero} * 1]",
            "tileloadd tmm2, [{b0} + {zero} * 1]",
            "tileloadd tmm3, [{b1} + {zero} * 1]",
            b0 = in(reg) bias,
            b1 = in(reg) bias.wrapping_add(PANEL),
            zero = in(reg) 0usize,
            options(nostack, readonly),
        );
    }
    for ch in 0..b.chunks {
        let w = weights.wrapping_add(ch * 2 * TILE);
        let (a0, a1) = (
            first.wrapping_add(ch * CHUNK),
            second.wrapping_add(ch * CHUNK),
        );
        unsafe {
            if two {
                asm!(
                    "tileloadd tmm4, [{a0} + {stride} * 1]",
                    "tileloadd tmm6, [{w0} + {line} * 1]",
                    "tileloadd tmm7, [{w1} + {line} * 1]",
                    "tdpbf16ps tmm0, tmm4, tmm6",
                    "tileloadd tmm5, [{a1} + {stride} * 1]",
                    "tdpbf16ps tmm1, tmm4, tmm7",
                    "tdpbf16ps tmm2, tmm5, tmm6",
                    "tdpbf16ps tmm3, tmm5, tmm7",
                    a0 = in(reg) a0,
                    a1 = in(reg) a1,
                    w0 = in(reg) w,
                    w1 = in(reg) w.wrapping_add(TILE),
                    stride = in(reg) stride,
                    line = in(reg) 64usize,
                    options(nostack, readonly),
                );
            } else {
                asm!(
                    "tileloadd tmm4, [{a0} + {stride} * 1]",
                    "tileloadd tmm6, [{w0} + {line} * 1]",
                    "tileloadd tmm7, [{w1} + {line} * 1]",
                    "tdpbf16ps tmm0, tmm4, tmm6",
                    "tdpbf16ps tmm1, tmm4, tmm7",
                    a0 = in(reg) a0,
                    w0 = in(reg) w,
                    w1 = in(reg) w.wrapping_add(TILE),
                    stride = in(reg) stride,
                    line = in(reg) 64usize,
                    options(nostack, readonly),
                );
            }
        }
    }
    let line = PANEL * 4;
    unsafe {
        asm!(
            "tilestored [{s0} + {line} * 1], tmm0",
            "tilestored [{s1} + {line} * 1], tmm1",
            s0 = in(reg) sums[0].as_mut_ptr(),
            s1 = in(reg) sums[1].as_mut_ptr(),
            line = in(reg) line,
            options(nostack),
        );
        if two {
            asm!(
                "tilestored [{s2} + {line} * 1], tmm2",
                "tilestored [{s3} + {line} * 1], tmm3",
                s2 = in(reg) sums[2].as_mut_ptr(),
                s3 = in(reg) sums[3].as_mut_ptr(),
                line = in(reg) line,
                options(nostack),
            );
        }
    }
}

/// Adds to the four tiles of sums at `c` (16 rows of 16, `width` apart: two row blocks by
/// two panels) the products of the two row blocks of `rows` (`stride` apart, from the
/// chunk's first pixel) with the two panels' tiles at `weights`, over `chunks` chunks.
///
/// # Safety
/// The tiles are configured; every operand lies inside its buffer.
#[inline(always)]
pub unsafe fn outer_tiles(
    c: [*mut f32; 4],
    width: usize,
    (rows, stride): (*const u16, usize),
    (weights, chunks): (*const u16, usize),
) {
    let line = width * 4;
    unsafe {
        asm!(
            "tileloadd tmm0, [{c0} + {line} * 1]",
            "tileloadd tmm1, [{c1} + {line} * 1]",
            "tileloadd tmm2, [{c2} + {line} * 1]",
            "tileloadd tmm3, [{c3} + {line} * 1]",
            c0 = in(reg) c[0],
            c1 = in(reg) c[1],
            c2 = in(reg) c[2],
            c3 = in(reg) c[3],
            line = in(reg) line,
            options(nostack, readonly),
        );
        for ch in 0..chunks {
            let a0 = rows.wrapping_add(ch * CHUNK);
            let w0 = weights.wrapping_add(ch * TILE);
            asm!(
                "tileloadd tmm4, [{a0} + {stride} * 1]",
                "tileloadd tmm6, [{w0} + {l64} * 1]",
                "tileloadd tmm7, [{w1} + {l64} * 1]",
                "tdpbf16ps tmm0, tmm4, tmm6",
                "tileloadd tmm5, [{a1} + {stride} * 1]",
                "tdpbf16ps tmm1, tmm4, tmm7",
                "tdpbf16ps tmm2, tmm5, tmm6",
                "tdpbf16ps tmm3, tmm5, tmm7",
                a0 = in(reg) a0,
                a1 = in(reg) a0.wrapping_add(ROWS * stride),
                w0 = in(reg) w0,
                w1 = in(reg) w0.wrapping_add((PIXELS / CHUNK) * TILE),
                stride = in(reg) stride * 2,
                l64 = in(reg) 64usize,
                options(nostack, readonly),
            );
        }
        asm!(
            "tilestored [{c0} + {line} * 1], tmm0",
            "tilestored [{c1} + {line} * 1], tmm1",
            "tilestored [{c2} + {line} * 1], tmm2",
            "tilestored [{c3} + {line} * 1], tmm3",
            c0 = in(reg) c[0],
            c1 = in(reg) c[1],
            c2 = in(reg) c[2],
            c3 = in(reg) c[3],
            line = in(reg) line,
            options(nostack),
        );
    }
}
