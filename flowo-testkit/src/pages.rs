//! Reading whole lists from a store through its paged queries, as the tests compare them.

use flowo_core::store::JobQuery;
use flowo_core::{Job, RunId, Store};

/// Every job of `run`, read `page` at a time (a small page exercises the cursors).
pub async fn all_jobs(store: &dyn Store, run: RunId, page: u32) -> Vec<Job> {
    let mut out = Vec::new();
    let mut query = JobQuery {
        limit: page,
        ..JobQuery::default()
    };
    loop {
        let page = store.list_jobs(run, &query).await.expect("list jobs");
        out.extend(page.items);
        match page.next_cursor {
            Some(c) => query.cursor = Some(c),
            None => return out,
        }
    }
}
