//! The data checks: run by [`World::wait`] after every execution a test starts through
//! [`World::start`] in a world whose application writes (every world with a seeded pilot light
//! that has a front door), beside the invariant checker. From the emulator's data plane (what each
//! database holds) and the application's record (what was acknowledged, by which physical
//! instance, when):
//!
//! 1. `lost-writes`: every write the application was ever told was committed is in the database
//!    that serves now (the one in the region the front door points at). Graceful failover and both
//!    failback strategies may lose nothing. An ungraceful failover may lose only writes the primary
//!    acknowledged within the replica lag before replication was cut (the region lost, or the
//!    promotion asked for, whichever came first); those are counted, reported and remembered, so
//!    later runs do not count them again.
//! 2. `split-brain`: no two physical databases of one logical database took writes at overlapping
//!    times.
//! 3. `someone-serving`: after the run, the application gets a write acknowledged within a few
//!    seconds, or the run's alert names the command that restores service.
//!
//! Each check also measures the run: writes acknowledged, lost, RPO (how much time of acknowledged
//! writes was lost) and the write-unavailability window (the longest time without an
//! acknowledged write between the run's start and service resuming), from the data plane's commit
//! times, never from the state machine's timestamps. One JSON line per run goes to
//! `data-checks.jsonl` in the stack's log directory; `make test` ends with the table of them.

use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::time::Duration;

use crate::application::{epoch_now, Acknowledged, Application};
use crate::invariants::{RunStart, Violation};
use crate::world::http;
use crate::{Execution, World, PRIMARY_REGION};

/// How long after a run the application must get a write through for "someone serves".
pub const SERVING_WITHIN: Duration = Duration::from_secs(8);

/// Slack on the ungraceful bound: one write interval and clock rounding.
const BOUND_SLACK_SECONDS: f64 = 0.3;

/// What one run did to the data.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DataFigures {
    /// Writes acknowledged while the run ran.
    pub acknowledged: usize,
    /// Acknowledged writes (of any time) found missing from the serving database for the first
    /// time after this run.
    pub lost: usize,
    /// Pairs of physical databases of one logical database that took writes at overlapping times,
    /// and the longest overlap.
    pub split_brain_windows: usize,
    pub split_brain_seconds: f64,
    /// The time span of acknowledged writes this run lost (0 when none).
    pub rpo_seconds: f64,
    /// The longest time without an acknowledged write, from the run's start until service resumed.
    pub write_unavailable_seconds: f64,
    /// The region serving writes after the run (None: nobody within [`SERVING_WITHIN`]).
    pub serving_region: Option<String>,
}

/// The intervals `[first, last]` of acknowledged writes per physical instance of one logical
/// database, and every overlap between two of them (seconds).
pub fn overlapping_writers(acks: &[&Acknowledged]) -> Vec<(String, String, f64)> {
    let mut spans: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
    for ack in acks {
        let span = spans
            .entry(ack.incarnation.as_str())
            .or_insert((ack.time, ack.time));
        span.0 = span.0.min(ack.time);
        span.1 = span.1.max(ack.time);
    }
    let spans: Vec<(&str, (f64, f64))> = spans.into_iter().collect();
    let mut overlaps = Vec::new();
    for (i, (a, (a0, a1))) in spans.iter().enumerate() {
        for (b, (b0, b1)) in &spans[i + 1..] {
            let overlap = a1.min(*b1) - a0.max(*b0);
            if overlap > 0.0 {
                overlaps.push((a.to_string(), b.to_string(), overlap));
            }
        }
    }
    overlaps
}

/// The longest gap between acknowledged writes in `[from, to]` (the ends count as edges).
pub fn longest_gap(ack_times: &[f64], from: f64, to: f64) -> f64 {
    let mut times: Vec<f64> = ack_times
        .iter()
        .copied()
        .filter(|t| *t >= from && *t <= to)
        .collect();
    times.sort_by(f64::total_cmp);
    let mut previous = from;
    let mut longest: f64 = 0.0;
    for t in times.into_iter().chain(std::iter::once(to)) {
        longest = longest.max(t - previous);
        previous = t;
    }
    longest
}

