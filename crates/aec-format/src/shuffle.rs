//! The sparse layout's inner loops with byte shuffles: left-packing the non-zero values of a
//! group of eight (writing) and spreading them back to their places (reading), one SSSE3
//! `pshufb` per 16 bytes, driven by a table indexed by the group's bitmap bits.
//!
//! `pulp` checks the CPU at run time and exposes the instructions as safe functions, so the
//! crate stays free of `unsafe`. The module exists on x86-64 only; elsewhere, or without SSSE3
//! ([`Shuffler::new`] returns `None`), the callers use their portable loops, which give the
//! same bytes.

use core::arch::x86_64::__m128i;

use pulp::bytemuck::cast;
use pulp::x86::V2;

/// `pshufb` control bytes, one 16-byte entry per bitmap pattern: lane `j` of the result
/// takes the lane of the `j`-th set bit (pack) or, for a set bit `i`, the lane of its rank
/// among the set bits (expand). Unused lanes read 0x80, which `pshufb` turns into zero.
struct Tables<const N: usize> {
    pack: [[u8; 16]; N],
    expand: [[u8; 16]; N],
}

/// Builds the tables for lanes of `width` bytes, `16 / width` lanes per entry.
const fn tables<const N: usize>(width: usize) -> Tables<N> {
    let lanes = 16 / width;
    let mut pack = [[0x80u8; 16]; N];
    let mut expand = [[0x80u8; 16]; N];
    let mut m = 0;
    while m < N {
        let mut i = 0;
        let mut rank = 0;
        while i < lanes {
            if (m >> i) & 1 == 1 {
                let mut b = 0;
                while b < width {
                    pack[m][rank * width + b] = (i * width + b) as u8;
                    expand[m][i * width + b] = (rank * width + b) as u8;
                    b += 1;
                }
                rank += 1;
            }
            i += 1;
        }
        m += 1;
    }
    Tables { pack, expand }
}

/// Eight 2-byte lanes per shuffle (f16).
static LANES16: Tables<256> = tables(2);
/// Four 4-byte lanes per shuffle (f32).
static LANES32: Tables<16> = tables(4);

/// A CPU with SSSE3.
#[derive(Clone, Copy)]
pub(crate) struct Shuffler(V2);

impl Shuffler {
    pub(crate) fn new() -> Option<Self> {
        V2::try_new().map(Shuffler)
    }

    /// Runs `f` with the instruction set enabled, so that the shuffles inline into it.
    #[inline(always)]
    pub(crate) fn run<R>(self, f: impl FnOnce() -> R) -> R {
        self.0.vectorize(f)
    }

    #[inline(always)]
    fn load(bytes: &[u8]) -> __m128i {
        let block: [u8; 16] = bytes[..16].try_into().expect("16 bytes");
        cast(block)
    }

    #[inline(always)]
    fn store(dst: &mut [u8], v: __m128i) {
        dst[..16].copy_from_slice(&cast::<__m128i, [u8; 16]>(v));
    }

    /// Bit `i` set when lane `i` of `v` is not ±0 (magnitude bits all zero).
    #[inline(always)]
    fn nonzero_lanes(self, v: __m128i, width: usize) -> u8 {
        let s = self.0.sse2;
        let zero = s._mm_setzero_si128();
        if width == 2 {
            let magnitude = s._mm_and_si128(v, s._mm_set1_epi16(0x7fff));
            let is_zero = s._mm_cmpeq_epi16(magnitude, zero);
            let bytes = s._mm_packs_epi16(is_zero, zero);
            !(s._mm_movemask_epi8(bytes) as u8)
        } else {
            let magnitude = s._mm_and_si128(v, s._mm_set1_epi32(0x7fff_ffff));
            let is_zero = s._mm_cmpeq_epi32(magnitude, zero);
            !(self.0.sse._mm_movemask_ps(s._mm_castsi128_ps(is_zero)) as u8) & 0xf
        }
    }

    /// Left-packs the non-zero values of one group of eight values of `width` bytes
    /// (`group`, `8 * width` bytes) to `packed[at..]` (which has 16 bytes of slack), and
    /// returns the group's bitmap byte.
    #[inline(always)]
    pub(crate) fn pack_group(
        self,
        width: usize,
        group: &[u8],
        packed: &mut [u8],
        at: &mut usize,
    ) -> u8 {
        let mut byte = 0;
        for (half, block) in group.chunks_exact(16).enumerate() {
            let v = Self::load(block);
            let mask = self.nonzero_lanes(v, width);
            let control = if width == 2 {
                &LANES16.pack[usize::from(mask)]
            } else {
                &LANES32.pack[usize::from(mask)]
            };
            let packed_v = self.0.ssse3._mm_shuffle_epi8(v, Self::load(control));
            Self::store(&mut packed[*at..], packed_v);
            *at += mask.count_ones() as usize * width;
            byte |= mask << (4 * half);
        }
        byte
    }

    /// Spreads the stored values of one group (`bits` its bitmap byte) from
    /// `stored[*at..]` (which has 16 bytes of slack) to their lanes of `group`
    /// (`8 * width` bytes), zeros elsewhere.
    #[inline(always)]
    pub(crate) fn expand_group(
        self,
        width: usize,
        bits: u8,
        stored: &[u8],
        at: &mut usize,
        group: &mut [u8],
    ) {
        let lanes = 16 / width;
        for (half, block) in group.chunks_exact_mut(16).enumerate() {
            let mask = if lanes == 8 {
                bits
            } else {
                (bits >> (4 * half)) & 0xf
            };
            let control = if width == 2 {
                &LANES16.expand[usize::from(mask)]
            } else {
                &LANES32.expand[usize::from(mask)]
            };
            let v = Self::load(&stored[*at..]);
            Self::store(block, self.0.ssse3._mm_shuffle_epi8(v, Self::load(control)));
            *at += mask.count_ones() as usize * width;
        }
    }
}
