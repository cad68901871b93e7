//! Keeps the configuration reference (`docs/configuration.md`) true, in both directions: every
//! `flowo` command, flag and environment variable that clap knows, every `FLOWO_*` variable the
//! code names, every setting of the Snakemake plugin, every key of the config file and every
//! variable the deployment files read is documented; and the reference names no command, flag,
//! `FLOWO_*` variable, plugin setting or config key that does not exist.
//!
//! The code is read as it is: clap's description of the command line (`flowo_cli::command()`),
//! string literals of the Rust sources, the plugin's settings dataclass, the config file's struct
//! and the `{$VAR}` / `${VAR}` placeholders of the deployment files. Nothing is listed here by
//! hand except what libraries read on FlowO's behalf ([`READ_BY_LIBRARIES`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Environment variables FlowO's code reads through a library rather than by naming them.
const READ_BY_LIBRARIES: &[(&str, &str)] = &[
    // `tracing_subscriber::EnvFilter::try_from_default_env` in flowo-cli/src/lib.rs.
    (
        "RUST_LOG",
        "tracing_subscriber's EnvFilter (flowo-cli/src/lib.rs)",
    ),
    // `std::env::temp_dir()`: the plugin's fallback spool when the spool directory is not
    // writable (flowo-client/src/sink.rs).
    ("TMPDIR", "std::env::temp_dir (flowo-client/src/sink.rs)"),
];

/// Deployment files whose `{$VAR}` (Caddy) or `${VAR}` (Compose) placeholders, and the names
/// `.env.example` sets, are settings. A file that does not exist is skipped.
const DEPLOY_FILES: &[&str] = &["deploy/Caddyfile", "compose.yml", ".env.example"];

/// Names clap gives its own arguments and subcommand.
const BUILT_IN: &[&str] = &["help", "version"];

const REFERENCE: &str = "docs/configuration.md";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("flowo-cli sits in the workspace")
        .to_owned()
}

fn read(relative: &str) -> String {
    let path = root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Fails with every problem, one per line.
fn report(what: &str, problems: &[String]) {
    assert!(
        problems.is_empty(),
        "{what}: {} problem(s):\n  - {}\n",
        problems.len(),
        problems.join("\n  - ")
    );
}

// ---------------------------------------------------------------------------------------------
// The reference, as headings and sections.

/// A heading of the reference and the text under it, up to the next heading of the same or a
/// higher level (so a section includes its sub-headings).
struct Section {
    title: String,
    level: usize,
    line: usize,
    text: String,
}

impl Section {
    /// `flowo runs prune` for a heading that names a command (backticks allowed).
    fn command_path(&self) -> Option<String> {
        let title = self.title.replace('`', "");
        let title = title.trim();
        (title == "flowo" || title.starts_with("flowo ")).then(|| title.to_owned())
    }

    fn at(&self) -> String {
        format!(
            "{REFERENCE} line {}, section `{} {}`",
            self.line,
            "#".repeat(self.level),
            self.title
        )
    }
}

/// The reference's sections. Lines inside fenced code blocks are never headings (shell
/// comments start with `#` too).
fn sections(doc: &str) -> Vec<Section> {
    let lines: Vec<&str> = doc.lines().collect();
    let mut headings = Vec::new();
    let mut fenced = false;
    for (i, line) in lines.iter().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let level = line.chars().take_while(|c| *c == '#').count();
        if level > 0 && line[level..].starts_with(' ') {
            headings.push((i, level, line[level..].trim().to_owned()));
        }
    }
    headings
        .iter()
        .enumerate()
        .map(|(n, (i, level, title))| {
            let end = headings[n + 1..]
                .iter()
                .find(|(_, l, _)| l <= level)
                .map_or(lines.len(), |(j, _, _)| *j);
            Section {
                title: title.clone(),
                level: *level,
                line: i + 1,
                text: lines[i + 1..end].join("\n"),
            }
        })
        .collect()
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Every `--long-flag` in a text (not `---` rules, not `a--b`).
fn long_flags(text: &str) -> BTreeSet<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = BTreeSet::new();
    let mut i = 0;
    while i + 2 < chars.len() {
        let starts = chars[i] == '-'
            && chars[i + 1] == '-'
            && chars[i + 2].is_ascii_lowercase()
            && (i == 0 || !(is_word_char(chars[i - 1]) || chars[i - 1] == '-'));
        if !starts {
            i += 1;
            continue;
        }
        let mut j = i + 2;
        while j < chars.len()
            && (chars[j].is_ascii_lowercase() || chars[j].is_ascii_digit() || chars[j] == '-')
        {
            j += 1;
        }
        let flag: String = chars[i + 2..j].iter().collect();
        out.insert(flag.trim_end_matches('-').to_owned());
        i = j;
    }
    out
}

