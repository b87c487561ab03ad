//! Helpers shared by the container's tests: a seeded generator, tables, symbol draws, and a
//! CRC made to fit.
#![allow(dead_code)]

use aec_format::{SymbolTable, SymbolTables};

/// splitmix64.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n >= 1`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

pub fn tables_of(dims: &[(i32, Vec<u32>)]) -> SymbolTables {
    SymbolTables::new(
        dims.iter()
            .map(|(m, p)| SymbolTable {
                min_symbol: *m,
                probabilities: p.clone(),
            })
            .collect(),
    )
    .unwrap()
}

/// Integer probabilities (each at least 1, summing to 2^24) close to `weights`.
pub fn quantize(weights: &[f64]) -> Vec<u32> {
    let total = (1u64 << 24) as f64;
    let sum: f64 = weights.iter().sum();
    let mut p: Vec<u32> = weights
        .iter()
        .map(|w| ((w / sum * total) as u32).max(1))
        .collect();
    let s: i64 = p.iter().map(|&x| i64::from(x)).sum();
    let top = (0..p.len()).max_by_key(|&i| p[i]).unwrap();
    p[top] = (i64::from(p[top]) + (1 << 24) - s) as u32;
    p
}

/// A discretised Gaussian over `2k + 1` symbols centred on 0.
pub fn gaussian(k: usize, sigma: f64) -> (i32, Vec<u32>) {
    let w: Vec<f64> = (0..=2 * k)
        .map(|i| {
            let x = (i as f64 - k as f64) / sigma;
            (-0.5 * x * x).exp()
        })
        .collect();
    (-(k as i32), quantize(&w))
}

/// `l` dimensions of the shapes a trained model has, and some extreme ones: 1-symbol
/// alphabets, near-certain 3-symbol ones (p0 up to 0.999), Gaussians of 9 to 61 symbols, and
/// now and then a wide near-uniform one.
pub fn realistic_tables(rng: &mut Rng, l: usize) -> SymbolTables {
    let dims: Vec<(i32, Vec<u32>)> = (0..l)
        .map(|_| match rng.below(12) {
            0 => (rng.below(5) as i32 - 2, vec![1 << 24]),
            1..=4 => {
                let p0 = 0.97 + 0.029 * rng.unit();
                (-1, quantize(&[(1.0 - p0) / 2.0, p0, (1.0 - p0) / 2.0]))
            }
            5..=7 => gaussian(4, 0.8 + 1.2 * rng.unit()),
            8..=10 => gaussian(15 + rng.below(16), 3.0 + 6.0 * rng.unit()),
            _ => {
                let n = 256 + rng.below(4000);
                let w: Vec<f64> = (0..n).map(|_| 1.0 + rng.unit()).collect();
                (-(n as i32) / 2, quantize(&w))
            }
        })
        .collect();
    tables_of(&dims)
}

/// `n` symbols: drawn from the tables' distributions, or (`uniform`) uniformly over each
/// alphabet, which makes the improbable symbols common.
pub fn draw(rng: &mut Rng, tables: &SymbolTables, n: usize, uniform: bool) -> Vec<i32> {
    let l = tables.code_length();
    (0..n)
        .map(|k| {
            let t = &tables.tables()[k % l];
            let i = if uniform {
                rng.below(t.probabilities.len())
            } else {
                let u = (rng.next() >> 40) as u32;
                let mut c = 0;
                t.probabilities
                    .iter()
                    .position(|&p| {
                        c += p;
                        u < c
                    })
                    .unwrap()
            };
            t.min_symbol + i as i32
        })
        .collect()
}

/// Information content of `symbols` under the tables, in bits.
pub fn information_bits(symbols: &[i32], tables: &SymbolTables) -> f64 {
    let l = tables.code_length();
    symbols
        .iter()
        .enumerate()
        .map(|(k, &s)| {
            let t = &tables.tables()[k % l];
            let p = t.probabilities[(s - t.min_symbol) as usize];
            24.0 - f64::from(p).log2()
        })
        .sum()
}

/// A file's bytes with their last four replaced by the CRC-32 of the rest, so that an edited
/// file gets past the CRC to the checks behind it.
pub fn fix_crc(mut b: Vec<u8>) -> Vec<u8> {
    let n = b.len() - 4;
    let crc = crc32fast::hash(&b[..n]);
    b[n..].copy_from_slice(&crc.to_le_bytes());
    b
}
