//! `capacity-record`: a failover asks each standby group for the primary's recorded capacity, so
//! the record must exist, be recent, and say what the primary runs now.
//!
//! While the primary serves: no record fails (a failover would ask for `capacity.minimum`); a
//! record older than `readiness.maxCapacityRecordAgeSeconds` fails (the schedule stopped); a group
//! that runs **more** than its record fails (a failover now would bring up too few instances: the
//! recording on capacity changes or the schedule has not caught up); one that runs fewer only warns
//! (a failover would ask for more than needed, which is safe). While the standby serves, the record is the one from before the failover, kept
//! for the failback: its age is not held against it.

use super::checks::{format_age, parse_epoch_seconds, Check};
use pilot_light_core::capacity_record::CapacityRecord;
use std::collections::BTreeMap;

pub const CHECK_NAME: &str = "capacity-record";

/// What readiness read for the check.
pub struct CapacityRecordView<'a> {
    pub env: &'a str,
    pub record: Option<&'a CapacityRecord>,
    /// The primary serves (the run state says so, or there is none).
    pub primary_serves: bool,
    /// Each configured group's primary desired capacity now; `None`: the group is not there;
    /// absent from the map: it could not be described.
    pub live_desired: &'a BTreeMap<String, Option<u32>>,
    pub now_epoch_seconds: i64,
    pub max_age_seconds: u64,
}

/// The command that records now (what the schedule runs).
pub fn record_now_command(env: &str) -> String {
    format!(
        "aws lambda invoke --function-name <the stack's run-state function> --cli-binary-format \
         raw-in-base64-out --payload '{{\"action\":\"recordPrimaryCapacity\",\"env\":\"{env}\"}}' /dev/stdout"
    )
}

pub fn check_capacity_record(view: &CapacityRecordView) -> Check {
    let Some(record) = view.record else {
        return if view.primary_serves {
            Check::fail(
                CHECK_NAME,
                "no capacity record: a failover would ask each standby group for its \
                 capacity.minimum, not for what the primary runs",
                format!(
                    "check the stack's CapacityRecordSchedule rule, or record now: {}",
                    record_now_command(view.env)
                ),
            )
        } else {
            // Nothing records while the standby serves: the way back has no record to follow.
            Check::warn(
                CHECK_NAME,
                "no capacity record from before the failover: a failback would bring each \
                 primary group up at its capacity.minimum",
                "after the failback, set each primary group's desired capacity by hand \
                 (aws autoscaling set-desired-capacity); the schedule records again from then on",
            )
        };
    };
    let age = parse_epoch_seconds(&record.recorded_at.0)
        .map(|at| (view.now_epoch_seconds - at).max(0) as u64);
    if !view.primary_serves {
        return Check::pass(
            CHECK_NAME,
            format!(
                "the standby serves; the record of {} (desired {}) is what failback scales the primary back to",
                record.recorded_at.0,
                sizes(record)
            ),
        );
    }
    match age {
        None => {
            return Check::fail(
                CHECK_NAME,
                format!("the record's time `{}` cannot be read", record.recorded_at.0),
                format!("record now: {}", record_now_command(view.env)),
            )
        }
        Some(age) if age > view.max_age_seconds => {
            return Check::fail(
                CHECK_NAME,
                format!(
                    "recorded {} ago (limit {}): the primary's capacity may have changed since",
                    format_age(age),
                    format_age(view.max_age_seconds)
                ),
                format!(
                    "check the stack's CapacityRecordSchedule rule and the run-state function's errors, or record now: {}",
                    record_now_command(view.env)
                ),
            )
        }
        Some(_) => {}
    }
    let differing = |more: bool| -> Vec<String> {
        record
            .groups
            .iter()
            .filter_map(|(name, group)| match view.live_desired.get(name) {
                Some(Some(live))
                    if *live > 0 && *live != group.desired && (*live > group.desired) == more =>
                {
                    Some(format!(
                        "{name}: the primary runs {live}, the record says {} (seen {})",
                        group.desired, group.seen_at.0
                    ))
                }
                _ => None,
            })
            .collect()
    };
    let short = differing(true);
    if !short.is_empty() {
        return Check::fail(
            CHECK_NAME,
            format!(
                "{}: a failover now would bring up fewer instances than the primary runs",
                short.join("; ")
            ),
            format!(
                "record now: {} (and check that the capacity-change rule and CapacityRecordSchedule fire)",
                record_now_command(view.env)
            ),
        );
    }
    let over = differing(false);
    if !over.is_empty() {
        return Check::warn(
            CHECK_NAME,
            format!(
                "{}: a failover would ask for more than the primary runs now",
                over.join("; ")
            ),
            format!(
                "the next recording catches up; to record now: {}",
                record_now_command(view.env)
            ),
        );
    }
    Check::pass(
        CHECK_NAME,
        format!(
            "recorded {} ago: desired {}",
            format_age(age.unwrap_or_default()),
            sizes(record)
        ),
    )
}

