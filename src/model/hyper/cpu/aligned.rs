//! Values whose first lies on a 64-byte boundary: a cache line, and an AVX-512 vector. The
//! kernels read their operands a whole vector at a time from offsets that are multiples of a
//! vector; from an allocator's 16-byte boundary three loads in four spanned two cache lines,
//! which cost the float product kernel 8–15% of its speed.

use std::ops::{Deref, DerefMut};

/// Bytes of the boundary.
const ALIGN: usize = 64;

/// `len` values of `T` starting on a 64-byte boundary (held in a vector with room to shift
/// them there).
#[derive(Debug, Default)]
pub struct Aligned<T> {
    values: Vec<T>,
    start: usize,
    len: usize,
}

impl<T: Copy + Default> Aligned<T> {
    /// `len` copies of `value`.
    pub fn filled(len: usize, value: T) -> Self {
        let mut out = Self::with_room(len);
        out.values.resize(out.start + len, value);
        out
    }

    /// A copy of `src`.
    pub fn from_slice(src: &[T]) -> Self {
        let mut out = Self::with_room(src.len());
        out.values.resize(out.start, T::default());
        out.values.extend_from_slice(src);
        out
    }

    /// An empty vector with room for `len` values past the boundary.
    fn with_room(len: usize) -> Self {
        let values: Vec<T> = Vec::with_capacity(len + room::<T>());
        let start = start_in(&values);
        Self { values, start, len }
    }
}

/// Values of `T` a vector needs beyond its use to start that use on the boundary.
pub fn room<T>() -> usize {
    ALIGN.div_ceil(std::mem::size_of::<T>().max(1))
}

/// Where in `values` (allocated with [`room`] to spare) the first value on the boundary is.
pub fn start_in<T>(values: &[T]) -> usize {
    // An already aligned start needs no shift; `align_offset` may decline (then 0).
    match values.as_ptr().align_offset(ALIGN) {
        shift if shift <= room::<T>() => shift,
        _ => 0,
    }
}

// A derived clone would copy `start` into a vector of another address.
impl<T: Copy + Default> Clone for Aligned<T> {
    fn clone(&self) -> Self {
        Self::from_slice(self)
    }
}

impl<T> Deref for Aligned<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.values[self.start..][..self.len]
    }
}

impl<T> DerefMut for Aligned<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.values[self.start..][..self.len]
    }
}

impl<T: PartialEq> PartialEq for Aligned<T> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_start_on_the_boundary() {
        for len in [0, 1, 15, 16, 17, 1000] {
            let a = Aligned::filled(len, 3f32);
            assert_eq!(a.len(), len);
            assert!(a.iter().all(|&v| v == 3.0));
            if len > 0 {
                assert_eq!(a.as_ptr() as usize % ALIGN, 0, "{len} values");
            }
            let src: Vec<i16> = (0..len as i16).collect();
            let b = Aligned::from_slice(&src);
            assert_eq!(&*b, &src[..]);
            if len > 0 {
                assert_eq!(b.as_ptr() as usize % ALIGN, 0, "{len} values");
            }
            let c = b.clone();
            assert_eq!(c, b);
            if len > 0 {
                assert_eq!(c.as_ptr() as usize % ALIGN, 0, "a clone keeps the boundary");
            }
        }
    }
}
