//! Architecture invariants that ARCHITECTURE.md states as absences, checked rather than trusted:
//! flowo-core pulls in no database, web, Python or async-runtime crate, and every Rust source
//! file of the workspace opens with a `//!` doc saying what lives there.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// Crates flowo-core must not depend on, directly or through others (their `-suffix` siblings,
/// such as `sqlx-core` or `pyo3-ffi`, included).
const FORBIDDEN: &[&str] = &["sqlx", "axum", "hyper", "pyo3", "tokio", "reqwest", "mio"];

fn is_forbidden(name: &str) -> bool {
    FORBIDDEN
        .iter()
        .any(|f| name == *f || name.starts_with(&format!("{f}-")))
}

/// The names of the packages flowo-core needs to build as a library: normal and build
/// dependencies, transitively, for every target platform; dev-dependencies left out.
fn normal_dependency_closure() -> BTreeSet<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).expect("cargo metadata is JSON");

    let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_owned());
    let manifest = canonical(&Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"));
    let packages = metadata["packages"].as_array().expect("packages");
    let names: HashMap<&str, &str> = packages
        .iter()
        .filter_map(|p| Some((p["id"].as_str()?, p["name"].as_str()?)))
        .collect();
    let core_id = packages
        .iter()
        .find(|p| {
            p["name"] == "flowo-core"
                && p["manifest_path"]
                    .as_str()
                    .is_some_and(|m| canonical(Path::new(m)) == manifest)
        })
        .and_then(|p| p["id"].as_str())
        .expect("flowo-core is in the metadata");
    let nodes: HashMap<&str, &Value> = metadata["resolve"]["nodes"]
        .as_array()
        .expect("a resolved dependency graph")
        .iter()
        .filter_map(|n| Some((n["id"].as_str()?, n)))
        .collect();

    let mut seen = BTreeSet::new();
    let mut todo = vec![core_id];
    while let Some(id) = todo.pop() {
        if !seen.insert(id) {
            continue;
        }
        let deps = nodes[id]["deps"].as_array().expect("deps");
        for dep in deps {
            let non_dev = dep["dep_kinds"]
                .as_array()
                .expect("dep_kinds")
                .iter()
                .any(|k| k["kind"] != "dev");
            if non_dev {
                todo.push(dep["pkg"].as_str().expect("pkg id"));
            }
        }
    }
    seen.remove(core_id);
    seen.iter().map(|id| names[id].to_owned()).collect()
}

#[test]
fn flowo_core_depends_on_no_io_or_runtime_crate() {
    let closure = normal_dependency_closure();
    // The walk really followed the graph: direct and indirect dependencies are there.
    for expected in ["serde", "serde_json", "chrono", "serde_derive"] {
        assert!(
            closure.contains(expected),
            "{expected} missing from {closure:?}"
        );
    }
    // Dev-dependencies are not part of the library.
    assert!(!closure.contains("insta"), "{closure:?}");
    let forbidden: Vec<&String> = closure.iter().filter(|n| is_forbidden(n)).collect();
    assert!(forbidden.is_empty(), "flowo-core depends on {forbidden:?}");
}

#[test]
fn forbidden_names_match_their_families_only() {
    assert!(is_forbidden("tokio"));
    assert!(is_forbidden("sqlx-core"));
    assert!(is_forbidden("pyo3-ffi"));
    assert!(!is_forbidden("miow"));
    assert!(!is_forbidden("hyperloglog"));
}

/// Every `.rs` file below `dir`, skipping build output, hidden folders and JavaScript packages.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    for entry in entries {
        let entry = entry.expect("a directory entry");
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        // Follows symbolic links, so a crate folder linked into the workspace is checked too.
        let Ok(metadata) = std::fs::metadata(&path) else {
            continue; // a dangling link holds no source
        };
        let file_type = metadata.file_type();
        if file_type.is_dir() {
            if name.starts_with('.') || name == "target" || name == "node_modules" {
                continue;
            }
            rust_files(&path, out);
        } else if file_type.is_file() && name.ends_with(".rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_rust_file_starts_with_a_module_doc() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("flowo-core sits in the workspace");
    let mut files = Vec::new();
    rust_files(workspace, &mut files);
    files.sort();
    assert!(
        files.iter().any(|f| f.ends_with("flowo-core/src/lib.rs")),
        "the walk found no flowo-core sources: {files:?}"
    );
    let undocumented: Vec<String> = files
        .iter()
        .filter(|path| {
            let text = std::fs::read_to_string(path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            !text.trim_start_matches('\u{feff}').starts_with("//!")
        })
        .map(|path| path.display().to_string())
        .collect();
    assert!(
        undocumented.is_empty(),
        "files without a leading `//!` doc: {undocumented:#?}"
    );
}
