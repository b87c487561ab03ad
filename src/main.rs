//! The `aec` command-line tool.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    cli::interrupt::default_sigpipe();
    let args = cli::Cli::parse();
    if args.loads_a_model_per_run() {
        cli::huge_pages::use_huge_pages();
    }
    aec::keep_freed_memory();
    if let Err(e) = cli::interrupt::install() {
        eprintln!("aec: warning: cannot handle interrupts: {e}");
    }
    match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("aec: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
