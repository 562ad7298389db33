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
//! `lag` serves graceful (planned) failover: after the primary is fenced, it reports `done` once the
//! replica's CloudWatch `ReplicaLag` is at most `maxReplicaLagSeconds` (default 0), so promotion loses
//! nothing.

use aws_sdk_rds::types::{DbInstance, Tag};
use pilot_light_core::config::{check_db_instance_id, DatabaseConfig};
use pilot_light_core::{parse_step_input, PilotLightError, Regional, StepStatus, Timestamp};
use serde::{Deserialize, Serialize};

/// Tag written on the replica just before promotion; its value is the replication source's ARN.
pub const PROMOTED_FROM_TAG: &str = "pilot-light:promoted-from";
/// Tag written beside it: the execution that asked for the promotion.
pub const PROMOTED_BY_TAG: &str = "pilot-light:promoted-by";

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
    /// The Step Functions execution, recorded on the instance for the audit trail.
    #[serde(default)]
    pub execution_id: Option<String>,
    /// For `lag`: the most replication lag accepted as caught up (default 0).
    #[serde(default)]
    pub max_replica_lag_seconds: f64,
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
    /// For `lag`: the latest `ReplicaLag` datapoint, in seconds (`null`: no datapoint yet, or not
    /// measured: the instance was promoted already). Always present, so the state machine can read
    /// it whatever the answer.
    pub replica_lag_seconds: Option<f64>,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    /// ARNs of the resources looked at or changed.
    pub resources: Vec<String>,
}

/// What a describe call tells about the standby instance, reduced to what the decisions need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaObservation {
    pub arn: String,
    pub status: String,
    /// ARN (or id) of the instance this one replicates from; `None` once standalone.
    pub replication_source: Option<String>,
    /// Value of [`PROMOTED_FROM_TAG`], when pilot-light asked for a promotion earlier.
    pub promoted_from: Option<String>,
}