/// Every name `PREFIX…` (upper case, digits, `_`) in a text that is not the tail of a longer
/// name (`SNAKEMAKE_LOGGER_FLOWO_URL` holds no `FLOWO_URL`).
fn names_with_prefix(text: &str, prefix: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut from = 0;
    while let Some(found) = text[from..].find(prefix) {
        let start = from + found;
        let before = text[..start].chars().next_back();
        let end = text[start..]
            .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
            .map_or(text.len(), |n| start + n);
        let name = text[start..end].trim_end_matches('_');
        if !before.is_some_and(is_word_char) && name.len() > prefix.len() {
            out.insert(name.to_owned());
        }
        from = start + prefix.len();
    }
    out
}

/// Whether `text` names the variable `name` on its own (not inside a longer name).
fn mentions(text: &str, name: &str) -> bool {
    text.match_indices(name).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + name.len()..].chars().next();
        !before.is_some_and(is_word_char) && !after.is_some_and(is_word_char)
    })
}

/// The 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset].matches('\n').count() + 1
}

/// The first line of `text` that mentions `needle`, for messages.
fn first_line_with(text: &str, needle: &str) -> usize {
    text.find(needle).map_or(0, |at| line_of(text, at))
}

// ---------------------------------------------------------------------------------------------
// The command line, as clap describes it.

/// One command path with its own arguments.
struct CommandInfo {
    path: String,
    /// `--long` flags (without the dashes) and their environment variables.
    flags: Vec<(String, Option<String>)>,
    /// Environment variables of positional arguments (none today, but they would count).
    positional_env: Vec<String>,
}

fn commands() -> (Vec<CommandInfo>, Vec<(String, Option<String>)>) {
    let mut root = flowo_cli::command();
    root.build();
    let global: Vec<(String, Option<String>)> = root
        .get_arguments()
        .filter(|a| a.is_global_set() && !a.is_hide_set())
        .filter(|a| !BUILT_IN.contains(&a.get_id().as_str()))
        .filter_map(|a| Some((a.get_long()?.to_owned(), env_of(a))))
        .collect();
    let global_longs: BTreeSet<&str> = global.iter().map(|(l, _)| l.as_str()).collect();
    let mut out = Vec::new();
    walk(&root, "flowo", &global_longs, &mut out);
    (out, global)
}

fn env_of(arg: &clap::Arg) -> Option<String> {
    arg.get_env().map(|e| e.to_string_lossy().into_owned())
}

fn walk(cmd: &clap::Command, path: &str, global: &BTreeSet<&str>, out: &mut Vec<CommandInfo>) {
    let mut info = CommandInfo {
        path: path.to_owned(),
        flags: Vec::new(),
        positional_env: Vec::new(),
    };
    for arg in cmd.get_arguments() {
        if arg.is_hide_set() || BUILT_IN.contains(&arg.get_id().as_str()) {
            continue;
        }
        match arg.get_long() {
            // Global flags are documented once, under `flowo`.
            Some(long) if global.contains(long) && path != "flowo" => {}
            Some(long) => info.flags.push((long.to_owned(), env_of(arg))),
            None => info.positional_env.extend(env_of(arg)),
        }
    }
    out.push(info);
    for sub in cmd.get_subcommands() {
        if sub.is_hide_set() || BUILT_IN.contains(&sub.get_name()) {
            continue;
        }
        walk(sub, &format!("{path} {}", sub.get_name()), global, out);
    }
}

