//! The trainer's products in bfloat16 on Intel AMX tiles (`train-hyper --bf16`): operands
//! rounded to bfloat16 (8 significant bits, to nearest, ties to even), products summed in
//! `f32` by `tdpbf16ps`, 16 rows × 16 columns × 32 values of `k` an instruction.
//!
//! Training needs no exact products, so only the trainer asks for these (through
//! [`super::panel::Packed::with_bf16`]); the coder's transforms never do, because the tiles'
//! sums are not a chain of fused multiply-adds that other machines could repeat (a tile adds
//! several products before it rounds). Each output is summed by one call in a fixed order, so a
//! training run gives the same bits on any thread count on the same CPU.

use std::sync::OnceLock;

use super::aligned::Aligned;
use super::panel::{Out, Runs, PANEL};

/// How the trainer's convolution products run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Products {
    /// One chain of `f32` fused multiply-adds per output, as the coder runs them.
    #[default]
    F32,
    /// Operands in bfloat16 on AMX tiles where the CPU has them (else as `F32`).
    Bf16,
}

/// Values of `k` in one tile row (64 bytes of bfloat16).
pub const CHUNK: usize = 32;
/// Rows of a tile, and rows of `a` per block.
pub const ROWS: usize = 16;
/// Values of a tile (16 rows of 32 bfloat16).
const TILE: usize = ROWS * CHUNK;

thread_local! {
    /// Each thread's buffers for the tile kernels' rounded operands, kept between calls (a
    /// call's are hundreds of kilobytes; allocating and zeroing them each time cost more than
    /// a tenth of a step).
    static SCRATCH: std::cell::RefCell<Aligned<u16>> = std::cell::RefCell::new(Aligned::filled(0, 0));
}

/// Runs `f` with this thread's scratch buffer of at least `len` values (their contents
/// unspecified). `f` must not wait on other tasks: one stolen onto this thread meanwhile would
/// find the buffer in use (the kernels' closures only compute and copy).
fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [u16]) -> R) -> R {
    SCRATCH.with(|cell| {
        let mut buf = cell.borrow_mut();
        if buf.len() < len {
            *buf = Aligned::filled(len, 0);
        }
        f(&mut buf[..len])
    })
}

/// `v` rounded to bfloat16 (the upper half of its bits), to nearest, ties to even.
pub fn round(v: f32) -> u16 {
    let b = v.to_bits();
    (b.wrapping_add(0x7fff + ((b >> 16) & 1)) >> 16) as u16
}

/// The value of bfloat16 bits.
pub fn widen(v: u16) -> f32 {
    f32::from_bits(u32::from(v) << 16)
}

/// Whether this CPU and process run the tile products: AMX TILE and BF16 (CPUID leaf 7, EDX
/// bits 24 and 22), the tile state granted (as for the 8-bit tiles), AVX-512 F, BW and VL.
pub fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(detect)
}

#[cfg(target_arch = "x86_64")]
fn detect() -> bool {
    use std::arch::x86_64::__cpuid_count;
    let (max_leaf, edx) = (__cpuid_count(0, 0).eax, __cpuid_count(7, 0).edx);
    max_leaf >= 7
        && (edx >> 22) & 1 == 1
        && is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512vl")
        && crate::cpu_path::Path::Amx.supported()
}

#[cfg(not(target_arch = "x86_64"))]
fn detect() -> bool {
    false
}

/// A packed kernel's columns as tiles: for each pair of panels of [`PANEL`] columns (the
/// count made even with a panel of zeros) and each chunk of [`CHUNK`] values of `k`, the
/// first panel's tile then the second's, each 16 rows of the 16 columns' pairs of values
/// (`row r, 2·col + j` holds `b[k0 + 2r + j][col]`), zeros past `k`; and the bias padded to
/// whole pairs of panels.
#[derive(Debug)]
pub struct Tiles {
    values: Aligned<u16>,
    bias: Aligned<f32>,
    chunks: usize,
    pairs: usize,
}

