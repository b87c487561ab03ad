//! The symbols both the `symbols` benchmark and the `symbols_loop` example time: a 768×512
//! photo's code (384 tiles of 128 symbols) with tables shaped like a trained model's.

use aec_format::{SymbolTable, SymbolTables};

/// splitmix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Integer probabilities (each at least 1, summing to 2^24) close to `weights`.
fn quantize(weights: &[f64]) -> Vec<u32> {
    let sum: f64 = weights.iter().sum();
    let mut p: Vec<u32> = weights
        .iter()
        .map(|w| ((w / sum * 16_777_216.0) as u32).max(1))
        .collect();
    let s: i64 = p.iter().map(|&x| i64::from(x)).sum();
    let top = (0..p.len()).max_by_key(|&i| p[i]).unwrap_or(0);
    p[top] = (i64::from(p[top]) + (1 << 24) - s) as u32;
    p
}

/// A discretised Gaussian over `-k ..= k`.
fn gaussian(k: i32, sigma: f64) -> SymbolTable {
    let w: Vec<f64> = (-k..=k)
        .map(|x| (-0.5 * (f64::from(x) / sigma).powi(2)).exp())
        .collect();
    SymbolTable {
        min_symbol: -k,
        probabilities: quantize(&w),
    }
}

/// How much the tables spread: `Low` about 1.7 bits per symbol, `High` about 3.5.
#[derive(Debug, Clone, Copy)]
pub enum Mix {
    /// 60 near-certain 3-symbol dimensions, 40 of 9 symbols, 28 of 31.
    Low,
    /// 20 near-certain dimensions, 60 of 17 symbols, 48 of 61.
    High,
}

/// 128 tables of `mix`.
pub fn tables(mix: Mix) -> SymbolTables {
    let mut rng = Rng(0xaec2 + mix as u64);
    let (near, mid, k_mid, s_mid, k_wide, s_wide) = match mix {
        Mix::Low => (60, 40, 4, (0.8, 2.0), 15, (3.0, 6.0)),
        Mix::High => (20, 60, 8, (1.5, 3.5), 30, (5.0, 12.0)),
    };
    let dims = (0..128)
        .map(|d| {
            if d < near {
                let p0 = rng.range(0.97, 0.995);
                SymbolTable {
                    min_symbol: -1,
                    probabilities: quantize(&[(1.0 - p0) / 2.0, p0, (1.0 - p0) / 2.0]),
                }
            } else if d < near + mid {
                gaussian(k_mid, rng.range(s_mid.0, s_mid.1))
            } else {
                gaussian(k_wide, rng.range(s_wide.0, s_wide.1))
            }
        })
        .collect();
    SymbolTables::new(dims).expect("valid tables")
}

/// `tiles` tiles of symbols drawn from `tables`.
pub fn symbols(tables: &SymbolTables, tiles: usize) -> Vec<i32> {
    let mut rng = Rng(0x5eed);
    let l = tables.code_length();
    (0..tiles * l)
        .map(|k| {
            let t = &tables.tables()[k % l];
            let u = (rng.next() >> 40) as u32;
            let mut c = 0;
            let i = t
                .probabilities
                .iter()
                .position(|&p| {
                    c += p;
                    u < c
                })
                .unwrap_or(0);
            t.min_symbol + i as i32
        })
        .collect()
}
