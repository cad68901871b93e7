//! The `flowo` binary: everything is in the library (`flowo_cli::run_cli`).

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(flowo_cli::run_cli(std::env::args_os().collect()))
}
