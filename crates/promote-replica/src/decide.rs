//! The pure part of `promote-replica`: what an observation of the standby instance says (the
//! evidence of an earlier promotion), and what `promote`, `status` and `lag` do given it (no AWS
//! calls), with their table tests.

use crate::{PROMOTED_BY_TAG, PROMOTED_FROM_TAG};
use aws_sdk_rds::types::DbInstance;
use pilot_light_core::db_instances::{instance_status, instance_tag, replication_source};
use pilot_light_core::{PilotLightError, StepStatus};

/// What a describe call tells about the standby instance, reduced to what the decisions need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaObservation {
    pub arn: String,
    pub status: String,
    /// ARN (or id) of the instance this one replicates from; `None` once standalone.
    pub replication_source: Option<String>,
    /// Value of [`PROMOTED_FROM_TAG`], when pilot-light asked for a promotion earlier.
    pub promoted_from: Option<String>,
    /// Value of [`PROMOTED_BY_TAG`]: the cycle (or execution) that asked for it.
    pub promoted_by: Option<String>,
}

impl ReplicaObservation {
    pub(crate) fn from_instance(instance: &DbInstance) -> Self {
        Self {
            arn: instance.db_instance_arn().unwrap_or_default().to_string(),
            status: instance_status(instance),
            replication_source: replication_source(instance),
            promoted_from: instance_tag(instance, PROMOTED_FROM_TAG),
            promoted_by: instance_tag(instance, PROMOTED_BY_TAG),
        }
    }
}

/// What the instance's tags say about an earlier promotion, seen from the current cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromotionEvidence {
    /// No [`PROMOTED_FROM_TAG`]: pilot-light never asked to promote it.
    None,
    /// Promoted (or being promoted) in the current cycle, or no cycle was given.
    ThisCycle,
    /// Promoted by pilot-light in another cycle: the value of [`PROMOTED_BY_TAG`].
    OtherCycle(String),
}

/// Reads the evidence: without a `cycle_id` any pilot-light promotion counts; with one, only a
/// promotion whose [`PROMOTED_BY_TAG`] is that cycle does.
pub fn promotion_evidence(obs: &ReplicaObservation, cycle_id: Option<&str>) -> PromotionEvidence {
    if obs.promoted_from.is_none() {
        return PromotionEvidence::None;
    }
    match cycle_id {
        None => PromotionEvidence::ThisCycle,
        Some(cycle) if obs.promoted_by.as_deref() == Some(cycle) => PromotionEvidence::ThisCycle,
        Some(_) => PromotionEvidence::OtherCycle(
            obs.promoted_by
                .clone()
                .unwrap_or_else(|| "an unrecorded run".into()),
        ),
    }
}

/// A standalone instance promoted in another cycle: never "done", never touched.
fn stale(
    by: String,
    instance_id: &str,
    standby_region: &str,
    cycle_id: Option<&str>,
) -> PilotLightError {
    PilotLightError::StalePromotion {
        instance_id: instance_id.to_string(),
        region: standby_region.to_string(),
        promoted_by: by,
        cycle_id: cycle_id.unwrap_or_default().to_string(),
    }
}

/// What `promote` should do, decided from the observation alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromoteDecision {
    /// Tag the instance and call PromoteReadReplica.
    Promote,
    /// A promotion is already under way; do nothing.
    InProgress,
    /// Promoted earlier and available: nothing to do.
    AlreadyDone,
}

/// The region named in an RDS ARN (`arn:aws:rds:us-east-1:123:db:x` → `us-east-1`).
fn arn_region(arn: &str) -> Option<&str> {
    let mut parts = arn.split(':');
    (parts.next() == Some("arn")).then_some(())?;
    parts.nth(2).filter(|r| !r.is_empty())
}

