//! `aec model info` and `aec model convert`.

use std::path::PathBuf;
use std::process::ExitCode;

use aec::codec::{Builtin, Quality};
use aec::format::Precision;
use aec::model::hyper::file::HyperModel;
use aec::store;
use anyhow::Context;
use clap::Args;

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// The model file.
    file: PathBuf,
}

#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// The model file to read.
    input: PathBuf,
    /// The model file to write.
    output: PathBuf,
    /// Storage precision of the output: f32 or f16.
    #[arg(long, default_value = "f16")]
    precision: Precision,
}

pub fn info(args: InfoArgs) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(&args.file).with_context(|| format!("{}", args.file.display()))?;
    if HyperModel::is_hyper_file(&bytes) {
        return hyper_info(&args.file, &bytes);
    }
    let m = store::load_model(&args.file).with_context(|| format!("{}", args.file.display()))?;
    let c = m.weights.config;
    println!("file:        {}", args.file.display());
    println!("sha256:      {}", m.id);
    println!(
        "aec id:      {} (first 16 bytes as version 1 files store it; version 2 files store 8)",
        store::hex(&m.id.short())
    );
    println!("size:        {} bytes", m.file_len);
    match &m.tables {
        None => println!("kind:        codes stored as numbers (.aec version 1)"),
        Some(t) => {
            println!("kind:        entropy-coded codes with a learned prior (.aec version 2)");
            match m.rate_lambda {
                Some(l) => println!("rate λ:      {l}"),
                None => println!("rate λ:      not recorded"),
            }
            let steps = t
                .step
                .iter()
                .fold((f32::INFINITY, 0f32), |(a, b), &s| (a.min(s), b.max(s)));
            let symbols: Vec<usize> = t.probabilities.iter().map(Vec::len).collect();
            println!(
                "quantization: steps {:.4} to {:.4}, {} to {} symbols per value",
                steps.0,
                steps.1,
                symbols.iter().min().unwrap_or(&0),
                symbols.iter().max().unwrap_or(&0)
            );
        }
    }
    println!("precision:   {}", m.precision);
    println!("code length: {}", c.code_length);
    println!("filters:     {}", c.filters);
    println!("parameters:  {}", m.weights.parameter_count());
    for spec in c.param_specs() {
        println!("  {:<24} {:?}", spec.name, spec.shape);
    }
    Ok(ExitCode::SUCCESS)
}

/// `aec model info` of a whole-image hyperprior model.
fn hyper_info(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<ExitCode> {
    let (m, id) = HyperModel::from_bytes(bytes).with_context(|| format!("{}", path.display()))?;
    let c = m.weights.config;
    println!("file:        {}", path.display());
    println!("sha256:      {id}");
    println!(
        "aec id:      {} (as version 2 files store it)",
        store::hex(&id.0[..8])
    );
    println!("size:        {} bytes", bytes.len());
    println!(
        "kind:        whole image, convolutional, {} (.aec version 2, kinds 2 and 3)",
        c.kind()
    );
    println!(
        "rate λ:      {} (loss: λ·255²·MSE + bits per pixel)",
        m.lambda
    );
    println!("channels:    N = {}, M = {}", c.n, c.m);
    println!(
        "cost:        {:.0} multiply-adds per pixel (all four transforms, forward)",
        c.macs_per_pixel()
    );
    let widths: Vec<usize> = m.tables.y.iter().map(|t| t.probabilities.len()).collect();
    println!(
        "tables:     {} side-latent, {} scale levels of {} to {} symbols (escape included)",
        m.tables.z.len(),
        m.tables.y.len(),
        widths.iter().min().unwrap_or(&0),
        widths.iter().max().unwrap_or(&0)
    );
    println!("parameters:  {}", m.weights.parameter_count());
    Ok(ExitCode::SUCCESS)
}

/// `aec model list`: the built-in models.
pub fn list() -> anyhow::Result<ExitCode> {
    println!(
        "{:<14} {:<66} {:>7}  id (first 8 bytes)",
        "name", "kind", "rate λ"
    );
    for b in Builtin::all() {
        let bytes = b.bytes().expect("a listed model");
        let id = b.id().expect("a listed model");
        let (name, kind, lambda) = match b {
            Builtin::Quality(_)
            | Builtin::ScaleOnly(_)
            | Builtin::MeanScale(_)
            | Builtin::Context { .. } => {
                // The metadata alone: no tensor is read.
                let (c, lambda) = HyperModel::config_of(bytes)?;
                let kind = format!("whole image N = {}, {}", c.n, c.kind());
                let name = match b {
                    Builtin::Quality(q) if Quality::has_level(q) => format!("--quality {q}"),
                    _ => b.name(),
                };
                (name, kind, Some(lambda.to_string()))
            }
            Builtin::Reference | Builtin::Tiled(_) => {
                let m = store::model_from_bytes(bytes)?;
                let kind = match b {
                    Builtin::Reference => "the notebook's model, codes as numbers",
                    _ => "tiled, entropy-coded, learned prior",
                };
                (
                    b.name(),
                    kind.to_string(),
                    m.rate_lambda.map(|l| l.to_string()),
                )
            }
        };
        let default = if b == Builtin::default_model() {
            " (default)"
        } else {
            ""
        };
        println!(
            "{:<14} {:<66} {:>7}  {}{default}",
            name,
            kind,
            lambda.unwrap_or_else(|| "-".into()),
            store::hex(&id.0[..8])
        );
    }
    print_scale();
    Ok(ExitCode::SUCCESS)
}

/// How `--quality` maps to the levels listed above: fractions, and the span of a larger
/// network below its own level.
fn print_scale() {
    println!(
        "\n--quality also takes fractions from {} to {}: between levels k and k + 1, level k \
         at a finer quantization step.",
        Quality::MIN,
        Quality::max()
    );
    for k in (1..=Builtin::qualities()).filter(|&k| Builtin::larger_than_below(k)) {
        let Some(from) = Quality::start_of(k) else {
            continue;
        };
        let displaced: Vec<String> = (1..k)
            .filter(|&j| !Quality::has_level(j))
            .map(|j| Builtin::Quality(j).name())
            .collect();
        let by_name = match displaced.is_empty() {
            true => String::new(),
            false => format!("; {} by name only", displaced.join(" and ")),
        };
        println!("From {from} to {k}: level {k}'s larger network at coarser steps{by_name}.");
    }
}

pub fn convert(args: ConvertArgs) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(&args.input).with_context(|| format!("{}", args.input.display()))?;
    if HyperModel::is_hyper_file(&bytes) {
        // The tables are computed afresh (from the rounded prior for f16).
        let (m, _) = HyperModel::from_bytes(&bytes)?;
        let out = HyperModel::from_weights(m.weights, m.lambda)?
            .with_precision(args.precision)?
            .to_bytes();
        aec::fsutil::write_atomic(&args.output, &out, true)
            .with_context(|| format!("{}", args.output.display()))?;
        println!("{}  {}", store::ModelId::of(&out), args.output.display());
        return Ok(ExitCode::SUCCESS);
    }
    let m = store::load_model(&args.input).with_context(|| format!("{}", args.input.display()))?;
    let id = store::save_model(&args.output, &m.weights, args.precision, m.rate_lambda)
        .with_context(|| format!("{}", args.output.display()))?;
    println!("{}  {}", id, args.output.display());
    Ok(ExitCode::SUCCESS)
}