#[test]
fn every_command_flag_and_its_variable_is_documented() {
    let doc = read(REFERENCE);
    let sections = sections(&doc);
    let (commands, _) = commands();
    let mut problems = Vec::new();
    for cmd in &commands {
        let Some(section) = sections
            .iter()
            .find(|s| s.command_path().as_deref() == Some(cmd.path.as_str()))
        else {
            problems.push(format!(
                "{REFERENCE} has no heading for `{}`: add `### {}` with a table of its flags",
                cmd.path, cmd.path
            ));
            continue;
        };
        let documented = long_flags(&section.text);
        for (long, env) in &cmd.flags {
            if !documented.contains(long) {
                problems.push(format!(
                    "{}: flag `--{long}` of `{}` is not documented",
                    section.at(),
                    cmd.path
                ));
            }
            if let Some(env) = env
                && !mentions(&section.text, env)
            {
                problems.push(format!(
                    "{}: environment variable `{env}` (of `{} --{long}`) is not documented there",
                    section.at(),
                    cmd.path
                ));
            }
        }
        for env in &cmd.positional_env {
            if !mentions(&section.text, env) {
                problems.push(format!(
                    "{}: environment variable `{env}` of an argument of `{}` is not documented \
                     there",
                    section.at(),
                    cmd.path
                ));
            }
        }
    }
    report(
        "the command line is not fully documented in docs/configuration.md",
        &problems,
    );
}

#[test]
fn every_documented_command_and_flag_exists() {
    let doc = read(REFERENCE);
    let (commands, global) = commands();
    let by_path: BTreeMap<&str, &CommandInfo> =
        commands.iter().map(|c| (c.path.as_str(), c)).collect();
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for section in sections(&doc) {
        let Some(path) = section.command_path() else {
            continue;
        };
        let Some(cmd) = by_path.get(path.as_str()) else {
            problems.push(format!(
                "{}: there is no command `{path}` (commands: {})",
                section.at(),
                by_path.keys().copied().collect::<Vec<_>>().join(", ")
            ));
            continue;
        };
        if !seen.insert(path.clone()) {
            problems.push(format!("{}: `{path}` has a second heading", section.at()));
        }
        let known: BTreeSet<&str> = cmd
            .flags
            .iter()
            .chain(&global)
            .map(|(l, _)| l.as_str())
            .chain(BUILT_IN.iter().copied())
            .collect();
        for flag in long_flags(&section.text) {
            if !known.contains(flag.as_str()) {
                problems.push(format!(
                    "{}: `--{flag}` is not a flag of `{path}` (its flags: {}; global: {})",
                    section.at(),
                    fmt_flags(cmd.flags.iter().map(|(l, _)| l.as_str())),
                    fmt_flags(global.iter().map(|(l, _)| l.as_str())),
                ));
            }
        }
    }
    report(
        "docs/configuration.md documents commands or flags that do not exist",
        &problems,
    );
}

fn fmt_flags<'a>(flags: impl Iterator<Item = &'a str>) -> String {
    let all: Vec<String> = flags.map(|f| format!("--{f}")).collect();
    if all.is_empty() {
        "none".to_owned()
    } else {
        all.join(", ")
    }
}

// ---------------------------------------------------------------------------------------------
// Environment variables in the code.

