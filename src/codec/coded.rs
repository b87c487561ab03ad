//! Models with a prior: codes quantized to integer symbols and entropy-coded in one stream
//! per image, `.aec` version 2.

use aec_format::{
    decode_symbols, encode_symbols, CodedFile, Limits, ModelKind, SymbolTable, SymbolTables,
};

use super::CodecError;
use crate::entropy::tables::CodeTables;
use crate::store::ModelId;

/// A model's quantization tables and the entropy models built from them.
pub(super) struct Entropy {
    pub(super) tables: CodeTables,
    symbols: SymbolTables,
}

impl Entropy {
    /// Builds the entropy models from a model file's tables (integers only).
    pub(super) fn new(tables: CodeTables) -> Result<Self, CodecError> {
        let dims = tables
            .min_symbol
            .iter()
            .zip(&tables.probabilities)
            .map(|(&min_symbol, p)| SymbolTable {
                min_symbol,
                probabilities: p.clone(),
            })
            .collect();
        Ok(Self {
            symbols: SymbolTables::new(dims)?,
            tables,
        })
    }

    /// The file of an image's codes (`tiles × code_length` values, raster order).
    pub(super) fn compress(
        &self,
        codes: &[f32],
        (width, height): (u32, u32),
        channels: u8,
        id: &ModelId,
    ) -> Result<Vec<u8>, CodecError> {
        let symbols = self.tables.quantize(codes);
        let file = CodedFile {
            kind: ModelKind::TiledFactorized,
            channels: channels.clamp(1, 4),
            model_id: id.0[..8].try_into().expect("8 of 32 bytes"),
            width,
            height,
            step: aec_format::UNIT_STEP,
            alpha: None,
            exact: None,
            payload: encode_symbols(&symbols, &self.symbols)?,
        };
        Ok(file.to_bytes()?)
    }

    /// The symbols a version 2 file (header already checked) carries, decoded with integer
    /// arithmetic only.
    pub(super) fn decode_symbols(
        &self,
        bytes: &[u8],
        tile_size: u32,
    ) -> Result<Vec<i32>, CodecError> {
        let limits = Limits::default();
        let file = CodedFile::from_bytes_with_limits(bytes, &limits)?;
        let count = file
            .header()
            .symbol_count(tile_size, self.tables.code_length(), &limits)?;
        let mut symbols = Vec::new();
        decode_symbols(&file.payload, &self.symbols, count, &mut symbols)?;
        Ok(symbols)
    }
}

/// Symbols handed out as code values (each on its dimension's grid) a chunk at a time.
pub(super) struct Dequantized<'a> {
    pub(super) tables: &'a CodeTables,
    pub(super) symbols: &'a [i32],
}

impl<'a> super::CodeChunks<'a> for Dequantized<'a> {
    fn tiles(&self, code_length: usize) -> usize {
        self.symbols.len() / code_length
    }

    fn chunk<'s>(&'s self, start: usize, len: usize, scratch: &'s mut Vec<f32>) -> &'s [f32] {
        let end = (start + len).min(self.symbols.len());
        // Chunks start on tile boundaries, so dimension k mod L is the symbol's own.
        *scratch = self.tables.dequantize(&self.symbols[start..end]);
        scratch
    }
}

/// What the symbols of a version 2 file look like under its model.
#[derive(Debug, Clone, PartialEq)]
pub struct SymbolReport {
    /// Tiles of the image.
    pub tiles: usize,
    /// Symbols per tile.
    pub code_length: usize,
    /// Symbols in the file.
    pub symbols: usize,
    /// Information content of the symbols under the model's tables, in bits.
    pub ideal_bits: f64,
    /// Symbols equal to 0 (the value at each dimension's offset).
    pub zero_symbols: usize,
    /// Smallest and largest quantization step of the model.
    pub step_range: (f32, f32),
}

impl super::Codec {
    /// Decodes a version 2 file's symbols (checking its header first) and summarises them.
    pub fn symbol_report(&self, bytes: &[u8]) -> Result<SymbolReport, CodecError> {
        let header = aec_format::AnyHeader::parse(bytes)?;
        self.check_header(&header)?;
        let e = self
            .entropy
            .as_ref()
            .ok_or(CodecError::WrongKind("a version 1 file has no symbols"))?;
        let symbols = e.decode_symbols(bytes, crate::model::TILE as u32)?;
        let l = e.tables.code_length();
        let steps = &e.tables.step;
        Ok(SymbolReport {
            tiles: symbols.len() / l,
            code_length: l,
            symbols: symbols.len(),
            ideal_bits: e.tables.ideal_bits(&symbols),
            zero_symbols: symbols.iter().filter(|&&q| q == 0).count(),
            step_range: steps
                .iter()
                .fold((f32::INFINITY, 0f32), |(a, b), &s| (a.min(s), b.max(s))),
        })
    }
}
