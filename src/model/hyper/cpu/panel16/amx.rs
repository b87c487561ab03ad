//! The product on Intel AMX: 16 rows × 16 columns × 64 values of `k` in each tile instruction,
//! on 8-bit integers.
//!
//! A 16-bit value splits into a signed high byte and an unsigned low one, `x = 256·xₕ + xₗ`, and
//! so does a weight, `q = 256·qₕ + qₗ`; four tile products (`tdpbssd`, `tdpbsud`, `tdpbusd`,
//! `tdpbuud`, each exact in 32 bits) give `Σ x·q = 2¹⁶·Σ xₕqₕ + 2⁸·Σ (xₕqₗ + xₗqₕ) + Σ xₗqₗ`,
//! which the shifts and additions below take modulo 2³², as the other kernels' wrapping sums
//! do. The stretch sums are therefore the same integers as on every other path, and each is
//! added to its output in the same fused step, so the bits are the same.

use std::arch::asm;
use std::arch::x86_64::*;

use super::{Layout, Out, Packed16, PANEL};
use crate::model::hyper::cpu::aligned::Aligned;
use crate::model::hyper::cpu::tile_use::TileUse;

/// Values of `k` in one tile row (64 bytes).
const CHUNK: usize = 64;
/// Rows of a tile, and rows of `a` per block.
pub const ROWS: usize = 16;
/// Bytes of a tile.
const TILE: usize = ROWS * CHUNK;

/// A buffer aligned to the cache line.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([u8; 64]);

/// Chunks of `CHUNK` values per stretch (the last stretch may use fewer).
fn chunks_per_stretch(b: &Packed16) -> usize {
    b.stretch.div_ceil(CHUNK)
}

/// The chunks of stretch `s`.
fn chunks(b: &Packed16, s: usize) -> usize {
    (b.k.min((s + 1) * b.stretch) - s * b.stretch).div_ceil(CHUNK)
}

/// `b`'s integers as tiles: for each panel, stretch and chunk, the high bytes' tile then the
/// low bytes', each 16 rows of four values of `k` for each of the panel's 16 columns (the
/// layout the tile products read), zeros past the stretch or the columns.
fn pack(b: &Packed16) -> Aligned<u8> {
    let (cps, stretches, panels) = (
        chunks_per_stretch(b),
        b.k.div_ceil(b.stretch),
        b.n.div_ceil(PANEL),
    );
    let mut tiles = Aligned::filled(panels * stretches * cps * 2 * TILE, 0u8);
    for p in 0..panels {
        for s in 0..stretches {
            for ch in 0..chunks(b, s) {
                let base = ((p * stretches + s) * cps + ch) * 2 * TILE;
                for kk in 0..CHUNK {
                    let k = s * b.stretch + ch * CHUNK + kk;
                    if ch * CHUNK + kk >= b.stretch || k >= b.k {
                        break;
                    }
                    for col in 0..PANEL.min(b.n - p * PANEL) {
                        let q = b.q(k, p * PANEL + col);
                        let at = base + (kk / 4) * CHUNK + col * 4 + kk % 4;
                        tiles[at] = (q >> 8) as u8;
                        tiles[at + TILE] = q as u8;
                    }
                }
            }
        }
    }
    tiles
}