/// Decides `promote`. Refuses a same-region replica, a replica of some other region, an instance
/// that is standalone with no sign of an earlier promotion (`NotAReplica`), and one that
/// pilot-light promoted in another cycle (`StalePromotion`).
pub fn decide_promotion(
    obs: &ReplicaObservation,
    instance_id: &str,
    primary_region: &str,
    standby_region: &str,
    cycle_id: Option<&str>,
) -> Result<PromoteDecision, PilotLightError> {
    let evidence = promotion_evidence(obs, cycle_id);
    match &obs.replication_source {
        Some(source) => {
            check_source_region(source, instance_id, primary_region, standby_region)?;
            match obs.status.as_str() {
                "available" => Ok(PromoteDecision::Promote),
                "modifying" | "rebooting" | "backing-up"
                    if evidence == PromotionEvidence::ThisCycle =>
                {
                    Ok(PromoteDecision::InProgress)
                }
                other => Err(PilotLightError::InvalidState {
                    resource: format!("replica {instance_id} in {standby_region}"),
                    state: other.to_string(),
                    reason: "a replica can be promoted only when it is `available`".into(),
                }),
            }
        }
        None => match evidence {
            PromotionEvidence::ThisCycle => Ok(if obs.status == "available" {
                PromoteDecision::AlreadyDone
            } else {
                PromoteDecision::InProgress
            }),
            PromotionEvidence::OtherCycle(by) => {
                Err(stale(by, instance_id, standby_region, cycle_id))
            }
            PromotionEvidence::None => Err(PilotLightError::NotAReplica {
                instance_id: instance_id.to_string(),
                region: standby_region.to_string(),
            }),
        },
    }
}

/// Decides `status`: `done` only when the instance is `available`, has no replication source and
/// was promoted in this cycle.
pub fn decide_status(
    obs: &ReplicaObservation,
    instance_id: &str,
    primary_region: &str,
    standby_region: &str,
    cycle_id: Option<&str>,
) -> Result<StepStatus, PilotLightError> {
    match (&obs.replication_source, promotion_evidence(obs, cycle_id)) {
        (None, PromotionEvidence::ThisCycle) if obs.status == "available" => Ok(StepStatus::Done),
        (None, PromotionEvidence::ThisCycle) => Ok(StepStatus::InProgress),
        (Some(source), PromotionEvidence::ThisCycle) => {
            check_source_region(source, instance_id, primary_region, standby_region)?;
            Ok(StepStatus::InProgress)
        }
        (Some(_), _) => Err(PilotLightError::InvalidState {
            resource: format!("replica {instance_id} in {standby_region}"),
            state: obs.status.clone(),
            reason: "still a replica and no promotion was requested: run `promote` first".into(),
        }),
        (None, PromotionEvidence::OtherCycle(by)) => {
            Err(stale(by, instance_id, standby_region, cycle_id))
        }
        (None, PromotionEvidence::None) => Err(PilotLightError::NotAReplica {
            instance_id: instance_id.to_string(),
            region: standby_region.to_string(),
        }),
    }
}

pub use pilot_light_core::replica_lag::LagDatapoint;

/// Decides `lag`: `(status, lag measured)`.
///
/// With `fenced_at` (the writers' fence finished then), only datapoints whose timestamp is newer
/// than the fence count, so each covers samples taken after the fence only; the replica is caught
/// up when one of them reports at most `max_lag` (their lowest, `Minimum`): no write was made after
/// the fence, so a replica at most `max_lag` behind at some moment after it stays so. No such
/// datapoint yet (metrics are published once a minute on AWS) is "unknown": not caught up, the
/// state machine polls again within its bound.
///
/// Without `fenced_at` (a caller outside the flows): the newest datapoint's `Maximum` decides.
pub fn decide_lag(
    datapoints: &[LagDatapoint],
    fenced_at: Option<f64>,
    max_lag: f64,
) -> (StepStatus, Option<f64>) {
    let lag = match fenced_at {
        Some(fence) => datapoints
            .iter()
            .filter(|d| d.timestamp > fence)
            .filter_map(|d| d.minimum.or(d.maximum))
            .min_by(f64::total_cmp),
        None => datapoints
            .iter()
            .filter(|d| d.maximum.is_some())
            .max_by(|a, b| a.timestamp.total_cmp(&b.timestamp))
            .and_then(|d| d.maximum),
    };
    let status = match lag {
        Some(lag) if lag <= max_lag => StepStatus::Done,
        _ => StepStatus::InProgress,
    };
    (status, lag)
}

