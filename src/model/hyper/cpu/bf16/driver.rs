//! What both kernels share: the rows of `a` rounded to bfloat16, the blocks of sums written
//! out, a weight gradient's patch columns made into tiles; each block's sums by [`Kernel`].

use std::arch::x86_64::*;

use super::super::aligned::Aligned;
use super::super::tile_use::TileUse;
use super::{amx, dot, Columns, Kernel, Out, Runs, Tiles, CHUNK, PANEL, PIXELS, ROWS, TILE};

/// Tile registers the AMX kernel uses.
const TILES: usize = 8;

/// The tile configuration where `kernel` is AMX's (none for the other).
///
/// # Safety
/// `kernel` is AMX's only where the CPU has the tiles.
unsafe fn tiles_for(kernel: Kernel) -> Option<TileUse> {
    // SAFETY: as the caller promises.
    (kernel == Kernel::Amx).then(|| unsafe { TileUse::configure(TILES) })
}

/// `out[i, j] = bias[j] + Σₖ a[i, k]·b[k, j]` for the `rows` rows of `a`, in bfloat16 on
/// `kernel`.
///
/// # Safety
/// `kernel` is one that [`super::kernel`] gave; the runs of `a` lie inside its source and add
/// up to `k`; `out` holds `rows` rows of `n` values.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
pub unsafe fn product(
    kernel: Kernel,
    a: &Runs<'_>,
    rows: usize,
    (k, n): (usize, usize),
    b: &Tiles,
    mut out: Out<'_>,
) {
    let blocks = rows.div_ceil(ROWS);
    let row_len = b.chunks * CHUNK;
    // The rows in bfloat16, whole blocks of 16 (the rows past `rows` zeros).
    super::with_scratch(blocks * ROWS * row_len, |rounded| {
        for i in 0..rows {
            let row = &mut rounded[i * row_len..][..row_len];
            round_row(a, i, row);
            row[k..].fill(0);
        }
        rounded[rows * row_len..].fill(0);
        // SAFETY: as the caller promises.
        unsafe { blocks_of_sums(kernel, rounded, rows, (k, n), b, &mut out) }
    })
}

/// The products of the rounded rows (16-row blocks of `b.chunks` chunks each), two row
/// blocks by two panels a time.
///
/// # Safety
/// As [`product`].
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn blocks_of_sums(
    kernel: Kernel,
    rounded: &[u16],
    rows: usize,
    (k, n): (usize, usize),
    b: &Tiles,
    out: &mut Out<'_>,
) {
    let (blocks, row_len) = (rows.div_ceil(ROWS), b.chunks * CHUNK);
    assert!(rounded.len() >= blocks * ROWS * row_len && k <= row_len);
    // SAFETY: as the caller promises.
    let _tiles = unsafe { tiles_for(kernel) };
    let mut sums = [[0f32; ROWS * PANEL]; 4];
    for pair in 0..b.pairs {
        let mut block = 0;
        while block < blocks {
            let two = block + 1 < blocks;
            let first = rounded.as_ptr().wrapping_add(block * ROWS * row_len);
            let at = (first, row_len, two);
            // SAFETY: the rows' blocks and the pair's tiles hold `chunks` chunks; the kernel
            // is as the caller promises.
            unsafe {
                match kernel {
                    Kernel::Amx => amx::tile_sums(b, pair, at, &mut sums),
                    Kernel::Dot => dot::tile_sums(b, pair, at, &mut sums),
                }
            }
            for (t, s) in sums.iter().enumerate().take(if two { 4 } else { 2 }) {
                let (rb, side) = (block + t / 2, t % 2);
                write(s, (rb * ROWS, rows), (pair * 2 + side) * PANEL, n, out);
            }
            block += if two { 2 } else { 1 };
        }
    }
}

/// A tile of sums (16 rows of 16) to rows `i0..` (those below `rows`) and columns
/// `j0..` (those below `n`) of `out`.
#[inline(always)]
fn write(
    s: &[f32; ROWS * PANEL],
    (i0, rows): (usize, usize),
    j0: usize,
    n: usize,
    out: &mut Out<'_>,
) {
    if j0 >= n {
        return;
    }
    let width = PANEL.min(n - j0);
    for r in 0..ROWS.min(rows.saturating_sub(i0)) {
        let at = (i0 + r) * out.stride + j0;
        out.values[at..at + width].copy_from_slice(&s[r * PANEL..][..width]);
    }
}

/// Row `i` of `a` rounded to bfloat16 into `dst` (zeros past `k`).
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
fn round_row(a: &Runs<'_>, i: usize, dst: &mut [u16]) {
    let runs = a.lens.len();
    let mut at = 0;
    for (t, &len) in a.lens.iter().enumerate() {
        let src = a
            .run(a.starts[i * runs + t], len)
            .expect("a run inside the source");
        let mut off = 0;
        while off < len {
            let m = (len - off).min(16);
            let mask: __mmask16 = if m == 16 { !0 } else { (1 << m) - 1 };
            // SAFETY: the mask keeps the loads and stores inside `src` and `dst`.
            unsafe {
                let r = rounded(_mm512_maskz_loadu_ps(mask, src.as_ptr().add(off)));
                let h = _mm512_cvtepi32_epi16(_mm512_srli_epi32::<16>(r));
                _mm256_mask_storeu_epi16(dst.as_mut_ptr().add(at + off).cast(), mask, h);
            }
            off += m;
        }
        at += len;
    }
}