/// RPO of a set of lost writes: from the last write that survived before the first lost one to
/// the last lost one (0 when nothing was lost).
pub fn recovery_point(lost_times: &[f64], kept_times: &[f64]) -> f64 {
    let Some(first_lost) = lost_times.iter().copied().min_by(f64::total_cmp) else {
        return 0.0;
    };
    let last_lost = lost_times
        .iter()
        .copied()
        .max_by(f64::total_cmp)
        .unwrap_or(first_lost);
    let last_kept_before = kept_times
        .iter()
        .copied()
        .filter(|t| *t < first_lost)
        .max_by(f64::total_cmp)
        .unwrap_or(first_lost);
    last_lost - last_kept_before
}

/// True when a lost write is within an ungraceful failover's bound: acknowledged by the primary
/// region no earlier than the replica lag before replication was cut.
pub fn within_ungraceful_bound(ack: &Acknowledged, cut: f64, lag: f64) -> bool {
    ack.region == PRIMARY_REGION && ack.time >= cut - lag - BOUND_SLACK_SECONDS
}

/// True when the run is a failover that may lose data (not `graceful`).
fn is_ungraceful_failover(start: &RunStart) -> bool {
    start.machine.ends_with("-failover") && start.input["mode"].as_str() != Some("graceful")
}

impl World {
    /// The write ids the database `instance` in `region` holds now (`None`: no such instance).
    pub fn database_log(&self, region: &str, instance: &str) -> Option<Vec<Value>> {
        let (status, text) = http(
            &self.aws.moto_url,
            "GET",
            &format!("/pilot-light/data/log?region={region}&instance={instance}"),
            None,
        );
        if status == 404 {
            return None;
        }
        assert_eq!(
            status, 200,
            "data plane log of {instance} in {region}: {text}"
        );
        let answer: Value = serde_json::from_str(&text).expect("data plane log JSON");
        Some(answer["writes"].as_array().cloned().unwrap_or_default())
    }

