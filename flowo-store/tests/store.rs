//! Store tests: one conformance suite run against both backends, plus backend-specific tests
//! (PostgreSQL listener recovery, replicas sharing one database).

mod support;

mod conformance {
    //! The conformance suite: every function takes a fresh store and must pass on both backends.

    use std::collections::BTreeMap;
    use std::sync::Arc;
    use std::time::Duration;

    use flowo_core::event::{Event, JobInfo, RunLabels};
    use flowo_core::store::{
        JobQuery, JobSort, RunEventQuery, RunQuery, RunSort, SortOrder, StoreError, StreamFilter,
    };
    use flowo_core::{EventEnvelope, Job, JobStatus, RunId, RunStatus, Store, WorkspaceId};
    use futures::StreamExt;

    use crate::support::{self, captures, load_capture, run_id_for};

    async fn default_ws(store: &Arc<dyn Store>) -> WorkspaceId {
        store
            .ensure_workspace("default")
            .await
            .expect("default workspace")
            .id
    }

    async fn all_jobs(store: &Arc<dyn Store>, run: RunId) -> Vec<Job> {
        flowo_testkit::pages::all_jobs(&**store, run, 7).await
    }

    /// Stored state must equal the in-memory fold of the same events.
    async fn assert_matches_fold(
        store: &Arc<dyn Store>,
        ws: WorkspaceId,
        events: &[EventEnvelope],
    ) {
        let run_id = events[0].run_id;
        let expected = flowo_core::fold_events(run_id, ws, events);
        let view = store
            .get_run(run_id)
            .await
            .expect("get run")
            .expect("run exists");
        assert_eq!(view.run, expected.state.run, "run state");
        assert_eq!(view.detail, expected.state.detail, "run detail");
        let jobs = all_jobs(store, run_id).await;
        let expected_jobs: Vec<Job> = expected.jobs.into_values().collect();
        assert_eq!(jobs, expected_jobs, "jobs");
        let errors = store.run_errors(run_id).await.expect("errors");
        assert_eq!(errors, expected.errors, "errors");
        assert_rules_match_jobs(store, run_id, &jobs).await;
    }

    /// A run's rule summaries (read from the rollups) must count its jobs exactly, with the
    /// durations' bounds exact and the median within the sketch's 1 %.
    pub async fn assert_rules_match_jobs(store: &Arc<dyn Store>, run: RunId, jobs: &[Job]) {
        let lost = store
            .get_run(run)
            .await
            .expect("get run")
            .is_some_and(|v| v.run.status == RunStatus::Lost);
        let mut expected: BTreeMap<&str, (flowo_core::JobCounts, Vec<f64>)> = BTreeMap::new();
        for job in jobs {
            let entry = expected.entry(&job.rule).or_default();
            let status = if lost && job.status == JobStatus::Running {
                JobStatus::Incomplete
            } else {
                job.status
            };
            *entry.0.get_mut(status) += 1;
            if let (JobStatus::Succeeded, Some(s), Some(f)) =
                (job.status, job.started_at, job.finished_at)
            {
                entry
                    .1
                    .push((f - s).num_microseconds().expect("duration") as f64 / 1e6);
            }
        }
        let summaries = store.rule_summaries(run).await.expect("rule summaries");
        let seen: Vec<&str> = summaries
            .iter()
            .filter(|s| s.jobs.total() > 0)
            .map(|s| s.rule.as_str())
            .collect();
        assert_eq!(
            seen,
            expected.keys().copied().collect::<Vec<_>>(),
            "rules of {run}"
        );
        for summary in summaries.iter().filter(|s| s.jobs.total() > 0) {
            let (counts, mut durations) = expected[summary.rule.as_str()].clone();
            assert_eq!(summary.jobs, counts, "{run} rule {}", summary.rule);
            durations.sort_by(f64::total_cmp);
            assert_eq!(
                summary.duration_min,
                durations.first().copied(),
                "{}",
                summary.rule
            );
            assert_eq!(
                summary.duration_max,
                durations.last().copied(),
                "{}",
                summary.rule
            );
            match (
                summary.duration_median,
                durations.get(durations.len().saturating_sub(1) / 2),
            ) {
                (None, None) => {}
                (Some(got), Some(&lower_middle)) => assert!(
                    (got - lower_middle).abs() <= lower_middle * flowo_core::rollup::RELATIVE_ERROR,
                    "{} median {got} vs {lower_middle}",
                    summary.rule
                ),
                other => panic!("{} median {other:?}", summary.rule),
            }
        }
    }

    pub async fn every_capture_folds_the_same_in_batches(store: Arc<dyn Store>) {
        let ws = default_ws(&store).await;
        for name in captures() {
            let run = run_id_for(&name);
            let events = load_capture(&name, run);
            for batch in events.chunks(7) {
                let out = store.append(ws, batch).await.expect("append");
                assert_eq!(out.inserted, batch.len() as u64, "{name}");
                assert_eq!(out.duplicates, 0);
            }
            assert_matches_fold(&store, ws, &events).await;
            let stored = store
                .run_events(
                    run,
                    &RunEventQuery {
                        limit: 1000,
                        ..Default::default()
                    },
                )
                .await
                .expect("run events");
            assert_eq!(stored.len().min(1000), events.len().min(1000), "{name}");
            for (s, e) in stored.iter().zip(&events) {
                assert_eq!(s.envelope.seq, e.seq);
                assert_eq!(s.envelope.kind, e.kind);
                assert_eq!(s.envelope.data, e.data, "payload kept exactly");
                assert_eq!(s.envelope.recorded_at, e.recorded_at);
            }
        }
    }

    pub async fn append_is_idempotent(store: Arc<dyn Store>) {
        let ws = default_ws(&store).await;
        let run = RunId::new_random();
        let events = load_capture("job-failure/03-job-failure-keep-going.jsonl", run);
        let first = store.append(ws, &events).await.expect("append");
        assert_eq!((first.inserted, first.duplicates), (events.len() as u64, 0));
        let again = store.append(ws, &events).await.expect("append again");
        assert_eq!((again.inserted, again.duplicates), (0, events.len() as u64));
        // A batch that repeats an event within itself and overlaps what is stored.
        let mut mixed: Vec<EventEnvelope> = events[10..20].to_vec();
        mixed.extend_from_slice(&events[10..12]);
        let out = store.append(ws, &mixed).await.expect("append mixed");
        assert_eq!((out.inserted, out.duplicates), (0, 12));
        let view = store.get_run(run).await.expect("get").expect("exists");
        assert_eq!(view.run.event_count, events.len() as u64);
        assert_matches_fold(&store, ws, &events).await;
    }

    /// Writers, one task each, append their events in batches of their size, all at once;
    /// returns the events they inserted in all.
    async fn append_at_once(
        store: &Arc<dyn Store>,
        ws: WorkspaceId,
        writers: Vec<(Vec<EventEnvelope>, usize)>,
    ) -> u64 {
        let tasks: Vec<_> = writers
            .into_iter()
            .map(|(events, size)| {
                let store = store.clone();
                tokio::spawn(async move {
                    let mut inserted = 0;
                    for batch in events.chunks(size) {
                        inserted += store.append(ws, batch).await.expect("append").inserted;
                    }
                    inserted
                })
            })
            .collect();
        let mut inserted = 0;
        for t in tasks {
            inserted += t.await.expect("writer task");
        }
        inserted
    }

    pub async fn concurrent_writers_store_each_event_once(store: Arc<dyn Store>) {
        let ws = default_ws(&store).await;
        let run = RunId::new_random();
        let events = load_capture("large/10-large.jsonl", run);
        // Every writer sends everything, in batches of different sizes.
        let writers = (0..4).map(|w| (events.clone(), 50 + w * 37)).collect();
        let inserted = append_at_once(&store, ws, writers).await;
        assert_eq!(
            inserted,
            events.len() as u64,
            "each event stored exactly once"
        );
        let view = store.get_run(run).await.expect("get").expect("exists");
        assert_eq!(view.run.event_count, events.len() as u64);
        assert_matches_fold(&store, ws, &events).await;
    }

    /// Writers append batches that each hold events of three runs, interleaved so that a
    /// batch's first event is of any of them and some of its runs are stored while others are
    /// not yet: every event is stored once and every run's state is its fold. (A PostgreSQL
    /// append locks and reads its smallest run while the batch is prepared, the others in
    /// turn; the runs are always locked in one order, so writers never deadlock.)
    pub async fn concurrent_writers_of_batches_mixing_runs_store_each_event_once(
        store: Arc<dyn Store>,
    ) {
        let ws = default_ws(&store).await;
        let runs: Vec<Vec<EventEnvelope>> = (0..3)
            .map(|_| load_capture("large/10-large.jsonl", RunId::new_random()))
            .collect();
        // The three runs' events interleaved, starting with a different run in each writer's
        // order, and one run's late start so that its first events come after the others'.
        let mut writers = Vec::new();
        for writer in 0..3usize {
            let mut mixed: Vec<EventEnvelope> = Vec::new();
            let longest = runs.iter().map(Vec::len).max().unwrap_or(0);
            for i in 0..longest + 300 {
                for r in 0..3 {
                    let run = &runs[(r + writer) % 3];
                    // The writer's last run starts 300 events late.
                    let at = if r == 2 { i.checked_sub(300) } else { Some(i) };
                    if let Some(event) = at.and_then(|at| run.get(at)) {
                        mixed.push(event.clone());
                    }
                }
            }
            writers.push((mixed, 97 + writer * 61));
        }
        let inserted = append_at_once(&store, ws, writers).await;
        let total: usize = runs.iter().map(Vec::len).sum();
        assert_eq!(inserted, total as u64, "each event stored exactly once");
        for events in &runs {
            // The stored run (its event count among it) must be the fold's.
            assert_matches_fold(&store, ws, events).await;
        }
    }

