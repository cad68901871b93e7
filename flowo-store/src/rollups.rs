//! Keeping the rollup tables (`run_rules`, `rule_days`, `run_days`) in step with appends and
//! deletes: the backend-independent part. An append describes what changed in each run
//! ([`RunChange`]); once the stream lock is held, the store loads the runs' stored rollups and
//! [`plan`] turns both into the rows to write. Everything is computed from the jobs' before and
//! after states, so the tables stay equal to a rebuild from the jobs (`rebuild` in the stores).

use std::collections::{BTreeMap, HashMap};

use flowo_core::rollup::{JobMark, RuleRollup, day_of};
use flowo_core::{Job, JobId, RunId, WorkspaceId};

/// Rollups of one run by rule.
pub(crate) type RunRollups = BTreeMap<String, RuleRollup>;

/// A job's rule and mark.
pub(crate) type Marks = HashMap<JobId, (String, JobMark)>;

/// The marks of jobs about to be folded, to compare with after the fold.
pub(crate) fn marks<'a>(jobs: impl IntoIterator<Item = &'a Job>) -> Marks {
    jobs.into_iter()
        .map(|j| (j.job_id, (j.rule.clone(), JobMark::of(j))))
        .collect()
}

/// How a run's jobs changed.
pub(crate) enum JobChanges {
    /// Jobs counted out and in, by rule.
    Delta {
        added: RunRollups,
        removed: RunRollups,
    },
    /// The run's rollups are these from now on (a fold from all events, or a delete).
    Replace(RunRollups),
}

impl JobChanges {
    /// The change from `before` (the changed jobs' marks before the fold) to `after`.
    pub(crate) fn between(before: &Marks, after: &[Job]) -> Self {
        let mut added = RunRollups::new();
        let mut removed = RunRollups::new();
        for job in after {
            let mark = JobMark::of(job);
            match before.get(&job.job_id) {
                Some((rule, old)) if *rule == job.rule && *old == mark => continue,
                Some((rule, old)) => removed.entry(rule.clone()).or_default().add(*old),
                None => {}
            }
            added.entry(job.rule.clone()).or_default().add(mark);
        }
        Self::Delta { added, removed }
    }

    /// The rollups of a run whose jobs are all these.
    pub(crate) fn of_all<'a>(jobs: impl IntoIterator<Item = &'a Job>) -> Self {
        let mut all = RunRollups::new();
        for job in jobs {
            all.entry(job.rule.clone())
                .or_default()
                .add(JobMark::of(job));
        }
        Self::Replace(all)
    }
}

/// Where a run is counted: the day of its start and its stored status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Place {
    pub workspace: WorkspaceId,
    pub day: i64,
    pub status: &'static str,
}

impl Place {
    pub(crate) fn of(run: &flowo_core::Run) -> Self {
        Self {
            workspace: run.workspace_id,
            // As stored in `runs.started_at`.
            day: day_of(run.started_at.map(crate::rows::micros).unwrap_or_default()),
            status: run.status.as_str(),
        }
    }
}

/// One run's change in an append or a delete.
pub(crate) struct RunChange {
    pub run_id: RunId,
    /// Before: `None` for a new run.
    pub before: Option<Place>,
    /// After: `None` for a deleted run.
    pub after: Option<Place>,
    pub jobs: JobChanges,
}

/// Added and removed, for one row of `rule_days` or `rule_months`.
#[derive(Clone, Default)]
pub(crate) struct DayDelta {
    pub added: RuleRollup,
    pub removed: RuleRollup,
}

/// Deltas by (workspace, first day of the period), then rule.
pub(crate) type PeriodDeltas = BTreeMap<(WorkspaceId, i64), BTreeMap<String, DayDelta>>;