    /// The data checks after `execution` (see the module documentation); `None` when the world
    /// has no application writing.
    pub async fn data_checks(
        &self,
        start: &RunStart,
        execution: &Execution,
    ) -> Option<(DataFigures, Vec<Violation>)> {
        let application = self.application()?;
        let ended = epoch_now();
        let resumed = application
            .next_acknowledged_after(ended, SERVING_WITHIN)
            .await;
        let mut figures = DataFigures {
            serving_region: resumed.as_ref().map(|ack| ack.region.clone()),
            ..DataFigures::default()
        };
        let mut violations = Vec::new();
        if resumed.is_none() && !alert_names_a_command(execution) {
            violations.push(Violation {
                invariant: "someone-serving",
                detail: format!(
                    "no region took a write within {SERVING_WITHIN:?} after the run ({}), and its alert names no command that restores service (error {:?}, cause {:?}); the application's last attempts: {:?}",
                    execution.status,
                    execution.error,
                    execution.cause,
                    application.attempts().iter().rev().take(3).collect::<Vec<_>>()
                ),
            });
        }

        let acks = application.acknowledged();
        let serving_region = self.front_door_region(&application).await;
        let (requests, _) = self.requests_since(start.since);
        let mut newly_lost: Vec<&Acknowledged> = Vec::new();
        let mut unavailable: f64 = 0.0;
        for database in &application.target.databases {
            let of_database: Vec<&Acknowledged> = acks
                .iter()
                .filter(|a| a.database == database.name)
                .collect();
            let held: BTreeSet<String> = serving_region
                .as_deref()
                .and_then(|region| self.database_log(region, database.instance_in(region)))
                .unwrap_or_default()
                .iter()
                .filter_map(|w| w["writeId"].as_str().map(str::to_string))
                .collect();
            let accepted = self.accepted_losses();
            let missing: Vec<&Acknowledged> = of_database
                .iter()
                .copied()
                .filter(|a| !held.contains(&a.write_id) && !accepted.contains(&a.write_id))
                .collect();
            if !missing.is_empty() {
                let cut = is_ungraceful_failover(start).then(|| {
                    let promoted = requests
                        .iter()
                        .filter(|r| r.action == "PromoteReadReplica")
                        .filter(|r| r.param("DBInstanceIdentifier") == Some(&database.replica_id))
                        .map(|r| r.time)
                        .min_by(f64::total_cmp);
                    let lost_region = self.region_lost_at(PRIMARY_REGION);
                    [promoted, lost_region]
                        .into_iter()
                        .flatten()
                        .min_by(f64::total_cmp)
                });
                let (allowed, not_allowed): (Vec<&Acknowledged>, Vec<&Acknowledged>) =
                    missing.iter().partition(|a| {
                        let lag = self.replica_apply_lag(&database.replica_id);
                        cut.flatten()
                            .is_some_and(|cut| within_ungraceful_bound(a, cut, lag))
                    });
                if !not_allowed.is_empty() {
                    violations.push(Violation {
                        invariant: "lost-writes",
                        detail: format!(
                            "{} acknowledged write(s) of {} are not in the serving database {} ({:?}), e.g. {:?}",
                            not_allowed.len(),
                            database.name,
                            serving_region
                                .as_deref()
                                .map(|r| database.instance_in(r))
                                .unwrap_or("<none>"),
                            serving_region,
                            not_allowed.iter().take(3).map(|a| (&a.write_id, &a.instance, a.time)).collect::<Vec<_>>()
                        ),
                    });
                }
                self.accept_losses(allowed.iter().map(|a| a.write_id.clone()));
                newly_lost.extend(missing);
            }
            for (a, b, seconds) in overlapping_writers(&of_database) {
                figures.split_brain_windows += 1;
                figures.split_brain_seconds = figures.split_brain_seconds.max(seconds);
                violations.push(Violation {
                    invariant: "split-brain",
                    detail: format!(
                        "two databases of {} took writes during the same {seconds:.2} s ({a} and {b})",
                        database.name
                    ),
                });
            }
            let times: Vec<f64> = of_database.iter().map(|a| a.time).collect();
            let until = resumed.as_ref().map(|a| a.time).unwrap_or(ended);
            unavailable = unavailable.max(longest_gap(&times, start.started_at, until));
        }
        figures.acknowledged = acks
            .iter()
            .filter(|a| a.time >= start.started_at && a.time <= ended)
            .count();
        figures.lost = newly_lost.len();
        let lost_ids: BTreeSet<&str> = newly_lost.iter().map(|a| a.write_id.as_str()).collect();
        let lost_times: Vec<f64> = newly_lost.iter().map(|a| a.time).collect();
        let kept_times: Vec<f64> = acks
            .iter()
            .filter(|a| !lost_ids.contains(a.write_id.as_str()))
            .map(|a| a.time)
            .collect();
        figures.rpo_seconds = recovery_point(&lost_times, &kept_times);
        figures.write_unavailable_seconds = unavailable;
        self.record_data_figures(start, execution, &figures, &violations);
        Some((figures, violations))
    }

    /// The region the application's front door points at now (the harness's own read).
    async fn front_door_region(&self, application: &Application) -> Option<String> {
        let target = &application.target;
        let listed = self
            .route53()
            .list_resource_record_sets()
            .hosted_zone_id(&target.hosted_zone_id)
            .start_record_name(&target.record_name)
            .max_items(10)
            .send()
            .await
            .ok()?;
        let wanted = target.record_name.trim_end_matches('.');
        let values: Vec<String> = listed
            .resource_record_sets()
            .iter()
            .filter(|set| {
                set.name()
                    .trim_end_matches('.')
                    .eq_ignore_ascii_case(wanted)
            })
            .flat_map(|set| set.resource_records().iter().map(|r| r.value().to_string()))
            .collect();
        crate::application::region_of(&values, target).ok()
    }

