//! FlowO's project tasks, run as `cargo xtask <task>` (the alias is in `.cargo/config.toml`).
//!
//! - `bench [--quick] [--json PATH] [--only SUITES]`: runs every benchmark of the repository
//!   (see `BENCHMARKS.md`), collects their figures and prints them side by side with their
//!   targets, the physical limits where one is measured, and the original FlowO's figures.
//!
//! Tasks are plain Rust calling the same scripts and commands a developer would; nothing here
//! is needed to build or test FlowO.

mod bench;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// FlowO's project tasks.
#[derive(Parser, Debug)]
#[command(name = "cargo xtask", about)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand, Debug)]
enum Task {
    /// Measure FlowO against its targets: every benchmark in one run, one table.
    Bench(bench::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.task {
        Task::Bench(args) => bench::run(&args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