    /// Writers of different runs append at once while a subscriber follows the live stream:
    /// it gets every event exactly once, in position order. Positions must become visible in
    /// commit order for that: a position committed after a larger one was read would be
    /// behind the subscriber's cursor and never delivered.
    pub async fn live_subscribers_see_concurrent_writers_once(store: Arc<dyn Store>) {
        let ws = default_ws(&store).await;
        let mut following = store
            .subscribe(StreamFilter::default(), None)
            .await
            .expect("subscribe");
        let runs: Vec<Vec<EventEnvelope>> = (0..6)
            .map(|_| load_capture("large/10-large.jsonl", RunId::new_random()))
            .collect();
        let total: usize = runs.iter().map(Vec::len).sum();
        let writers = runs
            .iter()
            .enumerate()
            .map(|(i, events)| (events.clone(), 20 + 7 * i))
            .collect();
        let mut seen = std::collections::HashSet::new();
        let mut last_pos = 0;
        let following = tokio::time::timeout(Duration::from_secs(60), async {
            while seen.len() < total {
                let e = following.next().await.expect("stream open").expect("event");
                assert!(e.pos > last_pos, "positions in order");
                last_pos = e.pos;
                assert!(
                    seen.insert((e.envelope.run_id, e.envelope.seq)),
                    "an event delivered twice"
                );
            }
        });
        let (_, received) = tokio::join!(append_at_once(&store, ws, writers), following);
        for events in &runs {
            let view = store
                .get_run(events[0].run_id)
                .await
                .expect("get")
                .expect("stored");
            assert_eq!(
                view.run.event_count,
                events.len() as u64,
                "every event stored"
            );
        }
        assert!(
            received.is_ok(),
            "the subscriber got {} of {total} events",
            seen.len()
        );
    }

    pub async fn late_events_refold_the_run(store: Arc<dyn Store>) {
        let ws = default_ws(&store).await;
        let run = RunId::new_random();
        let events = load_capture("success/01-success.jsonl", run);
        // The second half arrives first (a spool replayed late), then the first half.
        let (a, b) = events.split_at(events.len() / 2);
        store.append(ws, b).await.expect("append b");
        // While the gap is open, stored events are told from new ones in a batch with both.
        let mut mixed = a[..2].to_vec();
        mixed.extend_from_slice(&b[..3]);
        let out = store.append(ws, &mixed).await.expect("append mixed");
        assert_eq!((out.inserted, out.duplicates), (2, 3));
        let out = store.append(ws, a).await.expect("append a");
        assert_eq!((out.inserted, out.duplicates), (a.len() as u64 - 2, 2));
        // Without a gap, a retry of everything is all duplicates.
        let out = store.append(ws, &events).await.expect("append all again");
        assert_eq!((out.inserted, out.duplicates), (0, events.len() as u64));
        assert_matches_fold(&store, ws, &events).await;
        let view = store.get_run(run).await.expect("get").expect("exists");
        assert_eq!(view.run.status, RunStatus::Succeeded);
        assert_eq!(view.run.jobs.succeeded, 9);
    }

