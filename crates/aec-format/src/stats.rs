//! Statistics of a file's code values, computed one tile at a time.

use half::f16;

use crate::codes::{first_non_finite, Value};
use crate::file::{check_structure, decode_sparse, TileSink};
use crate::{AecFile, FileHeader, FormatError, Layout, Limits, Precision, HEADER_LEN};

/// Summary statistics over every code value of a file, zeros included.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CodeStats {
    /// Number of values (tiles × code length).
    pub count: u64,
    /// Values equal to +0 or −0.
    pub zeros: u64,
    /// Smallest value.
    pub min: f32,
    /// Largest value.
    pub max: f32,
    /// Sum of the values.
    pub sum: f64,
    /// Sum of the squares of the values.
    pub sum_squares: f64,
}

impl Default for CodeStats {
    fn default() -> Self {
        Self {
            count: 0,
            zeros: 0,
            min: f32::INFINITY,
            max: f32::NEG_INFINITY,
            sum: 0.0,
            sum_squares: 0.0,
        }
    }
}

impl CodeStats {
    /// The statistics of `values`.
    pub fn of(values: &[f32]) -> CodeStats {
        let mut s = CodeStats::default();
        s.add(values);
        s
    }

    /// Mean of the values (0 when there are none).
    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum / self.count as f64
        }
    }

    /// Population standard deviation of the values.
    pub fn std(&self) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let mean = self.mean();
        (self.sum_squares / self.count as f64 - mean * mean)
            .max(0.0)
            .sqrt()
    }

    /// Adds `values` to the statistics.
    pub fn add<V: Into<f32> + Copy>(&mut self, values: &[V]) {
        for &v in values {
            let v: f32 = v.into();
            self.zeros += u64::from(v == 0.0);
            self.min = self.min.min(v);
            self.max = self.max.max(v);
            let v = f64::from(v);
            self.sum += v;
            self.sum_squares += v * v;
        }
        self.count += values.len() as u64;
    }
}

/// One tile's values at a time, folded into the statistics.
struct Folder<V> {
    tile: Vec<V>,
    stats: CodeStats,
}

impl<V: Value + Into<f32>> TileSink<V> for Folder<V> {
    fn tile(&mut self, _tile: usize) -> &mut [V] {
        self.tile.fill(V::ZERO);
        &mut self.tile
    }

    fn done(&mut self, _tile: usize) {
        self.stats.add(&self.tile);
    }
}

impl AecFile {
    /// Checks a whole file exactly as [`AecFile::from_bytes_with_limits`] does (the same
    /// checks in the same order, so the same errors) and returns its header and the
    /// statistics of its code values, holding one tile's values at a time: memory does not
    /// grow with the sizes the header declares.
    pub fn stats_from_bytes(
        bytes: &[u8],
        limits: &Limits,
    ) -> Result<(FileHeader, CodeStats), FormatError> {
        let (h, end) = check_structure(bytes, limits)?;
        let stats = match (h.layout, h.precision) {
            (Layout::Dense, Precision::F32) => dense_stats::<f32>(bytes, end, &h)?,
            (Layout::Dense, Precision::F16) => dense_stats::<f16>(bytes, end, &h)?,
            (Layout::Sparse, Precision::F32) => sparse_stats::<f32>(bytes, end, &h)?,
            (Layout::Sparse, Precision::F16) => sparse_stats::<f16>(bytes, end, &h)?,
        };
        Ok((h, stats))
    }
}

fn dense_stats<V: Value + Into<f32>>(
    bytes: &[u8],
    end: usize,
    h: &FileHeader,
) -> Result<CodeStats, FormatError> {
    let l = h.code_length as usize;
    let mut tile = vec![V::ZERO; l];
    let mut stats = CodeStats::default();
    for (t, raw) in bytes[HEADER_LEN..end]
        .chunks_exact(l * V::BYTES)
        .enumerate()
    {
        for (v, b) in tile.iter_mut().zip(raw.chunks_exact(V::BYTES)) {
            *v = V::read_le(b);
        }
        if let Some(i) = first_non_finite(&tile) {
            return Err(FormatError::NonFinite {
                offset: HEADER_LEN + (t * l + i) * V::BYTES,
                tile: t,
                index: i,
            });
        }
        stats.add(&tile);
    }
    Ok(stats)
}

fn sparse_stats<V: Value + Into<f32>>(
    bytes: &[u8],
    end: usize,
    h: &FileHeader,
) -> Result<CodeStats, FormatError> {
    let l = h.code_length as usize;
    let mut folder = Folder {
        tile: vec![V::ZERO; l],
        stats: CodeStats::default(),
    };
    decode_sparse(bytes, end, h.tiles() as usize, l, &mut folder)?;
    Ok(folder.stats)
}
