//! `flowo runs list`: a table of runs, or with `--json` exactly what `GET /api/v1/runs` answers
//! (a page of runs with `next_cursor` and `total`).

use flowo_client::api::RunListParams;

use crate::config::Global;
use crate::output;
use crate::reader::Reader;

/// `flowo runs list`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Only runs with these statuses (comma-separated: running, succeeded, failed,
    /// interrupted, lost).
    #[arg(long, value_name = "STATUS")]
    status: Option<String>,
    /// Only runs with this tag.
    #[arg(long)]
    tag: Option<String>,
    /// Only runs of this workspace.
    #[arg(long)]
    workspace: Option<String>,
    /// Text searched in name, tags, working directory and description.
    #[arg(short = 'q', long = "query", value_name = "TEXT")]
    query: Option<String>,
    /// At most this many runs (1 to 1000) [default: 50].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
    limit: Option<u32>,
    /// Print the JSON of `GET /api/v1/runs`.
    #[arg(long)]
    json: bool,
}

/// Runs `flowo runs list`.
pub async fn run(args: Args, global: &Global) -> anyhow::Result<()> {
    let reader = Reader::open(global).await?;
    let params = RunListParams {
        status: args.status,
        q: args.query,
        tag: args.tag,
        workspace: args.workspace,
        limit: args.limit,
        ..RunListParams::default()
    };
    let page = reader.list_runs(&params).await?;
    if args.json {
        return output::json(&page.json);
    }
    let runs = page.value;
    if runs.items.is_empty() {
        return output::line("no runs");
    }
    let rows: Vec<Vec<String>> = runs
        .items
        .iter()
        .map(|run| {
            vec![
                super::short_id(run),
                super::name(run),
                super::status(run),
                super::progress(run),
                run.started_at.map_or_else(|| "-".to_owned(), output::time),
                super::duration(run),
                run.host.clone().unwrap_or_else(|| "-".to_owned()),
            ]
        })
        .collect();
    output::table(
        &[
            "ID", "NAME", "STATUS", "PROGRESS", "STARTED", "DURATION", "HOST",
        ],
        &rows,
    )?;
    if let Some(total) = runs.total
        && total > runs.items.len() as u64
    {
        output::line(format_args!(
            "({} of {total} runs; use --limit or filters to see others)",
            runs.items.len()
        ))?;
    }
    Ok(())
}