    pub async fn runs_stay_in_their_workspace(store: Arc<dyn Store>) {
        let a = store.create_workspace("lab-a").await.expect("create a");
        let b = store.create_workspace("lab-b").await.expect("create b");
        assert!(matches!(
            store.create_workspace("lab-a").await,
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(
            store.create_workspace("bad name!").await,
            Err(StoreError::Invalid(_))
        ));
        let run = RunId::new_random();
        let events = load_capture("success/01-success.jsonl", run);
        store
            .append(a.id, &events[..10])
            .await
            .expect("append into a");
        let err = store.append(b.id, &events[10..]).await;
        assert!(
            matches!(err, Err(StoreError::WorkspaceMismatch { run: r }) if r == run),
            "{err:?}"
        );
        // Nothing of the refused batch was stored, not even for another run in it.
        let other = RunId::new_random();
        let mut mixed = load_capture("success/12-up-to-date.jsonl", other);
        mixed.extend_from_slice(&events[10..]);
        assert!(store.append(b.id, &mixed).await.is_err());
        assert!(store.get_run(other).await.expect("get").is_none());
        let view = store.get_run(run).await.expect("get").expect("exists");
        assert_eq!(view.run.event_count, 10);
        assert_eq!(view.run.workspace_id, a.id);
        let missing = store.append(WorkspaceId::new_random(), &events[..1]).await;
        assert!(
            matches!(missing, Err(StoreError::NotFound(_))),
            "{missing:?}"
        );
        let names: Vec<String> = store
            .list_workspaces()
            .await
            .expect("list")
            .into_iter()
            .map(|w| w.name)
            .collect();
        assert_eq!(names, ["default", "lab-a", "lab-b"]);
    }

    /// A workflow-level `error` event (the run fails).
    fn workflow_error(run: RunId, seq: u64, at: flowo_core::Timestamp) -> EventEnvelope {
        let error = Event::decode(
            "error",
            &serde_json::json!({"exception": "WorkflowError", "message": "boom"}),
        )
        .expect("error event");
        EventEnvelope::new(run, seq, at, &error)
    }

    fn labels(
        run: RunId,
        seq: u64,
        at: flowo_core::Timestamp,
        name: &str,
        tags: &[&str],
    ) -> EventEnvelope {
        EventEnvelope::new(
            run,
            seq,
            at,
            &Event::RunLabels(RunLabels {
                name: Some(name.to_owned()),
                tags: tags.iter().map(|t| t.to_string()).collect(),
                description: Some(format!("about {name}")),
                dry_run: None,
            }),
        )
    }

    /// Text search finds the same runs whichever way the store answers it: the first runs in
    /// order (common text), the index (text that is rare, or only in runs past the first
    /// thousand), or every run (text shorter than three characters). The index never answers a
    /// run whose text holds the text's trigrams apart, and follows renamed and deleted runs.
    pub async fn text_search_finds_the_same_runs_every_way(store: Arc<dyn Store>) {
        let ws = default_ws(&store).await;
        let base = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .expect("time")
            .to_utc();
        // 1,100 runs, the oldest first: more than a probe reads (the newest 1,000).
        let names = |i: usize| match i {
            3 => "Needle-ÄÖ run".to_owned(),
            4 => "abc bcd".to_owned(),
            5 => "a*b?c[d] run".to_owned(),
            6 => "axb?c run".to_owned(),
            i => format!("sample_{i:04} run"),
        };
        let ids: Vec<RunId> = (0..1_100).map(|_| RunId::new_random()).collect();
        let events: Vec<EventEnvelope> = ids
            .iter()
            .enumerate()
            .map(|(i, &run)| {
                let at = base + chrono::Duration::seconds(i as i64);
                let tags: &[&str] = if i == 7 { &["Deep-Tag"] } else { &[] };
                labels(run, 0, at, &names(i), tags)
            })
            .collect();
        for chunk in events.chunks(250) {
            store.append(ws, chunk).await.expect("append");
        }
        // Every run a search finds, through its pages of 50, newest first; and its total.
        let search = |text: &str| {
            let store = store.clone();
            let text = text.to_owned();
            async move {
                let mut query = RunQuery {
                    text: Some(text),
                    limit: 50,
                    with_total: true,
                    ..RunQuery::default()
                };
                let mut found = Vec::new();
                loop {
                    let page = store.list_runs(&query).await.expect("list");
                    let total = page.total.expect("total");
                    found.extend(page.items.iter().map(|r| r.id));
                    match page.next_cursor {
                        Some(c) => query.cursor = Some(c),
                        None => {
                            assert_eq!(total, found.len() as u64, "the total is what was found");
                            break found;
                        }
                    }
                }
            }
        };
        let newest_first = |picked: &[usize]| -> Vec<RunId> {
            let mut picked = picked.to_vec();
            picked.sort_unstable_by(|a, b| b.cmp(a));
            picked.iter().map(|&i| ids[i]).collect()
        };
        // Common: every run but the four odd names, found in the first runs' probe for page 1.
        let all: Vec<usize> = (0..1_100).filter(|i| ![3, 4, 5, 6].contains(i)).collect();
        assert_eq!(search("sample_").await, newest_first(&all));
        // Rare, past the probe: the index; upper case and non-ASCII match as stored (lower case).
        assert_eq!(search("needle-äö").await, newest_first(&[3]));
        assert_eq!(search("NEEDLE-ÄÖ").await, newest_first(&[3]));
        assert_eq!(
            search("deep-tag").await,
            newest_first(&[7]),
            "tags are searched"
        );
        assert_eq!(
            search("about needle").await,
            newest_first(&[3]),
            "and descriptions"
        );
        // Its trigrams are all in "abc bcd", the text is not.
        assert_eq!(search("abcd").await, Vec::<RunId>::new());
        assert_eq!(search("abc b").await, newest_first(&[4]));
        // The index's wildcards and LIKE's stand for themselves.
        assert_eq!(search("*b?c[").await, newest_first(&[5]));
        assert_eq!(search("b?c").await, newest_first(&[5, 6]));
        assert_eq!(search("a*b").await, newest_first(&[5]));
        assert_eq!(search("%").await, Vec::<RunId>::new());
        assert_eq!(
            search("sampl__1").await,
            newest_first(&[]),
            "`_` is not a wildcard"
        );
        let thousands: Vec<usize> = (1_000..1_100).collect();
        assert_eq!(search("le_1").await, newest_first(&thousands));
        // Shorter than a trigram: read run by run.
        assert_eq!(search("c[").await, newest_first(&[5]));
        // Nothing.
        assert_eq!(search("no-such-run").await, Vec::<RunId>::new());
        let hundreds: Vec<usize> = (100..200).collect();
        assert_eq!(search("sample_01").await, newest_first(&hundreds));

        // Renamed: the index follows (new name found, old one gone); deleted: gone.
        store
            .append(ws, &[labels(ids[3], 1, base, "Renamed haystack", &[])])
            .await
            .expect("rename");
        assert_eq!(search("needle-äö").await, Vec::<RunId>::new());
        assert_eq!(search("haystack").await, newest_first(&[3]));
        assert!(store.delete_run(ids[3]).await.expect("delete"));
        assert_eq!(search("haystack").await, Vec::<RunId>::new());
        // A new run with the text of the deleted one is found, and only it.
        let again = RunId::new_random();
        store
            .append(ws, &[labels(again, 0, base, "Renamed haystack", &[])])
            .await
            .expect("append");
        let found = search("haystack").await;
        assert_eq!(found, vec![again]);
        // The runs page's total (from the day rollups) follows the deletion and the new run.
        let page = store
            .list_runs(&RunQuery {
                limit: 1,
                with_total: true,
                ..RunQuery::default()
            })
            .await
            .expect("list");
        assert_eq!(page.total, Some(1_100));
    }

    /// The runs of a tag come in the order of the runs' starts, page after page, in both
    /// directions, with the other filters, also after a run's start moves (an event older than
    /// the run's first) and after its tags change: the same runs, in the same order, as the
    /// runs without the tag filter with the tag picked out.
    pub async fn runs_of_a_tag_follow_their_starts(store: Arc<dyn Store>) {
        let ws = default_ws(&store).await;
        let other = store.create_workspace("elsewhere").await.expect("ws").id;
        let base = chrono::DateTime::parse_from_rfc3339("2026-02-01T00:00:00Z")
            .expect("time")
            .to_utc();
        let mut ids = Vec::new();
        for i in 0..14u32 {
            let run = RunId::new_random();
            // Starts not in the order the runs are stored, two runs sharing one.
            let at = base + chrono::Duration::minutes(i64::from((i * 5) % 14).min(12));
            let tags: &[&str] = if i % 3 == 0 { &["t", "x"] } else { &["t"] };
            let mut events = vec![labels(run, 0, at, &format!("tagged-{i:02}"), tags)];
            if i % 4 == 0 {
                events.push(workflow_error(run, 1, at));
            }
            let target = if i == 5 { other } else { ws };
            store.append(target, &events).await.expect("append");
            ids.push((run, target));
        }
        // A run's start moves back (an event recorded before its first), its tags unchanged.
        let (moved, moved_ws) = ids[9];
        store
            .append(
                moved_ws,
                &[EventEnvelope::new(
                    moved,
                    2,
                    base - chrono::Duration::hours(1),
                    &Event::Heartbeat,
                )],
            )
            .await
            .expect("append");
        // A run's tags change: it leaves "x" and joins "y".
        let (retagged, retagged_ws) = ids[3];
        store
            .append(
                retagged_ws,
                &[labels(
                    retagged,
                    3,
                    base + chrono::Duration::hours(1),
                    "tagged-03",
                    &["t", "y"],
                )],
            )
            .await
            .expect("append");

        let pages = |q: RunQuery| {
            let store = store.clone();
            async move {
                let mut q = RunQuery { limit: 3, ..q };
                let mut seen = Vec::new();
                loop {
                    let page = store.list_runs(&q).await.expect("list");
                    seen.extend(page.items);
                    match page.next_cursor {
                        Some(c) => q.cursor = Some(c),
                        None => return seen,
                    }
                }
            }
        };
        for order in [SortOrder::Desc, SortOrder::Asc] {
            for workspaces in [None, Some(vec![ws])] {
                for status in [vec![], vec![RunStatus::Failed]] {
                    let all = pages(RunQuery {
                        order,
                        workspaces: workspaces.clone(),
                        status: status.clone(),
                        ..RunQuery::default()
                    })
                    .await;
                    for tag in ["t", "x", "y", "none"] {
                        let expected: Vec<RunId> = all
                            .iter()
                            .filter(|r| r.tags.iter().any(|t| t == tag))
                            .map(|r| r.id)
                            .collect();
                        let found: Vec<RunId> = pages(RunQuery {
                            order,
                            workspaces: workspaces.clone(),
                            status: status.clone(),
                            tag: Some(tag.into()),
                            ..RunQuery::default()
                        })
                        .await
                        .iter()
                        .map(|r| r.id)
                        .collect();
                        assert_eq!(
                            found, expected,
                            "tag {tag}, {order:?}, {workspaces:?}, {status:?}"
                        );
                    }
                }
            }
        }
        let newest_first = pages(RunQuery {
            tag: Some("t".into()),
            ..RunQuery::default()
        })
        .await;
        assert_eq!(newest_first.len(), 14);
        assert_eq!(
            newest_first.last().map(|r| r.id),
            Some(moved),
            "the moved run starts first"
        );
        let starts: Vec<_> = newest_first.iter().map(|r| (r.started_at, r.id)).collect();
        let mut sorted = starts.clone();
        sorted.sort_by(|a, b| b.cmp(a));
        assert_eq!(starts, sorted);
        let y = pages(RunQuery {
            tag: Some("y".into()),
            ..RunQuery::default()
        })
        .await;
        assert_eq!(y.iter().map(|r| r.id).collect::<Vec<_>>(), [retagged]);
    }

    pub async fn run_search_filters_sorts_and_pages(store: Arc<dyn Store>) {
        let ws = default_ws(&store).await;
        let other = store.create_workspace("other").await.expect("ws").id;
        let base = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .expect("time")
            .to_utc();
        let mut ids = Vec::new();
        for i in 0..23u32 {
            let run = RunId::new_random();
            let at = base + chrono::Duration::minutes(i64::from(i));
            let tag = if i % 2 == 0 { "even" } else { "odd" };
            let mut events = vec![labels(run, 0, at, &format!("Run_{i:02}"), &[tag, "all"])];
            let finish = if i % 3 == 0 { "failed" } else { "ok" };
            if finish == "failed" {
                events.push(workflow_error(run, 1, at));
            }
            events.push(EventEnvelope::new(
                run,
                2,
                at + chrono::Duration::seconds(5),
                &Event::RunFinished(Default::default()),
            ));
            let target = if i == 22 { other } else { ws };
            store.append(target, &events).await.expect("append");
            ids.push(run);
        }
        // Pages of 5, newest first, with a total.
        let mut query = RunQuery {
            limit: 5,
            with_total: true,
            workspaces: Some(vec![ws]),
            ..RunQuery::default()
        };
        let mut seen = Vec::new();
        loop {
            let page = store.list_runs(&query).await.expect("list");
            assert_eq!(page.total, Some(22));
            seen.extend(page.items.iter().map(|r| r.id));
            match page.next_cursor {
                Some(c) => query.cursor = Some(c),
                None => break,
            }
        }
        let expected: Vec<RunId> = ids[..22].iter().rev().copied().collect();
        assert_eq!(seen, expected, "every run once, newest first");

        let count = |q: RunQuery| {
            let store = store.clone();
            async move {
                store
                    .list_runs(&RunQuery {
                        limit: 100,
                        with_total: true,
                        ..q
                    })
                    .await
                    .expect("list")
            }
        };
        let failed = count(RunQuery {
            status: vec![RunStatus::Failed],
            ..Default::default()
        })
        .await;
        assert_eq!(failed.items.len(), 8);
        assert!(failed.items.iter().all(|r| r.status == RunStatus::Failed));
        let odd = count(RunQuery {
            tag: Some("odd".into()),
            ..Default::default()
        })
        .await;
        assert_eq!(odd.items.len(), 11);
        let text = count(RunQuery {
            text: Some("run_1".into()),
            ..Default::default()
        })
        .await;
        assert_eq!(
            text.items.len(),
            10,
            "run_10..run_19; `_` is not a wildcard"
        );
        let pct = count(RunQuery {
            text: Some("%".into()),
            ..Default::default()
        })
        .await;
        assert_eq!(pct.items.len(), 0);
        let range = count(RunQuery {
            started_after: Some(base + chrono::Duration::minutes(5)),
            started_before: Some(base + chrono::Duration::minutes(8)),
            ..Default::default()
        })
        .await;
        assert_eq!(range.items.len(), 3);
        let other_only = count(RunQuery {
            workspaces: Some(vec![other]),
            ..Default::default()
        })
        .await;
        assert_eq!(other_only.items.len(), 1);
        assert_eq!(other_only.items[0].id, ids[22]);
        // Totals of searches by workspace alone come from the day rollups.
        assert_eq!(other_only.total, Some(1));
        let everywhere = count(RunQuery::default()).await;
        assert_eq!(everywhere.items.len(), 23);
        assert_eq!(everywhere.total, Some(23));
        let none = count(RunQuery {
            workspaces: Some(vec![]),
            ..Default::default()
        })
        .await;
        assert_eq!(none.items.len(), 0);
        assert_eq!(none.total, Some(0));
        let by_name = count(RunQuery {
            sort: RunSort::Name,
            order: SortOrder::Asc,
            ..Default::default()
        })
        .await;
        let names: Vec<String> = by_name
            .items
            .iter()
            .filter_map(|r| r.name.clone())
            .collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        // Paging by name works across pages too.
        let mut q = RunQuery {
            sort: RunSort::Name,
            order: SortOrder::Asc,
            limit: 4,
            ..Default::default()
        };
        let mut paged = Vec::new();
        loop {
            let page = store.list_runs(&q).await.expect("list");
            paged.extend(page.items.into_iter().filter_map(|r| r.name));
            match page.next_cursor {
                Some(c) => q.cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(paged, sorted);
        // Bad input is a typed error.
        assert!(matches!(
            store
                .list_runs(&RunQuery {
                    limit: 0,
                    ..Default::default()
                })
                .await,
            Err(StoreError::Invalid(_))
        ));
        assert!(matches!(
            store
                .list_runs(&RunQuery {
                    cursor: Some("nonsense".into()),
                    ..Default::default()
                })
                .await,
            Err(StoreError::InvalidCursor)
        ));
    }

    pub async fn job_search_filters_sorts_and_pages(store: Arc<dyn Store>) {
        let ws = default_ws(&store).await;
        let run = RunId::new_random();
        let events = load_capture("job-failure/03-job-failure-keep-going.jsonl", run);
        store.append(ws, &events).await.expect("append");
        let all = all_jobs(&store, run).await;
        assert_eq!(all.len(), 11);
        assert!(all.windows(2).all(|w| w[0].job_id < w[1].job_id));
        let failed = store
            .list_jobs(
                run,
                &JobQuery {
                    status: vec![JobStatus::Failed],
                    with_total: true,
                    ..Default::default()
                },
            )
            .await
            .expect("failed jobs");
        assert_eq!(failed.total, Some(1));
        assert_eq!(failed.items[0].rule, "process");
        assert_eq!(
            failed.items[0]
                .detail
                .wildcards
                .get("sample")
                .map(String::as_str),
            Some("B")
        );
        let post = store
            .list_jobs(
                run,
                &JobQuery {
                    rule: Some("post".into()),
                    ..Default::default()
                },
            )
            .await
            .expect("post jobs");
        assert_eq!(post.items.len(), 5, "post for every sample but B");
        support::assert_job_totals_match_rows(&*store, run).await;
        // By submission time, descending, paged.
        let mut q = JobQuery {
            sort: JobSort::StartedAt,
            order: SortOrder::Desc,
            limit: 3,
            ..Default::default()
        };
        let mut times = Vec::new();
        loop {
            let page = store.list_jobs(run, &q).await.expect("page");
            times.extend(page.items.iter().map(|j| (j.started_at, j.job_id)));
            match page.next_cursor {
                Some(c) => q.cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(times.len(), 11);
        assert!(times.windows(2).all(|w| w[0] >= w[1]));
        let job = store
            .get_job(run, failed.items[0].job_id)
            .await
            .expect("get")
            .expect("job");
        assert_eq!(job, failed.items[0]);
        assert!(store.get_job(run, 9999).await.expect("get").is_none());
        // Many at once: the stored ones among those asked for, each as it reads alone.
        let mut some = store
            .get_jobs(
                run,
                &[
                    all[3].job_id,
                    9999,
                    all[0].job_id,
                    all[10].job_id,
                    all[3].job_id,
                ],
            )
            .await
            .expect("get jobs");
        some.sort_by_key(|j| j.job_id);
        assert_eq!(some, [all[0].clone(), all[3].clone(), all[10].clone()]);
        let mut every = store
            .get_jobs(run, &all.iter().map(|j| j.job_id).collect::<Vec<_>>())
            .await
            .expect("get jobs");
        every.sort_by_key(|j| j.job_id);
        assert_eq!(every, all);
        assert!(store.get_jobs(run, &[]).await.expect("none").is_empty());
        assert!(matches!(
            store.get_jobs(RunId::new_random(), &[1]).await,
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(
            store
                .list_jobs(RunId::new_random(), &JobQuery::default())
                .await,
            Err(StoreError::NotFound(_))
        ));
        // Rules: per-status counts, durations, and jobs never started under --keep-going.
        let rules = store.rule_summaries(run).await.expect("rules");
        let by_rule: BTreeMap<&str, _> = rules.iter().map(|r| (r.rule.as_str(), r)).collect();
        let process = by_rule["process"];
        assert_eq!(process.planned, Some(6));
        assert_eq!((process.jobs.succeeded, process.jobs.failed), (5, 1));
        assert!(
            process.duration_min.is_some_and(|d| d > 0.9),
            "process jobs sleep 1 s"
        );
        assert!(process.duration_median >= process.duration_min);
        assert!(process.duration_max >= process.duration_median);
        let post = by_rule["post"];
        assert_eq!((post.jobs.succeeded, post.not_started), (5, 1));
        let summary = by_rule["summary"];
        assert_eq!((summary.jobs.total(), summary.not_started), (0, 1));
        let graph = store
            .rule_graph(run)
            .await
            .expect("graph")
            .expect("has graph");
        let rules: Vec<&str> = graph.nodes.iter().map(|n| n.rule.as_str()).collect();
        assert_eq!(rules, ["process", "post", "summary", "all"]);
        let errors = store.run_errors(run).await.expect("errors");
        assert!(
            errors
                .iter()
                .any(|e| e.job_id.is_some() && e.rule.as_deref() == Some("process"))
        );
        assert!(
            errors
                .iter()
                .any(|e| e.exception.as_deref() == Some("WorkflowError"))
        );
    }

    pub async fn stream_positions_are_ordered(store: Arc<dyn Store>) {
        let ws = default_ws(&store).await;
        let a = RunId::new_random();
        let b = RunId::new_random();
        let ea = load_capture("success/01-success.jsonl", a);
        let eb = load_capture("success/09-dryrun.jsonl", b);
        let (ca, cb): (Vec<_>, Vec<_>) = (ea.chunks(5).collect(), eb.chunks(5).collect());
        for i in 0..ca.len().max(cb.len()) {
            for chunk in [ca.get(i), cb.get(i)].into_iter().flatten() {
                store.append(ws, chunk).await.expect("append");
            }
        }
        let all = store
            .events_since(&StreamFilter::default(), 0, 1000)
            .await
            .expect("since");
        assert_eq!(all.len(), ea.len() + eb.len(), "all events");
        assert!(all.windows(2).all(|w| w[0].pos < w[1].pos));
        let head = store.head().await.expect("head");
        assert_eq!(head, all.last().map(|e| e.pos).unwrap_or(0));
        let only_b = store
            .events_since(
                &StreamFilter {
                    run: Some(b),
                    workspaces: None,
                },
                0,
                1000,
            )
            .await
            .expect("since b");
        let seqs: Vec<u64> = only_b.iter().map(|e| e.envelope.seq).collect();
        assert_eq!(seqs, (0..eb.len() as u64).collect::<Vec<_>>());
        let mid = all[10].pos;
        let after = store
            .events_since(&StreamFilter::default(), mid, 1000)
            .await
            .expect("since mid");
        assert_eq!(after.len(), all.len() - 11);
        let kinds = store
            .run_events(
                a,
                &RunEventQuery {
                    kinds: vec!["job_finished".into()],
                    limit: 100,
                    after_seq: None,
                },
            )
            .await
            .expect("kinds");
        assert_eq!(kinds.len(), 9);
        let later = store
            .run_events(
                a,
                &RunEventQuery {
                    after_seq: Some(50),
                    limit: 100,
                    kinds: vec![],
                },
            )
            .await
            .expect("after seq");
        assert!(later.iter().all(|e| e.envelope.seq > 50));
        assert_eq!(later.len(), ea.len() - 51);
    }

    async fn take(
        n: usize,
        stream: &mut flowo_core::store::EventStream,
    ) -> Result<Vec<u64>, tokio::time::error::Elapsed> {
        let fut = async move {
            let mut seqs = Vec::new();
            let mut last_pos = 0;
            while seqs.len() < n {
                let e = stream.next().await.expect("stream open").expect("event");
                assert!(e.pos > last_pos, "strictly increasing positions");
                last_pos = e.pos;
                seqs.push(e.envelope.seq);
            }
            seqs
        };
        tokio::time::timeout(Duration::from_secs(30), fut).await
    }

    pub async fn subscribers_get_everything_once_across_the_seam(store: Arc<dyn Store>) {
        let ws = default_ws(&store).await;
        let run = RunId::new_random();
        let events = load_capture("large/10-large.jsonl", run);
        let (early, late) = events.split_at(400);
        store.append(ws, early).await.expect("append early");
        // From the beginning: replay 400, then live.
        let mut from_start = store
            .subscribe(StreamFilter::default(), Some(0))
            .await
            .expect("sub");
        // From a cursor in the middle of the replayed part.
        let cursor = store
            .events_since(&StreamFilter::default(), 0, 1000)
            .await
            .expect("since")[199]
            .pos;
        let mut from_cursor = store
            .subscribe(
                StreamFilter {
                    run: Some(run),
                    workspaces: Some(vec![ws]),
                },
                Some(cursor),
            )
            .await
            .expect("sub");
        // From now: only what comes later.
        let mut from_now = store
            .subscribe(StreamFilter::default(), None)
            .await
            .expect("sub");
        let writer = {
            let store = store.clone();
            let late = late.to_vec();
            tokio::spawn(async move {
                for batch in late.chunks(37) {
                    store.append(ws, batch).await.expect("append late");
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            })
        };
        let all: Vec<u64> = (0..events.len() as u64).collect();
        assert_eq!(
            take(events.len(), &mut from_start).await.expect("in time"),
            all
        );
        assert_eq!(
            take(events.len() - 200, &mut from_cursor)
                .await
                .expect("in time"),
            all[200..].to_vec()
        );
        assert_eq!(
            take(late.len(), &mut from_now).await.expect("in time"),
            all[400..].to_vec()
        );
        writer.await.expect("writer");
        // Nothing more arrives: no duplicate at the seam.
        for stream in [&mut from_start, &mut from_cursor, &mut from_now] {
            let extra = tokio::time::timeout(Duration::from_millis(700), stream.next()).await;
            assert!(extra.is_err(), "no extra event: {extra:?}");
        }
        // A subscriber of another workspace sees none of it.
        let other = store.create_workspace("elsewhere").await.expect("ws").id;
        let mut elsewhere = store
            .subscribe(
                StreamFilter {
                    workspaces: Some(vec![other]),
                    run: None,
                },
                Some(0),
            )
            .await
            .expect("sub");
        let quiet = tokio::time::timeout(Duration::from_millis(500), elsewhere.next()).await;
        assert!(quiet.is_err(), "no event of another workspace");
    }

    /// Live subscribers share each event: what the broadcast delivers is one allocation, not a
    /// copy per subscriber (a thousand clients of one run must not cost a thousand copies).
    pub async fn live_subscribers_share_each_event(store: Arc<dyn Store>) {
        let ws = default_ws(&store).await;
        let run = RunId::new_random();
        let events = load_capture("success/01-success.jsonl", run);
        let mut subs = Vec::new();
        for _ in 0..3 {
            let mut sub = store
                .subscribe(StreamFilter::default(), None)
                .await
                .expect("sub");
            // Let each one finish its replay (nothing yet) and wait on the live broadcast.
            let idle = tokio::time::timeout(Duration::from_millis(300), sub.next()).await;
            assert!(idle.is_err(), "nothing before the append: {idle:?}");
            subs.push(sub);
        }
        store.append(ws, &events).await.expect("append");
        let mut received = Vec::new();
        for sub in &mut subs {
            let mut got = Vec::new();
            while got.len() < events.len() {
                let next = tokio::time::timeout(Duration::from_secs(30), sub.next())
                    .await
                    .expect("in time")
                    .expect("stream open")
                    .expect("event");
                got.push(next);
            }
            received.push(got);
        }
        for other in &received[1..] {
            assert_eq!(other.len(), received[0].len());
            for (a, b) in received[0].iter().zip(other) {
                assert_eq!(a.pos, b.pos);
                assert!(
                    Arc::ptr_eq(a, b),
                    "event {} was copied per subscriber",
                    a.pos
                );
            }
        }
    }

    pub async fn malformed_payloads_are_kept_raw(store: Arc<dyn Store>) {
        let ws = default_ws(&store).await;
        let run = RunId::new_random();
        let now = chrono::Utc::now();
        let raw = |seq: u64, kind: &str, data: serde_json::Value| EventEnvelope {
            run_id: run,
            seq,
            recorded_at: now,
            received_at: None,
            kind: kind.to_owned(),
            data,
        };
        let events = vec![
            raw(
                0,
                "job_info",
                serde_json::json!({"jobid": "not a number", "rule_name": 5}),
            ),
            raw(1, "progress", serde_json::json!({"done": 1})),
            raw(
                2,
                "job_finished",
                serde_json::json!("a string, not an object"),
            ),
            raw(3, "something_new", serde_json::json!({"x": [1, 2, 3]})),
            EventEnvelope::new(run, 4, now, &Event::Heartbeat),
        ];
        let out = store.append(ws, &events).await.expect("append");
        assert_eq!(out.inserted, 5);
        let view = store.get_run(run).await.expect("get").expect("exists");
        assert_eq!(view.detail.malformed_events, 3);
        assert_eq!(view.run.status, RunStatus::Running);
        let stored = store
            .run_events(
                run,
                &RunEventQuery {
                    limit: 10,
                    ..Default::default()
                },
            )
            .await
            .expect("events");
        for (s, e) in stored.iter().zip(&events) {
            assert_eq!((&s.envelope.kind, &s.envelope.data), (&e.kind, &e.data));
        }
        match stored[0].envelope.event() {
            Event::Malformed { reason, .. } => assert!(reason.contains("job_info"), "{reason}"),
            other => panic!("expected malformed, got {other:?}"),
        }
        assert!(matches!(stored[3].envelope.event(), Event::Unknown { .. }));
        let bad_kind = vec![raw(9, "", serde_json::json!({}))];
        assert!(matches!(
            store.append(ws, &bad_kind).await,
            Err(StoreError::Invalid(_))
        ));
        // A valid job_info still folds after the malformed ones.
        let info: JobInfo =
            serde_json::from_value(serde_json::json!({"jobid": 1, "rule_name": "a"}))
                .expect("info");
        store
            .append(
                ws,
                &[EventEnvelope::new(
                    run,
                    5,
                    now,
                    &Event::JobInfo(Box::new(info)),
                )],
            )
            .await
            .expect("append");
        let view = store.get_run(run).await.expect("get").expect("exists");
        assert_eq!(view.run.jobs.planned + view.run.jobs.running, 1);
    }

    pub async fn accounts_users_members_tokens_settings(store: Arc<dyn Store>) {
        use flowo_core::account::{NewApiToken, Role, TokenScope};
        use flowo_core::store::UserUpdate;
        assert_eq!(store.count_users().await.expect("count"), 0);
        let alice = store
            .create_user(" Alice@Lab.org ", Role::Admin, Some("$argon2id$hash"))
            .await
            .expect("create alice");
        assert_eq!(alice.email, "alice@lab.org");
        assert!(matches!(
            store.create_user("alice@lab.org", Role::Viewer, None).await,
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(
            store.create_user("not an email", Role::Viewer, None).await,
            Err(StoreError::Invalid(_))
        ));
        let bob = store
            .create_user("bob@lab.org", Role::Viewer, None)
            .await
            .expect("bob");
        assert_eq!(store.count_users().await.expect("count"), 2);
        let creds = store
            .user_credentials("ALICE@lab.org")
            .await
            .expect("creds")
            .expect("alice exists");
        assert_eq!(creds.password_hash.as_deref(), Some("$argon2id$hash"));
        assert!(
            !format!("{creds:?}").contains("argon2id"),
            "hash is redacted in Debug"
        );
        let bob2 = store
            .update_user(
                bob.id,
                UserUpdate {
                    role: Some(Role::Member),
                    disabled: Some(true),
                    ..Default::default()
                },
            )
            .await
            .expect("update");
        assert_eq!((bob2.role, bob2.disabled), (Role::Member, true));
        let emails: Vec<String> = store
            .list_users()
            .await
            .expect("list")
            .into_iter()
            .map(|u| u.email)
            .collect();
        assert_eq!(emails, ["alice@lab.org", "bob@lab.org"]);
        assert!(matches!(
            store
                .update_user(
                    flowo_core::account::UserId(uuid::Uuid::new_v4()),
                    UserUpdate::default()
                )
                .await,
            Err(StoreError::NotFound(_))
        ));

        let ws = store.create_workspace("genomics").await.expect("ws");
        assert_eq!(
            store
                .workspace(ws.id)
                .await
                .expect("get")
                .expect("exists")
                .name,
            "genomics"
        );
        store.add_member(ws.id, bob.id).await.expect("add");
        store
            .add_member(ws.id, bob.id)
            .await
            .expect("add twice is fine");
        let members = store.members(ws.id).await.expect("members");
        assert_eq!(members.len(), 1);
        assert_eq!(members[0].user.id, bob.id);
        let wss: Vec<String> = store
            .user_workspaces(bob.id)
            .await
            .expect("wss")
            .into_iter()
            .map(|w| w.name)
            .collect();
        assert_eq!(wss, ["genomics"]);
        assert!(store.remove_member(ws.id, bob.id).await.expect("remove"));
        assert!(
            !store
                .remove_member(ws.id, bob.id)
                .await
                .expect("remove again")
        );
        assert!(matches!(
            store.add_member(WorkspaceId::new_random(), bob.id).await,
            Err(StoreError::NotFound(_))
        ));

        let expires = chrono::Utc::now() + chrono::Duration::days(1);
        let token = store
            .create_token(NewApiToken {
                user_id: alice.id,
                name: "cluster".into(),
                scope: TokenScope::Ingest,
                workspace_id: Some(ws.id),
                prefix: "flowo_abcd".into(),
                hash: "f00d".into(),
                expires_at: Some(expires),
            })
            .await
            .expect("token");
        assert_eq!(token.scope, TokenScope::Ingest);
        assert!(token.is_active(chrono::Utc::now()));
        assert!(!token.is_active(expires + chrono::Duration::seconds(1)));
        let found = store
            .token_by_hash("f00d")
            .await
            .expect("by hash")
            .expect("found");
        assert_eq!(found, token);
        assert!(
            store
                .token_by_hash("beef")
                .await
                .expect("by hash")
                .is_none()
        );
        let at = chrono::DateTime::from_timestamp_micros(1_800_000_000_000_000).expect("time");
        store.touch_token(token.id, at).await.expect("touch");
        assert_eq!(
            store
                .token(token.id)
                .await
                .expect("get")
                .expect("exists")
                .last_used_at,
            Some(at)
        );
        assert_eq!(
            store.list_tokens(Some(alice.id)).await.expect("list").len(),
            1
        );
        assert_eq!(
            store.list_tokens(Some(bob.id)).await.expect("list").len(),
            0
        );
        assert_eq!(store.list_tokens(None).await.expect("list").len(), 1);
        assert!(store.revoke_token(token.id).await.expect("revoke"));
        assert!(!store.revoke_token(token.id).await.expect("revoke again"));
        let revoked = store.token(token.id).await.expect("get").expect("exists");
        assert!(!revoked.is_active(chrono::Utc::now()));

        assert_eq!(store.setting("jwt_secret").await.expect("get"), None);
        assert_eq!(
            store.init_setting("jwt_secret", "one").await.expect("init"),
            "one"
        );
        assert_eq!(
            store.init_setting("jwt_secret", "two").await.expect("init"),
            "one",
            "first value wins"
        );
        assert!(store.remove_setting("jwt_secret").await.expect("remove"));
        assert!(
            !store
                .remove_setting("jwt_secret")
                .await
                .expect("remove again"),
            "used once"
        );
    }

    pub async fn timeline_statistics_and_deletion(store: Arc<dyn Store>) {
        use flowo_core::store::StatsQuery;
        let ws = default_ws(&store).await;
        let ok = RunId::new_random();
        let failed = RunId::new_random();
        store
            .append(ws, &load_capture("success/01-success.jsonl", ok))
            .await
            .expect("append");
        store
            .append(
                ws,
                &load_capture("job-failure/02-job-failure.jsonl", failed),
            )
            .await
            .expect("append");
        let bars = store.timeline(ok).await.expect("timeline");
        assert_eq!(bars.len(), 9);
        assert!(bars.windows(2).all(|w| w[0].started_at <= w[1].started_at));
        assert!(
            bars.iter()
                .all(|b| b.finished_at >= b.started_at && b.status == JobStatus::Succeeded)
        );
        let stats = store
            .workspace_stats(&StatsQuery {
                workspaces: Some(vec![ws]),
                ..Default::default()
            })
            .await
            .expect("stats");
        assert_eq!(stats.runs_by_status.get("succeeded"), Some(&1));
        assert_eq!(stats.runs_by_status.get("failed"), Some(&1));
        assert_eq!(stats.jobs_by_status.get("succeeded"), Some(&(9 + 5)));
        assert_eq!(stats.jobs_by_status.get("failed"), Some(&1));
        let process = stats
            .rules
            .iter()
            .find(|r| r.rule == "process")
            .expect("process");
        assert_eq!(
            (process.jobs, process.failed),
            (5, 1),
            "E, A, D, F succeeded, B failed"
        );
        assert!(
            process.failure_rate.is_some_and(|r| (r - 0.2).abs() < 1e-9),
            "{process:?}"
        );
        assert!(process.duration_median.is_some_and(|d| d > 0.9));
        assert_eq!(stats.runs_per_day.iter().map(|d| d.runs).sum::<u64>(), 2);
        let none = store
            .workspace_stats(&StatsQuery {
                workspaces: Some(vec![]),
                ..Default::default()
            })
            .await
            .expect("stats");
        assert!(none.runs_by_status.is_empty());
        let later = store
            .workspace_stats(&StatsQuery {
                from: Some(chrono::Utc::now() + chrono::Duration::days(400)),
                ..Default::default()
            })
            .await
            .expect("stats");
        assert!(later.runs_by_status.is_empty() && later.rules.is_empty());

        assert!(store.delete_run(failed).await.expect("delete"));
        assert!(!store.delete_run(failed).await.expect("delete again"));
        assert!(store.get_run(failed).await.expect("get").is_none());
        assert!(store.run_errors(failed).await.expect("errors").is_empty());
        let events = store
            .run_events(
                failed,
                &RunEventQuery {
                    limit: 10,
                    ..Default::default()
                },
            )
            .await
            .expect("events");
        assert!(events.is_empty());
        assert!(
            store.get_run(ok).await.expect("get").is_some(),
            "other runs stay"
        );
    }
}

conformance!(
    timeline_statistics_and_deletion,
    accounts_users_members_tokens_settings,
    every_capture_folds_the_same_in_batches,
    append_is_idempotent,
    concurrent_writers_store_each_event_once,
    concurrent_writers_of_batches_mixing_runs_store_each_event_once,
    live_subscribers_see_concurrent_writers_once,
    late_events_refold_the_run,
    runs_stay_in_their_workspace,
    run_search_filters_sorts_and_pages,
    runs_of_a_tag_follow_their_starts,
    text_search_finds_the_same_runs_every_way,
    job_search_filters_sorts_and_pages,
    stream_positions_are_ordered,
    subscribers_get_everything_once_across_the_seam,
    live_subscribers_share_each_event,
    malformed_payloads_are_kept_raw,
);

mod rollups {
    //! The rollup tables against the jobs they count: workspace statistics over runs spread
    //! across days (whole days from the day tables, partial ones from the runs), after
    //! out-of-order batches and a delete, must equal statistics counted from the jobs; and a
    //! rebuild from the jobs must give the same again.

    use std::collections::BTreeMap;
    use std::sync::Arc;

    use chrono::{Duration, TimeZone, Utc};
    use flowo_core::store::{JobQuery, RunQuery, StatsQuery, WorkspaceStats};
    use flowo_core::{EventEnvelope, JobStatus, RunId, Store, Timestamp, WorkspaceId};

    use crate::support::{self, captures, load_capture};

    /// Captures shifted so that runs start on different days and hours.
    fn spread_runs() -> Vec<Vec<EventEnvelope>> {
        let base = Utc
            .with_ymd_and_hms(2026, 3, 1, 0, 0, 0)
            .single()
            .expect("time");
        let mut out = Vec::new();
        for (i, name) in captures().into_iter().enumerate() {
            let run = RunId::new_random();
            let mut events = load_capture(&name, run);
            let first = events[0].recorded_at;
            let start =
                base + Duration::days((i % 4) as i64) + Duration::hours((i * 7 % 24) as i64);
            for e in &mut events {
                e.recorded_at = start + (e.recorded_at - first);
            }
            out.push(events);
        }
        out
    }

    /// Statistics counted from the runs and jobs themselves.
    async fn counted(
        store: &Arc<dyn Store>,
        ws: WorkspaceId,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
    ) -> WorkspaceStats {
        let runs = store
            .list_runs(&RunQuery {
                workspaces: Some(vec![ws]),
                limit: 1000,
                ..Default::default()
            })
            .await
            .expect("runs")
            .items;
        let mut stats = WorkspaceStats::default();
        let mut rules: BTreeMap<String, (u64, u64, u64, Vec<f64>)> = BTreeMap::new();
        let mut days: BTreeMap<String, u64> = BTreeMap::new();
        for run in runs {
            let started = run.started_at.expect("started");
            if from.is_some_and(|f| started < f) || to.is_some_and(|t| started >= t) {
                continue;
            }
            *stats
                .runs_by_status
                .entry(run.status.as_str().into())
                .or_default() += 1;
            *days
                .entry(started.format("%Y-%m-%d").to_string())
                .or_default() += 1;
            let jobs = store
                .list_jobs(
                    run.id,
                    &JobQuery {
                        limit: 1000,
                        ..Default::default()
                    },
                )
                .await
                .expect("jobs")
                .items;
            for job in jobs {
                *stats
                    .jobs_by_status
                    .entry(job.status.as_str().into())
                    .or_default() += 1;
                let r = rules.entry(job.rule.clone()).or_default();
                r.0 += 1;
                match job.status {
                    JobStatus::Failed => r.1 += 1,
                    JobStatus::Succeeded => {
                        r.2 += 1;
                        if let (Some(s), Some(f)) = (job.started_at, job.finished_at) {
                            r.3.push((f - s).num_microseconds().expect("us") as f64 / 1e6);
                        }
                    }
                    _ => {}
                }
            }
        }
        let mut out: Vec<_> = rules
            .into_iter()
            .map(|(rule, (jobs, failed, succeeded, mut d))| {
                d.sort_by(f64::total_cmp);
                flowo_core::store::RuleStats {
                    rule,
                    jobs,
                    failed,
                    failure_rate: (failed + succeeded > 0)
                        .then(|| failed as f64 / (failed + succeeded) as f64),
                    duration_median: d.get(d.len().saturating_sub(1) / 2).copied(),
                    duration_max: d.last().copied(),
                }
            })
            .collect();
        out.sort_by(|a, b| b.jobs.cmp(&a.jobs).then_with(|| a.rule.cmp(&b.rule)));
        stats.rules = out;
        stats.runs_per_day = days
            .into_iter()
            .map(|(day, runs)| flowo_core::store::DayCount { day, runs })
            .collect();
        stats
    }

    /// Equal, except that medians may differ by the sketch's relative error.
    fn assert_same(got: &WorkspaceStats, want: &WorkspaceStats, what: &str) {
        assert_eq!(got.runs_by_status, want.runs_by_status, "{what}: runs");
        assert_eq!(got.jobs_by_status, want.jobs_by_status, "{what}: jobs");
        assert_eq!(got.runs_per_day, want.runs_per_day, "{what}: days");
        assert_eq!(got.rules.len(), want.rules.len(), "{what}: rules");
        for (g, w) in got.rules.iter().zip(&want.rules) {
            assert_eq!(
                (&g.rule, g.jobs, g.failed, g.failure_rate, g.duration_max),
                (&w.rule, w.jobs, w.failed, w.failure_rate, w.duration_max),
                "{what}"
            );
            match (g.duration_median, w.duration_median) {
                (None, None) => {}
                (Some(a), Some(b)) => assert!(
                    (a - b).abs() <= b * flowo_core::rollup::RELATIVE_ERROR,
                    "{what}: {} median {a} vs {b}",
                    g.rule
                ),
                other => panic!("{what}: {} median {other:?}", g.rule),
            }
        }
    }

    async fn check(store: Arc<dyn Store>, rebuild: impl AsyncFnOnce()) {
        let ws = store.ensure_workspace("default").await.expect("ws").id;
        let other = store.ensure_workspace("other").await.expect("ws").id;
        let runs = spread_runs();
        assert!(runs.len() >= 6, "captures");
        let last = runs.len() - 1;
        for (i, events) in runs.iter().enumerate() {
            let target = if i == 1 { other } else { ws };
            if i == last - 1 {
                // The last two runs (on different days) in batches that hold both.
                let (a, b) = (events, &runs[last]);
                for (x, y) in a.chunks(7).zip(b.chunks(5)) {
                    let mut batch = x.to_vec();
                    batch.extend_from_slice(y);
                    store.append(target, &batch).await.expect("append");
                }
                let (sa, sb) = (a.len().div_ceil(7), b.len().div_ceil(5));
                for rest in a.chunks(7).skip(sb).chain(b.chunks(5).skip(sa)) {
                    store.append(target, rest).await.expect("append");
                }
                break;
            }
            if i % 3 == 2 {
                // Second half first: the run is folded again from all its events.
                let (a, b) = events.split_at(events.len() / 2);
                store.append(target, b).await.expect("append");
                store.append(target, a).await.expect("append");
            } else {
                for batch in events.chunks(5) {
                    store.append(target, batch).await.expect("append");
                }
            }
        }
        assert!(store.delete_run(runs[3][0].run_id).await.expect("delete"));
        let base = Utc
            .with_ymd_and_hms(2026, 3, 1, 0, 0, 0)
            .single()
            .expect("time");
        let ranges = [
            (None, None),
            (Some(base + Duration::hours(5)), None),
            (None, Some(base + Duration::days(2) + Duration::hours(13))),
            (
                Some(base + Duration::hours(30)),
                Some(base + Duration::days(3)),
            ),
            (
                Some(base + Duration::hours(2)),
                Some(base + Duration::hours(20)),
            ),
            (
                Some(base + Duration::days(1)),
                Some(base + Duration::days(3)),
            ),
        ];
        let mut before = Vec::new();
        for (from, to) in ranges {
            let got = store
                .workspace_stats(&StatsQuery {
                    workspaces: Some(vec![ws]),
                    from,
                    to,
                })
                .await
                .expect("stats");
            let want = counted(&store, ws, from, to).await;
            assert_same(&got, &want, &format!("{from:?}..{to:?}"));
            before.push(got);
        }
        rebuild().await;
        for ((from, to), earlier) in ranges.into_iter().zip(before) {
            let again = store
                .workspace_stats(&StatsQuery {
                    workspaces: Some(vec![ws]),
                    from,
                    to,
                })
                .await
                .expect("stats");
            assert_eq!(again, earlier, "after a rebuild, {from:?}..{to:?}");
        }
        for events in &runs {
            let run = events[0].run_id;
            if store.get_run(run).await.expect("get").is_some() {
                let jobs = store
                    .list_jobs(
                        run,
                        &JobQuery {
                            limit: 1000,
                            ..Default::default()
                        },
                    )
                    .await
                    .expect("jobs")
                    .items;
                crate::conformance::assert_rules_match_jobs(&store, run, &jobs).await;
            }
        }
    }

    #[tokio::test]
    async fn sqlite() {
        let (store, db) = support::sqlite(None).await;
        let path = db.sqlite_path().expect("path").clone();
        check(store, async || {
            let again = flowo_store::SqliteStore::open(&path, &support::options(None))
                .await
                .expect("open");
            again.rebuild_rollups().await.expect("rebuild");
        })
        .await;
        db.cleanup().await;
    }

    #[tokio::test]
    async fn postgres() {
        let Some((url, db)) = support::pg_database().await else {
            return;
        };
        let store = flowo_store::PgStore::open(&url, &support::options(None))
            .await
            .expect("open");
        let handle = store.clone();
        check(Arc::new(store), async || {
            handle.rebuild_rollups().await.expect("rebuild");
        })
        .await;
        db.cleanup().await;
    }
}

mod lost {
    //! A run whose producer went silent reads as lost; its running jobs as incomplete.

    use std::sync::Arc;

    use flowo_core::event::Event;
    use flowo_core::store::{JobQuery, RunQuery};
    use flowo_core::{EventEnvelope, JobStatus, RunId, RunStatus, Store};

    use crate::support::{self, load_capture};

    async fn check(store: Arc<dyn Store>) {
        let ws = store.ensure_workspace("default").await.expect("ws").id;
        // The killed capture's last event is far in the past: lost.
        let killed = RunId::new_random();
        store
            .append(ws, &load_capture("incomplete/14-killed.jsonl", killed))
            .await
            .expect("append");
        // A run that sent a heartbeat just now: running.
        let alive = RunId::new_random();
        let now = chrono::Utc::now();
        store
            .append(ws, &[EventEnvelope::new(alive, 0, now, &Event::Heartbeat)])
            .await
            .expect("append");
        let view = store.get_run(killed).await.expect("get").expect("exists");
        assert_eq!(view.run.status, RunStatus::Lost);
        assert_eq!((view.run.jobs.running, view.run.jobs.incomplete), (0, 1));
        assert_eq!(
            store
                .get_run(alive)
                .await
                .expect("get")
                .expect("exists")
                .run
                .status,
            RunStatus::Running
        );
        let list = |status: RunStatus| {
            let store = store.clone();
            async move {
                store
                    .list_runs(&RunQuery {
                        status: vec![status],
                        ..Default::default()
                    })
                    .await
                    .expect("list")
                    .items
                    .into_iter()
                    .map(|r| (r.id, r.status))
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(list(RunStatus::Lost).await, vec![(killed, RunStatus::Lost)]);
        assert_eq!(
            list(RunStatus::Running).await,
            vec![(alive, RunStatus::Running)]
        );
        let jobs = store
            .list_jobs(killed, &JobQuery::default())
            .await
            .expect("jobs");
        let slow = jobs
            .items
            .iter()
            .find(|j| j.rule == "slow")
            .expect("slow job");
        assert_eq!(slow.status, JobStatus::Incomplete);
        // Read alone or among others, the same.
        let one = store
            .get_job(killed, slow.job_id)
            .await
            .expect("get")
            .expect("job");
        let many = store
            .get_jobs(killed, &[slow.job_id])
            .await
            .expect("get jobs");
        assert_eq!(one.status, JobStatus::Incomplete);
        assert_eq!(many, [one]);
        let incomplete = store
            .list_jobs(
                killed,
                &JobQuery {
                    status: vec![JobStatus::Incomplete],
                    ..Default::default()
                },
            )
            .await
            .expect("jobs");
        assert_eq!(incomplete.items.len(), 1);
        let running = store
            .list_jobs(
                killed,
                &JobQuery {
                    status: vec![JobStatus::Running],
                    ..Default::default()
                },
            )
            .await
            .expect("jobs");
        assert!(running.items.is_empty());
        // Counted the same way: its running job is counted as incomplete, none as running.
        support::assert_job_totals_match_rows(&*store, killed).await;
        let rules = store.rule_summaries(killed).await.expect("rules");
        let slow = rules.iter().find(|r| r.rule == "slow").expect("slow rule");
        assert_eq!((slow.jobs.running, slow.jobs.incomplete), (0, 1));
    }

    #[tokio::test]
    async fn sqlite() {
        let (store, db) = support::sqlite(Some(chrono::Duration::seconds(60))).await;
        check(store).await;
        db.cleanup().await;
    }

    #[tokio::test]
    async fn postgres() {
        let Some((store, db)) = support::postgres(Some(chrono::Duration::seconds(60))).await else {
            return;
        };
        check(store).await;
        db.cleanup().await;
    }
}

mod postgres_only {
    //! PostgreSQL: the listener's recovery, and replicas sharing one database.

    use std::collections::HashSet;
    use std::sync::Arc;
    use std::time::Duration;

    use flowo_core::store::{EventStream, StreamFilter};
    use flowo_core::{EventEnvelope, RunId, Store};
    use flowo_store::PgStore;
    use futures::StreamExt;

    use crate::support::{self, load_capture};

    async fn collect(stream: &mut EventStream, n: usize) -> Vec<(RunId, u64)> {
        let fut = async {
            let mut out = Vec::new();
            let mut last = 0;
            while out.len() < n {
                let e = stream.next().await.expect("open").expect("event");
                assert!(e.pos > last, "positions strictly increase");
                last = e.pos;
                out.push((e.envelope.run_id, e.envelope.seq));
            }
            out
        };
        tokio::time::timeout(Duration::from_secs(60), fut)
            .await
            .expect("every event arrives in time")
    }

    /// A database user who may not create extensions (not the database's owner, no `CREATE`
    /// on it): the store still opens and searches run text (by reading every run); once an
    /// administrator installs pg_trgm, the store makes the index when it next opens.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn without_pg_trgm_text_search_works_and_the_index_follows_the_extension() {
        let Some(mut db) = flowo_testkit::postgres::TestDatabase::create("flowo_test").await else {
            return;
        };
        let (role, user_url) = db.create_role("user").await;
        let admin = sqlx::PgPool::connect(&db.url).await.expect("admin");
        sqlx::query(&format!("GRANT USAGE, CREATE ON SCHEMA public TO {role}"))
            .execute(&admin)
            .await
            .expect("grant");
        let index = |pool: sqlx::PgPool| async move {
            let state: (bool, bool) = sqlx::query_as(
                "SELECT to_regclass('runs_search_trgm') IS NOT NULL, \
                 EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm')",
            )
            .fetch_one(&pool)
            .await
            .expect("index state");
            state
        };
        let store = PgStore::open(&user_url, &support::options(None))
            .await
            .expect("opens without the extension");
        assert_eq!(index(admin.clone()).await, (false, false));
        let pool = store.pool().clone();
        crate::conformance::text_search_finds_the_same_runs_every_way(Arc::new(store)).await;
        pool.close().await;
        sqlx::query("CREATE EXTENSION pg_trgm")
            .execute(&admin)
            .await
            .expect("the administrator installs pg_trgm");
        let store = PgStore::open(&user_url, &support::options(None))
            .await
            .expect("opens again");
        assert_eq!(
            index(admin.clone()).await,
            (true, true),
            "the index is made"
        );
        // Through the index now: rare text past the runs a probe reads, and upper case.
        for (text, name) in [
            ("SAMPLE_0010", "sample_0010 run"),
            ("renamed HAYSTACK", "Renamed haystack"),
        ] {
            let found = flowo_core::store::RunReader::list_runs(
                &store,
                &flowo_core::store::RunQuery {
                    text: Some(text.into()),
                    ..Default::default()
                },
            )
            .await
            .expect("search");
            let names: Vec<_> = found.items.iter().map(|r| r.name.as_deref()).collect();
            assert_eq!(names, [Some(name)], "{text}");
        }
        store.pool().close().await;
        admin.close().await;
        db.drop_database().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn listener_survives_terminated_connections_without_losing_events() {
        let Some((url, db)) = support::pg_database().await else {
            return;
        };
        let store = PgStore::open(&url, &support::options(None))
            .await
            .expect("open");
        let pool = store.pool().clone();
        let store: Arc<dyn Store> = Arc::new(store);
        let ws = store.ensure_workspace("default").await.expect("ws").id;
        let run = RunId::new_random();
        let events = load_capture("large/10-large.jsonl", run);
        let mut sub = store
            .subscribe(StreamFilter::default(), None)
            .await
            .expect("subscribe");
        let chunks: Vec<&[EventEnvelope]> = events.chunks(100).collect();
        let db_name: String = sqlx::query_scalar("SELECT current_database()")
            .fetch_one(&pool)
            .await
            .expect("db name");
        for (i, chunk) in chunks.iter().enumerate() {
            if i % 3 == 1 {
                // Kill the listener's connection (and every other one of this database but ours).
                let killed: Vec<bool> = sqlx::query_scalar(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE datname = $1 AND pid <> pg_backend_pid() AND query ILIKE 'LISTEN%'",
                )
                .bind(&db_name)
                .fetch_all(&pool)
                .await
                .expect("terminate");
                assert!(
                    i > 1 || !killed.is_empty(),
                    "the listener connection was found"
                );
            }
            store.append(ws, chunk).await.expect("append");
        }
        let got = collect(&mut sub, events.len()).await;
        let expected: Vec<(RunId, u64)> = events.iter().map(|e| (run, e.seq)).collect();
        assert_eq!(got, expected);
        drop(sub);
        drop(store);
        pool.close().await;
        db.cleanup().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn replicas_see_each_others_events_in_commit_order() {
        let Some((url, db)) = support::pg_database().await else {
            return;
        };
        let a: Arc<dyn Store> = Arc::new(
            PgStore::open(&url, &support::options(None))
                .await
                .expect("replica a"),
        );
        let b: Arc<dyn Store> = Arc::new(
            PgStore::open(&url, &support::options(None))
                .await
                .expect("replica b"),
        );
        let ws = a.ensure_workspace("default").await.expect("ws").id;
        let mut on_b = b
            .subscribe(StreamFilter::default(), None)
            .await
            .expect("subscribe b");
        let mut on_a = a
            .subscribe(StreamFilter::default(), None)
            .await
            .expect("subscribe a");
        // Eight writers over both replicas, each its own run, all at once.
        let mut expected = HashSet::new();
        let mut writers = Vec::new();
        for w in 0..8 {
            let store = if w % 2 == 0 { a.clone() } else { b.clone() };
            let run = RunId::new_random();
            let events = load_capture("job-failure/03-job-failure-keep-going.jsonl", run);
            expected.extend(events.iter().map(|e| (run, e.seq)));
            writers.push(tokio::spawn(async move {
                for chunk in events.chunks(9) {
                    store.append(ws, chunk).await.expect("append");
                }
            }));
        }
        for w in writers {
            w.await.expect("writer");
        }
        for stream in [&mut on_a, &mut on_b] {
            let got = collect(stream, expected.len()).await;
            let unique: HashSet<(RunId, u64)> = got.iter().copied().collect();
            assert_eq!(unique.len(), got.len(), "no duplicates");
            assert_eq!(unique, expected, "every event of every replica");
        }
        drop((on_a, on_b, a, b));
        db.cleanup().await;
    }
}