/// A DR replica must replicate from the primary region: never act on a same-region replica or on a
/// replica of some third region.
fn check_source_region(
    source: &str,
    instance_id: &str,
    primary_region: &str,
    standby_region: &str,
) -> Result<(), PilotLightError> {
    match arn_region(source) {
        Some(region) if region == primary_region => Ok(()),
        Some(region) if region == standby_region => Err(PilotLightError::UnsafeOperation {
            reason: format!(
                "{instance_id} replicates from {source} in the same region {standby_region}: not a cross-region DR replica"
            ),
        }),
        // A plain identifier is what RDS reports for a same-region source.
        None => Err(PilotLightError::UnsafeOperation {
            reason: format!(
                "{instance_id} replicates from `{source}` in its own region {standby_region}: not a cross-region DR replica"
            ),
        }),
        Some(region) => Err(PilotLightError::UnsafeOperation {
            reason: format!(
                "{instance_id} replicates from {source} in {region}, not from the primary region {primary_region}"
            ),
        }),
    }
}

/// What `lag` does with the instance it observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LagCheck {
    /// A replica of the primary region: read its `ReplicaLag`.
    Measure,
    /// Promoted by pilot-light already (a re-run after a run that stopped after the promotion):
    /// nothing replicates any more, there is nothing to wait for.
    AlreadyPromoted,
}

/// `lag` only makes sense on a replica of the primary region, or on one pilot-light promoted in
/// this cycle; one promoted in another cycle is `StalePromotion`.
pub fn decide_status_for_lag(
    obs: &ReplicaObservation,
    instance_id: &str,
    primary_region: &str,
    standby_region: &str,
    cycle_id: Option<&str>,
) -> Result<LagCheck, PilotLightError> {
    match &obs.replication_source {
        Some(source) => check_source_region(source, instance_id, primary_region, standby_region)
            .map(|()| LagCheck::Measure),
        None => match promotion_evidence(obs, cycle_id) {
            PromotionEvidence::ThisCycle => Ok(LagCheck::AlreadyPromoted),
            PromotionEvidence::OtherCycle(by) => {
                Err(stale(by, instance_id, standby_region, cycle_id))
            }
            PromotionEvidence::None => Err(PilotLightError::NotAReplica {
                instance_id: instance_id.to_string(),
                region: standby_region.to_string(),
            }),
        },
    }
}

/// How far back `lag` reads datapoints at most (CloudWatch keeps one-minute data for 15 days; a
/// fence older than this is treated as this old: every datapoint read is still newer than it).
const LAG_LOOKBACK_SECONDS: f64 = 3.0 * 3600.0;

