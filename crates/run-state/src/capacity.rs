//! **The capacity record**: what the primary's compute groups run while it serves, so that a
//! failover asks the standby for production's capacity and not for a floor of 1.
//!
//! `recordPrimaryCapacity` (run by the stack's `CapacityRecordSchedule`, and by hand) describes the
//! primary groups of the configuration and keeps their desired, min and max sizes, with when each
//! was seen, in `/pilot-light/<env>/capacity`. A parameter of its own: a recording never writes the
//! run state, so it cannot race a failover's writes to it.
//!
//! It records only while the primary serves and no run holds the lock: during a failover or a
//! failback, or while the standby serves, the primary groups are fenced or changing and their sizes
//! say nothing about production. A group that is fenced (it carries the fence's tag), at desired 0
//! or not found keeps what was recorded for it before, and a note says why: a record never drops to
//! 0. `beginFailover` and `beginFailback` read the record ([`recorded_capacities`]); the run
//! state's `primaryCapacity` (written by `recordCapacity`) is the fallback for a group the record
//! lacks.

use crate::{LockView, RunState};
pub use pilot_light_core::capacity_record::{
    capacity_parameter_name, CapacityRecord, GroupCapacity,
};
use pilot_light_core::config::ComputeGroupConfig;
use pilot_light_core::{PilotLightError, Regional, Timestamp, FENCED_MIN_SIZE_TAG};
use std::collections::BTreeMap;

/// A primary group as described.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedGroup {
    pub desired: u32,
    pub min: u32,
    pub max: u32,
    /// It carries the fence's tag: a pilot-light run scaled it to 0.
    pub fenced: bool,
}

/// Whether to describe the primary now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordingDecision {
    Record,
    /// Nothing is described or written; why.
    Skip(String),
}

/// Records only while the primary serves (no run state yet counts: nothing ever failed over; a
/// failback that still has to re-protect the standby counts: traffic is back) and no run holds
/// the lock.
pub fn decide_recording(
    state: Option<&RunState>,
    lock: &LockView,
    primary_region: &str,
) -> RecordingDecision {
    match lock {
        LockView::Held(lock) => {
            return RecordingDecision::Skip(format!(
                "a {} holds the lock ({}): the primary groups are changing",
                lock.operation, lock.execution_id
            ))
        }
        LockView::Unreadable => {
            return RecordingDecision::Skip(
                "the lock parameter is unreadable: treated as held".into(),
            )
        }
        LockView::Free => {}
    }
    match state.and_then(|s| s.active_region.as_deref()) {
        Some(active) if active != primary_region => RecordingDecision::Skip(format!(
            "{active} serves, not the primary {primary_region}: its groups are fenced"
        )),
        _ => RecordingDecision::Record,
    }
}

/// The record to write: each configured group as seen now, unless it is fenced, at 0 or missing,
/// when it keeps what `earlier` had for it (a note each). Groups no longer configured are dropped.
pub fn next_record(
    groups: &[ComputeGroupConfig],
    observed: &BTreeMap<String, ObservedGroup>,
    earlier: Option<&CapacityRecord>,
    primary_region: &str,
    now: &Timestamp,
) -> (CapacityRecord, Vec<String>) {
    let mut record = CapacityRecord {
        groups: BTreeMap::new(),
        recorded_at: now.clone(),
        observed_in: primary_region.to_string(),
    };
    let mut notes = Vec::new();
    for group in groups {
        let asg = &group.primary.auto_scaling_group_name;
        let kept = earlier.and_then(|e| e.groups.get(&group.name));
        let why_not_seen = match observed.get(asg) {
            Some(seen) if !seen.fenced && seen.desired > 0 => {
                record.groups.insert(
                    group.name.clone(),
                    GroupCapacity {
                        auto_scaling_group_name: asg.clone(),
                        desired: seen.desired,
                        min: seen.min,
                        max: seen.max,
                        seen_at: now.clone(),
                    },
                );
                continue;
            }
            Some(seen) if seen.fenced => "is fenced",
            Some(_) => "is at desired 0",
            None => "was not found",
        };
        match kept {
            Some(kept) => {
                notes.push(format!(
                    "{}: {asg} in {primary_region} {why_not_seen}; kept desired {} seen at {}",
                    group.name, kept.desired, kept.seen_at.0
                ));
                record.groups.insert(group.name.clone(), kept.clone());
            }
            None => notes.push(format!(
                "{}: {asg} in {primary_region} {why_not_seen}; nothing recorded for it",
                group.name
            )),
        }
    }
    (record, notes)
}

