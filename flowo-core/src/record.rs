//! Turning a Snakemake `logging.LogRecord` (as a JSON object of its attributes) into an event.
//!
//! This is the one place that knows Snakemake's record layout: the plugin converts each live
//! record's attributes to JSON and calls [`event_from_record`]; tests do the same with the
//! captures in `shared/fixtures/snakemake-events/`. Fields vary between Snakemake versions, so
//! everything here is lenient: what is not understood is passed through in the payload.

use chrono::DateTime;
use serde_json::{Map, Value};

use crate::Timestamp;
use crate::event::{Event, LogLevel, LogMessage};

/// `logging.LogRecord`'s own bookkeeping attributes: never part of an event, so a producer
/// need not even read them (the plugin skips them). `created` is the record's time.
pub const LOGGING_ATTRIBUTES: &[&str] = &[
    "name",
    "args",
    "levelno",
    "pathname",
    "filename",
    "module",
    "lineno",
    "funcName",
    "created",
    "msecs",
    "relativeCreated",
    "thread",
    "threadName",
    "processName",
    "process",
    "taskName",
    "exc_info",
    "exc_text",
    "stack_info",
];

/// Appends `s` as a JSON string, exactly as `serde_json` writes it. Most strings of a record
/// need no escaping (no `"`, `\` or control character): those are copied whole, checked 16
/// bytes at a time (a loop the compiler makes SIMD), not byte by byte through the escaper.
pub fn write_json_str(out: &mut Vec<u8>, s: &str) {
    fn plain_chunk(chunk: &[u8; 16]) -> bool {
        // No early exit inside a chunk: all 16 bytes are checked at once.
        !chunk.iter().fold(false, |any, &b| {
            any | (b < 0x20) | (b == b'"') | (b == b'\\')
        })
    }
    fn plain(bytes: &[u8]) -> bool {
        let (chunks, rest) = bytes.as_chunks::<16>();
        if !chunks.iter().all(plain_chunk) {
            return false;
        }
        // The rest (most keys and short values are only rest), padded with a plain byte.
        let mut last = [b'a'; 16];
        last[..rest.len()].copy_from_slice(rest);
        plain_chunk(&last)
    }
    if plain(s.as_bytes()) {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        // Writing into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
    }
}

/// Appends `value` as compact JSON, exactly as `serde_json::to_writer` writes it, its strings
/// (keys too) through [`write_json_str`]: a payload's text made this way costs a fraction of
/// serde_json's, whose escaper looks at every byte of every string on its own.
pub fn write_json_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        // Writing into a Vec cannot fail.
        Value::Number(n) => {
            let _ = serde_json::to_writer(&mut *out, n);
        }
        Value::String(s) => write_json_str(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json_value(out, item);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            out.push(b'{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json_str(out, key);
                out.push(b':');
                write_json_value(out, item);
            }
            out.push(b'}');
        }
    }
}

/// Attributes read to make the event (`msg`, `levelname`, `event`) or added by the capture
/// plugin (`_seq`, `_types`), and not kept in its payload.
const CONSUMED_ATTRIBUTES: &[&str] = &["msg", "levelname", "event", "_seq", "_types"];

/// Whether an attribute stays out of an event's payload.
fn is_standard(key: &str) -> bool {
    LOGGING_ATTRIBUTES.contains(&key) || CONSUMED_ATTRIBUTES.contains(&key)
}

/// Why a record could not be turned into an event.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum RecordError {
    /// The record is not a JSON object.
    #[error("a log record must be a JSON object")]
    NotAnObject,
    /// `event` is present but not a string.
    #[error("the record's `event` is not a string")]
    BadKind,
}

/// The time a record was created (`created`, epoch seconds), if present and sane.
pub fn record_time(record: &Value) -> Option<Timestamp> {
    time_from_secs(record.get("created")?.as_f64()?)
}

/// A time from epoch seconds (Python's `record.created`), if sane.
pub fn time_from_secs(created: f64) -> Option<Timestamp> {
    if !created.is_finite() {
        return None;
    }
    let micros = (created * 1_000_000.0).round();
    if micros.abs() > 1e17 {
        return None;
    }
    DateTime::from_timestamp_micros(micros as i64)
}

/// Converts a record to an event (see [`payload_from_record`]).
pub fn event_from_record(record: &Value) -> Result<Event, RecordError> {
    let (kind, data) = payload_from_record(record)?;
    Ok(Event::decode_lossless(&kind, data))
}

/// Converts a record to an event's `kind` and raw `data`. The payload is the record's extra
/// attributes plus `message`; a record without `event` is a plain log message (kind `log`).
pub fn payload_from_record(record: &Value) -> Result<(String, Value), RecordError> {
    let obj = record.as_object().ok_or(RecordError::NotAnObject)?;
    payload_from_attrs(obj.clone())
}

