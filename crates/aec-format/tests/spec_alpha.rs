//! The context-coded alpha plane (filter 4) decoded as `format-spec/SPEC.md` §13.5 and §14
//! describe it, in plain integer arithmetic (no `constriction`, nothing of the crate's coder),
//! checked against the crate: the same plane for every plane the crate writes, the same
//! verdict and plane for random streams. This is what an independent reader would do.

mod common;

use aec_format::{AlphaFilter, AlphaPlane, FormatError};
use common::Rng;

/// A pair of counts and its probability of `0`, §13.5.
#[derive(Clone, Copy, Default)]
struct Pair(u64, u64);

impl Pair {
    fn p0(self) -> u64 {
        (2 * self.0 + 1) * (1 << 24) / (2 * (self.0 + self.1) + 2)
    }
    fn add(&mut self, bit: bool) {
        if bit {
            self.1 += 1
        } else {
            self.0 += 1
        }
        if self.0 + self.1 == 1024 {
            self.0 = self.0.div_ceil(2);
            self.1 = self.1.div_ceil(2);
        }
    }
}

/// §14.2's decoder state over the stream's big-endian words.
struct Reader<'a> {
    bytes: &'a [u8],
    lower: u64,
    range: u64,
    point: u64,
    next: usize,
}

impl Reader<'_> {
    fn word(&self, j: usize) -> u64 {
        let w: Vec<u8> = (0..4)
            .map(|i| *self.bytes.get(4 * j + i).unwrap_or(&0))
            .collect();
        u64::from(u32::from_be_bytes(w.try_into().unwrap()))
    }

    /// One decision with the counts `c`; `None` where the stream cannot be followed.
    fn bit(&mut self, c: &mut Pair) -> Option<bool> {
        let p0 = c.p0();
        let scale = self.range >> 24;
        let q = self.point.wrapping_sub(self.lower) / scale;
        if q >= 1 << 24 {
            return None;
        }
        let bit = q >= p0;
        let (left, p) = if bit { (p0, (1 << 24) - p0) } else { (0, p0) };
        self.lower = self.lower.wrapping_add(scale * left);
        self.range = scale * p;
        if self.range < 1 << 32 {
            self.lower <<= 32;
            self.range <<= 32;
            self.point = (self.point << 32) | self.word(self.next);
            self.next += 1;
        }
        c.add(bit);
        Some(bit)
    }

    /// §14.4: the stream is read to its end and the point is the final interval's.
    fn ends_here(&self) -> bool {
        let last = u128::from(self.lower) + u128::from(self.range) - 1;
        let v = (0..=8u32)
            .map(|b| 1u128 << (64 - 8 * b))
            .map(|unit| u128::from(self.lower).div_ceil(unit) * unit)
            .find(|&v| v <= last)
            .unwrap();
        self.bytes.len() <= 4 * self.next && self.point == v as u64
    }
}

fn bits(v: i64) -> usize {
    (64 - v.leading_zeros()) as usize
}

fn class(e: i64) -> usize {
    match e {
        0 => 0,
        1 | 2 => 1,
        3.. => 2,
        -2 | -1 => 3,
        _ => 4,
    }
}

/// The plane, or `None` for any stream §13.5 rejects.
fn spec_decode(stream: &[u8], w: usize, h: usize) -> Option<Vec<u8>> {
    if w * h > 1 << 28 || stream.last() == Some(&0) || stream.len() > 4 * (16 * w * h + 2) {
        return None;
    }
    let mut r = Reader {
        bytes: stream,
        lower: 0,
        range: u64::MAX,
        point: 0,
        next: 2,
    };
    r.point = (r.word(0) << 32) | r.word(1);
    let (mut zero, mut sign) = (vec![Pair::default(); 200], vec![Pair::default(); 200]);
    let mut prefix = vec![[Pair::default(); 7]; 200];
    let mut suffix = vec![[[Pair::default(); 7]; 8]; 8];
    let mut a = vec![0i64; w * h];
    let mut classes = vec![0usize; w * h];
    for y in 0..h {
        for x in 0..w {
            let at = |x: usize, y: usize| a[y * w + x];
            let (left, up) = (x.checked_sub(1), y.checked_sub(1));
            let p = match (left, up) {
                (None, None) => 0,
                (Some(l), None) => at(l, y),
                (None, Some(u)) => at(x, u),
                (Some(l), Some(u)) => (at(l, y) + at(x, u) - at(l, u)).clamp(0, 255),
            };
            let act = match up {
                None => 0,
                Some(u) => {
                    let uu = at(x, u);
                    let l = left.map_or(uu, |l| at(l, y));
                    let c = left.map_or(uu, |l| at(l, u));
                    let rr = if x + 1 < w { at(x + 1, u) } else { uu };
                    bits((l - c).abs() + (uu - c).abs() + (rr - uu).abs()).min(7)
                }
            };
            let el = left.map_or(0, |l| classes[y * w + l]);
            let eu = up.map_or(0, |u| classes[u * w + x]);
            let k = (5 * act + el) * 5 + eu;
            let e = if !r.bit(&mut zero[k])? {
                0
            } else {
                let negative = r.bit(&mut sign[k])?;
                let mut n = 0;
                while n < 7 && r.bit(&mut prefix[k][n])? {
                    n += 1;
                }
                let mut m = 1i64 << n;
                for i in (0..n).rev() {
                    if r.bit(&mut suffix[act][n][i])? {
                        m += 1 << i;
                    }
                }
                match negative {
                    false if m <= 127 => m,
                    true if m <= 128 => -m,
                    _ => return None,
                }
            };
            a[y * w + x] = (p + e).rem_euclid(256);
            classes[y * w + x] = class(e);
        }
    }
    r.ends_here().then(|| a.iter().map(|&v| v as u8).collect())
}

