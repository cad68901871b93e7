//! Reading what a run leaves on disk, within size limits: the workflow's source files (the
//! Snakefile, its `include:`s, config files and `script:`s) at the start of the run, the tails
//! of job log files and the values of `benchmark:` files when a job ends.
//!
//! Everything here is best effort: a file that cannot be read is left out, never an error.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use flowo_core::event::{CapturedText, SourceRole};
use serde_json::Value;

/// Largest part of one source file kept.
pub const SOURCE_FILE_MAX_BYTES: usize = 256 * 1024;
/// Largest total of source text kept per run.
pub const SOURCE_TOTAL_MAX_BYTES: usize = 2 * 1024 * 1024;
/// Most source files kept per run.
pub const SOURCE_MAX_FILES: usize = 64;

/// The first `max` bytes of a file.
pub fn read_head(path: &Path, max: usize) -> Option<CapturedText> {
    let mut file = std::fs::File::open(path).ok()?;
    let size = file.metadata().ok()?.len();
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let mut buf = Vec::with_capacity(max.min(size as usize));
    file.by_ref().take(max as u64).read_to_end(&mut buf).ok()?;
    let truncated = (buf.len() as u64) < size;
    let mut text = String::from_utf8_lossy(&buf).into_owned();
    if truncated {
        // Do not end in the middle of a character that was cut.
        while text.ends_with('\u{FFFD}') {
            text.pop();
        }
    }
    Some(CapturedText {
        path: path.display().to_string(),
        size,
        truncated,
        text,
    })
}

/// The last `max` bytes of a file (from the start of a line when cut, where one is near).
pub fn read_tail(path: &Path, max: usize) -> Option<CapturedText> {
    let mut file = std::fs::File::open(path).ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() {
        return None;
    }
    let size = meta.len();
    let start = size.saturating_sub(max as u64);
    // Read one byte before the cut too, to know whether the cut falls inside a line.
    let from = start.saturating_sub(1);
    file.seek(SeekFrom::Start(from)).ok()?;
    let mut buf = Vec::with_capacity((size - from) as usize);
    file.take(size - from).read_to_end(&mut buf).ok()?;
    let truncated = start > 0;
    let mid_line = truncated && buf.first() != Some(&b'\n');
    let mut slice = if truncated { &buf[1..] } else { &buf[..] };
    if mid_line {
        // Start after the first newline (if one is near and text follows it), so the first
        // line shown is whole; else at least not inside a character.
        match slice.iter().take(4096).position(|b| *b == b'\n') {
            Some(nl) if nl + 1 < slice.len() => slice = &slice[nl + 1..],
            _ => {
                while let Some((first, rest)) = slice.split_first() {
                    if (first & 0xC0) == 0x80 {
                        slice = rest;
                    } else {
                        break;
                    }
                }
            }
        }
    }
    Some(CapturedText {
        path: path.display().to_string(),
        size,
        truncated,
        text: String::from_utf8_lossy(slice).into_owned(),
    })
}

/// A relative path taken against `base`.
fn resolve(base: &Path, path: &str) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() {
        p.to_owned()
    } else {
        base.join(p)
    }
}

/// Quoted string literals given to a directive on its own line (`include: "rules/a.smk"`),
/// or on the lines after it (`script:\n    "scripts/x.py"`). Paths built with expressions are
/// not followed.
fn directive_paths(text: &str, directive: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        let Some(rest) = trimmed.strip_prefix(directive) else {
            continue;
        };
        let Some(rest) = rest.trim_start().strip_prefix(':') else {
            continue;
        };
        let rest = rest.trim();
        let value = if rest.is_empty() {
            lines.peek().map(|l| l.trim()).unwrap_or_default()
        } else {
            rest
        };
        if let Some(s) = string_literal(value) {
            out.push(s);
        }
    }
    out
}

/// The content of a plain (optionally `r`-prefixed) quoted literal at the start of `s`.
fn string_literal(s: &str) -> Option<String> {
    let s = s.strip_prefix('r').unwrap_or(s);
    let quote = s.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let body = &s[1..];
    let end = body.find(quote)?;
    let value = &body[..end];
    (!value.is_empty() && !value.contains('{')).then(|| value.to_owned())
}

/// The workflow's sources as they are now: the Snakefile, what it includes (recursively),
/// config files (`configfiles` from Snakemake and `configfile:` directives, relative to
/// `workdir`) and scripts, within the limits above.
pub fn capture_sources(
    snakefile: &Path,
    configfiles: &[String],
    workdir: &Path,
) -> Vec<(SourceRole, CapturedText)> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    let mut total = 0usize;
    let mut queue = vec![(SourceRole::Snakefile, snakefile.to_owned())];
    let mut configs: Vec<PathBuf> = configfiles.iter().map(|c| resolve(workdir, c)).collect();
    let mut scripts = Vec::new();
    while let Some((role, path)) = queue.pop() {
        if out.len() >= SOURCE_MAX_FILES || total >= SOURCE_TOTAL_MAX_BYTES {
            break;
        }
        if !seen.insert(path.clone()) {
            continue;
        }
        let Some(file) = read_head(
            &path,
            SOURCE_FILE_MAX_BYTES.min(SOURCE_TOTAL_MAX_BYTES - total),
        ) else {
            continue;
        };
        let dir = path.parent().unwrap_or(workdir).to_owned();
        for inc in directive_paths(&file.text, "include") {
            queue.push((SourceRole::Include, resolve(&dir, &inc)));
        }
        for c in directive_paths(&file.text, "configfile") {
            configs.push(resolve(workdir, &c));
        }
        for s in directive_paths(&file.text, "script") {
            scripts.push(resolve(&dir, &s));
        }
        total += file.text.len();
        out.push((role, file));
    }
    let rest = configs
        .into_iter()
        .map(|p| (SourceRole::Configfile, p))
        .chain(scripts.into_iter().map(|p| (SourceRole::Script, p)));
    for (role, path) in rest {
        if out.len() >= SOURCE_MAX_FILES || total >= SOURCE_TOTAL_MAX_BYTES {
            break;
        }
        if !seen.insert(path.clone()) {
            continue;
        }
        if let Some(file) = read_head(
            &path,
            SOURCE_FILE_MAX_BYTES.min(SOURCE_TOTAL_MAX_BYTES - total),
        ) {
            total += file.text.len();
            out.push((role, file));
        }
    }
    out
}

