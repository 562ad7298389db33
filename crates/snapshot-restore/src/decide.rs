//! The pure part of `snapshot-restore`: the names it gives what it makes, the views of what it
//! observes, and what each action does given them (no AWS calls), tested on tables in `tests.rs`.

use crate::{DatabaseShape, EXECUTION_TAG};
use aws_sdk_rds::types::{DbInstance, DbSnapshot};
use pilot_light_core::db_instances::{
    instance_id, instance_status, instance_tag, replication_source,
};
use pilot_light_core::kept::{
    RENAMED_AT_TAG, RENAMED_BY_TAG, RENAMED_FROM_TAG, REPLICATION_CUT_BY_TAG,
};
use pilot_light_core::{execution_token, PilotLightError, StepStatus, Timestamp, ENV_TAG_KEY};
use serde::Serialize;

/// Where a new instance's settings came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ShapeSource {
    InstanceInTheWay,
    Recorded,
    RdsDefaults,
}

/// The settings for a new instance: those of the instance that was in the way, else the recorded
/// ones, else RDS's defaults.
pub fn choose_shape(
    from_instance: Option<&DatabaseShape>,
    recorded: Option<&DatabaseShape>,
) -> (DatabaseShape, ShapeSource) {
    match (from_instance, recorded) {
        (Some(shape), _) => (shape.clone(), ShapeSource::InstanceInTheWay),
        (None, Some(shape)) => (shape.clone(), ShapeSource::Recorded),
        (None, None) => (DatabaseShape::default(), ShapeSource::RdsDefaults),
    }
}

// ------------------------------------------------------------------------------------------------
// Names

/// The failback snapshot of the standby instance (same name in both regions).
pub fn failback_snapshot_id(replica_instance_id: &str, execution_id: &str) -> String {
    format!(
        "{replica_instance_id}-failback-{}",
        execution_token(execution_id)
    )
}

/// The name an instance in the way is renamed to: `<id>-old-<token>`, within RDS's 63 characters.
pub fn renamed_instance_id(instance_id: &str, execution_id: &str) -> String {
    let base: String = instance_id.chars().take(63 - 13).collect();
    format!(
        "{}-old-{}",
        base.trim_end_matches('-'),
        execution_token(execution_id)
    )
}

/// The final snapshot taken when `instance_id` is retired.
pub fn final_snapshot_id(instance_id: &str, execution_id: &str) -> String {
    format!("{instance_id}-final-{}", execution_token(execution_id))
}

/// The tags `clearWay` puts on the instance it renames and keeps: the environment, the identifier
/// it had, the execution that renamed it and when (since when it is kept), and, for an old
/// primary whose standby was promoted from it, the execution whose promotion cut replication.
pub fn rename_tags(
    env: &str,
    execution_id: &str,
    instance_id: &str,
    renamed_at: &Timestamp,
    replication_cut_by: Option<&str>,
) -> Vec<(&'static str, String)> {
    let mut tags = vec![
        (ENV_TAG_KEY, env.to_string()),
        (RENAMED_FROM_TAG, instance_id.to_string()),
        (RENAMED_BY_TAG, execution_id.to_string()),
        (RENAMED_AT_TAG, renamed_at.0.clone()),
    ];
    if let Some(by) = replication_cut_by {
        tags.push((REPLICATION_CUT_BY_TAG, by.to_string()));
    }
    tags
}

// ------------------------------------------------------------------------------------------------
// Observations and decisions (pure)

/// A DB instance, reduced to what the decisions need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceView {
    pub id: String,
    pub arn: String,
    pub status: String,
    /// The instance it replicates from (ARN for cross-region), if any.
    pub replication_source: Option<String>,
    /// Instances replicating from this one.
    pub replicas: Vec<String>,
    pub encrypted: bool,
    /// Value of [`EXECUTION_TAG`].
    pub created_by: Option<String>,
    /// Value of [`RENAMED_BY_TAG`].
    pub renamed_by: Option<String>,
    /// True when `promote-replica` asked RDS to promote it (tag `pilot-light:promoted-from`).
    pub promoted: bool,
    pub shape: DatabaseShape,
}

impl InstanceView {
    pub fn of(instance: &DbInstance) -> Self {
        let tag = |key: &str| instance_tag(instance, key);
        Self {
            id: instance_id(instance),
            arn: instance.db_instance_arn().unwrap_or_default().to_string(),
            status: instance_status(instance),
            replication_source: replication_source(instance),
            replicas: instance.read_replica_db_instance_identifiers().to_vec(),
            encrypted: instance.storage_encrypted().unwrap_or(false),
            created_by: tag(EXECUTION_TAG),
            renamed_by: tag(RENAMED_BY_TAG),
            promoted: tag(pilot_light_core::kept::PROMOTED_FROM_TAG).is_some(),
            shape: DatabaseShape::of_instance(instance),
        }
    }
}

