//! Command-line interface: argument parsing and one module per command.

mod compress;
mod decompress;
pub mod huge_pages;
mod inspect;
pub mod interrupt;
mod io;
mod model_info;
mod models;
mod rate_control;
mod rd;
mod runner;
mod train;
mod train_hyper;

use std::num::NonZeroUsize;
use std::process::ExitCode;

use anyhow::Context;

use clap::{Parser, Subcommand};

/// aec: a learned lossy image codec.
#[derive(Debug, Parser)]
#[command(name = "aec", version, about, long_about = None)]
pub struct Cli {
    /// Worker threads, at least 1 (default: one per CPU, or RAYON_NUM_THREADS). Compressed
    /// bytes, decoded pixels and training results do not depend on it.
    #[arg(long, global = true, value_name = "N")]
    threads: Option<NonZeroUsize>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Compress images to .aec files.
    Compress(compress::CompressArgs),
    /// Decompress .aec files to images (PNG by default).
    Decompress(decompress::DecompressArgs),
    /// Show what a .aec file holds.
    Inspect(inspect::InspectArgs),
    /// Train a model (the seed notebook's recipe by default).
    Train(train::TrainArgs),
    /// Train a whole-image hyperprior model on crops of photos.
    TrainHyper(train_hyper::TrainHyperArgs),
    /// Rate-distortion: size against quality for models, settings, JPEG and WebP.
    Rd(rd::RdArgs),
    /// Work with model files.
    #[command(subcommand)]
    Model(ModelCommand),
}

#[derive(Debug, Subcommand)]
enum ModelCommand {
    /// Print a model file's identity (SHA-256), configuration and parameter count.
    Info(model_info::InfoArgs),
    /// Rewrite a model file: at another storage precision, or a whole-image model with its
    /// tables computed afresh.
    Convert(model_info::ConvertArgs),
    /// List the built-in models (`--quality` levels and the notebook's model).
    List,
}

impl Cli {
    /// Whether the command loads a model and codes with it once, so that most of its time is
    /// loading: `compress` and `decompress` ([`huge_pages`] helps them; a training step,
    /// which reuses its memory, measured 5–9% slower with it).
    pub fn loads_a_model_per_run(&self) -> bool {
        matches!(self.command, Command::Compress(_) | Command::Decompress(_))
    }
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // A misspelt AEC_CPU_PATH would otherwise go unnoticed.
    aec::cpu_path::Path::from_env()?;
    if let Some(n) = cli.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n.get())
            .build_global()
            .context("cannot set up the worker threads")?;
    }
    match cli.command {
        Command::Compress(args) => compress::compress(args),
        Command::Decompress(args) => decompress::decompress(args),
        Command::Inspect(args) => inspect::inspect(args),
        Command::Train(args) => train::run(args),
        Command::TrainHyper(args) => train_hyper::run(args),
        Command::Rd(args) => rd::run(args),
        Command::Model(ModelCommand::Info(args)) => model_info::info(args),
        Command::Model(ModelCommand::Convert(args)) => model_info::convert(args),
        Command::Model(ModelCommand::List) => model_info::list(),
    }
}
