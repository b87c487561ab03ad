//! `aec inspect`: what a `.aec` file holds.

use std::path::PathBuf;
use std::process::ExitCode;

use aec::codec::hyper::Step;
use aec::codec::{Quality, MAX_PIXELS};
use aec::format::{
    AecFile, AnyHeader, CodeStats, CodedFile, CodedHeader, ExactBlocks, FileHeader, Limits,
    ModelKind, OVERHEAD, VERSION,
};
use aec::store::{self, hex};
use anyhow::Context;
use clap::Args;
use serde_json::{json, Value};

use super::models::ModelResolver;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  aec inspect photo.aec
  aec inspect photo.aec --json | jq .bits_per_pixel

The whole file is checked (structure, CRC, every value). Version 1 files: the code values
are summarised one tile at a time, so memory does not grow with the code size the header
declares. Version 2 files (entropy-coded): with the model at hand (built in, or --model),
the symbols are decoded and the bits per tile and the quantization are shown; lossless files
(kind Lossless, no model) are decoded whole.")]
pub struct InspectArgs {
    /// The .aec file ('-' reads standard input).
    file: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// A model file to consider besides the built-in models (for version 2 files).
    #[arg(long, env = "AEC_MODEL")]
    model: Option<PathBuf>,
}

/// Runs `aec inspect`.
pub fn inspect(a: InspectArgs) -> anyhow::Result<ExitCode> {
    let bytes = super::io::read_input(&a.file)?;
    if let AnyHeader::V2(h) =
        AnyHeader::parse(&bytes).with_context(|| format!("{}", a.file.display()))?
    {
        return inspect_coded(&a, &bytes, &h);
    }
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

/// `inspect` of a version 2 file: the header, and with the model the symbols' bits.
fn inspect_coded(a: &InspectArgs, bytes: &[u8], h: &CodedHeader) -> anyhow::Result<ExitCode> {
    let file = CodedFile::from_bytes_with_limits(bytes, &Limits::default())
        .with_context(|| format!("{}", a.file.display()))?;
    let resolver = ModelResolver::new(&a.model, None, MAX_PIXELS)?;
    let alpha_len = file.alpha.as_ref().map_or(0, |p| p.encoded_len());
    let exact_len = file.exact.as_ref().map_or(0, |e| e.encoded_len());
    let mut report = json!({
        "file": a.file.display().to_string(),
        "bytes": bytes.len(),
        "version": 2,
        "kind": format!("{:?}", h.kind),
        "model_id": hex(&h.model_id),
        "width": h.width,
        "height": h.height,
        "channels": h.channels,
        "overhead_bytes": bytes.len() - file.payload.len() - alpha_len - exact_len,
        "payload_bytes": file.payload.len(),
        "bits_per_pixel": bytes.len() as f64 * 8.0 / h.pixels() as f64,
    });
    if let Some(alpha) = &file.alpha {
        // Inflated row by row (two rows held, whatever the file declares), so that a damaged
        // plane is reported, not only its length.
        let mut transparent = 0u64;
        alpha
            .for_each_row(h.width, h.height, file.alpha_stream_offset(), |row| {
                transparent += row.iter().filter(|&&v| v == 0).count() as u64;
            })
            .with_context(|| format!("{}", a.file.display()))?;
        report["alpha_bytes"] = json!(alpha_len);
        report["alpha_filter"] = json!(format!("{:?}", alpha.filter));
        report["alpha_transparent_fraction"] = json!(transparent as f64 / h.pixels() as f64);
    }
    if let Some(exact) = &file.exact {
        let (bx, by) = ExactBlocks::grid(h.width, h.height);
        report["exact_blocks"] = json!(exact.exact_count());
        report["blocks"] = json!(u64::from(bx) * u64::from(by));
        report["exact_bytes"] = json!(exact_len);
    }
    if h.kind == ModelKind::Lossless {
        // No model: the pixels are decoded, so that a damaged bitstream is reported.
        let pixels = file
            .decode_lossless()
            .with_context(|| format!("{}", a.file.display()))?;
        report
            .as_object_mut()
            .expect("an object")
            .remove("model_id");
        report["lossless"] = json!(true);
        report["decoded_alpha"] = json!(pixels.alpha);
        return print_report(a, &report);
    }
    if h.kind == ModelKind::WholeImageHyperprior {
        // The latents' quantization step (1 unless the file is kind 3), and the --quality
        // that makes such files, when a built-in level made it.
        report["quantization_step"] = json!(h.step_value());
        let step = Step::from_field(h.step).context("a quantization step of 0")?;
        if let Some(q) = Quality::of_file(&h.model_id, step) {
            report["quality"] = json!((q.value * 100.0).round() / 100.0);
        }
    }
    match resolver.codec_for(&h.model_id) {
        Ok(codec) => {
            report["model_found"] = json!(true);
            if let Some(hyper) = codec.as_hyper() {
                let s = hyper.latent_report(bytes)?;
                report["z_values"] = json!(s.z_values);
                report["y_values"] = json!(s.y_values);
                report["escaped_values"] = json!(s.escaped);
                report["y_zero_fraction"] = json!(s.y_zeros as f64 / s.y_values.max(1) as f64);
                report["ideal_bytes_z"] = json!(s.z_bits / 8.0);
                report["ideal_bytes_y"] = json!(s.y_bits / 8.0);
                return print_report(a, &report);
            }
            let s = codec
                .as_tiled()
                .context("a model of an unknown family")?
                .symbol_report(bytes)?;
            let tiles = s.tiles as f64;
            report["tiles"] = json!(s.tiles);
            report["code_length"] = json!(s.code_length);
            report["payload_bits_per_tile"] = json!(file.payload.len() as f64 * 8.0 / tiles);
            report["ideal_bits_per_tile"] = json!(s.ideal_bits / tiles);
            report["zero_symbol_fraction"] = json!(s.zero_symbols as f64 / s.symbols.max(1) as f64);
            report["step_min"] = json!(s.step_range.0);
            report["step_max"] = json!(s.step_range.1);
        }
        Err(e) => {
            report["model_found"] = json!(false);
            report["model_note"] = json!(format!("{e:#}"));
        }
    }
    print_report(a, &report)
}

/// Prints a version 2 report as JSON or as aligned `key: value` lines.
fn print_report(a: &InspectArgs, report: &serde_json::Value) -> anyhow::Result<ExitCode> {
    if a.json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        for (k, v) in report.as_object().expect("an object") {
            println!(
                "{:<24} {}",
                format!("{k}:"),
                v.to_string().trim_matches('"')
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
