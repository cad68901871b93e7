//! Test support shared by FlowO's test suites (a dev-dependency only): the real Snakemake
//! captures in `shared/fixtures/snakemake-events/`, a fresh PostgreSQL database per test, and
//! for the benchmarks, bulk-filled tables and machine-readable figures.

pub mod figures;
pub mod fill;
pub mod fixtures;
pub mod pages;
pub mod postgres;