    fn record_data_figures(
        &self,
        start: &RunStart,
        execution: &Execution,
        figures: &DataFigures,
        violations: &[Violation],
    ) {
        let scenario = self.scenario();
        let line = json!({
            "scenario": scenario,
            "machine": start.machine.trim_start_matches(&format!("{}-", self.env)),
            "mode": start.input["mode"].as_str().or(start.input["strategy"].as_str()),
            "execution": execution.arn.rsplit(':').next().unwrap_or_default(),
            "status": execution.status,
            "acknowledged": figures.acknowledged,
            "lost": figures.lost,
            "splitBrainWindows": figures.split_brain_windows,
            "rpoSeconds": figures.rpo_seconds,
            "writeUnavailableSeconds": figures.write_unavailable_seconds,
            "servingRegion": figures.serving_region,
            "violations": violations.iter().map(ToString::to_string).collect::<Vec<_>>(),
        });
        // Worlds of one binary end runs at the same time: one writer at a time, one write a line
        // (`writeln!` may split a line into several writes, which interleave).
        static ONE_WRITER: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _writer = ONE_WRITER
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let path = self.aws.log_dir.join("data-checks.jsonl");
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = file.write_all(format!("{line}\n").as_bytes());
        }
    }
}

/// True when the run's alert (the failure notification's output, or the execution's cause) names
/// a command that restores service.
fn alert_names_a_command(execution: &Execution) -> bool {
    let names_command = |text: &str| {
        [
            "pilot-light failover",
            "pilot-light failback",
            "start-execution",
        ]
        .iter()
        .any(|command| text.contains(command))
    };
    execution.cause.as_deref().is_some_and(names_command)
        || execution
            .history
            .iter()
            .filter(|e| e.state.as_deref().is_some_and(|s| s.starts_with("Notify")))
            .filter_map(|e| e.output.as_ref())
            .any(|output| names_command(&output.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack(id: &str, incarnation: &str, region: &str, time: f64) -> Acknowledged {
        Acknowledged {
            write_id: id.into(),
            database: "orders".into(),
            region: region.into(),
            instance: "db".into(),
            incarnation: incarnation.into(),
            time,
        }
    }

    #[test]
    fn writers_overlap_only_when_both_took_writes_in_one_span() {
        let a1 = ack("1", "a", PRIMARY_REGION, 1.0);
        let a2 = ack("2", "a", PRIMARY_REGION, 2.0);
        let b1 = ack("3", "b", "us-west-2", 3.0);
        let b2 = ack("4", "b", "us-west-2", 4.0);
        assert!(overlapping_writers(&[&a1, &a2, &b1, &b2]).is_empty());
        let a3 = ack("5", "a", PRIMARY_REGION, 3.5);
        let overlaps = overlapping_writers(&[&a1, &a2, &b1, &b2, &a3]);
        assert_eq!(overlaps.len(), 1);
        assert!((overlaps[0].2 - 0.5).abs() < 1e-9);
    }

    #[test]
    fn the_longest_gap_counts_the_edges() {
        assert_eq!(longest_gap(&[], 0.0, 5.0), 5.0);
        assert_eq!(longest_gap(&[1.0, 2.0, 4.5], 0.0, 5.0), 2.5);
        assert_eq!(longest_gap(&[0.5, 1.0, 4.0], 0.0, 4.2), 3.0);
        // Acknowledgements outside the window do not count.
        assert_eq!(longest_gap(&[-3.0, 9.0], 0.0, 2.0), 2.0);
    }

    #[test]
    fn recovery_point_spans_the_lost_writes_from_the_last_kept_one() {
        assert_eq!(recovery_point(&[], &[1.0, 2.0]), 0.0);
        assert_eq!(recovery_point(&[3.0, 3.4], &[1.0, 2.5, 5.0]), 3.4 - 2.5);
        assert_eq!(recovery_point(&[3.0], &[]), 0.0);
    }

    #[test]
    fn the_ungraceful_bound_is_the_lag_before_the_cut() {
        let cut = 100.0;
        let lag = 0.3;
        assert!(within_ungraceful_bound(
            &ack("1", "a", PRIMARY_REGION, 99.9),
            cut,
            lag
        ));
        assert!(within_ungraceful_bound(
            &ack("1", "a", PRIMARY_REGION, 100.5),
            cut,
            lag
        ));
        assert!(!within_ungraceful_bound(
            &ack("1", "a", PRIMARY_REGION, 98.0),
            cut,
            lag
        ));
        // The standby's writes are never the ones replication did not ship.
        assert!(!within_ungraceful_bound(
            &ack("1", "a", "us-west-2", 100.0),
            cut,
            lag
        ));
    }
}