impl ReplicaObservation {
    fn from_instance(instance: &DbInstance) -> Self {
        let tag = |key: &str| {
            instance
                .tag_list()
                .iter()
                .find(|t| t.key() == Some(key))
                .and_then(|t| t.value().map(str::to_string))
        };
        Self {
            arn: instance.db_instance_arn().unwrap_or_default().to_string(),
            status: instance
                .db_instance_status()
                .unwrap_or("unknown")
                .to_string(),
            replication_source: instance
                .read_replica_source_db_instance_identifier()
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            promoted_from: tag(PROMOTED_FROM_TAG),
        }
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

/// Decides `promote`. Refuses a same-region replica, a replica of some other region, and an
/// instance that is standalone with no sign of an earlier promotion.
pub fn decide_promotion(
    obs: &ReplicaObservation,
    instance_id: &str,
    primary_region: &str,
    standby_region: &str,
) -> Result<PromoteDecision, PilotLightError> {
    match &obs.replication_source {
        Some(source) => {
            check_source_region(source, instance_id, primary_region, standby_region)?;
            match obs.status.as_str() {
                "available" => Ok(PromoteDecision::Promote),
                "modifying" | "rebooting" | "backing-up" if obs.promoted_from.is_some() => {
                    Ok(PromoteDecision::InProgress)
                }
                other => Err(PilotLightError::InvalidState {
                    resource: format!("replica {instance_id} in {standby_region}"),
                    state: other.to_string(),
                    reason: "a replica can be promoted only when it is `available`".into(),
                }),
            }
        }
        None if obs.promoted_from.is_some() => Ok(if obs.status == "available" {
            PromoteDecision::AlreadyDone
        } else {
            PromoteDecision::InProgress
        }),
        None => Err(PilotLightError::NotAReplica {
            instance_id: instance_id.to_string(),
            region: standby_region.to_string(),
        }),
    }
}

/// Decides `status`: `done` only when the instance is `available` and has no replication source.
pub fn decide_status(
    obs: &ReplicaObservation,
    instance_id: &str,
    primary_region: &str,
    standby_region: &str,
) -> Result<StepStatus, PilotLightError> {
    match (&obs.replication_source, &obs.promoted_from) {
        (None, Some(_)) if obs.status == "available" => Ok(StepStatus::Done),
        (None, Some(_)) => Ok(StepStatus::InProgress),
        (Some(source), Some(_)) => {
            check_source_region(source, instance_id, primary_region, standby_region)?;
            Ok(StepStatus::InProgress)
        }
        (Some(_), None) => Err(PilotLightError::InvalidState {
            resource: format!("replica {instance_id} in {standby_region}"),
            state: obs.status.clone(),
            reason: "still a replica and no promotion was requested: run `promote` first".into(),
        }),
        (None, None) => Err(PilotLightError::NotAReplica {
            instance_id: instance_id.to_string(),
            region: standby_region.to_string(),
        }),
    }
}

/// Decides `lag`: caught up when the newest datapoint is at most `max_lag`. No datapoint yet (a new
/// replica, or metrics delayed) is not caught up: the state machine polls again, within its bound.
pub fn decide_lag(latest_lag: Option<f64>, max_lag: f64) -> StepStatus {
    match latest_lag {
        Some(lag) if lag <= max_lag => StepStatus::Done,
        _ => StepStatus::InProgress,
    }
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
        )? {
            LagCheck::AlreadyPromoted => (StepStatus::AlreadyDone, obs),
            LagCheck::Measure => {
                let cloudwatch = clients.cloudwatch.get(&input.standby_region)?;
                replica_lag_seconds = latest_replica_lag(&cloudwatch, instance_id).await?;
                (
                    decide_lag(replica_lag_seconds, input.max_replica_lag_seconds),
                    obs,
                )
            }
        },
        PromoteAction::Status => {
            let status = decide_status(
                &obs,
                instance_id,
                &input.primary_region,
                &input.standby_region,
            )?;
            (status, obs)
        }
        PromoteAction::Promote => {
            match decide_promotion(
                &obs,
                instance_id,
                &input.primary_region,
                &input.standby_region,
            )? {
                PromoteDecision::AlreadyDone => (StepStatus::AlreadyDone, obs),
                PromoteDecision::InProgress => (StepStatus::InProgress, obs),
                PromoteDecision::Promote => {
                    request_promotion(
                        &rds,
                        &obs,
                        instance_id,
                        &input.standby_region,
                        input.execution_id.as_deref(),
                    )
                    .await?;
                    let after = observe(&rds, instance_id, &input.standby_region).await?;
                    (StepStatus::Started, after)
                }
            }
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

/// What `lag` does with the instance it observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LagCheck {
    /// A replica of the primary region: read its `ReplicaLag`.
    Measure,
    /// Promoted by pilot-light already (a re-run after a run that stopped after the promotion):
    /// nothing replicates any more, there is nothing to wait for.
    AlreadyPromoted,
}

/// `lag` only makes sense on a replica of the primary region, or on one pilot-light promoted.
pub fn decide_status_for_lag(
    obs: &ReplicaObservation,
    instance_id: &str,
    primary_region: &str,
    standby_region: &str,
) -> Result<LagCheck, PilotLightError> {
    match &obs.replication_source {
        Some(source) => check_source_region(source, instance_id, primary_region, standby_region)
            .map(|()| LagCheck::Measure),
        None if obs.promoted_from.is_some() => Ok(LagCheck::AlreadyPromoted),
        None => Err(PilotLightError::NotAReplica {
            instance_id: instance_id.to_string(),
            region: standby_region.to_string(),
        }),
    }
}

/// The newest `ReplicaLag` datapoint of the last ten minutes (Maximum per minute).
async fn latest_replica_lag(
    cloudwatch: &aws_sdk_cloudwatch::Client,
    instance_id: &str,
) -> Result<Option<f64>, PilotLightError> {
    use aws_sdk_cloudwatch::primitives::DateTime;
    use aws_sdk_cloudwatch::types::{Dimension, Statistic};
    let now = std::time::SystemTime::now();
    let out = cloudwatch
        .get_metric_statistics()
        .namespace("AWS/RDS")
        .metric_name("ReplicaLag")
        .dimensions(
            Dimension::builder()
                .name("DBInstanceIdentifier")
                .value(instance_id)
                .build(),
        )
        .start_time(DateTime::from(now - std::time::Duration::from_secs(600)))
        .end_time(DateTime::from(now + std::time::Duration::from_secs(60)))
        .period(60)
        .statistics(Statistic::Maximum)
        .send()
        .await
        .map_err(|err| PilotLightError::from_sdk("GetMetricStatistics", &err))?;
    Ok(out
        .datapoints()
        .iter()
        .filter_map(|d| Some((d.timestamp()?.as_secs_f64(), d.maximum()?)))
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, lag)| lag))
}

