//! `aec model info` and `aec model convert`.

use std::path::PathBuf;
use std::process::ExitCode;

use aec::format::Precision;
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
    let m = store::load_model(&args.file).with_context(|| format!("{}", args.file.display()))?;
    let c = m.weights.config;
    println!("file:        {}", args.file.display());
    println!("sha256:      {}", m.id);
    println!(
        "aec id:      {} (first 16 bytes, as .aec files store it)",
        store::hex(&m.id.short())
    );
    println!("size:        {} bytes", m.file_len);
    println!("precision:   {}", m.precision);
    println!("code length: {}", c.code_length);
    println!("filters:     {}", c.filters);
    println!("parameters:  {}", m.weights.parameter_count());
    for spec in c.param_specs() {
        println!("  {:<24} {:?}", spec.name, spec.shape);
    }
    Ok(ExitCode::SUCCESS)
}

pub fn convert(args: ConvertArgs) -> anyhow::Result<ExitCode> {
    let m = store::load_model(&args.input).with_context(|| format!("{}", args.input.display()))?;
    let id = store::save_model(&args.output, &m.weights, args.precision, m.rate_lambda)
        .with_context(|| format!("{}", args.output.display()))?;
    println!("{}  {}", id, args.output.display());
    Ok(ExitCode::SUCCESS)
}
