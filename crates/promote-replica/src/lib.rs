//! `promote-replica`: turns the standby region's cross-region read replica into a standalone,
//! writable database (`promote`), and tells when that is finished (`status`).
//!
//! Observe, then act: each action first describes the instance. Promotion is requested only for an
//! `available` replica of the configured primary region; a replica already being promoted is left
//! alone; an instance that pilot-light already promoted is `alreadyDone`. Before asking RDS to promote,
//! the handler tags the instance with [`PROMOTED_FROM_TAG`] (the source ARN): that tag is the
//! evidence, once the replication link is gone, that this instance *was* our replica, and what tells
//! "already promoted" apart from "never a replica" (`NotAReplica`). Nothing here waits: the state
//! machine polls `status`.
//!
//! The evidence is tied to a cycle: the state machine passes `cycleId` (the failover's `failoverId`,
//! or the failback's `failbackId`, from the run state: the first execution of the cycle, kept by its
//! re-runs) and [`PROMOTED_BY_TAG`] records it. Only a promotion of the *current* cycle is "already
//! done"; a standalone instance promoted in another cycle (a partial failback left the old promoted
//! standby in place, an old drill of the past) is `StalePromotion`, never taken for this cycle's
//! work. Without `cycleId` (the promote-database machine, a drill) any pilot-light promotion counts.
//!
//! `lag` serves graceful (planned) failover and the replica failback: after the writers are fenced,
//! it reports `done` once the replica's CloudWatch `ReplicaLag` is at most `maxReplicaLagSeconds`
//! (default 0), so promotion loses nothing. Given `fencedAt` (when the fence finished), only
//! datapoints newer than it count: a datapoint from before the fence says nothing about the writes
//! made just before the fence, and is ignored (lag unknown: poll again).
//!
//! Layout: the observation of the instance and the pure decisions are in `decide`, the SDK reads
//! (the instance, its `ReplicaLag`) in `aws`, and `promote` tags the instance and asks RDS to
//! promote it; this file holds the input and output types and the handler.

mod aws;
pub mod decide;
mod promote;

pub use decide::{
    decide_lag, decide_promotion, decide_status, decide_status_for_lag, lag_window,
    promotion_evidence, LagCheck, LagDatapoint, PromoteDecision, PromotionEvidence,
    ReplicaObservation,
};

use aws::{observe, replica_lag_datapoints};
use pilot_light_core::config::{check_db_instance_id, DatabaseConfig};
use pilot_light_core::converge::observe_again_if_landed;
use pilot_light_core::step::epoch_seconds;
use pilot_light_core::{parse_step_input, PilotLightError, Regional, StepStatus, Timestamp};
use promote::promote_once;
use serde::{Deserialize, Serialize};

pub use pilot_light_core::tags::{PROMOTED_BY_TAG, PROMOTED_FROM_TAG};

/// The actions of this handler.
pub const ACTIONS: &[&str] = &["promote", "status", "lag"];

/// The clients this handler uses, built once per Lambda instance.
pub struct Clients {
    pub rds: Regional<aws_sdk_rds::Client>,
    pub cloudwatch: Regional<aws_sdk_cloudwatch::Client>,
}