/// The product of the rows `layout` finds in `src` and `b`: stretch by stretch, blocks of 16
/// rows split into bytes once, then panel by panel.
///
/// # Safety
/// The CPU has AVX-512 F, BW, VL and VNNI and AMX TILE and INT8, and the process may use the
/// tiles; `layout`'s rows lie inside `src`; `out` holds its rows.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
pub unsafe fn blocked(src: &[i16], b: &Packed16, out: Out<'_>, layout: &Layout<'_>) {
    let tiles = b.tiles.get_or_init(|| pack(b));
    let (stride, rows) = (out.stride, layout.rows);
    if layout.pieces.is_empty() {
        for i in 0..rows {
            out.values[i * stride..][..b.n].copy_from_slice(&b.bias[..b.n]);
        }
        return;
    }
    let (cps, stretches) = (chunks_per_stretch(b), b.k.div_ceil(b.stretch));
    let row_bytes = cps * CHUNK;
    // The block's high bytes, then its low bytes; the three sums.
    let mut bytes = vec![Line([0; 64]); 2 * ROWS * cps];
    let mut sums = [Line([0; 64]); 3 * ROWS];
    // Tiles 0, 1 and 2 hold the sums of the low, middle and high products, 3 and 4 the rows'
    // high and low bytes, 5 and 6 the weights' high and low bytes.
    let _tiles = TileUse::configure(7);
    for (s, (group, units)) in layout.stretches().enumerate() {
        let chunks = chunks(b, s);
        let mut i = 0;
        while i < rows {
            let r = (rows - i).min(ROWS);
            let (hi, lo) = bytes.split_at_mut(ROWS * cps);
            let (hi, lo) = (hi.as_mut_ptr().cast::<u8>(), lo.as_mut_ptr().cast::<u8>());
            split(
                src,
                layout,
                (group.clone(), s * b.stretch),
                (i, r),
                (hi, lo, row_bytes),
            );
            if chunks == 1 {
                load_rows(hi, lo, row_bytes);
            }
            for p in 0..b.n.div_ceil(PANEL) {
                let weights = tiles.as_ptr().add(((p * stretches + s) * cps) * 2 * TILE);
                let c = sums.as_mut_ptr().cast::<i32>();
                products((hi, lo, row_bytes), weights, chunks, c);
                let o = (s == 0, &mut out.values[i * stride..], stride);
                add(b, p, c, &units[i..i + r], o);
            }
            i += r;
        }
    }
}

/// Rows `i..i + r`'s values of the stretch whose pieces are `group` (from `k0`) as high bytes
/// at `hi` and low bytes at `lo`, `row_bytes` apart, zeros after the stretch's values.
///
/// # Safety
/// As [`blocked`]; `hi` and `lo` hold `r` rows of `row_bytes`, at least the stretch's length.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn split(
    src: &[i16],
    layout: &Layout<'_>,
    (group, k0): (std::ops::Range<usize>, usize),
    (i, r): (usize, usize),
    (hi, lo, row_bytes): (*mut u8, *mut u8, usize),
) {
    let mut end = 0;
    for e in group {
        let piece = &layout.pieces[e];
        let at = piece.k0 - k0;
        end = end.max(at + piece.len);
        for t in 0..r {
            let from = src.as_ptr().add(layout.offsets[e * layout.rows + i + t]);
            let (h, l) = (hi.add(t * row_bytes + at), lo.add(t * row_bytes + at));
            for off in (0..piece.len).step_by(32) {
                let n = (piece.len - off).min(32);
                let m: __mmask32 = if n == 32 { !0 } else { (1 << n) - 1 };
                let v = _mm512_maskz_loadu_epi16(m, from.add(off));
                let high = _mm512_cvtepi16_epi8(_mm512_srai_epi16::<8>(v));
                _mm256_mask_storeu_epi8(h.add(off).cast(), m, high);
                _mm256_mask_storeu_epi8(l.add(off).cast(), m, _mm512_cvtepi16_epi8(v));
            }
        }
    }
    // The last chunk's tail (a stretch shorter than its chunks) reads zeros.
    if end % CHUNK != 0 {
        let tail = end.next_multiple_of(CHUNK) - end;
        for t in 0..r {
            std::ptr::write_bytes(hi.add(t * row_bytes + end), 0, tail);
            std::ptr::write_bytes(lo.add(t * row_bytes + end), 0, tail);
        }
    }
}

