//! Per-rule rollups: job counts by status and a sketch of succeeded jobs' durations.
//!
//! The stores keep one [`RuleRollup`] per run and rule, and one per workspace, day and rule,
//! updated with every append, so that a run's rule summary and a workspace's statistics read a
//! few rows instead of every job. Counts are exact. Durations are kept in a [`DurationSketch`]:
//! exact count, minimum and maximum, and quantiles from logarithmic buckets with a relative
//! error of at most 1 % (the DDSketch scheme), which can be merged and subtracted.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{Job, JobCounts, JobStatus, RuleSummary};

/// Relative accuracy of a quantile read from a sketch.
pub const RELATIVE_ERROR: f64 = 0.01;

/// The bucket of durations of zero or less.
const ZERO: i32 = i32::MIN;

fn gamma() -> f64 {
    (1.0 + RELATIVE_ERROR) / (1.0 - RELATIVE_ERROR)
}

fn bucket(us: i64) -> i32 {
    if us <= 0 {
        return ZERO;
    }
    ((us as f64).ln() / gamma().ln()).ceil() as i32
}

/// The value a bucket stands for: within [`RELATIVE_ERROR`] of every value in it.
fn bucket_value(index: i32) -> f64 {
    if index == ZERO {
        return 0.0;
    }
    let g = gamma();
    2.0 * g.powi(index) / (g + 1.0)
}

/// Durations (microseconds) in logarithmic buckets, with their exact count and bounds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DurationSketch {
    /// Durations kept.
    #[serde(rename = "n")]
    pub count: u64,
    /// Shortest, when the sketch knows it exactly.
    #[serde(rename = "lo", skip_serializing_if = "Option::is_none", default)]
    pub min: Option<i64>,
    /// Longest, when the sketch knows it exactly.
    #[serde(rename = "hi", skip_serializing_if = "Option::is_none", default)]
    pub max: Option<i64>,
    /// Bucket index to count.
    #[serde(rename = "b", default)]
    buckets: BTreeMap<i32, u64>,
}

impl DurationSketch {
    /// Adds one duration.
    pub fn add(&mut self, us: i64) {
        *self.buckets.entry(bucket(us)).or_default() += 1;
        self.count += 1;
        self.min = Some(self.min.map_or(us, |m| m.min(us)));
        self.max = Some(self.max.map_or(us, |m| m.max(us)));
    }

    /// Removes one duration added before. When it was the minimum or the maximum, that bound
    /// is taken from the buckets from then on (within the relative error).
    pub fn remove(&mut self, us: i64) {
        let b = bucket(us);
        if let Some(n) = self.buckets.get_mut(&b) {
            *n -= 1;
            if *n == 0 {
                self.buckets.remove(&b);
            }
            self.count -= 1;
        }
        if self.min == Some(us) || self.max == Some(us) {
            self.bounds_from_buckets();
        }
        if self.count == 0 {
            *self = Self::default();
        }
    }

    /// Takes the bounds from the outermost buckets (after a bound was removed).
    fn bounds_from_buckets(&mut self) {
        let value = |i: &i32| bucket_value(*i).round() as i64;
        self.min = self.buckets.keys().next().map(value);
        self.max = self.buckets.keys().last().map(value);
    }

    /// Adds every duration of `other`.
    pub fn merge(&mut self, other: &Self) {
        for (&b, &n) in &other.buckets {
            *self.buckets.entry(b).or_default() += n;
        }
        self.count += other.count;
        self.min = match (self.min, other.min) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.max = match (self.max, other.max) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }

    /// Removes every duration of `other` (which must have been merged in before). Bounds that
    /// `other` held are taken from the buckets from then on.
    pub fn subtract(&mut self, other: &Self) {
        for (&b, &n) in &other.buckets {
            if let Some(have) = self.buckets.get_mut(&b) {
                *have = have.saturating_sub(n);
                if *have == 0 {
                    self.buckets.remove(&b);
                }
            }
        }
        self.count = self.count.saturating_sub(other.count);
        if other.count > 0 && (self.min == other.min || self.max == other.max) {
            self.bounds_from_buckets();
        }
        if self.count == 0 {
            *self = Self::default();
        }
    }