/// True when the sizes differ from `earlier` (the times aside).
pub fn sizes_changed(earlier: Option<&CapacityRecord>, next: &CapacityRecord) -> bool {
    let sizes = |r: &CapacityRecord| -> BTreeMap<String, (u32, u32, u32)> {
        r.groups
            .iter()
            .map(|(name, g)| (name.clone(), (g.desired, g.min, g.max)))
            .collect()
    };
    earlier.map(sizes) != Some(sizes(next))
}

/// The desired capacity a failover or failback scales each group to: the capacity record's, else
/// what the run state's `primaryCapacity` holds for the group.
pub fn recorded_capacities(
    state: Option<&RunState>,
    record: Option<&CapacityRecord>,
) -> BTreeMap<String, u32> {
    let mut capacities = state
        .map(|s| s.primary_capacity.clone())
        .unwrap_or_default();
    if let Some(record) = record {
        capacities.extend(record.desired());
    }
    capacities
}

/// Describes the primary groups (50 names a call); a group that does not exist is absent.
pub async fn describe_primary_groups(
    autoscaling: &Regional<aws_sdk_autoscaling::Client>,
    region: &str,
    names: &[String],
) -> Result<BTreeMap<String, ObservedGroup>, PilotLightError> {
    let client = autoscaling.get(region)?;
    let mut observed = BTreeMap::new();
    for chunk in names.chunks(50) {
        let mut token = None;
        loop {
            let page = client
                .describe_auto_scaling_groups()
                .set_auto_scaling_group_names(Some(chunk.to_vec()))
                .set_next_token(token)
                .send()
                .await
                .map_err(|err| PilotLightError::from_sdk("DescribeAutoScalingGroups", &err))?;
            for group in page.auto_scaling_groups() {
                let size = |n: Option<i32>| n.unwrap_or(0).max(0) as u32;
                observed.insert(
                    group
                        .auto_scaling_group_name()
                        .unwrap_or_default()
                        .to_string(),
                    ObservedGroup {
                        desired: size(group.desired_capacity()),
                        min: size(group.min_size()),
                        max: size(group.max_size()),
                        fenced: group
                            .tags()
                            .iter()
                            .any(|t| t.key() == Some(FENCED_MIN_SIZE_TAG)),
                    },
                );
            }
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
    }
    Ok(observed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Lock;

    fn group(name: &str) -> ComputeGroupConfig {
        serde_json::from_value(serde_json::json!({
            "name": name,
            "primary": {"autoScalingGroupName": format!("{name}-east"),
                        "launchTemplateName": format!("{name}-east")},
            "standby": {"autoScalingGroupName": format!("{name}-west"),
                        "launchTemplateName": format!("{name}-west")},
            "amiTag": {"key": "app", "value": name},
        }))
        .expect("a compute group")
    }

    fn seen(desired: u32, fenced: bool) -> ObservedGroup {
        ObservedGroup {
            desired,
            min: desired.min(2),
            max: 10,
            fenced,
        }
    }

    fn at(t: &str) -> Timestamp {
        Timestamp(t.to_string())
    }

    fn state(active: &str, reprotect_pending: bool) -> RunState {
        RunState {
            active_region: Some(active.to_string()),
            reprotect_pending,
            ..RunState::default()
        }
    }

    #[test]
    fn records_only_while_the_primary_serves_and_nothing_holds_the_lock() {
        let held = LockView::Held(Lock {
            execution_id: "arn:exec:1".into(),
            operation: "failover".into(),
            acquired_at: at("2026-01-01T00:00:00Z"),
        });
        let primary = state("us-east-1", false);
        let standby = state("us-west-2", false);
        let reprotecting = state("us-east-1", true);
        let cases: &[(Option<&RunState>, &LockView, bool)] = &[
            (None, &LockView::Free, true),
            (Some(&primary), &LockView::Free, true),
            (Some(&primary), &held, false),
            (Some(&primary), &LockView::Unreadable, false),
            (Some(&standby), &LockView::Free, false),
            (Some(&reprotecting), &LockView::Free, true),
        ];
        for (state, lock, records) in cases {
            let decision = decide_recording(*state, lock, "us-east-1");
            assert_eq!(
                decision == RecordingDecision::Record,
                *records,
                "{state:?} {lock:?}: {decision:?}"
            );
        }
    }

    #[test]
    fn a_group_seen_serving_is_recorded_and_one_fenced_at_zero_or_missing_keeps_its_record() {
        let groups = [group("web"), group("api"), group("jobs"), group("new")];
        let (first, notes) = next_record(
            &groups,
            &BTreeMap::from([
                ("web-east".into(), seen(4, false)),
                ("api-east".into(), seen(3, false)),
                ("jobs-east".into(), seen(2, false)),
            ]),
            None,
            "us-east-1",
            &at("2026-01-01T00:00:00Z"),
        );
        assert_eq!(first.groups["web"].desired, 4);
        assert_eq!(first.groups.len(), 3);
        assert_eq!(
            notes,
            ["new: new-east in us-east-1 was not found; nothing recorded for it"]
        );

        let (second, notes) = next_record(
            &groups,
            &BTreeMap::from([
                ("web-east".into(), seen(6, false)),
                ("api-east".into(), seen(0, true)),
                ("jobs-east".into(), seen(0, false)),
            ]),
            Some(&first),
            "us-east-1",
            &at("2026-01-01T00:05:00Z"),
        );
        assert_eq!(second.groups["web"].desired, 6);
        assert_eq!(second.groups["web"].seen_at, at("2026-01-01T00:05:00Z"));
        assert_eq!(second.groups["api"], first.groups["api"], "fenced: kept");
        assert_eq!(second.groups["jobs"], first.groups["jobs"], "at 0: kept");
        assert_eq!(second.recorded_at, at("2026-01-01T00:05:00Z"));
        assert_eq!(notes.len(), 3, "{notes:?}");
        assert!(notes[0].starts_with("api: api-east in us-east-1 is fenced; kept desired 3"));
        assert!(notes[1].starts_with("jobs: jobs-east in us-east-1 is at desired 0; kept"));
        assert!(sizes_changed(Some(&first), &second));
        assert!(!sizes_changed(Some(&second), &second.clone()));
        assert!(sizes_changed(None, &second));
    }

    #[test]
    fn the_record_wins_over_the_run_states_capacities_group_by_group() {
        let state = RunState {
            primary_capacity: BTreeMap::from([("web".into(), 2), ("api".into(), 2)]),
            ..RunState::default()
        };
        let (record, _) = next_record(
            &[group("web")],
            &BTreeMap::from([("web-east".into(), seen(5, false))]),
            None,
            "us-east-1",
            &at("2026-01-01T00:00:00Z"),
        );
        assert_eq!(
            recorded_capacities(Some(&state), Some(&record)),
            BTreeMap::from([("web".into(), 5), ("api".into(), 2)])
        );
        assert_eq!(
            recorded_capacities(None, Some(&record)),
            BTreeMap::from([("web".into(), 5)])
        );
        assert_eq!(recorded_capacities(None, None), BTreeMap::new());
    }
}
