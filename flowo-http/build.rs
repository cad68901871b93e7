//! Tells Cargo when to rebuild flowo-http for a new dashboard build: the dashboard's files are
//! embedded from `../frontend/dist` at compile time (see `src/dashboard.rs`), and the embedding
//! macro only tracks the files it found, not files added or removed since.

use std::path::Path;

fn main() {
    let frontend = Path::new("../frontend");
    let dist = frontend.join("dist");
    println!("cargo:rerun-if-changed=build.rs");
    if dist.is_dir() {
        // A directory is scanned as a whole; its main entries are named too, where they exist
        // (a missing one would count as changed on every build, see below).
        println!("cargo:rerun-if-changed=../frontend/dist");
        for entry in ["assets", "index.html"] {
            if dist.join(entry).exists() {
                println!("cargo:rerun-if-changed=../frontend/dist/{entry}");
            }
        }
    } else if frontend.is_dir() {
        // A path that does not exist counts as changed on every build (Cargo reruns the script
        // and recompiles the crate each time), so until `dist` exists its parent is watched:
        // creating `dist` changes it.
        println!("cargo:rerun-if-changed=../frontend");
    }
}