    /// The median in seconds (the lower middle value's bucket, within the bounds).
    pub fn median(&self) -> Option<f64> {
        self.quantile(0.5)
    }

    /// The `q` quantile in seconds (whole microseconds), `0 <= q <= 1`.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        let mut value = 0.0;
        for (&b, &n) in &self.buckets {
            seen += n;
            value = bucket_value(b);
            if seen >= rank {
                break;
            }
        }
        if let Some(lo) = self.min {
            value = value.max(lo as f64);
        }
        if let Some(hi) = self.max {
            value = value.min(hi as f64);
        }
        // Whole microseconds, as the durations themselves.
        Some(value.round() / 1e6)
    }

    /// Shortest, seconds.
    pub fn min_seconds(&self) -> Option<f64> {
        self.min.map(|us| us as f64 / 1e6)
    }

    /// Longest, seconds.
    pub fn max_seconds(&self) -> Option<f64> {
        self.max.map(|us| us as f64 / 1e6)
    }
}

/// One rule's jobs: counts by status, and the durations of the succeeded ones.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RuleRollup {
    /// Jobs by status.
    pub jobs: JobCounts,
    /// Durations of succeeded jobs with a start and an end.
    pub durations: DurationSketch,
}

/// What a job adds to its rule's rollup: its status, and its duration when it succeeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JobMark {
    /// Status.
    pub status: JobStatus,
    /// Microseconds from start to end, for a succeeded job with both.
    pub duration: Option<i64>,
}

impl JobMark {
    /// The mark of a job.
    pub fn of(job: &Job) -> Self {
        let duration = match (job.status, job.started_at, job.finished_at) {
            (JobStatus::Succeeded, Some(s), Some(f)) => {
                Some((f - s).num_microseconds().unwrap_or(i64::MAX))
            }
            _ => None,
        };
        Self {
            status: job.status,
            duration,
        }
    }
}

impl RuleRollup {
    /// Counts a job in.
    pub fn add(&mut self, mark: JobMark) {
        *self.jobs.get_mut(mark.status) += 1;
        if let Some(d) = mark.duration {
            self.durations.add(d);
        }
    }

    /// Counts a job out (it was counted in before).
    pub fn remove(&mut self, mark: JobMark) {
        let n = self.jobs.get_mut(mark.status);
        *n = n.saturating_sub(1);
        if let Some(d) = mark.duration {
            self.durations.remove(d);
        }
    }

    /// Adds another rollup.
    pub fn merge(&mut self, other: &Self) {
        for &s in JobStatus::ALL {
            *self.jobs.get_mut(s) += other.jobs.get(s);
        }
        self.durations.merge(&other.durations);
    }

    /// Removes another rollup merged in before.
    pub fn subtract(&mut self, other: &Self) {
        for &s in JobStatus::ALL {
            let n = self.jobs.get_mut(s);
            *n = n.saturating_sub(other.jobs.get(s));
        }
        self.durations.subtract(&other.durations);
    }

    /// Whether it counts nothing.
    pub fn is_empty(&self) -> bool {
        self.jobs.total() == 0 && self.durations.count == 0
    }

    /// Fills a rule summary's counts and durations.
    pub fn summarize(&self, summary: &mut RuleSummary) {
        summary.jobs = self.jobs;
        summary.duration_min = self.durations.min_seconds();
        summary.duration_median = self.durations.median();
        summary.duration_max = self.durations.max_seconds();
    }
}

/// The UTC day (days since 1970-01-01) of a time in microseconds.
pub fn day_of(us: i64) -> i64 {
    us.div_euclid(DAY_US)
}

/// Microseconds in a day.
pub const DAY_US: i64 = 86_400_000_000;