impl Clients {
    /// Clients from the environment (honours `AWS_ENDPOINT_URL`).
    pub async fn from_env() -> Self {
        let base = pilot_light_core::clients::load_sdk_config().await;
        Self {
            rds: Regional::new(base.clone(), aws_sdk_rds::Client::new),
            cloudwatch: Regional::new(base, aws_sdk_cloudwatch::Client::new),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PromoteAction {
    /// Ask RDS to promote the replica (once).
    Promote,
    /// Report whether the promotion is finished: `done` only when the instance is `available` and
    /// has no replication source.
    Status,
    /// Report whether the replica has caught up: `done` when its latest `ReplicaLag` is at most
    /// `maxReplicaLagSeconds`.
    Lag,
}

/// Input from the state machine: the action and the slice of configuration it needs.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PromoteReplicaInput {
    pub action: PromoteAction,
    pub primary_region: String,
    pub standby_region: String,
    pub database: DatabaseConfig,
    /// The Step Functions execution, recorded on the instance for the audit trail (when no
    /// `cycleId` is given).
    #[serde(default)]
    pub execution_id: Option<String>,
    /// The failover (or failback) cycle this promotion belongs to: written in [`PROMOTED_BY_TAG`],
    /// and only a promotion carrying it is "already done".
    #[serde(default)]
    pub cycle_id: Option<String>,
    /// For `lag`: the most replication lag accepted as caught up (default 0).
    #[serde(default)]
    pub max_replica_lag_seconds: f64,
    /// For `lag`: when the fence of the writers finished (RFC 3339); only `ReplicaLag` datapoints
    /// newer than it are accepted.
    #[serde(default)]
    pub fenced_at: Option<String>,
}

/// What the action found and did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PromoteReplicaOutput {
    pub action: PromoteAction,
    pub status: StepStatus,
    /// Logical database name from the configuration.
    pub database: String,
    pub instance_id: String,
    pub region: String,
    /// The RDS status seen (`available`, `modifying`, …).
    pub db_instance_status: String,
    /// The replication source still attached, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replication_source: Option<String>,
    /// For `lag`: the lag measured, in seconds: with `fencedAt`, the lowest `ReplicaLag` of the
    /// datapoints newer than the fence; without, the latest datapoint (`null`: no such datapoint
    /// yet, or not measured: the instance was promoted already). Always present, so the state
    /// machine can read it whatever the answer.
    pub replica_lag_seconds: Option<f64>,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    /// ARNs of the resources looked at or changed.
    pub resources: Vec<String>,
}

/// The Lambda handler: decode, validate, observe, act.
pub async fn handler(
    event: serde_json::Value,
    clients: &Clients,
) -> Result<PromoteReplicaOutput, PilotLightError> {
    let started_at = Timestamp::now();
    let input: PromoteReplicaInput = parse_step_input(event, ACTIONS)?;
    check_db_instance_id(
        "database.replicaInstanceId",
        &input.database.replica_instance_id,
    )
    .map_err(PilotLightError::into_input_error)?;
    if input.primary_region == input.standby_region {
        return Err(PilotLightError::UnsafeOperation {
            reason: format!(
                "primary and standby are both {}: a same-region replica is no disaster recovery",
                input.standby_region
            ),
        });
    }
    let fenced_at = match input.fenced_at.as_deref() {
        None => None,
        Some(text) => Some(
            epoch_seconds(text).ok_or_else(|| PilotLightError::InvalidInput {
                field: "fencedAt".into(),
                reason: format!("`{text}` is not an RFC 3339 date-time"),
            })?,
        ),
    };
    let cycle_id = input.cycle_id.as_deref().filter(|c| !c.trim().is_empty());
    let rds = clients.rds.get(&input.standby_region)?;
    let instance_id = input.database.replica_instance_id.as_str();
    let obs = observe(&rds, instance_id, &input.standby_region).await?;

    let mut replica_lag_seconds = None;
    let (status, obs) = match input.action {
        PromoteAction::Lag => match decide_status_for_lag(
            &obs,
            instance_id,
            &input.primary_region,
            &input.standby_region,
            cycle_id,
        )? {
            LagCheck::AlreadyPromoted => (StepStatus::AlreadyDone, obs),
            LagCheck::Measure => {
                let cloudwatch = clients.cloudwatch.get(&input.standby_region)?;
                let datapoints =
                    replica_lag_datapoints(&cloudwatch, instance_id, fenced_at).await?;
                let (status, lag) =
                    decide_lag(&datapoints, fenced_at, input.max_replica_lag_seconds);
                replica_lag_seconds = lag;
                (status, obs)
            }
        },
        PromoteAction::Status => {
            let status = decide_status(
                &obs,
                instance_id,
                &input.primary_region,
                &input.standby_region,
                cycle_id,
            )?;
            (status, obs)
        }
        PromoteAction::Promote => {
            // A promotion whose answer was lost is refused on retry (no replica any more): look
            // again, and the promotion is found in progress.
            let first_look = std::sync::Mutex::new(Some(obs));
            observe_again_if_landed("promote", || async {
                let earlier = first_look.lock().map(|mut o| o.take()).unwrap_or_default();
                let obs = match earlier {
                    Some(obs) => obs,
                    None => observe(&rds, instance_id, &input.standby_region).await?,
                };
                promote_once(&rds, &input, obs, cycle_id).await
            })
            .await?
        }
    };

    tracing::info!(
        action = ?input.action,
        database = %input.database.name,
        instance_id,
        region = %input.standby_region,
        db_instance_status = %obs.status,
        status = ?status,
        "promote-replica"
    );
    Ok(PromoteReplicaOutput {
        action: input.action,
        status,
        database: input.database.name.clone(),
        instance_id: instance_id.to_string(),
        region: input.standby_region.clone(),
        db_instance_status: obs.status,
        replication_source: obs.replication_source,
        replica_lag_seconds,
        started_at,
        finished_at: Timestamp::now(),
        resources: vec![obs.arn],
    })
}

#[cfg(test)]
mod action_list {
    use super::{PromoteAction, ACTIONS};

    /// `ACTIONS` (what `UnknownAction` quotes and the state machines may send) names every action
    /// of [`PromoteAction`] once, by its wire name. A new action does not compile here until it is counted.
    #[test]
    fn the_action_list_names_every_action_once() {
        let listed = pilot_light_core::step::check_action_list::<PromoteAction>(ACTIONS).unwrap();
        let index = |action: &PromoteAction| match action {
            PromoteAction::Promote => 0,
            PromoteAction::Status => 1,
            PromoteAction::Lag => 2,
        };
        let mut seen: Vec<usize> = listed.iter().map(index).collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..3).collect::<Vec<_>>());
    }
}