/// The plan's day deltas by day, and the same summed by month (`rule_months`).
pub(crate) fn by_day_and_month(
    deltas: BTreeMap<(WorkspaceId, i64, String), DayDelta>,
) -> (PeriodDeltas, PeriodDeltas) {
    let mut days = PeriodDeltas::new();
    let mut months = PeriodDeltas::new();
    for ((ws, day, rule), delta) in deltas {
        let month = months
            .entry((ws, flowo_core::rollup::month_start(day)))
            .or_default()
            .entry(rule.clone())
            .or_default();
        month.added.merge(&delta.added);
        month.removed.merge(&delta.removed);
        days.entry((ws, day)).or_default().insert(rule, delta);
    }
    (days, months)
}

/// The rows to write.
#[derive(Default)]
pub(crate) struct Plan {
    /// `run_rules` rows to write (an empty rollup means: delete the row).
    pub run_rules: Vec<(RunId, String, RuleRollup)>,
    /// Changes to `rule_days`, by (workspace, day, rule), in key order.
    pub rule_days: BTreeMap<(WorkspaceId, i64, String), DayDelta>,
    /// Changes to `run_days`, by (workspace, day, status), in key order.
    pub run_days: BTreeMap<(WorkspaceId, i64, &'static str), i64>,
}

/// Plans the writes for `changes`, given each run's stored rollups.
pub(crate) fn plan(changes: Vec<RunChange>, mut stored: HashMap<RunId, RunRollups>) -> Plan {
    let mut out = Plan::default();
    for change in changes {
        let old = stored.remove(&change.run_id).unwrap_or_default();
        let new = match &change.jobs {
            JobChanges::Replace(all) => all.clone(),
            JobChanges::Delta { added, removed } => {
                let mut new = old.clone();
                for (rule, r) in removed {
                    if let Some(row) = new.get_mut(rule) {
                        row.subtract(r);
                    }
                }
                for (rule, r) in added {
                    new.entry(rule.clone()).or_default().merge(r);
                }
                new
            }
        };
        // The run's rows.
        for (rule, r) in &new {
            // Changed rows; an empty rollup of a rule the run never had is nothing to write.
            if (old.contains_key(rule) || !r.is_empty()) && old.get(rule) != Some(r) {
                out.run_rules.push((change.run_id, rule.clone(), r.clone()));
            }
        }
        for rule in old.keys().filter(|rule| !new.contains_key(*rule)) {
            out.run_rules
                .push((change.run_id, rule.clone(), RuleRollup::default()));
        }
        // The days' rows: a run that stays on its day changes by its delta; otherwise (new,
        // moved or deleted) its old rows leave the old day and its new rows join the new one.
        let same_day = match (&change.before, &change.after) {
            (Some(b), Some(a)) => b.workspace == a.workspace && b.day == a.day,
            _ => false,
        };
        match (&change.jobs, same_day) {
            (JobChanges::Delta { added, removed, .. }, true) => {
                let place = change.after.as_ref().expect("same day has a place");
                for (rule, r) in removed {
                    day_entry(&mut out, place, rule).removed.merge(r);
                }
                for (rule, r) in added {
                    day_entry(&mut out, place, rule).added.merge(r);
                }
            }
            _ => {
                if let Some(place) = &change.before {
                    for (rule, r) in &old {
                        day_entry(&mut out, place, rule).removed.merge(r);
                    }
                }
                if let Some(place) = &change.after {
                    for (rule, r) in &new {
                        day_entry(&mut out, place, rule).added.merge(r);
                    }
                }
            }
        }
        if change.before != change.after {
            if let Some(p) = &change.before {
                *out.run_days
                    .entry((p.workspace, p.day, p.status))
                    .or_default() -= 1;
            }
            if let Some(p) = &change.after {
                *out.run_days
                    .entry((p.workspace, p.day, p.status))
                    .or_default() += 1;
            }
        }
    }
    out.run_days.retain(|_, n| *n != 0);
    out
}

fn day_entry<'a>(plan: &'a mut Plan, place: &Place, rule: &str) -> &'a mut DayDelta {
    plan.rule_days
        .entry((place.workspace, place.day, rule.to_string()))
        .or_default()
}