impl Tiles {
    /// Tiles of the `k × n` matrix `b(k, j)` with `bias` (the tests' way in).
    #[cfg(test)]
    pub fn new(k: usize, n: usize, b: impl Fn(usize, usize) -> f32, bias: &[f32]) -> Self {
        let panels: Vec<f32> = (0..n.div_ceil(PANEL))
            .flat_map(|p| (0..k).flat_map(move |r| (0..PANEL).map(move |c| (p, r, c))))
            .map(|(p, r, c)| {
                if p * PANEL + c < n {
                    b(r, p * PANEL + c)
                } else {
                    0.0
                }
            })
            .collect();
        Self::from_panels(&panels, (k, n), bias)
    }

    /// Tiles of `k × n` values packed as panels of [`PANEL`] columns (`k × PANEL` each,
    /// row-major, the last padded with zeros), with `bias`.
    pub fn from_panels(panels: &[f32], (k, n): (usize, usize), bias: &[f32]) -> Self {
        let (chunks, pairs) = (k.div_ceil(CHUNK), n.div_ceil(2 * PANEL));
        let mut values = Aligned::filled(pairs * chunks * 2 * TILE, 0u16);
        for (panel, src) in panels.chunks_exact(k * PANEL).enumerate() {
            let (pair, side) = (panel / 2, panel % 2);
            for (r, row) in src.chunks_exact(PANEL).enumerate() {
                let (ch, kk) = (r / CHUNK, r % CHUNK);
                let tile = ((pair * chunks + ch) * 2 + side) * TILE + (kk / 2) * CHUNK + kk % 2;
                for (col, &v) in row.iter().enumerate() {
                    values[tile + 2 * col] = round(v);
                }
            }
        }
        let mut padded = Aligned::filled(pairs * 2 * PANEL, 0f32);
        padded[..n].copy_from_slice(&bias[..n]);
        Self {
            values,
            bias: padded,
            chunks,
            pairs,
        }
    }
}

/// `out[i, j] = bias[j] + Σₖ a[i, k]·b[k, j]` for the `rows` rows of `a`, with `a` and `b`
/// rounded to bfloat16 and the sums in `f32`: the reference of the tile kernel, in `f64`
/// (whose sums of the rounded operands the tiles approach to within `f32` rounding).
#[cfg(test)]
pub fn reference(a: &Runs<'_>, rows: usize, (k, n): (usize, usize), b: &Tiles, out: Out<'_>) {
    let runs = a.lens.len();
    for i in 0..rows {
        let mut row = Vec::with_capacity(k);
        for (t, &len) in a.lens.iter().enumerate() {
            let run = a
                .run(a.starts[i * runs + t], len)
                .expect("a run inside the source");
            row.extend(run.iter().map(|&v| f64::from(widen(round(v)))));
        }
        for j in 0..n {
            let (pair, side, col) = (j / (2 * PANEL), (j / PANEL) % 2, j % PANEL);
            let mut s = f64::from(b.bias[j]);
            for (kk, x) in row.iter().enumerate() {
                let (ch, r) = (kk / CHUNK, kk % CHUNK);
                let at = ((pair * b.chunks + ch) * 2 + side) * TILE + (r / 2) * CHUNK + 2 * col;
                s += x * f64::from(widen(b.values[at + r % 2]));
            }
            out.values[i * out.stride + j] = s as f32;
        }
    }
}

/// Pixels whose patch columns a weight gradient's task makes into tiles at a time.
pub const PIXELS: usize = 512;

/// The transpose of a gradient `g` (`rows × n`, row-major) in bfloat16, as the weight
/// gradient's tiles read it: `n` rounded up to 32 rows (channels) of `rows` rounded up to 32
/// values (pixels), zeros past them.
#[derive(Debug)]
pub struct Columns {
    values: Aligned<u16>,
    rows: usize,
    /// Values a row (pixels, padded).
    stride: usize,
    /// Blocks of 16 rows (channels, padded).
    blocks: usize,
}