/// The window `lag` reads: `(start, end)` in epoch seconds. Without a fence, the last ten minutes;
/// with one, from the first whole second after it (a datapoint stamped with the fence's own second
/// may be from before it), at most [`LAG_LOOKBACK_SECONDS`] back.
pub fn lag_window(now: f64, fenced_at: Option<f64>) -> (f64, f64) {
    let start = match fenced_at {
        None => now - 600.0,
        Some(fence) => (fence.floor() + 1.0).max(now - LAG_LOOKBACK_SECONDS),
    };
    // The start must be before the end: a fence "in the future" (clock skew) reads nothing new.
    (start.min(now), now + 60.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRIMARY: &str = "us-east-1";
    const STANDBY: &str = "us-west-2";
    const SOURCE: &str = "arn:aws:rds:us-east-1:123456789012:db:orders";

    /// The current cycle (the failover's `failoverId`) and an earlier one.
    const CYCLE: &str = "arn:aws:states:us-west-2:1:execution:failover:fo-2";
    const OLD_CYCLE: &str = "arn:aws:states:us-west-2:1:execution:failover:fo-1";

    /// Marked: promoted by the current cycle.
    fn obs(status: &str, source: Option<&str>, marked: bool) -> ReplicaObservation {
        promoted_by(status, source, marked.then_some(CYCLE))
    }

    /// Marked by `by` (`None`: never marked).
    fn promoted_by(status: &str, source: Option<&str>, by: Option<&str>) -> ReplicaObservation {
        ReplicaObservation {
            arn: "arn:aws:rds:us-west-2:123456789012:db:orders-dr".into(),
            status: status.into(),
            replication_source: source.map(str::to_string),
            promoted_from: by.map(|_| SOURCE.to_string()),
            promoted_by: by.map(str::to_string),
        }
    }

    #[test]
    fn promotion_decisions() {
        use PromoteDecision::*;
        let cases: Vec<(ReplicaObservation, Result<PromoteDecision, &str>)> = vec![
            (obs("available", Some(SOURCE), false), Ok(Promote)),
            // Tagged but RDS never started (the promote call failed after tagging): ask again.
            (obs("available", Some(SOURCE), true), Ok(Promote)),
            (obs("modifying", Some(SOURCE), true), Ok(InProgress)),
            (obs("modifying", None, true), Ok(InProgress)),
            (obs("available", None, true), Ok(AlreadyDone)),
            (obs("available", None, false), Err("NotAReplica")),
            (obs("modifying", None, false), Err("NotAReplica")),
            (obs("creating", Some(SOURCE), false), Err("InvalidState")),
            (obs("storage-full", Some(SOURCE), true), Err("InvalidState")),
            (
                obs("available", Some("orders"), false),
                Err("UnsafeOperation"),
            ),
            (
                obs(
                    "available",
                    Some("arn:aws:rds:us-west-2:123456789012:db:orders"),
                    false,
                ),
                Err("UnsafeOperation"),
            ),
            (
                obs(
                    "available",
                    Some("arn:aws:rds:eu-west-1:123456789012:db:orders"),
                    false,
                ),
                Err("UnsafeOperation"),
            ),
        ];
        for (observation, expected) in cases {
            let got = decide_promotion(&observation, "orders-dr", PRIMARY, STANDBY, Some(CYCLE))
                .map_err(|e| e.error_type());
            assert_eq!(got, expected, "{observation:?}");
        }
    }

    #[test]
    fn status_decisions() {
        use StepStatus::*;
        let cases: Vec<(ReplicaObservation, Result<StepStatus, &str>)> = vec![
            (obs("available", None, true), Ok(Done)),
            // Available but still attached is not done.
            (obs("available", Some(SOURCE), true), Ok(InProgress)),
            (obs("modifying", Some(SOURCE), true), Ok(InProgress)),
            (obs("modifying", None, true), Ok(InProgress)),
            (obs("available", Some(SOURCE), false), Err("InvalidState")),
            (obs("available", None, false), Err("NotAReplica")),
            (
                obs("modifying", Some("arn:aws:rds:us-west-2:1:db:x"), true),
                Err("UnsafeOperation"),
            ),
        ];
        for (observation, expected) in cases {
            let got = decide_status(&observation, "orders-dr", PRIMARY, STANDBY, Some(CYCLE))
                .map_err(|e| e.error_type());
            assert_eq!(got, expected, "{observation:?}");
        }
    }

    /// Datapoints, the accepted lag, and the expected `(status, lag measured)`.
    type LagCase = (Vec<LagDatapoint>, f64, (StepStatus, Option<f64>));

    fn point(timestamp: f64, minimum: f64, maximum: f64) -> LagDatapoint {
        LagDatapoint {
            timestamp,
            minimum: Some(minimum),
            maximum: Some(maximum),
        }
    }

    #[test]
    fn lag_decisions_without_a_fence_read_the_newest_datapoint() {
        use StepStatus::*;
        let cases: Vec<LagCase> = vec![
            (vec![point(100.0, 0.0, 0.0)], 0.0, (Done, Some(0.0))),
            (vec![point(100.0, 0.0, 3.0)], 0.0, (InProgress, Some(3.0))),
            (vec![point(100.0, 0.0, 3.0)], 5.0, (Done, Some(3.0))),
            // Unordered: the newest decides.
            (
                vec![point(300.0, 0.0, 0.0), point(100.0, 9.0, 12.0)],
                0.0,
                (Done, Some(0.0)),
            ),
            (
                vec![point(100.0, 0.0, 0.0), point(300.0, 7.0, 7.0)],
                0.0,
                (InProgress, Some(7.0)),
            ),
            (vec![], 0.0, (InProgress, None)),
            (vec![], 60.0, (InProgress, None)),
        ];
        for (points, max, expected) in cases {
            assert_eq!(decide_lag(&points, None, max), expected, "{points:?} {max}");
        }
    }

    #[test]
    fn after_a_fence_only_datapoints_newer_than_it_count() {
        use StepStatus::*;
        let fence = 1_000.0;
        let cases: Vec<LagCase> = vec![
            // A zero from before the fence says nothing about the last writes: unknown.
            (vec![point(990.0, 0.0, 0.0)], 0.0, (InProgress, None)),
            // Stamped with the fence's own time: not newer, ignored.
            (vec![point(1_000.0, 0.0, 0.0)], 0.0, (InProgress, None)),
            (vec![point(1_001.0, 0.0, 0.0)], 0.0, (Done, Some(0.0))),
            // Still behind after the fence: keep polling.
            (vec![point(1_010.0, 2.0, 4.0)], 0.0, (InProgress, Some(2.0))),
            // Caught up at some moment after the fence: nothing is written after it, so done.
            (
                vec![point(1_010.0, 0.0, 4.0), point(990.0, 0.0, 0.0)],
                0.0,
                (Done, Some(0.0)),
            ),
            (
                vec![point(1_010.0, 3.0, 3.0), point(1_070.0, 0.0, 1.0)],
                0.0,
                (Done, Some(0.0)),
            ),
            // Within the accepted lag.
            (vec![point(1_010.0, 2.0, 4.0)], 2.0, (Done, Some(2.0))),
            // Only a maximum reported: it is used.
            (
                vec![LagDatapoint {
                    timestamp: 1_005.0,
                    minimum: None,
                    maximum: Some(0.0),
                }],
                0.0,
                (Done, Some(0.0)),
            ),
            (vec![], 0.0, (InProgress, None)),
        ];
        for (points, max, expected) in cases {
            assert_eq!(
                decide_lag(&points, Some(fence), max),
                expected,
                "{points:?} {max}"
            );
        }
    }

    #[test]
    fn the_lag_window_starts_after_the_fence() {
        let now = 10_000.0;
        assert_eq!(lag_window(now, None), (9_400.0, 10_060.0));
        // The fence's own second is left out: a datapoint stamped in it may be older.
        assert_eq!(lag_window(now, Some(9_990.4)), (9_991.0, 10_060.0));
        assert_eq!(lag_window(now, Some(9_990.0)), (9_991.0, 10_060.0));
        // A fence long ago: at most three hours back.
        assert_eq!(
            lag_window(100_000.0, Some(1_000.0)),
            (100_000.0 - 10_800.0, 100_060.0)
        );
        // A fence in the future (clock skew): nothing after now is read as before it.
        assert_eq!(lag_window(now, Some(20_000.0)), (10_000.0, 10_060.0));
    }

    #[test]
    fn only_a_promotion_of_the_current_cycle_is_already_done() {
        use PromoteDecision::*;
        let cases: Vec<(
            ReplicaObservation,
            Option<&str>,
            Result<PromoteDecision, &str>,
        )> = vec![
            (
                promoted_by("available", None, Some(CYCLE)),
                Some(CYCLE),
                Ok(AlreadyDone),
            ),
            (
                promoted_by("modifying", None, Some(CYCLE)),
                Some(CYCLE),
                Ok(InProgress),
            ),
            // Promoted in an earlier cycle (a partial failback left it): stale, never done.
            (
                promoted_by("available", None, Some(OLD_CYCLE)),
                Some(CYCLE),
                Err("StalePromotion"),
            ),
            (
                promoted_by("modifying", None, Some(OLD_CYCLE)),
                Some(CYCLE),
                Err("StalePromotion"),
            ),
            // Marked as promoted but with no cycle recorded: not this cycle's either.
            (
                ReplicaObservation {
                    promoted_by: None,
                    ..promoted_by("available", None, Some(OLD_CYCLE))
                },
                Some(CYCLE),
                Err("StalePromotion"),
            ),
            // A replica still attached, marked by an earlier cycle: promote it now.
            (
                promoted_by("available", Some(SOURCE), Some(OLD_CYCLE)),
                Some(CYCLE),
                Ok(Promote),
            ),
            // ... but a busy one is not this cycle's promotion under way.
            (
                promoted_by("modifying", Some(SOURCE), Some(OLD_CYCLE)),
                Some(CYCLE),
                Err("InvalidState"),
            ),
            // No cycle given (promote-database, a drill): any pilot-light promotion counts.
            (
                promoted_by("available", None, Some(OLD_CYCLE)),
                None,
                Ok(AlreadyDone),
            ),
            (
                promoted_by("available", None, None),
                None,
                Err("NotAReplica"),
            ),
        ];
        for (observation, cycle, expected) in cases {
            let got = decide_promotion(&observation, "orders-dr", PRIMARY, STANDBY, cycle)
                .map_err(|e| e.error_type());
            assert_eq!(got, expected, "{observation:?} {cycle:?}");
        }
    }

    #[test]
    fn status_and_lag_refuse_a_promotion_of_another_cycle() {
        let stale = promoted_by("available", None, Some(OLD_CYCLE));
        let err = decide_status(&stale, "orders-dr", PRIMARY, STANDBY, Some(CYCLE)).unwrap_err();
        assert_eq!(err.error_type(), "StalePromotion");
        assert!(err.to_string().contains(OLD_CYCLE), "{err}");
        let err =
            decide_status_for_lag(&stale, "orders-dr", PRIMARY, STANDBY, Some(CYCLE)).unwrap_err();
        assert_eq!(err.error_type(), "StalePromotion");
        assert_eq!(
            decide_status_for_lag(&stale, "orders-dr", PRIMARY, STANDBY, None),
            Ok(LagCheck::AlreadyPromoted)
        );
        assert_eq!(
            decide_status(&stale, "orders-dr", PRIMARY, STANDBY, None),
            Ok(StepStatus::Done)
        );
    }

    #[test]
    fn evidence_of_a_promotion() {
        assert_eq!(
            promotion_evidence(&obs("available", Some(SOURCE), false), Some(CYCLE)),
            PromotionEvidence::None
        );
        assert_eq!(
            promotion_evidence(&obs("available", None, true), Some(CYCLE)),
            PromotionEvidence::ThisCycle
        );
        assert_eq!(
            promotion_evidence(
                &promoted_by("available", None, Some(OLD_CYCLE)),
                Some(CYCLE)
            ),
            PromotionEvidence::OtherCycle(OLD_CYCLE.into())
        );
        assert_eq!(
            promotion_evidence(&promoted_by("available", None, Some(OLD_CYCLE)), None),
            PromotionEvidence::ThisCycle
        );
    }

    #[test]
    fn lag_is_measured_on_a_replica_and_moot_once_pilot_light_promoted_it() {
        let cases: Vec<(ReplicaObservation, Result<LagCheck, &str>)> = vec![
            (obs("available", Some(SOURCE), false), Ok(LagCheck::Measure)),
            (obs("available", Some(SOURCE), true), Ok(LagCheck::Measure)),
            (obs("available", None, true), Ok(LagCheck::AlreadyPromoted)),
            (obs("modifying", None, true), Ok(LagCheck::AlreadyPromoted)),
            (obs("available", None, false), Err("NotAReplica")),
            (
                obs("available", Some("arn:aws:rds:us-west-2:1:db:x"), false),
                Err("UnsafeOperation"),
            ),
        ];
        for (observation, expected) in cases {
            let got =
                decide_status_for_lag(&observation, "orders-dr", PRIMARY, STANDBY, Some(CYCLE))
                    .map_err(|e| e.error_type());
            assert_eq!(got, expected, "{observation:?}");
        }
    }

    #[test]
    fn arn_regions() {
        assert_eq!(arn_region(SOURCE), Some("us-east-1"));
        assert_eq!(arn_region("orders"), None);
        assert_eq!(arn_region("arn:aws:rds::1:db:x"), None);
    }
}