/// A DB snapshot, reduced to what the decisions need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotView {
    pub id: String,
    pub arn: String,
    pub status: String,
    pub encrypted: bool,
    pub created_by: Option<String>,
}

impl SnapshotView {
    pub fn of(snapshot: &DbSnapshot) -> Self {
        Self {
            id: snapshot
                .db_snapshot_identifier()
                .unwrap_or_default()
                .to_string(),
            arn: snapshot.db_snapshot_arn().unwrap_or_default().to_string(),
            status: snapshot.status().unwrap_or("unknown").to_string(),
            encrypted: snapshot.encrypted().unwrap_or(false),
            created_by: snapshot
                .tag_list()
                .iter()
                .find(|t| t.key() == Some(EXECUTION_TAG))
                .and_then(|t| t.value().map(str::to_string)),
        }
    }
}

/// The status of something being created: `available` is finished (`done` when this execution made
/// it, `alreadyDone` when it was there before), a failure state is `InvalidState`, anything else
/// (`creating`, `copying`, `backing-up`, `modifying`, …) is `inProgress`.
pub fn creation_status(
    what: &str,
    status: &str,
    made_by_this_execution: bool,
) -> Result<StepStatus, PilotLightError> {
    match status {
        "available" if made_by_this_execution => Ok(StepStatus::Done),
        "available" => Ok(StepStatus::AlreadyDone),
        "failed"
        | "incompatible-restore"
        | "incompatible-parameters"
        | "storage-full"
        | "inaccessible-encryption-credentials"
        | "deleting"
        | "deleted" => Err(PilotLightError::InvalidState {
            resource: what.to_string(),
            state: status.to_string(),
            reason: "it cannot become available; a re-run of the failback starts over".into(),
        }),
        _ => Ok(StepStatus::InProgress),
    }
}

/// What `clearWay` does with the identifier it must free.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClearWayDecision {
    /// Nothing there, and nothing renamed by this execution: the way is clear.
    Clear,
    /// This execution's own successor already holds the identifier (a retry after `restore` or
    /// `replicate` began): the way was cleared earlier.
    OursAlready,
    /// Rename the instance in the way (it is `available`).
    Rename,
    /// A rename is under way (the instance still shows the old name while RDS renames it).
    Renaming,
    /// This execution renamed it already; the identifier is free.
    Renamed,
}

/// Decides `clearWay` from what holds the identifier (`current`) and what holds the rename target
/// (`renamed`). An instance in the way that is not `available` cannot be renamed now.
pub fn decide_clear_way(
    current: Option<&InstanceView>,
    renamed: Option<&InstanceView>,
    execution_id: &str,
) -> Result<ClearWayDecision, PilotLightError> {
    match (current, renamed) {
        (Some(instance), _) if instance.created_by.as_deref() == Some(execution_id) => {
            Ok(ClearWayDecision::OursAlready)
        }
        // Tagged by this execution but still `available` under its old name: the run stopped
        // between the tag and the rename (a crash, a throttled ModifyDBInstance). Waiting would
        // wait forever; the rename is asked for again.
        (Some(instance), None)
            if instance.renamed_by.as_deref() == Some(execution_id)
                && instance.status == "available" =>
        {
            Ok(ClearWayDecision::Rename)
        }
        (Some(instance), _) if instance.renamed_by.as_deref() == Some(execution_id) => {
            Ok(ClearWayDecision::Renaming)
        }
        (Some(instance), Some(_)) => Err(PilotLightError::InvalidState {
            resource: format!("DB instance {}", instance.id),
            state: instance.status.clone(),
            reason: "both it and its rename target exist; an operator must look".into(),
        }),
        (Some(instance), None) if instance.status == "available" => Ok(ClearWayDecision::Rename),
        (Some(instance), None) if instance.status == "renaming" => Ok(ClearWayDecision::Renaming),
        (Some(instance), None) => Err(PilotLightError::InvalidState {
            resource: format!("DB instance {}", instance.id),
            state: instance.status.clone(),
            reason: "an instance in the way is renamed only when `available`".into(),
        }),
        (None, Some(_)) => Ok(ClearWayDecision::Renamed),
        (None, None) => Ok(ClearWayDecision::Clear),
    }
}

/// What `restore` and `replicate` do with the identifier they create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateDecision {
    /// Free: create it.
    Create,
    /// Ours (this execution's, or already the wanted replica): report its progress.
    Follow { made_by_this_execution: bool },
}

/// Decides `restore`: the identifier must be free or hold this execution's restore. Anything else is
/// in the way (run `clearWay` first) and is never touched.
pub fn decide_restore(
    existing: Option<&InstanceView>,
    execution_id: &str,
) -> Result<CreateDecision, PilotLightError> {
    match existing {
        None => Ok(CreateDecision::Create),
        Some(instance) if instance.created_by.as_deref() == Some(execution_id) => {
            Ok(CreateDecision::Follow {
                made_by_this_execution: true,
            })
        }
        Some(instance) => Err(in_the_way(instance)),
    }
}

