//! Which input pixels each output pixel of a layer reads, and their patches.
//!
//! A convolution's output pixel `(y, x)` reads input pixels `(y·stride + dy, x·stride + dx)`
//! for its taps (zeros outside the input). A stride-2 transposed convolution is four such
//! convolutions of its input, one per parity `(py, px)` of the output row and column, each
//! with only the taps that reach it: output `2y + py` takes kernel row `ky` from input row
//! `y + (py + k/2 − ky) / 2` where that is a whole number (padding `k/2`, output padding 1,
//! as burn and the model files define the layer).

use std::ops::Range;

/// The taps of one convolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taps {
    stride: usize,
    /// Input channels.
    channels: usize,
    /// The kernel position `(ky, kx)` of each tap, in patch order.
    kernel: Vec<(usize, usize)>,
    /// The taps as runs of neighbouring input pixels in one row: `(dy, first dx, length)`.
    runs: Vec<(isize, isize, usize)>,
}

impl Taps {
    /// A `k`×`k` convolution of `stride` and padding `k/2` over `channels` input channels.
    pub fn conv(k: usize, stride: usize, channels: usize) -> Self {
        let pad = (k / 2) as isize;
        let kernel: Vec<(usize, usize)> = (0..k)
            .flat_map(|ky| (0..k).map(move |kx| (ky, kx)))
            .collect();
        let offsets = (kernel.iter())
            .map(|&(ky, kx)| (ky as isize - pad, kx as isize - pad))
            .collect::<Vec<_>>();
        Self::new(stride, channels, kernel, &offsets)
    }

    /// The taps of a `k`×`k` convolution (stride 1, padding `k/2`) whose row and column
    /// offsets add up to an odd number (`odd`) or an even one: the taps that, on a
    /// checkerboard, reach the squares of the other colour or of the same one.
    pub fn checkerboard(k: usize, channels: usize, odd: bool) -> Self {
        let pad = (k / 2) as isize;
        let kernel: Vec<(usize, usize)> = (0..k)
            .flat_map(|ky| (0..k).map(move |kx| (ky, kx)))
            .filter(|&(ky, kx)| (ky + kx) % 2 == usize::from(odd))
            .collect();
        let offsets = (kernel.iter())
            .map(|&(ky, kx)| (ky as isize - pad, kx as isize - pad))
            .collect::<Vec<_>>();
        Self::new(1, channels, kernel, &offsets)
    }

    /// Parity `(py, px)` of a stride-2 transposed `k`×`k` convolution over `channels` input
    /// channels.
    pub fn deconv_phase(k: usize, (py, px): (usize, usize), channels: usize) -> Self {
        let pad = k / 2;
        let reach = |parity: usize| -> Vec<(usize, isize)> {
            (0..k)
                .filter(|t| (parity + pad + t).is_multiple_of(2))
                .map(|t| (t, (parity as isize + pad as isize - t as isize) / 2))
                .collect()
        };
        let (rows, cols) = (reach(py), reach(px));
        let mut taps: Vec<((usize, isize), (usize, isize))> = (rows.iter())
            .flat_map(|&r| cols.iter().map(move |&c| (r, c)))
            .collect();
        // In reading order, so that each row's taps are one run of input pixels.
        taps.sort_by_key(|&((_, dy), (_, dx))| (dy, dx));
        let kernel = taps.iter().map(|&((ky, _), (kx, _))| (ky, kx)).collect();
        let offsets = taps
            .iter()
            .map(|&((_, dy), (_, dx))| (dy, dx))
            .collect::<Vec<_>>();
        Self::new(1, channels, kernel, &offsets)
    }

    fn new(
        stride: usize,
        channels: usize,
        kernel: Vec<(usize, usize)>,
        offsets: &[(isize, isize)],
    ) -> Self {
        let mut runs: Vec<(isize, isize, usize)> = Vec::new();
        for &(dy, dx) in offsets {
            match runs.last_mut() {
                Some((y, x, len)) if *y == dy && *x + *len as isize == dx => *len += 1,
                _ => runs.push((dy, dx, 1)),
            }
        }
        Self {
            stride,
            channels,
            kernel,
            runs,
        }
    }

    /// The input channel and kernel position `(ky, kx)` that value `r` of a patch reads (so
    /// row `r` of a layer's matrix holds their weights): tap `r / channels`, channel
    /// `r % channels`.
    pub fn row(&self, r: usize) -> (usize, (usize, usize)) {
        (r % self.channels, self.kernel[r / self.channels])
    }

    /// Values per patch.
    pub fn patch_len(&self) -> usize {
        self.kernel.len() * self.channels
    }

    /// The number of values in each run of a patch, in patch order.
    pub fn run_lens(&self) -> Vec<usize> {
        self.runs
            .iter()
            .map(|&(_, _, len)| len * self.channels)
            .collect()
    }

    /// The output pixels of row `y` whose runs all lie inside the `height × width` input (an
    /// empty range when the row reaches outside it).
    pub fn inside(&self, (height, width): (usize, usize), y: usize) -> Range<usize> {
        let (h, w, s) = (height as isize, width as isize, self.stride as isize);
        let by = (y * self.stride) as isize;
        if self
            .runs
            .iter()
            .any(|&(dy, _, _)| by + dy < 0 || by + dy >= h)
        {
            return 0..0;
        }
        // x·s + dx ≥ 0 and x·s + dx + len ≤ w for every run.
        let lo = (self.runs.iter())
            .map(|&(_, dx, _)| ((-dx).max(0) as usize).div_ceil(self.stride))
            .max()
            .unwrap_or(0);
        let hi = (self.runs.iter())
            .map(|&(_, dx, len)| w - dx - len as isize)
            .min()
            .unwrap_or(w);
        if hi < 0 {
            return 0..0;
        }
        let end = ((hi / s + 1) as usize).min(self.output(width));
        lo..end.max(lo)
    }

