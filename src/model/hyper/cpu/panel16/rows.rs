//! The 512-bit kernel for products of one stretch, rows a fixed stride apart (the Winograd
//! points': many products of 16 rows, `k` and `n` of 64; GDN's; the first layer's patches):
//! blocks of up to 4 rows by 4 panels, so that one pass over a row's pairs feeds 16
//! accumulators and no offsets are looked up. The same operations per output as
//! [`super::avx512`]'s block (exact 32-bit sums, then one fused step from the bias), so the
//! same bits.

use std::arch::x86_64::*;

use super::{Packed16, PANEL};

/// Rows per block.
const ROWS: usize = 4;
/// Panels per block.
const PANELS: usize = 4;

/// `rows` rows of `k = b.k` values (one stretch), row `i` at `a + i·stride` in unit
/// `units[i]` (no units: all one), times `b`, from its bias, into `out + i·out_stride`.
///
/// # Safety
/// The CPU has AVX-512 F, BW and VNNI; the rows lie inside the source; `out` holds `rows`
/// rows of `b.n` values `out_stride` apart; `units` holds `rows` values or none.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
pub unsafe fn product(
    (a, stride): (*const i16, usize),
    units: &[f32],
    rows: usize,
    b: &Packed16,
    (out, out_stride): (*mut f32, usize),
) {
    let panels = b.n.div_ceil(PANEL);
    let mut i = 0;
    while i < rows {
        let r = (rows - i).min(ROWS);
        let mut p = 0;
        while p < panels {
            let q = (panels - p).min(PANELS);
            let at = Block {
                a: a.add(i * stride),
                stride,
                units: match units {
                    [] => &[1.0; ROWS][..r],
                    _ => &units[i..i + r],
                },
                out: out.add(i * out_stride),
                out_stride,
                panel: p,
            };
            match (r, q) {
                (4, 4) => block::<4, 4>(&at, b),
                (4, 3) => block::<4, 3>(&at, b),
                (4, 2) => block::<4, 2>(&at, b),
                (4, _) => block::<4, 1>(&at, b),
                (3, 4) => block::<3, 4>(&at, b),
                (3, 3) => block::<3, 3>(&at, b),
                (3, 2) => block::<3, 2>(&at, b),
                (3, _) => block::<3, 1>(&at, b),
                (2, 4) => block::<2, 4>(&at, b),
                (2, 3) => block::<2, 3>(&at, b),
                (2, 2) => block::<2, 2>(&at, b),
                (2, _) => block::<2, 1>(&at, b),
                (_, 4) => block::<1, 4>(&at, b),
                (_, 3) => block::<1, 3>(&at, b),
                (_, 2) => block::<1, 2>(&at, b),
                _ => block::<1, 1>(&at, b),
            }
            p += q;
        }
        i += r;
    }
}

/// One block's rows, from its first: where they are, their units and outputs, and its first
/// panel.
struct Block<'a> {
    a: *const i16,
    stride: usize,
    units: &'a [f32],
    out: *mut f32,
    out_stride: usize,
    panel: usize,
}

/// `R` rows by `P` panels from `at.panel`.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn block<const R: usize, const P: usize>(at: &Block<'_>, b: &Packed16) {
    let pairs = b.k.div_ceil(2);
    let mut acc = [[_mm512_setzero_si512(); P]; R];
    let bp: [*const i16; P] =
        std::array::from_fn(|q| (b.panels.as_ptr()).add((at.panel + q) * pairs * PANEL * 2));
    for t in 0..pairs {
        let bv: [__m512i; P] =
            std::array::from_fn(|q| _mm512_loadu_si512(bp[q].add(t * 2 * PANEL).cast()));
        for (r, acc) in acc.iter_mut().enumerate() {
            let pair =
                at.a.add(r * at.stride + 2 * t)
                    .cast::<i32>()
                    .read_unaligned();
            let v = _mm512_set1_epi32(pair);
            for (acc, &bv) in acc.iter_mut().zip(&bv) {
                *acc = _mm512_dpwssd_epi32(*acc, v, bv);
            }
        }
    }
    for (q, row_acc) in (0..P).map(|q| (q, acc.map(|row| row[q]))) {
        let first = (at.panel + q) * PANEL;
        let width = (b.n - first).min(PANEL);
        // Lanes past `n` are neither read nor written.
        let mask: __mmask16 = if width == PANEL { !0 } else { (1 << width) - 1 };
        let scale = _mm512_maskz_loadu_ps(mask, b.scale.as_ptr().add(first));
        let bias = _mm512_maskz_loadu_ps(mask, b.bias.as_ptr().add(first));
        for (r, acc) in row_acc.iter().enumerate() {
            let scale = _mm512_mul_ps(scale, _mm512_set1_ps(at.units[r]));
            let v = _mm512_fmadd_ps(_mm512_cvtepi32_ps(*acc), scale, bias);
            _mm512_mask_storeu_ps(at.out.add(r * at.out_stride + first), mask, v);
        }
    }
}
