//! `aec inspect`: what a `.aec` file holds.

use std::path::PathBuf;
use std::process::ExitCode;

use aec::format::{AecFile, CodeStats, FileHeader, Limits, OVERHEAD, VERSION};
use aec::store::{self, hex};
use anyhow::Context;
use clap::Args;
use serde_json::{json, Value};

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  aec inspect photo.aec
  aec inspect photo.aec --json | jq .bits_per_pixel

The whole file is checked (structure, CRC, every value) and its code values summarised one
tile at a time, so memory does not grow with the code size the header declares.")]
pub struct InspectArgs {
    /// The .aec file ('-' reads standard input).
    file: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs `aec inspect`.
pub fn inspect(a: InspectArgs) -> anyhow::Result<ExitCode> {
    let bytes = super::io::read_input(&a.file)?;
    let (h, stats) = AecFile::stats_from_bytes(&bytes, &Limits::default())
        .with_context(|| format!("{}", a.file.display()))?;
    let builtin = store::model_from_bytes(aec::codec::BUILTIN_MODEL)?.id;
    let report = report(&a, bytes.len(), &h, &stats, h.model_id == builtin.short());
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_text(&report, &h, &stats);
    }
    Ok(ExitCode::SUCCESS)
}

fn report(a: &InspectArgs, len: usize, h: &FileHeader, s: &CodeStats, builtin: bool) -> Value {
    let n = s.count.max(1) as f64;
    json!({
        "file": a.file.display().to_string(),
        "bytes": len,
        "version": VERSION,
        "model_id": hex(&h.model_id),
        "model_is_builtin": builtin,
        "width": h.width,
        "height": h.height,
        "channels": h.channels,
        "tile_size": h.tile_size,
        "tiles_x": h.tiles_x(),
        "tiles_y": h.tiles_y(),
        "tiles": h.tiles(),
        "code_length": h.code_length,
        "precision": h.precision.to_string(),
        "layout": h.layout.to_string(),
        "overhead_bytes": OVERHEAD,
        "payload_bytes": len - OVERHEAD,
        "bits_per_pixel": len as f64 * 8.0 / h.pixels() as f64,
        "code_values": s.count,
        "code_zeros": s.zeros,
        "code_zero_fraction": s.zeros as f64 / n,
        "code_min": s.min,
        "code_max": s.max,
        "code_mean": s.mean(),
        "code_std": s.std(),
    })
}

fn print_text(r: &Value, h: &FileHeader, s: &CodeStats) {
    let builtin = if r["model_is_builtin"] == true {
        " (built-in model)"
    } else {
        ""
    };
    println!(
        "file:          {} ({} bytes)",
        r["file"].as_str().unwrap_or(""),
        r["bytes"]
    );
    println!("format:        .aec version {VERSION}");
    println!("model id:      {}{builtin}", hex(&h.model_id));
    println!(
        "image:         {}x{}, {} channel(s) in the source",
        h.width, h.height, h.channels
    );
    println!(
        "tiles:         {}x{} = {} tiles of {}x{} px",
        h.tiles_x(),
        h.tiles_y(),
        h.tiles(),
        h.tile_size,
        h.tile_size
    );
    println!(
        "code:          {} values per tile, {}, {}",
        h.code_length, h.precision, h.layout
    );
    println!(
        "size:          {OVERHEAD} header+crc + {} payload bytes, {:.3} bits per pixel",
        r["payload_bytes"],
        r["bits_per_pixel"].as_f64().unwrap_or(0.0)
    );
    println!(
        "values:        min {:.4}, max {:.4}, mean {:.4}, std {:.4}, zeros {} ({:.1}%)",
        s.min,
        s.max,
        s.mean(),
        s.std(),
        s.zeros,
        100.0 * s.zeros as f64 / s.count.max(1) as f64
    );
}