impl Columns {
    /// The transpose of `g`.
    pub fn new(g: &[f32], rows: usize, n: usize) -> Self {
        use rayon::prelude::*;
        let (stride, padded) = (rows.next_multiple_of(CHUNK), n.next_multiple_of(2 * ROWS));
        let mut values = Aligned::filled(padded * stride, 0u16);
        values
            .par_chunks_mut(ROWS * stride)
            .enumerate()
            .for_each(|(block, dst)| {
                let j0 = block * ROWS;
                for i0 in (0..rows).step_by(CHUNK) {
                    for j in j0..(j0 + ROWS).min(n) {
                        let row = &mut dst[(j - j0) * stride..];
                        for i in i0..(i0 + CHUNK).min(rows) {
                            row[i] = round(g[i * n + j]);
                        }
                    }
                }
            });
        Self {
            values,
            rows,
            stride,
            blocks: padded / ROWS,
        }
    }
}

/// `Σᵢ gᵢ ⊗ bᵢ` over the pixels `i` of `a` (its gradient `g`), where `fill(i, row)` writes the
/// `w` values of `bᵢ`: `n` rows (and zeros up to a multiple of 32) of `w` rounded up to 32
/// values, in `f32`, each value summed
/// in pixel order (chunks of [`PIXELS`], and within them as the tiles add).
///
/// # Safety
/// [`available`] is true.
#[cfg(target_arch = "x86_64")]
pub unsafe fn outer_sums(a: &Columns, w: usize, fill: impl Fn(usize, &mut [f32])) -> Aligned<f32> {
    // SAFETY: as the caller promises.
    unsafe { amx::outer_sums(a, w, fill) }
}

/// The tile kernel; [`available`] says whether it runs.
///
/// # Safety
/// [`available`] is true; the runs of `a` lie inside its source and add up to `k`; `out`
/// holds `rows` rows of `n` values.
#[cfg(target_arch = "x86_64")]
pub unsafe fn product(a: &Runs<'_>, rows: usize, (k, n): (usize, usize), b: &Tiles, out: Out<'_>) {
    // SAFETY: as the caller promises.
    unsafe { amx::product(a, rows, (k, n), b, out) }
}

#[cfg(target_arch = "x86_64")]
mod amx {
    use std::arch::asm;
    use std::arch::x86_64::*;

    use super::super::tile_use::TileUse;
    use super::{Columns, Out, Runs, Tiles, CHUNK, PANEL, PIXELS, ROWS, TILE};

    /// Tiles 0–3 hold the sums of two row blocks by two panels (16 rows of 16 `f32`), 4 and 5
    /// the two row blocks' values, 6 and 7 the two panels' weights.
    const TILES: usize = 8;