    /// Appends where each run of output pixels `(y, x)` for `x` in `xs` starts in the
    /// pixel-major input of `width` columns: pixels of [`Taps::inside`] only.
    pub fn run_starts(&self, width: usize, y: usize, xs: Range<usize>, starts: &mut Vec<usize>) {
        let by = (y * self.stride) as isize;
        for x in xs {
            let bx = (x * self.stride) as isize;
            for &(dy, dx, _) in &self.runs {
                starts.push(((by + dy) * width as isize + bx + dx) as usize * self.channels);
            }
        }
    }

    /// Output size along one axis for an input of `size` (burn's, for padding `k/2`).
    pub fn output(&self, size: usize) -> usize {
        size.div_ceil(self.stride)
    }

    /// The patches of output pixels `(y, x0..x0 + count)` of the pixel-major `height × width`
    /// input `x` into `dst`, one row each.
    pub fn patches<T: Copy + Default>(
        &self,
        x: &[T],
        size: (usize, usize),
        y: usize,
        x0: usize,
        count: usize,
        dst: &mut Vec<T>,
    ) {
        self.patches_stepped(x, size, (y, x0), (count, 1), dst);
    }

    /// The patches of `count` output pixels of row `y`, `step` columns apart from `x0`.
    pub fn patches_stepped<T: Copy + Default>(
        &self,
        x: &[T],
        (height, width): (usize, usize),
        (y, x0): (usize, usize),
        (count, step): (usize, usize),
        dst: &mut Vec<T>,
    ) {
        let c = self.channels;
        let row_len = self.patch_len();
        // Every value is written below (zeros outside the input), so the buffer is not cleared.
        dst.resize(count * row_len, T::default());
        let (h, w) = (height as isize, width as isize);
        for (n, patch) in dst.chunks_exact_mut(row_len).enumerate() {
            let (by, bx) = (
                (y * self.stride) as isize,
                ((x0 + n * step) * self.stride) as isize,
            );
            let mut rest = &mut patch[..];
            for &(dy, dx, len) in &self.runs {
                let (slot, tail) = rest.split_at_mut(len * c);
                rest = tail;
                let (sy, sx) = (by + dy, bx + dx);
                if sy < 0 || sy >= h {
                    slot.fill(T::default());
                    continue;
                }
                let row = (sy * w) as usize * c;
                if sx >= 0 && sx + len as isize <= w {
                    let at = row + sx as usize * c;
                    copy_run(slot, &x[at..at + len * c]);
                    continue;
                }
                for (t, tap) in slot.chunks_exact_mut(c).enumerate() {
                    let sx = sx + t as isize;
                    if sx >= 0 && sx < w {
                        let at = row + sx as usize * c;
                        tap.copy_from_slice(&x[at..at + c]);
                    } else {
                        tap.fill(T::default());
                    }
                }
            }
        }
    }
}

/// `dst ← src`, by moves of a fixed size for the runs of a three-channel input (the first
/// layer's: a library call per run of 15 values took longer than the copy).
#[inline(always)]
fn copy_run<T: Copy>(dst: &mut [T], src: &[T]) {
    // A copy of a constant length compiles to a few moves.
    fn fixed<T: Copy, const N: usize>(dst: &mut [T], src: &[T]) {
        dst[..N].copy_from_slice(&src[..N]);
    }
    match dst.len() {
        15 => fixed::<T, 15>(dst, src),
        _ => dst.copy_from_slice(src),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`Taps::inside`] holds exactly the output pixels whose runs all lie inside the input,
    /// and their runs, read from [`Taps::run_starts`], are their patches.
    #[test]
    fn inside_pixels_read_their_patches_in_place() {
        let c = 2;
        let mut all = vec![
            Taps::conv(5, 2, c),
            Taps::conv(3, 1, c),
            Taps::conv(5, 1, c),
        ];
        all.extend([(0, 0), (0, 1), (1, 0), (1, 1)].map(|ph| Taps::deconv_phase(5, ph, c)));
        all.extend([false, true].map(|odd| Taps::checkerboard(5, c, odd)));
        for taps in &all {
            let lens = taps.run_lens();
            assert_eq!(lens.iter().sum::<usize>(), taps.patch_len());
            for (h, w) in [(1, 1), (2, 9), (5, 5), (8, 3), (11, 12)] {
                let x: Vec<i32> = (1..=(h * w * c) as i32).collect();
                for y in 0..taps.output(h) {
                    let inside = taps.inside((h, w), y);
                    for ox in 0..taps.output(w) {
                        let mut patch = Vec::new();
                        taps.patches(&x, (h, w), y, ox, 1, &mut patch);
                        // Zeros are the input's outside (its values start at 1).
                        let fits = !patch.contains(&0);
                        assert_eq!(inside.contains(&ox), fits, "{taps:?} {h}×{w} ({y}, {ox})");
                        if fits {
                            let mut starts = Vec::new();
                            taps.run_starts(w, y, ox..ox + 1, &mut starts);
                            let read: Vec<i32> = (starts.iter().zip(&lens))
                                .flat_map(|(&s, &l)| x[s..s + l].iter().copied())
                                .collect();
                            assert_eq!(read, patch);
                        }
                    }
                }
            }
        }
    }
}
