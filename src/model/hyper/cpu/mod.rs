//! The family's transforms on aec's own CPU kernels, on NHWC buffers (`rows × channels`, one
//! row per pixel): convolutions reading their patches in place (a patch matrix and `gemm` for
//! odd sizes), GDN in place, operands on cache-line boundaries, buffers reused between calls. The trainer ([`crate::train::hyper::fused`]) runs them with a tape for its
//! backward pass; a test there holds them to burn.

/// For each loop `f(args) -> R = body`: `pub fn f(path, args) -> R` running `body` (an
/// `#[inline(always)]` function of the invoking module) compiled for AVX-512, AVX2 or neither,
/// as `path` says: the same IEEE operations in every lane (Rust fuses none), so the same bits
/// on every path.
macro_rules! dispatched {
    ($(fn $f:ident($($a:ident: $t:ty),*) $(-> $r:ty)? = $($b:ident)::+;)*) => {
        $(pub fn $f(path: $crate::cpu_path::Path, $($a: $t),*) $(-> $r)? {
            #[cfg(target_arch = "x86_64")]
            {
                if path.avx512() {
                    // SAFETY: `Path::Avx512` (and wider) is chosen only where the CPU has
                    // AVX-512 F.
                    return unsafe { avx512::$f($($a),*) };
                }
                if path.avx2() {
                    // SAFETY: `Path::Avx2` is chosen only where the CPU has AVX2.
                    return unsafe { avx2::$f($($a),*) };
                }
            }
            let _ = path;
            $($b)::+($($a),*)
        })*

        #[cfg(target_arch = "x86_64")]
        mod avx512 {
            #[allow(unused_imports)]
            use super::*;
            $(/// # Safety
            /// The CPU has AVX-512 F.
            #[target_feature(enable = "avx512f")]
            pub unsafe fn $f($($a: $t),*) $(-> $r)? {
                super::$($b)::+($($a),*)
            })*
        }

        #[cfg(target_arch = "x86_64")]
        mod avx2 {
            #[allow(unused_imports)]
            use super::*;
            $(/// # Safety
            /// The CPU has AVX2.
            #[target_feature(enable = "avx2")]
            pub unsafe fn $f($($a: $t),*) $(-> $r)? {
                super::$($b)::+($($a),*)
            })*
        }
    };
}

pub mod aligned;
pub mod bf16;
pub mod coding;
pub mod conv;
pub mod exact;
pub mod exact_winograd;
pub mod fixed_analysis;
pub mod gdn;
pub mod grid;
pub mod infer;
pub mod network;
pub mod panel;
pub mod panel16;
pub mod pool;
pub mod rate;
pub mod taps;
#[cfg(target_arch = "x86_64")]
pub mod tile_use;
pub mod wgrad;
pub mod winograd;
pub mod winograd16;

use pool::Buf;
use rayon::prelude::*;

/// Pixels a task of [`to_pixels`] writes, and channels a task of [`to_planes`]: a cache line
/// of `f32`s, so that each task reads and writes whole lines.
const BLOCK: usize = 16;
/// Values from which a transpose is worth waking the other threads for (a small image's
/// latents are copied faster than a thread wakes).
const PARALLEL: usize = 1 << 15;

/// `v`'s first `len` values, `v` grown with `fill` where it is shorter. A buffer reused at
/// varied lengths never shrinks: a row's last group or run is shorter than the others, and
/// growing back after it wrote `fill` over the difference on every row (1–2% of a coding).
pub(crate) fn grown<T: Clone>(v: &mut Vec<T>, len: usize, fill: T) -> &mut [T] {
    if v.len() < len {
        v.resize(len, fill);
    }
    &mut v[..len]
}

/// Channel-major values (`c` planes) to pixel-major (`c` values a pixel), on every thread
/// for a large map (a copy: the same values on any).
pub fn to_pixels<T: Copy + Default + Send + Sync>(v: &[T], c: usize) -> Vec<T> {
    let c = c.max(1);
    let plane = v.len() / c;
    let mut out = vec![T::default(); v.len()];
    if plane == 0 {
        return out;
    }
    let block = |(b, pixels): (usize, &mut [T])| {
        let first = b * BLOCK;
        for (ch, src) in v.chunks_exact(plane).enumerate() {
            let src = &src[first..first + pixels.len() / c];
            for (px, &x) in pixels.chunks_exact_mut(c).zip(src) {
                px[ch] = x;
            }
        }
    };
    each_chunk(&mut out, BLOCK * c, block);
    out
}

/// Pixel-major values (`c` a pixel) to channel-major (`c` planes), on every thread for a
/// large map: the inverse of [`to_pixels`].
pub fn to_planes<T: Copy + Default + Send + Sync>(v: &[T], c: usize) -> Vec<T> {
    let c = c.max(1);
    let plane = v.len() / c;
    let mut out = vec![T::default(); v.len()];
    if plane == 0 {
        return out;
    }
    let block = |(b, planes): (usize, &mut [T])| {
        let first = b * BLOCK;
        let channels = first..first + planes.len() / plane;
        for (p, pixel) in v.chunks_exact(c).enumerate() {
            for (k, &x) in pixel[channels.clone()].iter().enumerate() {
                planes[k * plane + p] = x;
            }
        }
    };
    each_chunk(&mut out, BLOCK * plane, block);
    out
}

/// `f` on each `(index, chunk)` of `out`'s chunks of `size`: on every thread from
/// [`PARALLEL`] values, else on this one.
fn each_chunk<T: Send>(out: &mut [T], size: usize, f: impl Fn((usize, &mut [T])) + Sync + Send) {
    if out.len() < PARALLEL {
        out.chunks_mut(size).enumerate().for_each(f);
    } else {
        (out.par_chunks_mut(size).enumerate()).for_each(f);
    }
}

/// `[batch, c, plane]` to `[batch, plane, c]`.
pub fn to_nhwc(v: &[f32], batch: usize, c: usize, plane: usize) -> Buf {
    let mut out = Buf::scratch(v.len());
    for b in 0..batch {
        for ch in 0..c {
            for p in 0..plane {
                out[(b * plane + p) * c + ch] = v[(b * c + ch) * plane + p];
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixels_and_planes_are_inverse_transposes() {
        // Two channels of three pixels.
        let planes = [1, 2, 3, 10, 20, 30];
        let pixels = to_pixels(&planes, 2);
        assert_eq!(pixels, [1, 10, 2, 20, 3, 30]);
        assert_eq!(to_planes(&pixels, 2), planes);
        assert!(to_pixels::<i32>(&[], 4).is_empty());
        assert!(to_planes::<i32>(&[], 4).is_empty());
    }

    #[test]
    fn transposes_on_many_threads_are_the_plain_ones() {
        for (c, plane) in [
            (1, 5),
            (3, 1000),
            (16, 17),
            (17, 16),
            (17, 2000),
            (96, 1537),
            (384, 40),
        ] {
            let planes: Vec<u32> = (0..(c * plane) as u32).collect();
            let want: Vec<u32> = (0..c * plane)
                .map(|i| planes[(i % c) * plane + i / c])
                .collect();
            for threads in [1, 3, 16] {
                let pixels = crate::testing::on_threads(threads, || to_pixels(&planes, c));
                assert_eq!(pixels, want, "{c} channels of {plane}, {threads} threads");
                let back = crate::testing::on_threads(threads, || to_planes(&pixels, c));
                assert_eq!(back, planes, "{c} channels of {plane}, {threads} threads");
            }
        }
    }
}
