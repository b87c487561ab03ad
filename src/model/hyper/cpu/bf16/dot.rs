//! The AVX-512 BF16 kernel (`vdpbf16ps`): the same blocks of sums as [`super::amx`], from the
//! same operands, eight rows by two panels (16 vectors of 16 `f32`) in registers a time. A
//! tile row of [`Tiles`] (16 columns' pairs of `k`) is one vector; a row's pair of values is
//! broadcast to all 16 lanes.

use std::arch::x86_64::*;

use super::{Tiles, CHUNK, PANEL, PIXELS, ROWS, TILE};

/// Rows (or channels) whose sums stay in registers together.
const GROUP: usize = 8;

/// 16 pairs of bfloat16 as the instruction's operand type.
#[inline(always)]
fn pairs(v: __m512i) -> __m512bh {
    // SAFETY: both are 64 bytes of plain lanes.
    unsafe { std::mem::transmute(v) }
}

/// `acc[i][side] += Σ` over `pairs_of_k` pairs of `k` of row `i`'s pair (at `rows + i·stride +
/// 2q`) times panel `side`'s row `q` (at `weights[side] + q·CHUNK`).
///
/// # Safety
/// Every operand read lies inside its buffer; the CPU has AVX-512 BF16.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
#[inline]
unsafe fn group(
    acc: &mut [[__m512; 2]; GROUP],
    (rows, stride): (*const u16, usize),
    weights: [*const u16; 2],
    pairs_of_k: usize,
) {
    for q in 0..pairs_of_k {
        // SAFETY: as the caller promises.
        unsafe {
            let w0 = pairs(_mm512_loadu_si512(weights[0].add(q * CHUNK).cast()));
            let w1 = pairs(_mm512_loadu_si512(weights[1].add(q * CHUNK).cast()));
            for (i, acc) in acc.iter_mut().enumerate() {
                let x = rows.add(i * stride + 2 * q).cast::<i32>().read_unaligned();
                let x = pairs(_mm512_set1_epi32(x));
                acc[0] = _mm512_dpbf16_ps(acc[0], x, w0);
                acc[1] = _mm512_dpbf16_ps(acc[1], x, w1);
            }
        }
    }
}

/// As [`super::amx::tile_sums`]: the sums of one or two row blocks (at `first`, `row_len`
/// values apart) by the two panels of `pair`, from the bias, into `sums` (row block major,
/// then panel).
///
/// # Safety
/// The blocks hold 16 (or 32) rows of `row_len` values, `row_len` is `b.chunks` chunks; the
/// CPU has AVX-512 BF16.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
pub unsafe fn tile_sums(
    b: &Tiles,
    pair: usize,
    (first, row_len, two): (*const u16, usize, bool),
    sums: &mut [[f32; ROWS * PANEL]; 4],
) {
    let bias = &b.bias[pair * 2 * PANEL..][..2 * PANEL];
    // SAFETY: 32 values of the bias.
    let bias = unsafe { [0, 1].map(|s| _mm512_loadu_ps(bias.as_ptr().add(s * PANEL))) };
    let weights = b.values.as_ptr().wrapping_add(pair * b.chunks * 2 * TILE);
    let row_groups = if two { 2 * ROWS } else { ROWS } / GROUP;
    for g in 0..row_groups {
        let rows = first.wrapping_add(g * GROUP * row_len);
        let mut acc = [bias; GROUP];
        for ch in 0..b.chunks {
            let w = weights.wrapping_add(ch * 2 * TILE);
            let at = (rows.wrapping_add(ch * CHUNK), row_len);
            // SAFETY: the chunk's 16 pairs of each row and its two tiles (as the caller
            // promises).
            unsafe { group(&mut acc, at, [w, w.wrapping_add(TILE)], ROWS) };
        }
        let (block, r0) = (g * GROUP / ROWS, g * GROUP % ROWS);
        for (i, acc) in acc.iter().enumerate() {
            for (side, &v) in acc.iter().enumerate() {
                let dst = &mut sums[block * 2 + side][(r0 + i) * PANEL..][..PANEL];
                // SAFETY: 16 values.
                unsafe { _mm512_storeu_ps(dst.as_mut_ptr(), v) };
            }
        }
    }
}

/// As [`super::amx::outer_tiles`]: adds to the four blocks of sums at `c` (16 rows of 16,
/// `width` apart: two row blocks by two panels) the products of the two row blocks of `rows`
/// (`stride` apart, from the chunk's first pixel) with the two panels' tiles at `weights`,
/// over `chunks` chunks.
///
/// # Safety
/// Every operand lies inside its buffer; the CPU has AVX-512 BF16.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
pub unsafe fn outer_tiles(
    c: [*mut f32; 4],
    width: usize,
    (rows, stride): (*const u16, usize),
    (weights, chunks): (*const u16, usize),
) {
    let panels = [weights, weights.wrapping_add((PIXELS / CHUNK) * TILE)];
    for g in 0..2 * ROWS / GROUP {
        let (block, r0) = (g * GROUP / ROWS, g * GROUP % ROWS);
        let sums = [c[block * 2], c[block * 2 + 1]];
        let at = |side: usize, i: usize| sums[side].wrapping_add((r0 + i) * width);
        // SAFETY: the rows of the sums lie inside their buffer (as the caller promises).
        let mut acc: [[__m512; 2]; GROUP] =
            std::array::from_fn(|i| [0, 1].map(|side| unsafe { _mm512_loadu_ps(at(side, i)) }));
        let group_rows = rows.wrapping_add(g * GROUP * stride);
        // SAFETY: as the caller promises.
        unsafe { group(&mut acc, (group_rows, stride), panels, chunks * ROWS) };
        for (i, acc) in acc.iter().enumerate() {
            for (side, &v) in acc.iter().enumerate() {
                // SAFETY: as above.
                unsafe { _mm512_storeu_ps(at(side, i), v) };
            }
        }
    }
}
