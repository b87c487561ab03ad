//! The ceilings this machine puts on aec's CPU kernels, measured: multiply-add throughput
//! (fused multiply-adds and 16-bit integer ones, AVX2 and where the CPU has it AVX-512, with no
//! memory traffic, on one thread and on every thread), how near the coding transforms' product
//! kernels come on each CPU path, and memory
//! bandwidth (streaming reads, and reads and writes in place as an optimizer update
//! does, over arrays far larger than any cache), each the best of several runs.
//!
//! ```sh
//! cargo run --release --example cpu_peak
//! ```

use std::time::Instant;

use rayon::prelude::*;

/// Values per array of the bandwidth runs (two arrays of 256 MB).
const VALUES: usize = 64 << 20;
/// Runs of each measurement; the best is reported.
const RUNS: usize = 7;

fn best_of(runs: usize, mut f: impl FnMut() -> f64) -> f64 {
    (0..runs).map(|_| f()).fold(f64::MAX, f64::min)
}

/// Iterations of each thread's loop in the multiply-add measurements.
const ITERATIONS: u64 = 50_000_000;

/// Multiply-adds per second of `threads` threads each running `chains(ITERATIONS, thread)`,
/// which does `per_iteration` multiply-adds an iteration.
fn rate(threads: usize, per_iteration: u64, chains: impl Fn(u64, usize) + Sync) -> f64 {
    let seconds = best_of(RUNS, || {
        let start = Instant::now();
        (0..threads)
            .into_par_iter()
            .for_each(|t| chains(ITERATIONS, t));
        start.elapsed().as_secs_f64()
    });
    (threads as u64 * ITERATIONS * per_iteration) as f64 / seconds
}

/// Multiply-adds per second of `threads` threads, each running independent FMA chains.
#[cfg(target_arch = "x86_64")]
fn fma_rate(threads: usize) -> Option<f64> {
    if !(is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")) {
        return None;
    }
    // Twelve chains of eight lanes per iteration.
    Some(rate(threads, 12 * 8, |n, t| {
        // SAFETY: the CPU has AVX2 and FMA (checked above).
        std::hint::black_box(unsafe { fma_chains(n, t as f32) });
    }))
}

/// Twelve independent chains of 8-lane fused multiply-adds: enough to cover the instruction's
/// latency on two pipelines, so the loop runs at the core's multiply-add throughput.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn fma_chains(iterations: u64, seed: f32) -> f32 {
    use std::arch::x86_64::*;
    let (a, b) = (_mm256_set1_ps(0.999_9), _mm256_set1_ps(1e-6));
    let mut acc = [_mm256_set1_ps(seed); 12];
    for _ in 0..iterations {
        for v in acc.iter_mut() {
            *v = _mm256_fmadd_ps(a, *v, b);
        }
    }
    let mut total = _mm256_setzero_ps();
    for v in acc {
        total = _mm256_add_ps(total, v);
    }
    _mm256_cvtss_f32(total)
}

#[cfg(not(target_arch = "x86_64"))]
fn fma_rate(_threads: usize) -> Option<f64> {
    None
}

/// 16-bit integer multiply-adds per second of `threads` threads (`vpmaddwd`: sixteen
/// products a vector, summed in pairs, then added to 32-bit sums), the instruction an
/// integer convolution would run instead of [`fma_chains`].
#[cfg(target_arch = "x86_64")]
fn madd_rate(threads: usize) -> Option<f64> {
    if !is_x86_feature_detected!("avx2") {
        return None;
    }
    // Eight sums of eight lanes, each taking two products, per iteration.
    Some(rate(threads, 8 * 16, |n, t| {
        // SAFETY: the CPU has AVX2 (checked above).
        std::hint::black_box(unsafe { madd_chains(n, t as i16) });
    }))
}

