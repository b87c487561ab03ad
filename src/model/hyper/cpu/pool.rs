//! Large buffers kept between training steps: every step needs the same few hundred
//! megabytes, and fresh allocations of that size come from the kernel page by page (a 52 MB
//! patch matrix cost 30 ms of page faults, as much as its product).

use std::ops::{Deref, DerefMut};
use std::sync::Mutex;

use super::aligned;

/// The free buffers of the process.
static FREE: Mutex<Free> = Mutex::new(Free(Vec::new()));
/// How many free buffers the pool keeps (a step's shards use fewer than this together).
const KEEP: usize = 192;
/// Buffers shorter than this are left to the allocator.
const SMALL: usize = 1 << 14;

/// A buffer of `f32` that goes back to the pool when dropped. Its vector stays at the length
/// that was ever written (zeros at first), so that a buffer reused at a larger size than its
/// last use is not zeroed again (that memset had cost 4% of a training step); the part in use
/// starts on a 64-byte boundary ([`super::aligned`] says why).
#[derive(Debug, Default)]
pub struct Buf {
    values: Vec<f32>,
    /// Where the part in use starts.
    start: usize,
    /// Its length.
    len: usize,
}

impl Buf {
    /// `len` zeros.
    pub fn zeros(len: usize) -> Self {
        let mut out = Self::scratch(len);
        out.fill(0.0);
        out
    }

    /// `len` values for the caller to overwrite: what an earlier user left there.
    pub fn scratch(len: usize) -> Self {
        let mut values = take(len + aligned::room::<f32>());
        let start = aligned::start_in(&values);
        if values.len() < start + len {
            values.resize(start + len, 0.0);
        }
        Self { values, start, len }
    }

    /// `f` of each value of `src`.
    pub fn map(src: &[f32], f: impl Fn(f32) -> f32 + Sync) -> Self {
        use rayon::prelude::*;
        let mut out = Self::scratch(src.len());
        out.par_chunks_mut(1 << 12)
            .zip(src.par_chunks(1 << 12))
            .for_each(|(o, s)| o.iter_mut().zip(s).for_each(|(o, &s)| *o = f(s)));
        out
    }

    /// A copy of `src`.
    pub fn copy_of(src: &[f32]) -> Self {
        let mut out = Self::scratch(src.len());
        out.copy_from_slice(src);
        out
    }
}

/// `len` values for the caller to overwrite, as a vector: what an earlier user left there (NaN
/// in this crate's tests, so that a value a kernel leaves unwritten shows in its results).
/// Hand it back with [`give`].
pub fn vec(len: usize) -> Vec<f32> {
    let mut values = take(len);
    values.truncate(len);
    values.resize(len, 0.0);
    if cfg!(test) {
        values.fill(f32::NAN);
    }
    values
}

/// Keeps `values` for a later [`vec`](fn@vec) or [`Buf`] (the allocator gets it back when the pool is
/// full or it is small).
pub fn give(values: Vec<f32>) {
    if values.capacity() >= SMALL {
        FREE.lock().unwrap_or_else(|e| e.into_inner()).keep(values);
    }
}

/// Hands every kept buffer back to the allocator, and the allocator's free memory back to
/// the kernel (glibc; [`crate::keep_freed_memory`] keeps it otherwise): for the end of a
/// large image's transforms, whose regions' maps (hundreds of megabytes at N = 128) would
/// otherwise stay in the process beside the coding's arrays, one value or more a latent
/// each. A later call allocates its maps afresh.
pub fn release() {
    let kept = std::mem::take(&mut FREE.lock().unwrap_or_else(|e| e.into_inner()).0);
    drop(kept);
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free memory of the allocator to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}

fn take(len: usize) -> Vec<f32> {
    if len >= SMALL {
        let found = FREE.lock().unwrap_or_else(|e| e.into_inner()).take(len);
        if let Some(values) = found {
            return values;
        }
    }
    Vec::with_capacity(len)
}

/// Free buffers, at most [`KEEP`] of them.
#[derive(Debug, Default)]
struct Free(Vec<Vec<f32>>);

impl Free {
    /// Keeps `values`; when full, in place of the smallest buffer kept if `values` is larger.
    /// Callers may give back buffers that did not come from the pool (a transform's input,
    /// one per encode): were the first [`KEEP`] kept for good, a pool full of those would turn
    /// away every larger buffer given back later, and a process that had encoded many images
    /// before its first decode would allocate and zero that decode's maps at every decode.
    fn keep(&mut self, values: Vec<f32>) {
        if self.0.len() < KEEP {
            self.0.push(values);
        } else if let Some((i, _)) = (self.0.iter().enumerate())
            .filter(|(_, v)| v.capacity() < values.capacity())
            .min_by_key(|(_, v)| v.capacity())
        {
            self.0[i] = values;
        }
    }

    /// The smallest buffer kept that holds `len` values.
    fn take(&mut self, len: usize) -> Option<Vec<f32>> {
        let best = (self.0.iter().enumerate())
            .filter(|(_, v)| v.capacity() >= len)
            .min_by_key(|(_, v)| v.capacity())
            .map(|(i, _)| i)?;
        Some(self.0.swap_remove(best))
    }
}

impl Drop for Buf {
    fn drop(&mut self) {
        give(std::mem::take(&mut self.values));
    }
}

impl Deref for Buf {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        &self.values[self.start..][..self.len]
    }
}

impl DerefMut for Buf {
    fn deref_mut(&mut self) -> &mut [f32] {
        &mut self.values[self.start..][..self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_come_back_zeroed_or_sized() {
        let mut a = Buf::scratch(SMALL * 2);
        a.fill(7.0);
        drop(a);
        let b = Buf::zeros(SMALL + 5);
        assert_eq!(b.len(), SMALL + 5);
        assert!(b.iter().all(|&v| v == 0.0));
        let c = Buf::scratch(SMALL);
        assert_eq!(c.len(), SMALL);
        drop(c);
        // A smaller use, then a larger one of the same buffer: the length follows each use.
        let d = Buf::scratch(SMALL * 2 - 3);
        assert_eq!(d.len(), SMALL * 2 - 3);
        assert_eq!(&*Buf::map(&[1.0, -2.0], f32::abs), &[1.0, 2.0]);
        for len in [1, SMALL - 1, SMALL, 3 * SMALL + 1] {
            assert_eq!(Buf::scratch(len).as_ptr() as usize % 64, 0, "{len} values");
        }
        // Vectors of the asked length, whatever was given back before; NaN in tests, so that
        // a value a kernel leaves unwritten shows.
        give(vec![1.0; 3 * SMALL]);
        for len in [5, SMALL, 2 * SMALL + 1, 4 * SMALL] {
            let v = vec(len);
            assert_eq!(v.len(), len);
            assert!(v.iter().all(|v| v.is_nan()), "{len} values");
            give(v);
        }
    }

    #[test]
    fn a_full_pool_keeps_its_largest_buffers() {
        let mut free = Free::default();
        for _ in 0..KEEP {
            free.keep(Vec::with_capacity(SMALL));
        }
        let large = Vec::<f32>::with_capacity(8 * SMALL);
        let at = large.as_ptr();
        free.keep(large);
        free.keep(Vec::with_capacity(SMALL));
        assert_eq!(free.0.len(), KEEP);
        let back = free.take(4 * SMALL).expect("the large buffer, kept");
        assert_eq!(back.as_ptr(), at);
        assert!(free.take(SMALL + 1).is_none());
        assert_eq!(free.take(SMALL).map(|v| v.capacity()), Some(SMALL));
    }
}