/// Decides `replicate`: the identifier must be free, hold this execution's replica, or already be a
/// replica of `source_arn` (then there is nothing to do). The source must be a standalone instance in
/// another region.
pub fn decide_replicate(
    existing: Option<&InstanceView>,
    source: &InstanceView,
    source_region: &str,
    target_region: &str,
    execution_id: &str,
) -> Result<CreateDecision, PilotLightError> {
    if source_region == target_region {
        return Err(PilotLightError::UnsafeOperation {
            reason: format!("source and replica are both in {target_region}: a same-region replica is no disaster recovery"),
        });
    }
    match existing {
        Some(instance) if instance.created_by.as_deref() == Some(execution_id) => {
            Ok(CreateDecision::Follow {
                made_by_this_execution: true,
            })
        }
        Some(instance) if instance.replication_source.as_deref() == Some(source.arn.as_str()) => {
            Ok(CreateDecision::Follow {
                made_by_this_execution: false,
            })
        }
        Some(instance) => Err(in_the_way(instance)),
        None if source.replication_source.is_some() => Err(PilotLightError::InvalidState {
            resource: format!("DB instance {}", source.id),
            state: source.status.clone(),
            reason: "the source of a new DR replica must be the standalone, serving database"
                .into(),
        }),
        None if source.status != "available" => Err(PilotLightError::InvalidState {
            resource: format!("DB instance {}", source.id),
            state: source.status.clone(),
            reason: "a replica can be created only from an `available` instance".into(),
        }),
        None => Ok(CreateDecision::Create),
    }
}

/// The status of a replica `replicate` follows: as [`creation_status`], but finished only once RDS
/// shows the replication link to `source_arn`; or once this execution's replica was promoted
/// already (a re-run of a replica failback after its promotion, with the same failback identity:
/// the standby stayed fenced since, so the promoted replica holds everything, and there is nothing
/// left to replicate).
pub fn replica_status(
    what: &str,
    existing: &InstanceView,
    source_arn: &str,
    made_by_this_execution: bool,
) -> Result<StepStatus, PilotLightError> {
    let status = creation_status(what, &existing.status, made_by_this_execution)?;
    let linked = existing.replication_source.as_deref() == Some(source_arn);
    let promoted_by_us =
        made_by_this_execution && existing.replication_source.is_none() && existing.promoted;
    Ok(if status.is_finished() && !linked && !promoted_by_us {
        StepStatus::InProgress
    } else {
        status
    })
}

fn in_the_way(instance: &InstanceView) -> PilotLightError {
    PilotLightError::UnsafeOperation {
        reason: format!(
            "DB instance {} holds the identifier and is not this execution's: run `clearWay` first; it is never deleted or overwritten",
            instance.id
        ),
    }
}

/// What `retire` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetireDecision {
    /// Delete with the final snapshot.
    Delete,
    /// Deletion under way.
    Deleting,
    /// Gone (this execution's final snapshot exists), or nothing was renamed by this execution.
    Gone { final_snapshot: bool },
}

/// Decides `retire`. Deletes only the instance this execution renamed, only when its successor (the
/// instance now under the original identifier) is available, and only when nothing replicates from
/// it: never the serving database, never the last copy.
pub fn decide_retire(
    renamed: Option<&InstanceView>,
    successor: Option<&InstanceView>,
    final_snapshot_exists: bool,
    execution_id: &str,
) -> Result<RetireDecision, PilotLightError> {
    let Some(instance) = renamed else {
        return Ok(RetireDecision::Gone {
            final_snapshot: final_snapshot_exists,
        });
    };
    if instance.renamed_by.as_deref() != Some(execution_id) {
        return Err(PilotLightError::UnsafeOperation {
            reason: format!(
                "DB instance {} was not renamed by this execution: not retired",
                instance.id
            ),
        });
    }
    if instance.status == "deleting" {
        return Ok(RetireDecision::Deleting);
    }
    if !instance.replicas.is_empty() {
        return Err(PilotLightError::UnsafeOperation {
            reason: format!(
                "DB instance {} is the source of {}: not retired",
                instance.id,
                instance.replicas.join(", ")
            ),
        });
    }
    match successor {
        Some(next) if next.status == "available" => Ok(RetireDecision::Delete),
        Some(next) => Err(PilotLightError::UnsafeOperation {
            reason: format!(
                "successor {} is `{}`, not available: {} is kept",
                next.id, next.status, instance.id
            ),
        }),
        None => Err(PilotLightError::UnsafeOperation {
            reason: format!(
                "no successor holds the original identifier: {} is the last copy and is kept",
                instance.id
            ),
        }),
    }
}