/// Every Rust source file under `flowo-*/src`, relative to the workspace root.
fn rust_sources() -> Vec<PathBuf> {
    let root = root();
    let mut crates: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("the workspace root is readable")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("flowo-"))
                && p.join("src").is_dir()
        })
        .collect();
    crates.sort();
    assert!(
        crates.len() >= 5,
        "expected the flowo-* crates in {}",
        root.display()
    );
    let mut files = Vec::new();
    for krate in crates {
        files_with_extension(&krate.join("src"), "rs", &mut files);
    }
    files
        .into_iter()
        .map(|f| f.strip_prefix(&root).map(Path::to_owned).unwrap_or(f))
        .collect()
}

fn files_with_extension(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            files_with_extension(&path, ext, out);
        } else if path.extension().is_some_and(|e| e == ext) {
            out.push(path);
        }
    }
}

/// The string literals of a Rust source (normal, raw and byte strings) with their byte
/// offsets; comments and char literals are skipped, so a `"` inside them is not a string.
fn string_literals(src: &str) -> Vec<(usize, String)> {
    let chars: Vec<(usize, char)> = src.char_indices().collect();
    let at = |i: usize| chars.get(i).map(|(_, c)| *c);
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let (offset, c) = chars[i];
        let prev = i.checked_sub(1).and_then(at);
        match c {
            '/' if at(i + 1) == Some('/') => {
                while i < chars.len() && chars[i].1 != '\n' {
                    i += 1;
                }
            }
            '/' if at(i + 1) == Some('*') => {
                let mut depth = 0;
                while i < chars.len() {
                    if chars[i].1 == '/' && at(i + 1) == Some('*') {
                        depth += 1;
                        i += 2;
                    } else if chars[i].1 == '*' && at(i + 1) == Some('/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
            }
            // `r"…"`, `r#"…"#`, `br"…"`, but not the `r` ending an identifier.
            'r' if !prev.is_some_and(is_word_char)
                || (prev == Some('b')
                    && !i.checked_sub(2).and_then(at).is_some_and(is_word_char)) =>
            {
                let hashes = chars[i + 1..].iter().take_while(|(_, c)| *c == '#').count();
                if at(i + 1 + hashes) != Some('"') {
                    i += 1;
                    continue;
                }
                let start = i + 2 + hashes;
                let mut j = start;
                while j < chars.len() {
                    if chars[j].1 == '"' && (0..hashes).all(|k| at(j + 1 + k) == Some('#')) {
                        break;
                    }
                    j += 1;
                }
                out.push((offset, chars[start..j].iter().map(|(_, c)| c).collect()));
                i = j + 1 + hashes;
            }
            '"' => {
                let mut j = i + 1;
                let mut text = String::new();
                while j < chars.len() && chars[j].1 != '"' {
                    if chars[j].1 == '\\' {
                        j += 1;
                    }
                    if let Some(c) = at(j) {
                        text.push(c);
                    }
                    j += 1;
                }
                out.push((offset, text));
                i = j + 1;
            }
            '\'' => {
                // A char literal ('x', '\n', '"') or a lifetime ('a).
                if at(i + 1) == Some('\\') {
                    let close = chars[i + 2..]
                        .iter()
                        .position(|(_, c)| *c == '\'')
                        .map_or(chars.len(), |p| i + 2 + p);
                    i = close + 1;
                } else if at(i + 2) == Some('\'') {
                    i += 3;
                } else {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    out
}

/// Where each variable is first named: `read at file:line`, or `read by` a library.
type Found = BTreeMap<String, String>;

fn note(found: &mut Found, name: String, file: &Path, text: &str, offset: usize) {
    found
        .entry(name)
        .or_insert_with(|| format!("read at {}:{}", file.display(), line_of(text, offset)));
}

/// Variables the code reads or names: `FLOWO_*` in Rust string literals, the names passed to
/// `var("…")` / `var_os("…")` / `env("…")` (XDG_*, HOME, …), `FLOWO_*` in the plugin's Python
/// package, and what libraries read for FlowO.
fn variables_in_code() -> Found {
    let root = root();
    let mut found = Found::new();
    for file in rust_sources() {
        let text = std::fs::read_to_string(root.join(&file)).expect("a readable source");
        for (offset, literal) in string_literals(&text) {
            for name in names_with_prefix(&literal, "FLOWO_") {
                note(&mut found, name, &file, &text, offset);
            }
        }
        for call in ["var(\"", "var_os(\"", "env(\""] {
            for (at, _) in text.match_indices(call) {
                if text[..at].chars().next_back().is_some_and(is_word_char) {
                    continue;
                }
                let rest = &text[at + call.len()..];
                let name = &rest[..rest.find('"').unwrap_or(0)];
                let looks_like_a_variable = name.starts_with(|c: char| c.is_ascii_uppercase())
                    && name
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
                if looks_like_a_variable {
                    note(&mut found, name.to_owned(), &file, &text, at);
                }
            }
        }
    }
    let mut python = Vec::new();
    files_with_extension(
        &root.join("flowo-py/python/snakemake_logger_plugin_flowo"),
        "py",
        &mut python,
    );
    assert!(!python.is_empty(), "the plugin's Python package is missing");
    for file in python {
        let text = std::fs::read_to_string(&file).expect("a readable source");
        let rel = file.strip_prefix(&root).unwrap_or(&file).to_owned();
        for name in names_with_prefix(&text, "FLOWO_") {
            let at = text.find(&name).unwrap_or(0);
            note(&mut found, name, &rel, &text, at);
        }
    }
    for (name, by) in READ_BY_LIBRARIES {
        found
            .entry((*name).to_owned())
            .or_insert_with(|| format!("read by {by}"));
    }
    found
}

/// Variables the deployment files read: Caddy's `{$NAME}` / `{$NAME:default}`, Compose's
/// `${NAME}` / `${NAME:-default}` / `${NAME:?message}`, and the names `.env.example` sets.
fn variables_in_deploy_files() -> Found {
    let root = root();
    let mut found = Found::new();
    for file in DEPLOY_FILES {
        let Ok(text) = std::fs::read_to_string(root.join(file)) else {
            continue;
        };
        let path = Path::new(file);
        for opener in ["{$", "${"] {
            for (at, _) in text.match_indices(opener) {
                let rest = &text[at + 2..];
                let len = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(rest.len());
                if len > 0 {
                    note(&mut found, rest[..len].to_owned(), path, &text, at);
                }
            }
        }
        if file.ends_with(".env.example") {
            for (n, line) in text.lines().enumerate() {
                let line = line.trim();
                if let Some((name, _)) = line.split_once('=').filter(|_| !line.starts_with('#')) {
                    let name = name.trim().trim_start_matches("export ").trim();
                    if !name.is_empty() {
                        found
                            .entry(name.to_owned())
                            .or_insert_with(|| format!("set at {file}:{}", n + 1));
                    }
                }
            }
        }
    }
    found
}

#[test]
fn every_variable_the_code_reads_is_documented() {
    let doc = read(REFERENCE);
    let mut problems = Vec::new();
    for (name, at) in variables_in_code()
        .into_iter()
        .chain(variables_in_deploy_files())
    {
        if !mentions(&doc, &name) {
            problems.push(format!(
                "environment variable `{name}` ({at}) is not documented in {REFERENCE}"
            ));
        }
    }
    report(
        "environment variables are missing from docs/configuration.md",
        &problems,
    );
}

#[test]
fn every_documented_flowo_variable_exists() {
    let doc = read(REFERENCE);
    let mut known = variables_in_code();
    known.extend(variables_in_deploy_files());
    let mut problems = Vec::new();
    for name in names_with_prefix(&doc, "FLOWO_") {
        if !known.contains_key(&name) {
            problems.push(format!(
                "{REFERENCE} line {} names `{name}`, which nothing reads (searched: string \
                 literals in flowo-*/src, the plugin's Python package, {})",
                first_line_with(&doc, &name),
                DEPLOY_FILES.join(", ")
            ));
        }
    }
    report(
        "docs/configuration.md documents variables that do not exist",
        &problems,
    );
}

// ---------------------------------------------------------------------------------------------
// The plugin's settings and the config file's keys.

const PLUGIN: &str = "flowo-py/python/snakemake_logger_plugin_flowo/__init__.py";

/// The fields of the plugin's `LogHandlerSettings` dataclass: the indented `name: type` lines
/// of its body.
fn plugin_settings() -> Vec<String> {
    let text = read(PLUGIN);
    let body = text
        .split_once("class LogHandlerSettings(")
        .unwrap_or_else(|| panic!("{PLUGIN} has no class LogHandlerSettings"))
        .1;
    let mut fields = Vec::new();
    for line in body.lines().skip(1) {
        if !line.is_empty() && !line.starts_with(char::is_whitespace) {
            break;
        }
        let Some(field) = line.strip_prefix("    ") else {
            continue;
        };
        if let Some((name, _)) = field.split_once(':') {
            let is_field = !name.is_empty()
                && name.starts_with(|c: char| c.is_ascii_lowercase())
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if is_field {
                fields.push(name.to_owned());
            }
        }
    }
    assert!(
        fields.len() >= 5,
        "could not read LogHandlerSettings' fields from {PLUGIN}: {fields:?}"
    );
    fields
}

#[test]
fn plugin_settings_are_documented_both_ways() {
    let doc = read(REFERENCE);
    let fields = plugin_settings();
    let flags: BTreeSet<String> = fields
        .iter()
        .map(|f| format!("logger-flowo-{}", f.replace('_', "-")))
        .collect();
    let vars: BTreeSet<String> = fields
        .iter()
        .map(|f| format!("SNAKEMAKE_LOGGER_FLOWO_{}", f.to_ascii_uppercase()))
        .collect();
    let mut problems = Vec::new();
    let documented_flags: BTreeSet<String> = long_flags(&doc)
        .into_iter()
        .filter(|f| f.starts_with("logger-flowo-"))
        .collect();
    let documented_vars = names_with_prefix(&doc, "SNAKEMAKE_LOGGER_FLOWO_");
    for flag in flags.difference(&documented_flags) {
        problems.push(format!(
            "plugin setting `--{flag}` (a field of LogHandlerSettings in {PLUGIN}) is not \
             documented in {REFERENCE}"
        ));
    }
    for var in vars.difference(&documented_vars) {
        problems.push(format!(
            "plugin setting `{var}` (a field of LogHandlerSettings in {PLUGIN}) is not \
             documented in {REFERENCE}"
        ));
    }
    for flag in documented_flags.difference(&flags) {
        problems.push(format!(
            "{REFERENCE} line {} documents `--{flag}`, which is not a plugin setting (fields \
             of LogHandlerSettings: {})",
            first_line_with(&doc, &format!("--{flag}")),
            fields.join(", ")
        ));
    }
    for var in documented_vars.difference(&vars) {
        problems.push(format!(
            "{REFERENCE} line {} documents `{var}`, which is not a plugin setting (fields of \
             LogHandlerSettings: {})",
            first_line_with(&doc, var),
            fields.join(", ")
        ));
    }
    report(
        "the plugin's settings and docs/configuration.md disagree",
        &problems,
    );
}

const CONFIG_SOURCE: &str = "flowo-client/src/config.rs";

/// The keys of the config file: the `pub` fields of `FileConfig` (read from the source, as the
/// struct only derives `Deserialize`; it refuses unknown keys, so these are all there are).
fn config_keys() -> Vec<String> {
    let text = read(CONFIG_SOURCE);
    let body = text
        .split_once("pub struct FileConfig {")
        .unwrap_or_else(|| panic!("{CONFIG_SOURCE} has no `pub struct FileConfig {{`"))
        .1;
    let body = &body[..body.find("\n}").expect("the struct ends")];
    let keys: Vec<String> = body
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub "))
        .filter_map(|l| l.split_once(':'))
        .map(|(name, _)| name.trim().to_owned())
        .collect();
    assert!(
        keys.len() >= 5,
        "could not read FileConfig's fields from {CONFIG_SOURCE}: {keys:?}"
    );
    keys
}

#[test]
fn config_file_keys_are_documented_both_ways() {
    let doc = read(REFERENCE);
    let keys = config_keys();
    let sections = sections(&doc);
    let Some(section) = sections.iter().find(|s| s.title.contains("config.toml")) else {
        panic!("{REFERENCE} has no section whose heading names config.toml");
    };
    let mut problems = Vec::new();
    for key in &keys {
        if !section.text.contains(&format!("`{key}`")) {
            problems.push(format!(
                "{}: config file key `{key}` (a field of FileConfig in {CONFIG_SOURCE}) is not \
                 documented",
                section.at()
            ));
        }
    }
    // The keys the section lists: the first cell of each table row, when it is `a_key`.
    for row in section.text.lines().filter(|l| l.starts_with('|')) {
        let cell = row.trim_start_matches('|').split('|').next().unwrap_or("");
        let cell = cell.trim();
        let Some(key) = cell
            .strip_prefix('`')
            .and_then(|c| c.strip_suffix('`'))
            .filter(|k| k.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        else {
            continue;
        };
        if !keys.iter().any(|k| k == key) {
            problems.push(format!(
                "{}: `{key}` is not a config file key (FileConfig in {CONFIG_SOURCE} has: {}); \
                 FlowO refuses unknown keys",
                section.at(),
                keys.join(", ")
            ));
        }
    }
    report(
        "the config file's keys and docs/configuration.md disagree",
        &problems,
    );
}

// ---------------------------------------------------------------------------------------------
// The scanners themselves.

#[test]
fn the_scanners_read_what_they_should() {
    let src = r##"
        // "FLOWO_IN_COMMENT" is not a literal
        /* nor "FLOWO_IN_BLOCK" */
        let q = '"'; let s = "FLOWO_A and \"FLOWO_B\"";
        fn f<'a>(x: &'a str) {}
        let r = r#"raw "FLOWO_C""#; let e = std::env::var("XDG_X");
    "##;
    let literals: Vec<String> = string_literals(src).into_iter().map(|(_, s)| s).collect();
    assert_eq!(
        literals,
        ["FLOWO_A and \"FLOWO_B\"", "raw \"FLOWO_C\"", "XDG_X"]
    );
    assert_eq!(
        names_with_prefix(
            "SNAKEMAKE_LOGGER_FLOWO_URL, FLOWO_URL; FLOWO_DATA_DIR/x",
            "FLOWO_"
        ),
        BTreeSet::from(["FLOWO_URL".to_owned(), "FLOWO_DATA_DIR".to_owned()])
    );
    assert_eq!(
        long_flags("|---|---| `--older-than 90d` a--b --dry-run, --json."),
        BTreeSet::from([
            "older-than".to_owned(),
            "dry-run".to_owned(),
            "json".to_owned()
        ])
    );
    assert!(mentions("set FLOWO_URL.", "FLOWO_URL"));
    assert!(!mentions(
        "SNAKEMAKE_LOGGER_FLOWO_URL FLOWO_URL_X",
        "FLOWO_URL"
    ));
    let doc = "# A\n## `flowo x`\ntext --a\n```sh\n# not a heading\n```\n### sub\n--b\n## B\n--c";
    let s = sections(doc);
    let titles: Vec<&str> = s.iter().map(|s| s.title.as_str()).collect();
    assert_eq!(titles, ["A", "`flowo x`", "sub", "B"]);
    assert_eq!(s[1].command_path().as_deref(), Some("flowo x"));
    assert_eq!(
        long_flags(&s[1].text),
        BTreeSet::from(["a".to_owned(), "b".to_owned()])
    );
}