/// `Σᵢ gᵢ ⊗ bᵢ` over the pixels `i` of `a` (its gradient `g`), where `fill(i, row)` writes the
/// `w` values of `bᵢ`: `n` rows (and zeros up to a multiple of 32) of `w` rounded up to 32
/// values, in `f32`, each value summed in pixel order (chunks of [`PIXELS`], and within them
/// as `kernel` adds).
///
/// # Safety
/// `kernel` is one that [`super::kernel`] gave.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
pub unsafe fn outer_sums(
    kernel: Kernel,
    a: &Columns,
    w: usize,
    fill: impl Fn(usize, &mut [f32]),
) -> Aligned<f32> {
    let width = w.next_multiple_of(2 * PANEL);
    let (panels, blocks) = (width / PANEL, a.blocks);
    let mut acc = Aligned::filled(blocks * ROWS * width, 0f32);
    // Every tile row a chunk reads is written first.
    super::with_scratch(panels * (PIXELS / CHUNK) * TILE, |tiles| {
        // SAFETY: as the caller promises.
        unsafe { outer_chunks(kernel, a, (w, width), fill, tiles, &mut acc) }
    });
    acc
}

/// [`outer_sums`]'s chunks of pixels, their columns made into `tiles`, added to `acc`.
///
/// # Safety
/// As [`outer_sums`]; `tiles` holds a chunk's tiles, `acc` the sums.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn outer_chunks(
    kernel: Kernel,
    a: &Columns,
    (w, width): (usize, usize),
    fill: impl Fn(usize, &mut [f32]),
    tiles: &mut [u16],
    acc: &mut [f32],
) {
    let (panels, blocks) = (width / PANEL, a.blocks);
    // Two pixels' values; past `w` (and past the last pixel) zeros.
    let mut pair = [vec![0f32; width], vec![0f32; width]];
    // SAFETY: as the caller promises.
    let _tiles = unsafe { tiles_for(kernel) };
    for i0 in (0..a.rows).step_by(PIXELS) {
        let chunks = (a.rows - i0).min(PIXELS).div_ceil(CHUNK);
        for q in 0..chunks * ROWS {
            for (t, row) in pair.iter_mut().enumerate() {
                match i0 + 2 * q + t {
                    i if i < a.rows => fill(i, &mut row[..w]),
                    _ => row.fill(0.0),
                }
            }
            let (c, r) = (q / ROWS, q % ROWS);
            for p in 0..panels {
                let dst = &mut tiles[(p * (PIXELS / CHUNK) + c) * TILE + r * CHUNK..][..CHUNK];
                interleave(&pair[0][p * PANEL..], &pair[1][p * PANEL..], dst);
            }
        }
        for jb in (0..blocks).step_by(2) {
            for p in (0..panels).step_by(2) {
                let at = |b: usize, q: usize| (jb + b) * ROWS * width + (p + q) * PANEL;
                let c = [at(0, 0), at(0, 1), at(1, 0), at(1, 1)]
                    .map(|o| acc.as_mut_ptr().wrapping_add(o));
                let rows_at = a.values.as_ptr().wrapping_add(jb * ROWS * a.stride + i0);
                let weights = tiles.as_ptr().wrapping_add(p * (PIXELS / CHUNK) * TILE);
                let (rows, weights) = ((rows_at, a.stride), (weights, chunks));
                // SAFETY: the sums, rows and tiles lie inside their buffers; the kernel is as
                // the caller promises.
                unsafe {
                    match kernel {
                        Kernel::Amx => amx::outer_tiles(c, width, rows, weights),
                        Kernel::Dot => dot::outer_tiles(c, width, rows, weights),
                    }
                }
            }
        }
    }
}

/// One tile row: 16 columns' pairs `(x0[c], x1[c])` in bfloat16.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
fn interleave(x0: &[f32], x1: &[f32], dst: &mut [u16]) {
    assert!(x0.len() >= PANEL && x1.len() >= PANEL && dst.len() >= CHUNK);
    // SAFETY: the lengths are checked above.
    unsafe {
        let r0 = rounded(_mm512_loadu_ps(x0.as_ptr()));
        let r1 = rounded(_mm512_loadu_ps(x1.as_ptr()));
        let high = _mm512_and_si512(r1, _mm512_set1_epi32(!0xffff));
        let v = _mm512_or_si512(high, _mm512_srli_epi32::<16>(r0));
        _mm512_storeu_si512(dst.as_mut_ptr().cast(), v);
    }
}

/// 16 values' bits with bfloat16's rounding to nearest (ties to even) added: the upper half of
/// each lane is [`super::round`] of the value.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
#[inline]
fn rounded(v: __m512) -> __m512i {
    let v = _mm512_castps_si512(v);
    let lsb = _mm512_and_si512(_mm512_srli_epi32::<16>(v), _mm512_set1_epi32(1));
    _mm512_add_epi32(_mm512_add_epi32(v, _mm512_set1_epi32(0x7fff)), lsb)
}