    /// See [`super::product`].
    ///
    /// # Safety
    /// As [`super::product`].
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    pub unsafe fn product(
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
            unsafe { tiles(rounded, rows, (k, n), b, &mut out) }
        })
    }

    /// The products of the rounded rows (16-row blocks of `b.chunks` chunks each).
    ///
    /// # Safety
    /// As [`super::product`].
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    unsafe fn tiles(
        rounded: &[u16],
        rows: usize,
        (k, n): (usize, usize),
        b: &Tiles,
        out: &mut Out<'_>,
    ) {
        let (blocks, row_len) = (rows.div_ceil(ROWS), b.chunks * CHUNK);
        debug_assert!(rounded.len() >= blocks * ROWS * row_len && k <= row_len);
        // SAFETY: the tiles are available (the caller's promise).
        let _tiles = unsafe { TileUse::configure(TILES) };
        let mut sums = [[0f32; ROWS * PANEL]; 4];
        for pair in 0..b.pairs {
            let mut block = 0;
            while block < blocks {
                let two = block + 1 < blocks;
                let first = rounded.as_ptr().wrapping_add(block * ROWS * row_len);
                // SAFETY: the rows' blocks and the pair's tiles hold `chunks` chunks.
                unsafe { tile_sums(b, pair, (first, row_len, two), &mut sums) };
                for (t, s) in sums.iter().enumerate().take(if two { 4 } else { 2 }) {
                    let (rb, side) = (block + t / 2, t % 2);
                    write(s, (rb * ROWS, rows), (pair * 2 + side) * PANEL, n, out);
                }
                block += if two { 2 } else { 1 };
            }
        }
    }

    /// The sums of one or two row blocks (at `first`, `row_len` values apart) by the two
    /// panels of `pair`, from the bias, into `sums` (row block major, then panel).
    ///
    /// # Safety
    /// The tiles are configured; the blocks hold 16 (or 32) rows of `row_len` values.
    #[inline(always)]
    unsafe fn tile_sums(
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
                    let v = _mm512_castps_si512(_mm512_maskz_loadu_ps(mask, src.as_ptr().add(off)));
                    let lsb = _mm512_and_si512(_mm512_srli_epi32::<16>(v), _mm512_set1_epi32(1));
                    let r = _mm512_add_epi32(_mm512_add_epi32(v, _mm512_set1_epi32(0x7fff)), lsb);
                    let h = _mm512_cvtepi32_epi16(_mm512_srli_epi32::<16>(r));
                    _mm256_mask_storeu_epi16(dst.as_mut_ptr().add(at + off).cast(), mask, h);
                }
                off += m;
            }
            at += len;
        }
    }

    /// See [`super::outer_sums`].
    ///
    /// # Safety
    /// As [`super::outer_sums`].
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    pub unsafe fn outer_sums(
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
            unsafe { outer_chunks(a, (w, width), fill, tiles, &mut acc) }
        });
        acc
    }

    /// [`outer_sums`]'s chunks of pixels, their columns made into `tiles`, added to `acc`.
    ///
    /// # Safety
    /// As [`super::outer_sums`]; `tiles` holds a chunk's tiles, `acc` the sums.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    unsafe fn outer_chunks(
        a: &Columns,
        (w, width): (usize, usize),
        fill: impl Fn(usize, &mut [f32]),
        tiles: &mut [u16],
        acc: &mut [f32],
    ) {
        let (panels, blocks) = (width / PANEL, a.blocks);
        // Two pixels' values; past `w` (and past the last pixel) zeros.
        let mut pair = [vec![0f32; width], vec![0f32; width]];
        // SAFETY: the tiles are available (the caller's promise).
        let _tiles = unsafe { TileUse::configure(TILES) };
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
                    // SAFETY: the sums, rows and tiles lie inside their buffers.
                    unsafe { outer_tiles(c, width, (rows_at, a.stride), (weights, chunks)) };
                }
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
    unsafe fn outer_tiles(
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
                    w1 = in(reg) w0.wrapping_add((super::PIXELS / CHUNK) * TILE),
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

    /// One tile row: 16 columns' pairs `(x0[c], x1[c])` in bfloat16.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    fn interleave(x0: &[f32], x1: &[f32], dst: &mut [u16]) {
        assert!(x0.len() >= PANEL && x1.len() >= PANEL && dst.len() >= CHUNK);
        let rounded = |v: __m512i| {
            let lsb = _mm512_and_si512(_mm512_srli_epi32::<16>(v), _mm512_set1_epi32(1));
            _mm512_add_epi32(_mm512_add_epi32(v, _mm512_set1_epi32(0x7fff)), lsb)
        };
        // SAFETY: the lengths are checked above.
        unsafe {
            let r0 = rounded(_mm512_castps_si512(_mm512_loadu_ps(x0.as_ptr())));
            let r1 = rounded(_mm512_castps_si512(_mm512_loadu_ps(x1.as_ptr())));
            let high = _mm512_and_si512(r1, _mm512_set1_epi32(!0xffff));
            let v = _mm512_or_si512(high, _mm512_srli_epi32::<16>(r0));
            _mm512_storeu_si512(dst.as_mut_ptr().cast(), v);
        }
    }

    use super::super::aligned::Aligned;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu_path::Path;
    use crate::model::hyper::cpu::panel::{self, Packed};

    /// Deterministic values of mixed sizes and signs.
    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                let u = (s >> 40) as f32 / (1u64 << 24) as f32;
                (2.0 * u - 1.0) * 2f32.powi((s % 7) as i32 - 3)
            })
            .collect()
    }

    #[test]
    fn rounding_is_to_nearest_even() {
        assert_eq!(widen(round(1.0)), 1.0);
        // 1 + 2⁻⁸ lies halfway between 1 and 1 + 2⁻⁷: to the even one, 1.
        assert_eq!(widen(round(1.0 + 2f32.powi(-8))), 1.0);
        assert_eq!(widen(round(1.0 + 3.0 * 2f32.powi(-8))), 1.0 + 2f32.powi(-6));
        assert_eq!(widen(round(-3.0)), -3.0);
        for v in values(1000, 3) {
            assert!((widen(round(v)) - v).abs() <= v.abs() * 2f32.powi(-8));
        }
    }

    /// The tiles against the `f64` sums of the rounded operands, on shapes with partial
    /// row blocks, panels and chunks, read in place and gathered.
    #[test]
    fn tiles_sum_the_rounded_operands() {
        if !available() {
            eprintln!("no AMX BF16 here: the tile kernel is not run");
            return;
        }
        for (rows, k, n, lens) in [
            (48, 3200, 128, vec![640; 5]),
            (17, 75, 20, vec![75]),
            (1, 64, 16, vec![32, 32]),
            (33, 1152, 192, vec![384; 3]),
            (16, 40, 3 * 16 + 5, vec![8; 5]),
        ] {
            let src = values(rows * k + 64, k as u64);
            let w = values(k * n, n as u64);
            let bias = values(n, 7);
            let packed = Packed::new(k, n, |r, j| w[r * n + j], &bias).with_bf16();
            let runs = lens.len();
            // Rows overlap in the source, as a convolution's patches do.
            let starts: Vec<usize> = (0..rows * runs)
                .map(|e| (e / runs) * 3 + lens[..e % runs].iter().sum::<usize>())
                .collect();
            let a = Runs {
                src: &src,
                gathered: &[],
                lens: &lens,
                starts: &starts,
            };
            fn out(values: &mut [f32], stride: usize) -> panel::Out<'_> {
                panel::Out { values, stride }
            }
            let mut got = vec![0f32; rows * n];
            let mut want = vec![0f32; rows * n];
            let mut plain = vec![0f32; rows * n];
            panel::product_runs(Path::Amx, &a, rows, &packed, out(&mut got, n));
            let tiles = Tiles::new(k, n, |r, j| w[r * n + j], &bias);
            reference(&a, rows, (k, n), &tiles, out(&mut want, n));
            let f32_kernel = Packed::new(k, n, |r, j| w[r * n + j], &bias);
            panel::product_runs(Path::Avx512, &a, rows, &f32_kernel, out(&mut plain, n));
            let mut differ = false;
            for i in 0..rows {
                let row: Vec<f32> = (0..runs)
                    .flat_map(|t| a.run(starts[i * runs + t], lens[t]).unwrap().to_vec())
                    .collect();
                for j in 0..n {
                    let mass: f32 = (0..k).map(|r| (row[r] * w[r * n + j]).abs()).sum();
                    let mass = mass + bias[j].abs();
                    let (g, e, p) = (got[i * n + j], want[i * n + j], plain[i * n + j]);
                    let at = format!("{rows}×{k}×{n}: row {i} column {j}");
                    assert!((g - e).abs() <= 1e-5 * mass, "{at}: {g} against {e}");
                    // Against the f32 kernel: bfloat16's rounding of both operands, no more.
                    assert!(
                        (g - p).abs() <= mass * 2f32.powi(-7),
                        "{at}: {g} against f32 {p}"
                    );
                    differ |= g != p;
                }
            }
            assert!(differ, "{rows}×{k}×{n}: the tiles ran in bfloat16");
        }
    }
}
