//! The `flowo` binary: everything is in the library (`flowo_cli::run_cli`).

/// mimalloc hands memory freed after a busy spell (an ingest burst, many live clients) back to
/// the system within moments, where the system allocator keeps it in its arenas: an idle
/// server stays small (BENCHMARKS.md, `server.idle_rss`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(flowo_cli::run_cli(std::env::args_os().collect()))
}
