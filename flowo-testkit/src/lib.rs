//! Test support shared by FlowO's test suites (a dev-dependency only): the real Snakemake
//! captures in `shared/fixtures/snakemake-events/`, and a fresh PostgreSQL database per test.

pub mod fixtures;
pub mod postgres;