/// Eight independent 32-bit sums of `vpmaddwd` results, with an operand that changes every
/// iteration (so nothing is computed once and reused).
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn madd_chains(iterations: u64, seed: i16) -> i32 {
    use std::arch::x86_64::*;
    let (mut a, one) = (_mm256_set1_epi16(seed), _mm256_set1_epi16(1));
    let b = [3, 5, 7, 11, 13, 17, 19, 23].map(|v| _mm256_set1_epi16(v));
    let mut acc = [_mm256_setzero_si256(); 8];
    for _ in 0..iterations {
        a = _mm256_add_epi16(a, one);
        for (k, v) in acc.iter_mut().enumerate() {
            *v = _mm256_add_epi32(*v, _mm256_madd_epi16(a, b[k]));
        }
    }
    let mut total = _mm256_setzero_si256();
    for v in acc {
        total = _mm256_add_epi32(total, v);
    }
    _mm256_cvtsi256_si32(total)
}

#[cfg(not(target_arch = "x86_64"))]
fn madd_rate(_threads: usize) -> Option<f64> {
    None
}

/// [`fma_rate`] and [`madd_rate`] on 512-bit vectors (`vfmadd` and the VNNI instruction
/// `vpdpwssd`, which adds its pairs' sums to 32-bit sums itself), where the CPU has them.
#[cfg(target_arch = "x86_64")]
fn rates_512(threads: usize) -> Option<(f64, f64)> {
    if !aec::cpu_path::Path::Avx512.supported() {
        return None;
    }
    // SAFETY: the CPU has AVX-512 F, BW and VNNI (checked above).
    let fma = rate(threads, 12 * 16, |n, t| {
        std::hint::black_box(unsafe { fma_chains_512(n, t as f32) });
    });
    // SAFETY: as above.
    let dp = rate(threads, 8 * 32, |n, t| {
        std::hint::black_box(unsafe { dpwssd_chains(n, t as i16) });
    });
    Some((fma, dp))
}

/// Twelve independent chains of 16-lane fused multiply-adds, as [`fma_chains`].
///
/// # Safety
/// The CPU must support AVX-512 F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn fma_chains_512(iterations: u64, seed: f32) -> f32 {
    use std::arch::x86_64::*;
    let (a, b) = (_mm512_set1_ps(0.999_9), _mm512_set1_ps(1e-6));
    let mut acc = [_mm512_set1_ps(seed); 12];
    for _ in 0..iterations {
        for v in acc.iter_mut() {
            *v = _mm512_fmadd_ps(a, *v, b);
        }
    }
    let total = acc
        .iter()
        .fold(_mm512_setzero_ps(), |t, &v| _mm512_add_ps(t, v));
    _mm512_reduce_add_ps(total)
}

/// Eight independent 32-bit sums of `vpdpwssd`, as [`madd_chains`].
///
/// # Safety
/// The CPU must support AVX-512 F, BW and VNNI.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn dpwssd_chains(iterations: u64, seed: i16) -> i32 {
    use std::arch::x86_64::*;
    let (mut x, one) = (_mm512_set1_epi16(seed), _mm512_set1_epi16(1));
    let w = [3, 5, 7, 11, 13, 17, 19, 23].map(|v| _mm512_set1_epi16(v));
    let mut sums = [_mm512_setzero_si512(); 8];
    for _ in 0..iterations {
        x = _mm512_add_epi16(x, one);
        for (k, v) in sums.iter_mut().enumerate() {
            *v = _mm512_dpwssd_epi32(*v, x, w[k]);
        }
    }
    let total = sums
        .iter()
        .fold(_mm512_setzero_si512(), |t, &v| _mm512_add_epi32(t, v));
    _mm512_reduce_add_epi32(total)
}

#[cfg(not(target_arch = "x86_64"))]
fn rates_512(_threads: usize) -> Option<(f64, f64)> {
    None
}

/// Multiply-adds per second of `vdpbf16ps` (two bfloat16 products added to each `f32` lane: 32
/// an instruction), where the CPU has AVX-512 BF16: the rate the trainer's `--bf16` products
/// run at without AMX.
#[cfg(target_arch = "x86_64")]
fn bf16_rate(threads: usize) -> Option<f64> {
    if !is_x86_feature_detected!("avx512bf16") || !is_x86_feature_detected!("avx512f") {
        return None;
    }
    // SAFETY: the CPU has AVX-512 F and BF16 (checked above).
    Some(rate(threads, 12 * 32, |n, t| {
        std::hint::black_box(unsafe { dpbf16_chains(n, t as f32) });
    }))
}

