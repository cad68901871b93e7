//! Writes the fuzz targets' seed inputs from the Snakemake captures into DIR/<target>/:
//! each record for `event_decoder`, each capture (behind a batch-size byte) for `fold`, each
//! capture as an ingest body for `ingest_body`. `scripts/fuzz.sh` runs it.

use std::path::PathBuf;

use flowo_testkit::fixtures::{captures, fixtures_dir, load_capture, run_id_for};

fn main() -> std::io::Result<()> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "fuzz/seeds".into()),
    );
    let write = |target: &str, name: String, bytes: &[u8]| -> std::io::Result<()> {
        let dir = dir.join(target);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(name), bytes)
    };
    for name in captures() {
        let text = std::fs::read_to_string(fixtures_dir().join(&name))?;
        let stem = name.replace('/', "-");
        for (i, line) in text.lines().enumerate() {
            write("event_decoder", format!("{stem}-{i}"), line.as_bytes())?;
        }
        let mut fold = vec![5u8];
        fold.extend_from_slice(text.as_bytes());
        write("fold", stem.clone(), &fold)?;
        let events = load_capture(&name, run_id_for(&name));
        let body = serde_json::json!({ "events": events }).to_string();
        write("ingest_body", stem, body.as_bytes())?;
    }
    Ok(())
}