/// Applies a day's delta to its stored row.
pub(crate) fn apply(row: &mut RuleRollup, delta: &DayDelta) {
    row.subtract(&delta.removed);
    row.merge(&delta.added);
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowo_core::JobStatus;

    fn job(id: u64, rule: &str, status: JobStatus, secs: Option<i64>) -> Job {
        let start = chrono::DateTime::from_timestamp(1_000, 0).expect("time");
        Job {
            run_id: RunId(uuid::Uuid::nil()),
            job_id: id,
            rule: rule.into(),
            status,
            attempts: 1,
            started_at: Some(start),
            finished_at: secs.map(|s| start + chrono::Duration::seconds(s)),
            detail: Default::default(),
        }
    }

    fn place(day: i64, status: &'static str) -> Place {
        Place {
            workspace: WorkspaceId(uuid::Uuid::nil()),
            day,
            status,
        }
    }

    #[test]
    fn a_finished_job_moves_between_counts() {
        let running = job(1, "a", JobStatus::Running, None);
        let before = marks([&running]);
        let done = job(1, "a", JobStatus::Succeeded, Some(4));
        let run = RunId(uuid::Uuid::from_u128(1));
        let mut stored = HashMap::new();
        let mut a = RuleRollup::default();
        a.add(JobMark::of(&running));
        stored.insert(run, RunRollups::from([("a".to_string(), a)]));
        let plan = plan(
            vec![RunChange {
                run_id: run,
                before: Some(place(3, "running")),
                after: Some(place(3, "running")),
                jobs: JobChanges::between(&before, &[done]),
            }],
            stored,
        );
        let (_, rule, row) = &plan.run_rules[0];
        assert_eq!(rule, "a");
        assert_eq!((row.jobs.running, row.jobs.succeeded), (0, 1));
        assert_eq!(row.durations.median(), Some(4.0));
        let delta = &plan.rule_days[&(WorkspaceId(uuid::Uuid::nil()), 3, "a".to_string())];
        assert_eq!(
            (delta.added.jobs.succeeded, delta.removed.jobs.running),
            (1, 1)
        );
        assert!(plan.run_days.is_empty());
    }

    #[test]
    fn a_moved_run_leaves_its_old_day() {
        let run = RunId(uuid::Uuid::from_u128(2));
        let j = job(1, "a", JobStatus::Succeeded, Some(1));
        let mut a = RuleRollup::default();
        a.add(JobMark::of(&j));
        let stored = HashMap::from([(run, RunRollups::from([("a".to_string(), a.clone())]))]);
        let plan = plan(
            vec![RunChange {
                run_id: run,
                before: Some(place(3, "running")),
                after: Some(place(2, "succeeded")),
                jobs: JobChanges::between(&marks([&j]), std::slice::from_ref(&j)),
            }],
            stored,
        );
        assert!(
            plan.run_rules.is_empty(),
            "the run's own rows did not change"
        );
        let ws = WorkspaceId(uuid::Uuid::nil());
        assert_eq!(plan.rule_days[&(ws, 3, "a".into())].removed, a);
        assert_eq!(plan.rule_days[&(ws, 2, "a".into())].added, a);
        assert_eq!(plan.run_days[&(ws, 3, "running")], -1);
        assert_eq!(plan.run_days[&(ws, 2, "succeeded")], 1);
    }

    #[test]
    fn a_deleted_run_takes_its_rows_along() {
        let run = RunId(uuid::Uuid::from_u128(3));
        let j = job(1, "a", JobStatus::Failed, None);
        let mut a = RuleRollup::default();
        a.add(JobMark::of(&j));
        let stored = HashMap::from([(run, RunRollups::from([("a".to_string(), a.clone())]))]);
        let plan = plan(
            vec![RunChange {
                run_id: run,
                before: Some(place(5, "failed")),
                after: None,
                jobs: JobChanges::Replace(RunRollups::new()),
            }],
            stored,
        );
        assert_eq!(plan.run_rules.len(), 1);
        assert!(plan.run_rules[0].2.is_empty());
        let ws = WorkspaceId(uuid::Uuid::nil());
        assert_eq!(plan.rule_days[&(ws, 5, "a".into())].removed, a);
        assert_eq!(plan.run_days[&(ws, 5, "failed")], -1);
    }
}
