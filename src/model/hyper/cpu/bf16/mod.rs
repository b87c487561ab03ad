//! The trainer's products in bfloat16 (`train-hyper --bf16`): operands rounded to bfloat16 (8
//! significant bits, to nearest, ties to even), products summed in `f32`, by one of two
//! kernels ([`Kernel`]): Intel AMX tiles (`tdpbf16ps`, 16 rows × 16 columns × 32 values of `k`
//! an instruction; module `amx`) or AVX-512 BF16 (`vdpbf16ps`, 16 columns × 2 values of `k`; AMD
//! Zen 4 and later, Intel Cooper Lake and later; module `dot`). Both read the same operands: the
//! kernel matrix as [`Tiles`], a gradient's transpose as [`Columns`].
//!
//! Training needs no exact products, so only the trainer asks for these (through
//! [`super::panel::Packed::with_bf16`]); the coder's transforms never do, because these sums
//! are not a chain of fused multiply-adds that other machines could repeat (both instructions
//! add two or more products before they round). Each output is summed by one call in a fixed
//! order, so a training run gives the same bits on any thread count on the same CPU and path.

use std::sync::OnceLock;

use super::aligned::Aligned;
use super::panel::{Out, Runs, PANEL};
use crate::cpu_path::Path;

#[cfg(target_arch = "x86_64")]
mod amx;
#[cfg(target_arch = "x86_64")]
mod dot;
#[cfg(target_arch = "x86_64")]
mod driver;

#[cfg(target_arch = "x86_64")]
pub use driver::{outer_sums, product};

/// How the trainer's convolution products run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Products {
    /// One chain of `f32` fused multiply-adds per output, as the coder runs them.
    #[default]
    F32,
    /// Operands in bfloat16 where the CPU has a [`Kernel`] for them (else as `F32`).
    Bf16,
}

/// The instructions that run the bfloat16 products.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// Intel AMX tiles (`tdpbf16ps`).
    Amx,
    /// AVX-512 BF16 (`vdpbf16ps`).
    Dot,
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

/// Whether this CPU runs the bfloat16 products with either [`Kernel`].
pub fn available() -> bool {
    amx_available() || dot_available()
}

/// The kernel that runs the products on `path`: AMX tiles on [`Path::Amx`], AVX-512 BF16 on
/// [`Path::Avx512`] and wider, where this CPU (and process) has them; `None` elsewhere (the
/// products then run in `f32`).
pub fn kernel(path: Path) -> Option<Kernel> {
    if path >= Path::Amx && amx_available() {
        Some(Kernel::Amx)
    } else if path >= Path::Avx512 && dot_available() {
        Some(Kernel::Dot)
    } else {
        None
    }
}

/// AMX TILE and BF16 (CPUID leaf 7, EDX bits 24 and 22), the tile state granted (as for the
/// 8-bit tiles), AVX-512 F, BW and VL.
fn amx_available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(detect_amx)
}

/// AVX-512 BF16, F, BW and VL.
fn dot_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    return is_x86_feature_detected!("avx512bf16")
        && is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512vl");
    #[cfg(not(target_arch = "x86_64"))]
    false
}

#[cfg(target_arch = "x86_64")]
fn detect_amx() -> bool {
    use std::arch::x86_64::__cpuid_count;
    let (max_leaf, edx) = (__cpuid_count(0, 0).eax, __cpuid_count(7, 0).edx);
    max_leaf >= 7
        && (edx >> 22) & 1 == 1
        && is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512vl")
        && Path::Amx.supported()
}

#[cfg(not(target_arch = "x86_64"))]
fn detect_amx() -> bool {
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

    /// The paths whose bfloat16 kernel this CPU runs (AMX tiles, AVX-512 BF16), each with
    /// its kernel.
    fn kernels() -> Vec<(Path, Kernel)> {
        let found: Vec<_> = [Path::Amx, Path::Avx512]
            .into_iter()
            .filter(|p| p.supported())
            .filter_map(|p| kernel(p).map(|k| (p, k)))
            .collect();
        if found.is_empty() {
            eprintln!("no AMX-BF16 or AVX-512 BF16 here: the bfloat16 kernels are not run");
        }
        found
    }

    #[test]
    fn each_path_has_its_kernel() {
        for (path, k) in kernels() {
            let want = if path == Path::Amx {
                Kernel::Amx
            } else {
                Kernel::Dot
            };
            assert_eq!(k, want, "{path:?}");
        }
        assert_eq!(kernel(Path::Avx2), None);
        assert_eq!(kernel(Path::Portable), None);
    }

    /// Each kernel against the `f64` sums of the rounded operands, on shapes with partial
    /// row blocks, panels and chunks, read in place and gathered.
    #[test]
    fn kernels_sum_the_rounded_operands() {
        for (path, kernel) in kernels() {
            sums_of_rounded_operands(path, kernel);
        }
    }

    fn sums_of_rounded_operands(path: Path, kernel: Kernel) {
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
            panel::product_runs(path, &a, rows, &packed, out(&mut got, n));
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
                    let at = format!("{kernel:?} {rows}×{k}×{n}: row {i} column {j}");
                    assert!((g - e).abs() <= 1e-5 * mass, "{at}: {g} against {e}");
                    // Against the f32 kernel: bfloat16's rounding of both operands, no more.
                    assert!(
                        (g - p).abs() <= mass * 2f32.powi(-7),
                        "{at}: {g} against f32 {p}"
                    );
                    differ |= g != p;
                }
            }
            assert!(
                differ,
                "{kernel:?} {rows}×{k}×{n}: the products ran in bfloat16"
            );
        }
    }
}