fn sizes(record: &CapacityRecord) -> String {
    let parts: Vec<String> = record
        .groups
        .iter()
        .map(|(name, g)| format!("{name} {}", g.desired))
        .collect();
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::readiness::checks::CheckStatus;
    use pilot_light_core::capacity_record::GroupCapacity;
    use pilot_light_core::Timestamp;

    const NOW: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

    /// (record, primary serves, live desired by group, expected status, evidence contains)
    type Case<'a> = (
        Option<&'a CapacityRecord>,
        bool,
        &'a BTreeMap<String, Option<u32>>,
        CheckStatus,
        &'a str,
    );

    fn record(recorded_at: &str, web: u32) -> CapacityRecord {
        CapacityRecord {
            groups: BTreeMap::from([(
                "web".to_string(),
                GroupCapacity {
                    auto_scaling_group_name: "web-east".into(),
                    desired: web,
                    min: 1,
                    max: 10,
                    seen_at: Timestamp(recorded_at.into()),
                },
            )]),
            recorded_at: Timestamp(recorded_at.into()),
            observed_in: "us-east-1".into(),
        }
    }

    #[test]
    fn the_record_must_exist_be_recent_and_match_the_primary_while_it_serves() {
        let fresh = record("2025-12-31T23:55:00Z", 4);
        let stale = record("2025-12-31T22:00:00Z", 4);
        let unreadable = record("yesterday", 4);
        let same = BTreeMap::from([("web".to_string(), Some(4))]);
        let scaled = BTreeMap::from([("web".to_string(), Some(6))]);
        let shrunk = BTreeMap::from([("web".to_string(), Some(2))]);
        let fenced = BTreeMap::from([("web".to_string(), Some(0))]);
        let unknown = BTreeMap::new();
        let cases: &[Case] = &[
            (Some(&fresh), true, &same, CheckStatus::Pass, "recorded 5m"),
            (
                Some(&fresh),
                true,
                &unknown,
                CheckStatus::Pass,
                "desired web 4",
            ),
            (
                Some(&fresh),
                true,
                &fenced,
                CheckStatus::Pass,
                "desired web 4",
            ),
            (
                Some(&fresh),
                true,
                &scaled,
                CheckStatus::Fail,
                "the primary runs 6, the record says 4",
            ),
            (
                Some(&fresh),
                true,
                &shrunk,
                CheckStatus::Warn,
                "the primary runs 2, the record says 4",
            ),
            (Some(&stale), true, &same, CheckStatus::Fail, "recorded 2h"),
            (
                Some(&unreadable),
                true,
                &same,
                CheckStatus::Fail,
                "cannot be read",
            ),
            (None, true, &same, CheckStatus::Fail, "no capacity record"),
            (None, false, &same, CheckStatus::Warn, "no capacity record"),
            (
                Some(&stale),
                false,
                &scaled,
                CheckStatus::Pass,
                "the standby serves",
            ),
        ];
        for (record, primary_serves, live, status, evidence) in cases {
            let check = check_capacity_record(&CapacityRecordView {
                env: "prod",
                record: *record,
                primary_serves: *primary_serves,
                live_desired: live,
                now_epoch_seconds: NOW,
                max_age_seconds: 3600,
            });
            assert_eq!(check.status, *status, "{check:?}");
            assert!(check.evidence.contains(evidence), "{evidence}: {check:?}");
            if check.status != CheckStatus::Pass {
                // While the standby serves nothing records: the action is what to do by hand.
                let action = check.action.unwrap_or_default();
                let wanted = if *primary_serves {
                    "recordPrimaryCapacity"
                } else {
                    "set-desired-capacity"
                };
                assert!(action.contains(wanted), "{action}");
            }
        }
    }
}