/// Describes the standby instance. Not found is `ReplicaNotFound`.
async fn observe(
    rds: &aws_sdk_rds::Client,
    instance_id: &str,
    region: &str,
) -> Result<ReplicaObservation, PilotLightError> {
    let described = rds
        .describe_db_instances()
        .db_instance_identifier(instance_id)
        .send()
        .await
        .map_err(|err| {
            PilotLightError::from_sdk_or_missing(
                "DescribeDBInstances",
                &err,
                |e| e.is_db_instance_not_found_fault(),
                || PilotLightError::ReplicaNotFound {
                    instance_id: instance_id.to_string(),
                    region: region.to_string(),
                },
            )
        })?;
    described
        .db_instances()
        .iter()
        .find(|i| i.db_instance_identifier() == Some(instance_id))
        .map(ReplicaObservation::from_instance)
        .ok_or_else(|| PilotLightError::ReplicaNotFound {
            instance_id: instance_id.to_string(),
            region: region.to_string(),
        })
}

/// Marks the instance as ours, then asks RDS to promote it.
async fn request_promotion(
    rds: &aws_sdk_rds::Client,
    obs: &ReplicaObservation,
    instance_id: &str,
    region: &str,
    execution_id: Option<&str>,
) -> Result<(), PilotLightError> {
    let source = obs.replication_source.clone().unwrap_or_default();
    rds.add_tags_to_resource()
        .resource_name(&obs.arn)
        .tags(Tag::builder().key(PROMOTED_FROM_TAG).value(source).build())
        .tags(
            Tag::builder()
                .key(PROMOTED_BY_TAG)
                .value(execution_id.unwrap_or("manual"))
                .build(),
        )
        .send()
        .await
        .map_err(|err| PilotLightError::from_sdk("AddTagsToResource", &err))?;
    rds.promote_read_replica()
        .db_instance_identifier(instance_id)
        .send()
        .await
        .map_err(|err| match err.as_service_error() {
            Some(e) if e.is_invalid_db_instance_state_fault() => PilotLightError::InvalidState {
                resource: format!("replica {instance_id}"),
                state: obs.status.clone(),
                reason: format!("RDS refused the promotion: {e}"),
            },
            Some(e) if e.is_db_instance_not_found_fault() => PilotLightError::ReplicaNotFound {
                instance_id: instance_id.to_string(),
                region: region.to_string(),
            },
            _ => PilotLightError::from_sdk("PromoteReadReplica", &err),
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRIMARY: &str = "us-east-1";
    const STANDBY: &str = "us-west-2";
    const SOURCE: &str = "arn:aws:rds:us-east-1:123456789012:db:orders";

    fn obs(status: &str, source: Option<&str>, marked: bool) -> ReplicaObservation {
        ReplicaObservation {
            arn: "arn:aws:rds:us-west-2:123456789012:db:orders-dr".into(),
            status: status.into(),
            replication_source: source.map(str::to_string),
            promoted_from: marked.then(|| SOURCE.to_string()),
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
            let got = decide_promotion(&observation, "orders-dr", PRIMARY, STANDBY)
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
            let got = decide_status(&observation, "orders-dr", PRIMARY, STANDBY)
                .map_err(|e| e.error_type());
            assert_eq!(got, expected, "{observation:?}");
        }
    }

    #[test]
    fn lag_decisions() {
        use StepStatus::*;
        let cases = [
            (Some(0.0), 0.0, Done),
            (Some(3.0), 0.0, InProgress),
            (Some(3.0), 5.0, Done),
            (None, 0.0, InProgress),
            (None, 60.0, InProgress),
        ];
        for (latest, max, expected) in cases {
            assert_eq!(decide_lag(latest, max), expected, "{latest:?} {max}");
        }
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
            let got = decide_status_for_lag(&observation, "orders-dr", PRIMARY, STANDBY)
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