/// Twelve independent chains of `vdpbf16ps`, as [`fma_chains`].
///
/// # Safety
/// The CPU must support AVX-512 F and BF16.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn dpbf16_chains(iterations: u64, seed: f32) -> f32 {
    use std::arch::x86_64::*;
    // Pairs of bfloat16 0.5 and 1e-6-ish: the sums stay finite.
    let (a, b) = (
        _mm512_set1_epi32(0x3f00_3f00),
        _mm512_set1_epi32(0x3586_3586),
    );
    // SAFETY: plain 64-byte lanes either way.
    let bh = |v: __m512i| unsafe { std::mem::transmute::<__m512i, __m512bh>(v) };
    let (a, b) = (bh(a), bh(b));
    let mut acc = [_mm512_set1_ps(seed); 12];
    for _ in 0..iterations {
        for v in acc.iter_mut() {
            *v = _mm512_dpbf16_ps(*v, a, b);
        }
    }
    let total = acc
        .iter()
        .fold(_mm512_setzero_ps(), |t, &v| _mm512_add_ps(t, v));
    _mm512_reduce_add_ps(total)
}

#[cfg(not(target_arch = "x86_64"))]
fn bf16_rate(_threads: usize) -> Option<f64> {
    None
}

/// The second analysis layer's product shape: 48 output pixels, 1600 patch values, 64 channels.
const SHAPE: (usize, usize, usize) = (48, 1600, 64);

/// Multiply-adds per second of `product` (one call: one `SHAPE` product into `out`) on
/// `threads` threads, each on its own, operands in cache.
fn kernel_rate(threads: usize, product: impl Fn(&mut [f32]) + Sync) -> f64 {
    let (rows, k, n) = SHAPE;
    let calls = 400;
    let seconds = best_of(RUNS, || {
        let start = Instant::now();
        (0..threads).into_par_iter().for_each(|_| {
            let mut out = vec![0f32; rows * n];
            for _ in 0..calls {
                product(&mut out);
            }
            std::hint::black_box(&out);
        });
        start.elapsed().as_secs_f64()
    });
    (threads * calls * rows * k * n) as f64 / seconds
}

/// [`kernel_rate`] of the coding transforms' float product kernel on `path` (with `bf16`, the
/// trainer's `--bf16` kernel there instead).
fn product_rate(threads: usize, path: aec::cpu_path::Path, bf16: bool) -> f64 {
    use aec::model::hyper::cpu::panel::{self, Out, Packed};
    let (rows, k, n) = SHAPE;
    let a: Vec<f32> = (0..rows * k).map(|i| (i % 13) as f32 * 0.01).collect();
    let b = Packed::new(k, n, |kk, j| ((kk + j) % 7) as f32 * 0.01, &[0.5; 64]);
    let b = if bf16 { b.with_bf16() } else { b };
    kernel_rate(threads, |values| {
        let out = Out { values, stride: n };
        panel::product(path, &a, rows, &b, out);
    })
}

/// [`kernel_rate`] of the fixed-point analysis's 16-bit kernel (a unit per input pixel) on
/// `path`.
fn product16_rate(threads: usize, path: aec::cpu_path::Path) -> f64 {
    use aec::model::hyper::cpu::panel::Out;
    use aec::model::hyper::cpu::panel16::{self, Packed16};
    let (rows, k, n) = SHAPE;
    let a: Vec<i16> = (0..rows * k)
        .map(|i| (i % 13) as i16 * 2000 - 12_000)
        .collect();
    let w = |kk: usize, j: usize| ((kk + j) % 7) as f32 * 0.01;
    let b = Packed16::new((k, n), w, &[0.5; 64], (64, i16::MAX));
    let units: Vec<f32> = (0..rows * k / 64)
        .map(|i| 1.0 / (1 + i % 3) as f32)
        .collect();
    kernel_rate(threads, |values| {
        let out = Out { values, stride: n };
        panel16::product(path, &a, &units, rows, &b, out);
    })
}