/// [`payload_from_record`] for a record's attributes already taken apart (the plugin's case),
/// moving them into the payload instead of copying.
pub fn payload_from_attrs(mut obj: Map<String, Value>) -> Result<(String, Value), RecordError> {
    let message = match obj.get("message").or_else(|| obj.get("msg")) {
        Some(Value::String(m)) => m.clone(),
        _ => String::new(),
    };
    let kind = match obj.remove("event") {
        None | Some(Value::Null) => {
            let level = obj
                .get("levelname")
                .and_then(Value::as_str)
                .map(LogLevel::from_levelname)
                .unwrap_or_default();
            let log = Event::Log(LogMessage { level, message });
            return Ok(("log".to_owned(), log.data()));
        }
        Some(Value::String(kind)) => kind,
        Some(_) => return Err(RecordError::BadKind),
    };
    obj.retain(|key, _| !is_standard(key));
    if !obj.contains_key("message") {
        obj.insert("message".into(), Value::String(message));
    }
    if kind == "workflow_started" {
        // From 9.24 on `snakefile` points at Snakemake's own workflow.py; `snakefile_main` is
        // the real one when present.
        if let Some(main) = obj.remove("snakefile_main")
            && !main.is_null()
        {
            obj.insert("snakefile".into(), main);
        }
    }
    Ok((kind, Value::Object(obj)))
}

/// A line of a capture file that is not a usable record.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct CaptureError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

/// Reads a capture (one JSON `LogRecord` per line, as `snakemake-logger-plugin-capture` writes
/// them) into envelopes for `run_id`, numbered from 0 in file order. Blank lines are skipped.
pub fn envelopes_from_capture(
    jsonl: &str,
    run_id: crate::RunId,
) -> Result<Vec<crate::EventEnvelope>, CaptureError> {
    let mut out = Vec::new();
    for (i, line) in jsonl.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let err = |reason: String| CaptureError {
            line: i + 1,
            reason,
        };
        let record: Value = serde_json::from_str(line).map_err(|e| err(e.to_string()))?;
        let recorded_at =
            record_time(&record).ok_or_else(|| err("no valid `created` time".into()))?;
        let (kind, data) = payload_from_record(&record).map_err(|e| err(e.to_string()))?;
        out.push(crate::EventEnvelope {
            run_id,
            seq: out.len() as u64,
            recorded_at,
            received_at: None,
            kind,
            data,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::{write_json_str, write_json_value};

    fn written(s: &str) -> String {
        let mut out = b"x".to_vec();
        write_json_str(&mut out, s);
        String::from_utf8(out).expect("UTF-8")
    }

    /// Every character that needs escaping (and some that do not), at every place around the
    /// 16-byte chunks, is written as serde_json writes it.
    #[test]
    fn json_strings_are_written_as_serde_json_writes_them() {
        let mut specials: Vec<char> = (0u8..0x20).map(char::from).collect();
        specials.extend(['"', '\\', '\u{7f}', '/', 'é', '€', '😀', ' ']);
        for len in [0usize, 1, 15, 16, 17, 31, 32, 33, 100] {
            let plain: String = "abcdefghijklmnopqrstuvwxyz0123456789"
                .chars()
                .cycle()
                .take(len)
                .collect();
            assert_eq!(
                written(&plain),
                format!("x{}", serde_json::to_string(&plain).expect("JSON"))
            );
            for at in 0..=len {
                for &c in &specials {
                    let mut s = plain.clone();
                    s.insert(at, c);
                    let expected = format!("x{}", serde_json::to_string(&s).expect("JSON"));
                    assert_eq!(written(&s), expected, "{s:?}");
                }
            }
        }
    }

    fn value_written(v: &Value) -> String {
        let mut out = Vec::new();
        write_json_value(&mut out, v);
        String::from_utf8(out).expect("UTF-8")
    }

    /// Values of every kind, nested, with strings that need escaping in keys and values and
    /// numbers of each representation, are written as serde_json writes them; and so is every
    /// payload of the captures (the store keeps a payload as this text).
    #[test]
    fn json_values_are_written_as_serde_json_writes_them() {
        let values = [
            json!(null),
            json!(true),
            json!(false),
            json!(0),
            json!(-17),
            json!(u64::MAX),
            json!(i64::MIN),
            json!(1.5),
            json!(-0.0),
            json!(1e300),
            json!(0.1),
            json!(""),
            json!("tab\there \"quoted\" back\\slash \u{1} é 😀"),
            json!([]),
            json!({}),
            json!([1, "two", [3, [4, {}]], {"k": null}]),
            json!({"a\nkey": {"nested": [true, false, null, 2.25]}, "": "", "z": "\u{7f}"}),
        ];
        for v in &values {
            assert_eq!(
                value_written(v),
                serde_json::to_string(v).expect("JSON"),
                "{v}"
            );
        }
        let captures = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/fixtures/snakemake-events"
        );
        let mut payloads = 0;
        for scenario in std::fs::read_dir(captures).expect("the captures") {
            let scenario = scenario.expect("a capture's folder").path();
            let Ok(files) = std::fs::read_dir(&scenario) else {
                continue;
            };
            for file in files {
                let file = file.expect("a capture").path();
                if file.extension().is_none_or(|e| e != "jsonl") {
                    continue;
                }
                let text = std::fs::read_to_string(&file).expect("a capture's text");
                for line in text.lines().filter(|l| !l.trim().is_empty()) {
                    let v: Value = serde_json::from_str(line).expect("a record");
                    assert_eq!(value_written(&v), serde_json::to_string(&v).expect("JSON"));
                    payloads += 1;
                }
            }
        }
        assert!(
            payloads > 1000,
            "only {payloads} records read from {captures}"
        );
    }
}