/// The Snakefile named in a parse error's text (`... in file "/abs/Snakefile", line 8:`).
pub fn snakefile_in_error(message: &str) -> Option<PathBuf> {
    let start = message.find("in file \"")? + "in file \"".len();
    let end = message[start..].find('"')? + start;
    let path = PathBuf::from(&message[start..end]);
    path.is_absolute().then_some(path)
}

/// The values of a benchmark file (a tab-separated header and one row per repeat): the last
/// row, numbers as numbers and `NA` as null.
pub fn parse_benchmark(text: &str) -> Option<BTreeMap<String, Value>> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines.next()?.split('\t').map(str::trim).collect();
    let row: Vec<&str> = lines.next_back()?.split('\t').map(str::trim).collect();
    let mut values = BTreeMap::new();
    for (name, value) in header.iter().zip(row) {
        if name.is_empty() {
            continue;
        }
        let v = if value.eq_ignore_ascii_case("NA") || value.is_empty() {
            Value::Null
        } else if let Ok(i) = value.parse::<i64>() {
            Value::from(i)
        } else if let Some(f) = value.parse::<f64>().ok().filter(|f| f.is_finite()) {
            Value::from(f)
        } else {
            Value::String(value.to_owned())
        };
        values.insert((*name).to_owned(), v);
    }
    (!values.is_empty()).then_some(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives_with_literal_paths_are_found() {
        let text = "include: \"rules/a.smk\"\nrule x:\n    script:\n        'scripts/x.py'\n\
                    configfile: r\"config.yaml\"\nrule y:\n    script: f\"{x}.py\"\n";
        assert_eq!(directive_paths(text, "include"), ["rules/a.smk"]);
        assert_eq!(directive_paths(text, "script"), ["scripts/x.py"]);
        assert_eq!(directive_paths(text, "configfile"), ["config.yaml"]);
    }

    #[test]
    fn sources_follow_includes_configs_and_scripts() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("rules")).expect("mkdir");
        std::fs::write(
            root.join("Snakefile"),
            "configfile: \"config.yaml\"\ninclude: \"rules/a.smk\"\n",
        )
        .expect("write");
        std::fs::write(root.join("rules/a.smk"), "rule a:\n    script: \"s.py\"\n").expect("write");
        std::fs::write(root.join("rules/s.py"), "print(1)\n").expect("write");
        std::fs::write(root.join("config.yaml"), "x: 1\n").expect("write");
        let got = capture_sources(&root.join("Snakefile"), &[], root);
        let roles: Vec<_> = got
            .iter()
            .map(|(r, f)| (*r, f.path.rsplit('/').next().unwrap_or("").to_owned()))
            .collect();
        assert_eq!(
            roles,
            [
                (SourceRole::Snakefile, "Snakefile".to_owned()),
                (SourceRole::Include, "a.smk".to_owned()),
                (SourceRole::Configfile, "config.yaml".to_owned()),
                (SourceRole::Script, "s.py".to_owned()),
            ]
        );
    }

    #[test]
    fn tails_start_at_a_line_and_heads_are_capped() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("log");
        let text: String = (0..1000).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&path, &text).expect("write");
        let tail = read_tail(&path, 100).expect("tail");
        assert!(tail.truncated);
        assert_eq!(tail.size, text.len() as u64);
        assert!(tail.text.starts_with("line "), "{:?}", tail.text);
        assert!(tail.text.ends_with("line 999\n"));
        // A cut at a line boundary keeps the whole last line.
        let last = read_tail(&path, "line 999\n".len()).expect("last line");
        assert_eq!(last.text, "line 999\n");
        assert!(last.truncated);
        let whole = read_tail(&path, 1 << 20).expect("whole");
        assert!(!whole.truncated);
        assert_eq!(whole.text, text);
        let head = read_head(&path, 10).expect("head");
        assert!(head.truncated);
        assert_eq!(head.text, "line 0\nlin");
        assert!(read_tail(&dir.path().join("missing"), 10).is_none());
    }

    #[test]
    fn benchmark_values_are_typed() {
        let text = "s\th:m:s\tmax_rss\tmax_vms\tio_in\tmean_load\tcpu_time\n\
                    0.0123\t0:00:00\t3.21\tNA\t0\t12.5\t0.01\n";
        let v = parse_benchmark(text).expect("values");
        assert_eq!(v["s"], serde_json::json!(0.0123));
        assert_eq!(v["h:m:s"], serde_json::json!("0:00:00"));
        assert_eq!(v["max_vms"], Value::Null);
        assert_eq!(v["io_in"], serde_json::json!(0));
    }

    #[test]
    fn parse_errors_name_their_snakefile() {
        let msg = "SyntaxError in file \"/data/project/Snakefile\", line 8:\nColon expected";
        assert_eq!(
            snakefile_in_error(msg),
            Some(PathBuf::from("/data/project/Snakefile"))
        );
        assert_eq!(snakefile_in_error("no file here"), None);
    }
}