/// The crate's verdict in the spec decoder's terms (an opaque plane is a plane here).
fn crate_decode(stream: &[u8], w: u32, h: u32) -> Option<Vec<u8>> {
    let plane = AlphaPlane {
        filter: AlphaFilter::Context,
        stream: stream.to_vec(),
    };
    match plane.decode(w, h, 0) {
        Ok(p) => Some(p),
        Err(FormatError::OpaqueAlpha { .. }) => Some(vec![255; (w * h) as usize]),
        Err(FormatError::AlphaStream { .. }) => None,
        Err(e) => panic!("{e}"),
    }
}

/// Planes of the kinds alpha takes: hard masks, soft edges, gradients, noise.
fn planes(rng: &mut Rng) -> Vec<(u32, u32, Vec<u8>)> {
    let mut out = Vec::new();
    for (w, h) in [(1, 1), (1, 6), (6, 1), (3, 3), (31, 9), (64, 40)] {
        let (cx, cy) = (rng.below(w as usize) as i64, rng.below(h as usize) as i64);
        let r = 1 + rng.below(20) as i64;
        let mut by = |f: &mut dyn FnMut(i64, i64) -> u8| {
            let p: Vec<u8> = (0..h as i64)
                .flat_map(|y| (0..w as i64).map(move |x| (x, y)))
                .map(|(x, y)| f(x, y))
                .collect();
            out.push((w, h, p));
        };
        let d = move |x: i64, y: i64| ((x - cx).pow(2) + (y - cy).pow(2)) as f64;
        by(&mut |x, y| if d(x, y) < (r * r) as f64 { 255 } else { 0 });
        by(&mut |x, y| (255.0 * (r as f64 - d(x, y).sqrt()).clamp(0.0, 1.0)) as u8);
        by(&mut |x, y| ((x * 7 + y * 3) % 256) as u8);
        by(&mut |_, _| rng.below(256) as u8);
        by(&mut |x, _| if x % 2 == 0 { 0 } else { 128 });
    }
    out
}

#[test]
fn the_spec_decoder_reads_what_the_crate_writes() {
    let mut rng = Rng(11);
    let mut coded = 0;
    for (w, h, plane) in planes(&mut rng) {
        let Ok(a) = AlphaPlane::with_filter(&plane, w, h, AlphaFilter::Context) else {
            assert!(plane.iter().all(|&v| v == 0 || v == 255), "{w}×{h}");
            continue;
        };
        assert_eq!(
            spec_decode(&a.stream, w as usize, h as usize).as_deref(),
            Some(&plane[..]),
            "{w}×{h}"
        );
        coded += 1;
    }
    assert!(coded >= 15, "{coded}");
}

#[test]
fn the_spec_decoder_and_the_crate_agree_on_random_streams() {
    let mut rng = Rng(12);
    let (mut accepted, mut refused) = (0, 0);
    for trial in 0..3000 {
        let (w, h) = (1 + rng.below(9) as u32, 1 + rng.below(5) as u32);
        let len = 1 + rng.below(12);
        let mut s: Vec<u8> = (0..len).map(|_| rng.below(256) as u8).collect();
        if trial % 3 == 0 {
            // Streams that end as the encoder's do are the ones that get far.
            while s.last() == Some(&0) {
                s.pop();
            }
        }
        let spec = spec_decode(&s, w as usize, h as usize);
        assert_eq!(crate_decode(&s, w, h), spec, "{s:02x?} for {w}×{h}");
        if spec.is_some() {
            accepted += 1;
        } else {
            refused += 1;
        }
    }
    // Both verdicts occur, so the comparison says something about each.
    assert!(
        accepted > 10 && refused > 10,
        "{accepted} accepted, {refused} refused"
    );
}