/// The three sums of the rows' bytes times one panel's weight tiles over `chunks` chunks,
/// stored 16 rows of 16 values each at `c`, `c + 256` and `c + 512` (low, middle, high). A
/// stretch of one chunk finds the rows' bytes already in their tiles (loaded once for every
/// panel).
///
/// # Safety
/// The tiles are configured ([`Config`]); the rows' bytes hold `chunks` chunks of 16 rows,
/// `weights` a panel's tiles for them, and `c` room for three tiles of sums.
#[inline(always)]
unsafe fn products(
    (hi, lo, row_bytes): (*const u8, *const u8, usize),
    weights: *const u8,
    chunks: usize,
    c: *mut i32,
) {
    asm!(
        "tilezero tmm0",
        "tilezero tmm1",
        "tilezero tmm2",
        options(nostack, nomem)
    );
    for ch in 0..chunks {
        if chunks > 1 {
            load_rows(hi.add(ch * CHUNK), lo.add(ch * CHUNK), row_bytes);
        }
        let w = weights.add(ch * 2 * TILE);
        // The two products into the middle sums apart, so that neither waits for the other.
        asm!(
            "tileloadd tmm5, [{wh} + {line} * 1]",
            "tileloadd tmm6, [{wl} + {line} * 1]",
            "tdpbsud tmm1, tmm3, tmm6",
            "tdpbssd tmm2, tmm3, tmm5",
            "tdpbuud tmm0, tmm4, tmm6",
            "tdpbusd tmm1, tmm4, tmm5",
            wh = in(reg) w,
            wl = in(reg) w.add(TILE),
            line = in(reg) CHUNK,
            options(nostack, readonly),
        );
    }
    asm!(
        "tilestored [{c0} + {line} * 1], tmm0",
        "tilestored [{c1} + {line} * 1], tmm1",
        "tilestored [{c2} + {line} * 1], tmm2",
        c0 = in(reg) c,
        c1 = in(reg) c.add(ROWS * 16),
        c2 = in(reg) c.add(2 * ROWS * 16),
        line = in(reg) CHUNK,
        options(nostack),
    );
}

/// The rows' high and low bytes of one chunk into their tiles.
///
/// # Safety
/// The tiles are configured; `hi` and `lo` hold 16 rows of 64 bytes, `row_bytes` apart.
#[inline(always)]
unsafe fn load_rows(hi: *const u8, lo: *const u8, row_bytes: usize) {
    asm!(
        "tileloadd tmm3, [{hi} + {stride} * 1]",
        "tileloadd tmm4, [{lo} + {stride} * 1]",
        hi = in(reg) hi,
        lo = in(reg) lo,
        stride = in(reg) row_bytes,
        options(nostack, readonly),
    );
}

/// Each of the block's rows' stretch sums for panel `p` (from the three sums at `c`), in its
/// unit, added to the bias (`from_bias`) or to the running sums in `out`: the AVX-512
/// kernel's steps.
///
/// # Safety
/// The CPU has AVX-512 F; `c` holds three tiles of sums; `out` holds the rows of `units`.
#[target_feature(enable = "avx512f")]
unsafe fn add(
    b: &Packed16,
    p: usize,
    c: *const i32,
    units: &[f32],
    (from_bias, out, stride): (bool, &mut [f32], usize),
) {
    let first = p * PANEL;
    let width = (b.n - first).min(PANEL);
    let mask: __mmask16 = if width == PANEL { !0 } else { (1 << width) - 1 };
    let scale = _mm512_loadu_ps(b.scale.as_ptr().add(first));
    for (t, &unit) in units.iter().enumerate() {
        let low = _mm512_loadu_si512(c.add(t * 16).cast());
        let middle = _mm512_loadu_si512(c.add((ROWS + t) * 16).cast());
        let high = _mm512_loadu_si512(c.add((2 * ROWS + t) * 16).cast());
        let sum = _mm512_add_epi32(
            _mm512_add_epi32(
                _mm512_slli_epi32::<16>(high),
                _mm512_slli_epi32::<8>(middle),
            ),
            low,
        );
        let dst = out[t * stride + first..][..width].as_mut_ptr();
        let start = match from_bias {
            true => _mm512_loadu_ps(b.bias.as_ptr().add(first)),
            false => _mm512_maskz_loadu_ps(mask, dst),
        };
        let scale = _mm512_mul_ps(scale, _mm512_set1_ps(unit));
        let v = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), scale, start);
        _mm512_mask_storeu_ps(dst, mask, v);
    }
}