fn date_of(day: i64) -> chrono::NaiveDate {
    chrono::DateTime::from_timestamp(day.saturating_mul(86_400), 0)
        .unwrap_or_default()
        .date_naive()
}

fn day_number(date: chrono::NaiveDate) -> i64 {
    date.signed_duration_since(chrono::NaiveDate::default())
        .num_days()
}

/// The first day of the month (UTC) that `day` is in, as a day number.
pub fn month_start(day: i64) -> i64 {
    use chrono::Datelike;
    let date = date_of(day);
    date.with_day(1).map_or(day, day_number)
}

/// The first day of the month after the one `day` is in.
pub fn next_month(day: i64) -> i64 {
    let start = date_of(month_start(day));
    start
        .checked_add_months(chrono::Months::new(1))
        .map_or(day + 31, day_number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_the_relative_error() {
        let mut s = DurationSketch::default();
        let values: Vec<i64> = (1..=1001).map(|i| i * 7_919 + 3).collect();
        for &v in &values {
            s.add(v);
        }
        let exact = values[500] as f64 / 1e6;
        let got = s.median().expect("median");
        assert!(
            (got - exact).abs() <= exact * RELATIVE_ERROR,
            "{got} vs {exact}"
        );
        assert_eq!(s.min, Some(values[0]));
        assert_eq!(s.max, Some(values[1000]));
        assert_eq!(s.count, 1001);
    }

    #[test]
    fn one_value_reads_back_exactly() {
        let mut s = DurationSketch::default();
        s.add(2_000_000);
        assert_eq!(s.median(), Some(2.0));
        s.add(2_000_000);
        assert_eq!(s.median(), Some(2.0));
    }

    #[test]
    fn merge_then_subtract_restores_counts() {
        let mut a = DurationSketch::default();
        let mut b = DurationSketch::default();
        for v in [5, 50, 500] {
            a.add(v * 1000);
        }
        for v in [1, 10_000] {
            b.add(v * 1000);
        }
        let before = a.clone();
        a.merge(&b);
        assert_eq!((a.count, a.min, a.max), (5, Some(1000), Some(10_000_000)));
        a.subtract(&b);
        assert_eq!(a.count, before.count);
        assert_eq!(a.buckets, before.buckets);
        let m = a.median().expect("median");
        assert!((m - 0.05).abs() <= 0.05 * RELATIVE_ERROR);
    }

    #[test]
    fn removing_everything_empties_it() {
        let mut r = RuleRollup::default();
        let mark = JobMark {
            status: JobStatus::Succeeded,
            duration: Some(0),
        };
        r.add(mark);
        assert_eq!(r.durations.median(), Some(0.0));
        r.remove(mark);
        assert!(r.is_empty());
        assert_eq!(r.durations, DurationSketch::default());
    }

    #[test]
    fn sketch_round_trips_through_json() {
        let mut s = DurationSketch::default();
        for v in [1, 2, 3, 1_000_000] {
            s.add(v);
        }
        let text = serde_json::to_string(&s).expect("encode");
        let back: DurationSketch = serde_json::from_str(&text).expect("decode");
        assert_eq!(back, s);
    }

    #[test]
    fn months_start_on_their_first_day() {
        // 2026-03-01 is day 20513.
        let march_1 = 20_513;
        assert_eq!(month_start(march_1), march_1);
        assert_eq!(month_start(march_1 + 30), march_1);
        assert_eq!(next_month(march_1), march_1 + 31);
        assert_eq!(month_start(march_1 - 1), march_1 - 28);
        assert_eq!(next_month(march_1 - 1), march_1);
    }

    #[test]
    fn days_are_utc_and_floor_negative_times() {
        assert_eq!(day_of(0), 0);
        assert_eq!(day_of(DAY_US - 1), 0);
        assert_eq!(day_of(DAY_US), 1);
        assert_eq!(day_of(-1), -1);
    }
}