/// The sum of `values` in sixteen interleaved partial sums (which vectorise).
fn sum(values: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    for chunk in values.chunks_exact(16) {
        for (a, &v) in acc.iter_mut().zip(chunk) {
            *a += v;
        }
    }
    acc.iter().sum()
}

/// Bytes per second read by `threads` threads streaming through `a`.
fn read_rate(a: &[f32], threads: usize) -> f64 {
    let per = a.len().div_ceil(threads);
    let seconds = best_of(RUNS, || {
        let start = Instant::now();
        let total: f32 = a.par_chunks(per).map(sum).sum();
        std::hint::black_box(total);
        start.elapsed().as_secs_f64()
    });
    std::mem::size_of_val(a) as f64 / seconds
}

/// Bytes per second read and written by `threads` threads updating `w` and `m` in place
/// (two streams in, two out, as the optimizer's update of a matrix and its slots).
fn update_rate(w: &mut [f32], m: &mut [f32], threads: usize) -> f64 {
    let per = w.len().div_ceil(threads);
    let seconds = best_of(RUNS, || {
        let start = Instant::now();
        w.par_chunks_mut(per)
            .zip(m.par_chunks_mut(per))
            .for_each(|(w, m)| {
                for (w, m) in w.iter_mut().zip(m.iter_mut()) {
                    *m = *m * 0.9 + 0.1;
                    *w -= 1e-6 * *m;
                }
            });
        start.elapsed().as_secs_f64()
    });
    4.0 * std::mem::size_of_val(w) as f64 / seconds
}

fn main() {
    let threads = rayon::current_num_threads();
    println!("{threads} threads");
    match (fma_rate(1), fma_rate(threads)) {
        (Some(one), Some(all)) => println!(
            "multiply-adds (AVX2 FMA, no memory traffic): {:.1} G/s on one thread, {:.1} G/s on {threads}",
            one / 1e9,
            all / 1e9
        ),
        _ => println!("multiply-adds: this measurement needs an x86-64 CPU with AVX2 and FMA"),
    }
    if let (Some(one), Some(all)) = (madd_rate(1), madd_rate(threads)) {
        println!(
            "16-bit integer multiply-adds (AVX2 vpmaddwd): {:.1} G/s on one thread, {:.1} G/s on {threads}",
            one / 1e9,
            all / 1e9
        );
    }
    if let (Some((fma1, dp1)), Some((fma, dp))) = (rates_512(1), rates_512(threads)) {
        println!(
            "AVX-512: multiply-adds (FMA) {:.1} G/s on one thread, {:.1} G/s on {threads}; \
             16-bit (vpdpwssd) {:.1} G/s on one thread, {:.1} G/s on {threads}",
            fma1 / 1e9,
            fma / 1e9,
            dp1 / 1e9,
            dp / 1e9
        );
    }
    if let (Some(one), Some(all)) = (bf16_rate(1), bf16_rate(threads)) {
        println!(
            "AVX-512 BF16 (vdpbf16ps): {:.1} G multiply-adds/s on one thread, {:.1} G/s on {threads}",
            one / 1e9,
            all / 1e9
        );
    }
    for path in aec::cpu_path::Path::available() {
        println!(
            "aec's product kernels on the {} path (a 48 × 1600 by 1600 × 64 product in cache, the \
             second analysis layer's shape), one thread: float {:.1} G/s, 16-bit {:.1} G/s",
            path.name(),
            product_rate(1, path, false) / 1e9,
            product16_rate(1, path) / 1e9
        );
        if aec::model::hyper::cpu::bf16::kernel(path).is_some() {
            println!(
                "  the trainer's bfloat16 kernel there ({:?}): {:.1} G/s",
                aec::model::hyper::cpu::bf16::kernel(path).expect("checked"),
                product_rate(1, path, true) / 1e9
            );
        }
    }
    let mut w = vec![1f32; VALUES];
    let mut m = vec![1f32; VALUES];
    for t in [1, threads] {
        println!(
            "memory, {t} thread(s): reading {:.1} GB/s; reading and writing two arrays in place {:.1} GB/s",
            read_rate(&w, t) / 1e9,
            update_rate(&mut w, &mut m, t) / 1e9
        );
    }
}
