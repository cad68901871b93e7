//! `flowo runs show RUN`: one run for people (its state, a table of its rules, its errors), or
//! with `--json` exactly what `GET /api/v1/runs/{id}` answers.

use flowo_core::{ErrorScope, RuleSummary, RunError};

use crate::config::Global;
use crate::output;
use crate::reader::Reader;

/// `flowo runs show`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The run: its full id, or at least its first 8 hex digits.
    run: String,
    /// Print the JSON of `GET /api/v1/runs/{id}`.
    #[arg(long)]
    json: bool,
}

/// Runs `flowo runs show`.
pub async fn run(args: Args, global: &Global) -> anyhow::Result<()> {
    let reader = Reader::open(global).await?;
    let id = reader.resolve_run(&args.run).await?;
    let view = reader.get_run(id).await?;
    if args.json {
        return output::json(&view.json);
    }
    let run = &view.value.run;
    let (rules, errors) = tokio::try_join!(reader.rules(id), reader.errors(id))?;

    let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_owned());
    let jobs = &run.jobs;
    let mut counts = Vec::new();
    for (n, word) in [
        (jobs.running, "running"),
        (jobs.failed, "failed"),
        (jobs.incomplete, "incomplete"),
        (jobs.planned, "planned"),
    ] {
        if n > 0 {
            counts.push(format!("{n} {word}"));
        }
    }
    let counts = if counts.is_empty() {
        String::new()
    } else {
        format!(" ({})", counts.join(", "))
    };
    let header = [
        ("Run", run.id.to_string()),
        ("Name", super::name(run)),
        ("Status", super::status(run)),
        (
            "Progress",
            format!("{} jobs done{counts}", super::progress(run)),
        ),
        (
            "Started",
            run.started_at.map_or_else(|| "-".to_owned(), output::time),
        ),
        ("Duration", super::duration(run)),
        ("Host", or_dash(&run.host)),
        ("User", or_dash(&run.user)),
        ("Workdir", or_dash(&run.workdir)),
        ("Snakemake", or_dash(&run.snakemake_version)),
        ("Command", or_dash(&run.command_line)),
    ];
    let mut text = String::new();
    for (key, value) in header {
        text.push_str(&format!("{key:<10} {value}\n"));
    }
    if !run.tags.is_empty() {
        text.push_str(&format!("{:<10} {}\n", "Tags", run.tags.join(", ")));
    }
    output::line(text.trim_end())?;

    output::line("")?;
    if rules.is_empty() {
        output::line("No rules recorded.")?;
    } else {
        rule_table(&rules)?;
    }

    output::line("")?;
    if errors.is_empty() {
        output::line("No errors.")
    } else {
        output::line(format_args!("Errors ({}):", errors.len()))?;
        for error in &errors {
            output::line(error_text(error))?;
        }
        Ok(())
    }
}

fn rule_table(rules: &[RuleSummary]) -> anyhow::Result<()> {
    let seconds = |s: Option<f64>| s.map_or_else(|| "-".to_owned(), |s| format!("{s:.1}s"));
    let rows: Vec<Vec<String>> = rules
        .iter()
        .map(|r| {
            vec![
                r.rule.clone(),
                r.planned.map_or_else(|| "-".to_owned(), |n| n.to_string()),
                r.jobs.succeeded.to_string(),
                r.jobs.running.to_string(),
                r.jobs.failed.to_string(),
                r.jobs.incomplete.to_string(),
                r.not_started.to_string(),
                seconds(r.duration_median),
                seconds(r.duration_max),
            ]
        })
        .collect();
    output::table(
        &[
            "RULE",
            "PLANNED",
            "SUCCEEDED",
            "RUNNING",
            "FAILED",
            "INCOMPLETE",
            "NOT STARTED",
            "MEDIAN",
            "MAX",
        ],
        &rows,
    )
}

/// One error: a heading line, then its message as Snakemake gave it, indented.
fn error_text(error: &RunError) -> String {
    let mut heading = match error.scope {
        ErrorScope::Workflow => "- workflow".to_owned(),
        ErrorScope::Job => "- job".to_owned(),
    };
    if let Some(job) = error.job_id {
        heading.push_str(&format!(" {job}"));
    }
    if let Some(rule) = &error.rule {
        heading.push_str(&format!(" (rule {rule})"));
    }
    if let Some(exception) = &error.exception {
        heading.push_str(&format!(": {exception}"));
    }
    heading.push_str(&format!(" at {}", output::time(error.recorded_at)));
    let mut text = heading;
    if let Some(message) = error.message.as_deref().map(str::trim_end)
        && !message.is_empty()
    {
        for line in message.lines() {
            text.push_str("\n    ");
            text.push_str(line);
        }
    }
    text
}
