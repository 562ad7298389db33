//! `snapshot-restore`: re-seeds the primary region's database at failback, and re-protects it, without
//! ever losing data. One action per step; every action observes first, acts only when needed, and is
//! called again by the state machine to poll (it answers `inProgress` until its end state holds):
//!
//! * `describe`: read-only: a side's instance and its [`DatabaseShape`], for the run state to record
//!   while the primary can still be seen (a graceful failover; the schedule);
//! * `snapshot`: a snapshot of the serving standby instance, named and tagged after the execution
//!   (a retry finds it and reuses it);
//! * `copy`: that snapshot copied to the primary region (with the primary region's KMS key when it is
//!   encrypted), tags applied explicitly;
//! * `clearWay`: an instance that is in the way of an identifier we need (an old primary that
//!   survived, the promoted standby at re-protect) is **renamed**, never deleted; its settings (the
//!   [`DatabaseShape`]) are returned so the successor gets them; its tags ([`rename_tags`]) say
//!   since when it is kept and, for an old primary, which promotion cut replication from it, so
//!   the failback report and `pilot-light status` can name it until a person retires it;
//! * `restore`: the copied snapshot restored under the original primary identifier with the original
//!   shape;
//! * `replicate`: a cross-region read replica created on one side from the other (the replica
//!   strategy's reverse replica; re-protect's new DR replica under the original replica identifier);
//! * `retire`: the instance this execution renamed on a side is deleted, only with a final snapshot,
//!   only when its successor under the original identifier is available, and only when nothing
//!   replicates from it.
//!
//! Every resource made here carries `pilot-light:env` and [`EXECUTION_TAG`]: that tag tells "ours,
//! from this execution" (go on polling) apart from "someone else's" (never touched).

use aws_sdk_rds::types::{DbInstance, DbSnapshot, Tag};
use pilot_light_core::config::{check_db_instance_id, DatabaseConfig, Side};
use pilot_light_core::converge::observe_again_if_landed;
use pilot_light_core::db_instances::describe_instance as describe_instance_of;
use pilot_light_core::db_instances::instance_tags;
use pilot_light_core::kept::replication_cut_by;
use pilot_light_core::production_shape::{parse_pilot_light_shape_tag, PILOT_LIGHT_SHAPE_TAG};
use pilot_light_core::{
    execution_token, parse_step_input, PilotLightError, Regional, StepStatus, Timestamp,
    ENV_TAG_KEY,
};
use serde::{Deserialize, Serialize};

/// The execution that created a snapshot or an instance.
pub const EXECUTION_TAG: &str = "pilot-light:execution";
/// On a renamed instance: the identifier it had ([`RENAMED_FROM_TAG`]), the execution that renamed
/// it ([`RENAMED_BY_TAG`]), when ([`RENAMED_AT_TAG`]) and, on an old primary, the execution whose
/// promotion of the standby cut replication from it ([`REPLICATION_CUT_BY_TAG`]): what the failback
/// report and `pilot-light status` read to list it (`pilot_light_core::kept`).
pub use pilot_light_core::kept::{
    RENAMED_AT_TAG, RENAMED_BY_TAG, RENAMED_FROM_TAG, REPLICATION_CUT_BY_TAG,
};

/// The actions of this handler.
pub const ACTIONS: &[&str] = &[
    "describe",
    "snapshot",
    "copy",
    "clearWay",
    "restore",
    "replicate",
    "retire",
];

/// The clients this handler uses, built once per Lambda instance.
pub struct Clients {
    pub rds: Regional<aws_sdk_rds::Client>,
}

impl Clients {
    /// Clients from the environment (honours `AWS_ENDPOINT_URL`).
    pub async fn from_env() -> Self {
        let base = pilot_light_core::clients::load_sdk_config().await;
        Self {
            rds: Regional::new(base, aws_sdk_rds::Client::new),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SnapshotRestoreAction {
    Describe,
    Snapshot,
    Copy,
    ClearWay,
    Restore,
    Replicate,
    Retire,
}

/// The settings a primary is restored with (and a replica created with): recorded from the instance
/// that had the identifier before. Absent fields are left to RDS's defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DatabaseShape {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_class: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub db_subnet_group_name: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vpc_security_group_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multi_az: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub db_parameter_group_name: Option<String>,
}

impl DatabaseShape {
    /// The shape of a described instance. Default parameter groups (`default.*`) are not carried:
    /// each region and engine version has its own. A promoted standby that `resize-database` grew
    /// to production size carries its pilot light's own class and Multi-AZ in
    /// `pilot-light:pilot-light-shape`: those win, so the DR replica re-created in its place is
    /// small again.
    pub fn of_instance(instance: &DbInstance) -> Self {
        let small = instance
            .tag_list()
            .iter()
            .find(|t| t.key() == Some(PILOT_LIGHT_SHAPE_TAG))
            .and_then(|t| t.value())
            .map(parse_pilot_light_shape_tag);
        let mut shape = Self::as_described(instance);
        if let Some((class, multi_az)) = small {
            shape.instance_class = class.or(shape.instance_class);
            shape.multi_az = multi_az.or(shape.multi_az);
        }
        shape
    }

    fn as_described(instance: &DbInstance) -> Self {
        Self {
            instance_class: instance.db_instance_class().map(str::to_string),
            db_subnet_group_name: instance
                .db_subnet_group()
                .and_then(|g| g.db_subnet_group_name())
                .filter(|n| !n.is_empty() && *n != "default")
                .map(str::to_string),
            vpc_security_group_ids: instance
                .vpc_security_groups()
                .iter()
                .filter_map(|g| g.vpc_security_group_id())
                .map(str::to_string)
                .collect(),
            multi_az: instance.multi_az(),
            db_parameter_group_name: instance
                .db_parameter_groups()
                .iter()
                .filter_map(|g| g.db_parameter_group_name())
                .find(|n| !n.starts_with("default."))
                .map(str::to_string),
        }
    }
}

/// Input from the state machine.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SnapshotRestoreInput {
    pub action: SnapshotRestoreAction,
    /// The environment: tagged on everything made here.
    pub env: String,
    /// The Step Functions execution: names and tags what this run makes.
    pub execution_id: String,
    pub primary_region: String,
    pub standby_region: String,
    pub database: DatabaseConfig,
    /// `clearWay`, `replicate`, `retire`: which side's identifier (and region) the action is about.
    #[serde(default)]
    pub side: Option<Side>,
    /// `restore`, `replicate`: the settings to create the instance with (`null`: RDS defaults).
    #[serde(default)]
    pub shape: Option<DatabaseShape>,
    /// `restore`, `replicate`: the shapes recorded in the run state (by logical database name), used
    /// when `shape` is `null` (the old primary is gone and cannot be looked at).
    #[serde(default)]
    pub recorded_shapes: std::collections::BTreeMap<String, DatabaseShape>,
}

/// What an action found and did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotRestoreOutput {
    pub action: SnapshotRestoreAction,
    pub status: StepStatus,
    /// Logical database name from the configuration.
    pub database: String,
    /// The region acted in.
    pub region: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub db_instance_status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot_status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encrypted: Option<bool>,
    /// `clearWay`: the name the instance in the way now has (`null`: nothing was in the way).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renamed_to: Option<String>,
    /// `clearWay`: the settings of the instance that was in the way (`null`: none), always present
    /// in a `clearWay` answer so the state machine can pass it on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shape: Option<Option<DatabaseShape>>,
    /// `restore`, `replicate`: where the settings came from: `instanceInTheWay` (the instance that
    /// held the identifier), `recorded` (the run state), `rdsDefaults` (neither was available).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shape_source: Option<ShapeSource>,
    /// `retire`: the final snapshot taken before deletion.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub final_snapshot_id: Option<String>,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    /// ARNs (or ids) of the resources looked at or changed.
    pub resources: Vec<String>,
}

/// The resource a decision was made on (present by construction; an internal error otherwise,
/// never a panic).
fn decided<T>(observed: Option<T>, what: &str) -> Result<T, PilotLightError> {
    observed.ok_or_else(|| PilotLightError::InvalidState {
        resource: what.to_string(),
        state: "vanished".into(),
        reason: "it disappeared between two reads; run the step again".into(),
    })
}

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
        let tag = |key: &str| {
            instance
                .tag_list()
                .iter()
                .find(|t| t.key() == Some(key))
                .and_then(|t| t.value().map(str::to_string))
        };
        Self {
            id: instance
                .db_instance_identifier()
                .unwrap_or_default()
                .to_string(),
            arn: instance.db_instance_arn().unwrap_or_default().to_string(),
            status: instance
                .db_instance_status()
                .unwrap_or("unknown")
                .to_string(),
            replication_source: instance
                .read_replica_source_db_instance_identifier()
                .filter(|s| !s.is_empty())
                .map(str::to_string),
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

// ------------------------------------------------------------------------------------------------
// The handler

/// Where a side's instance lives: `(instance id, region)`.
fn side_instance(input: &SnapshotRestoreInput, side: Side) -> (&str, &str) {
    match side {
        Side::Primary => (
            input.database.primary_instance_id.as_str(),
            input.primary_region.as_str(),
        ),
        Side::Standby => (
            input.database.replica_instance_id.as_str(),
            input.standby_region.as_str(),
        ),
    }
}

fn other_side(side: Side) -> Side {
    match side {
        Side::Primary => Side::Standby,
        Side::Standby => Side::Primary,
    }
}

fn required_side(input: &SnapshotRestoreInput) -> Result<Side, PilotLightError> {
    input.side.ok_or_else(|| PilotLightError::InvalidInput {
        field: "side".into(),
        reason: "`clearWay`, `replicate` and `retire` need `side`: primary or standby".into(),
    })
}

/// The Lambda handler: decode, validate, observe, act.
pub async fn handler(
    event: serde_json::Value,
    clients: &Clients,
) -> Result<SnapshotRestoreOutput, PilotLightError> {
    let started_at = Timestamp::now();
    let input = parse_input(event)?;
    let fresh_output = || SnapshotRestoreOutput {
        action: input.action,
        status: StepStatus::InProgress,
        database: input.database.name.clone(),
        region: String::new(),
        instance_id: None,
        db_instance_status: None,
        snapshot_id: None,
        snapshot_status: None,
        encrypted: None,
        renamed_to: None,
        shape: None,
        shape_source: None,
        final_snapshot_id: None,
        started_at: started_at.clone(),
        finished_at: Timestamp::now(),
        resources: Vec::new(),
    };
    // Each action observes, then acts: when AWS refuses its change the way it refuses the retry
    // of an attempt that landed (a lost answer), the action looks again and finds its work.
    let (input, fresh_output) = (&input, &fresh_output);
    let mut out = observe_again_if_landed("snapshot-restore", || async move {
        let mut out = fresh_output();
        match input.action {
            SnapshotRestoreAction::Describe => describe(input, clients, &mut out).await?,
            SnapshotRestoreAction::Snapshot => snapshot(input, clients, &mut out).await?,
            SnapshotRestoreAction::Copy => copy(input, clients, &mut out).await?,
            SnapshotRestoreAction::ClearWay => clear_way(input, clients, &mut out).await?,
            SnapshotRestoreAction::Restore => restore(input, clients, &mut out).await?,
            SnapshotRestoreAction::Replicate => replicate(input, clients, &mut out).await?,
            SnapshotRestoreAction::Retire => retire(input, clients, &mut out).await?,
        }
        Ok(out)
    })
    .await?;
    out.finished_at = Timestamp::now();
    tracing::info!(
        action = ?out.action,
        database = %out.database,
        region = %out.region,
        instance_id = ?out.instance_id,
        snapshot_id = ?out.snapshot_id,
        renamed_to = ?out.renamed_to,
        status = ?out.status,
        "snapshot-restore"
    );
    Ok(out)
}

/// Decodes and validates an event without calling AWS: `UnknownAction`, `InvalidInput` naming the
/// field, `UnsafeOperation` for a same-region pair.
pub fn parse_input(event: serde_json::Value) -> Result<SnapshotRestoreInput, PilotLightError> {
    let input: SnapshotRestoreInput = parse_step_input(event, ACTIONS)?;
    validate(&input)?;
    Ok(input)
}

fn validate(input: &SnapshotRestoreInput) -> Result<(), PilotLightError> {
    for (field, value) in [
        (
            "database.primaryInstanceId",
            &input.database.primary_instance_id,
        ),
        (
            "database.replicaInstanceId",
            &input.database.replica_instance_id,
        ),
    ] {
        check_db_instance_id(field, value).map_err(|err| match err {
            PilotLightError::ConfigInvalid { field, reason } => {
                PilotLightError::InvalidInput { field, reason }
            }
            other => other,
        })?;
    }
    if input.primary_region == input.standby_region {
        return Err(PilotLightError::UnsafeOperation {
            reason: format!(
                "primary and standby are both {}: failback needs two regions",
                input.primary_region
            ),
        });
    }
    if input.execution_id.trim().is_empty() {
        return Err(PilotLightError::InvalidInput {
            field: "executionId".into(),
            reason: "must name the execution".into(),
        });
    }
    if matches!(
        input.action,
        SnapshotRestoreAction::Describe
            | SnapshotRestoreAction::ClearWay
            | SnapshotRestoreAction::Replicate
            | SnapshotRestoreAction::Retire
    ) {
        required_side(input)?;
    }
    Ok(())
}

fn tags(input: &SnapshotRestoreInput) -> Vec<Tag> {
    vec![
        Tag::builder().key(ENV_TAG_KEY).value(&input.env).build(),
        Tag::builder()
            .key(EXECUTION_TAG)
            .value(&input.execution_id)
            .build(),
        Tag::builder()
            .key("pilot-light:database")
            .value(&input.database.name)
            .build(),
    ]
}

/// `describe`: a side's instance and its shape; nothing is changed.
async fn describe(
    input: &SnapshotRestoreInput,
    clients: &Clients,
    out: &mut SnapshotRestoreOutput,
) -> Result<(), PilotLightError> {
    let side = required_side(input)?;
    let (instance_id, region) = side_instance(input, side);
    let rds = clients.rds.get(region)?;
    let instance = describe_instance(&rds, instance_id).await?.ok_or_else(|| {
        PilotLightError::ResourceNotFound {
            kind: "DBInstance".into(),
            id: instance_id.to_string(),
            region: region.to_string(),
        }
    })?;
    out.status = StepStatus::AlreadyDone;
    out.region = region.to_string();
    out.instance_id = Some(instance_id.to_string());
    out.db_instance_status = Some(instance.status.clone());
    out.shape = Some(Some(instance.shape.clone()));
    out.resources = vec![instance.arn];
    Ok(())
}

/// `snapshot`: of the serving standby instance.
async fn snapshot(
    input: &SnapshotRestoreInput,
    clients: &Clients,
    out: &mut SnapshotRestoreOutput,
) -> Result<(), PilotLightError> {
    let (instance_id, region) = side_instance(input, Side::Standby);
    let rds = clients.rds.get(region)?;
    let snapshot_id = failback_snapshot_id(instance_id, &input.execution_id);
    out.region = region.to_string();
    out.instance_id = Some(instance_id.to_string());
    out.snapshot_id = Some(snapshot_id.clone());
    if let Some(found) = describe_snapshot(&rds, &snapshot_id).await? {
        return follow_snapshot(input, &found, out);
    }
    let instance = describe_instance(&rds, instance_id).await?.ok_or_else(|| {
        PilotLightError::ResourceNotFound {
            kind: "DBInstance".into(),
            id: instance_id.to_string(),
            region: region.to_string(),
        }
    })?;
    if instance.replication_source.is_some() {
        return Err(PilotLightError::InvalidState {
            resource: format!("DB instance {instance_id}"),
            state: "replica".into(),
            reason: "the standby is still a read replica: it is not serving, so there is nothing to fail back".into(),
        });
    }
    if instance.status != "available" {
        return Err(PilotLightError::InvalidState {
            resource: format!("DB instance {instance_id}"),
            state: instance.status,
            reason: "a snapshot is taken only of an `available` instance".into(),
        });
    }
    let created = rds
        .create_db_snapshot()
        .db_instance_identifier(instance_id)
        .db_snapshot_identifier(&snapshot_id)
        .set_tags(Some(tags(input)))
        .send()
        .await
        .map_err(|err| PilotLightError::from_sdk("CreateDBSnapshot", &err))?;
    let view = created
        .db_snapshot()
        .map(SnapshotView::of)
        .unwrap_or_else(|| SnapshotView {
            id: snapshot_id.clone(),
            arn: String::new(),
            status: "creating".into(),
            encrypted: instance.encrypted,
            created_by: Some(input.execution_id.clone()),
        });
    out.status = StepStatus::Started;
    out.snapshot_status = Some(view.status);
    out.encrypted = Some(view.encrypted);
    out.resources = vec![instance.arn, view.arn];
    Ok(())
}

fn follow_snapshot(
    input: &SnapshotRestoreInput,
    found: &SnapshotView,
    out: &mut SnapshotRestoreOutput,
) -> Result<(), PilotLightError> {
    if found.created_by.as_deref() != Some(input.execution_id.as_str()) {
        return Err(PilotLightError::UnsafeOperation {
            reason: format!(
                "snapshot {} exists and was not made by this execution",
                found.id
            ),
        });
    }
    out.status = creation_status(&format!("DB snapshot {}", found.id), &found.status, true)?;
    out.snapshot_status = Some(found.status.clone());
    out.encrypted = Some(found.encrypted);
    out.resources = vec![found.arn.clone()];
    Ok(())
}

/// `copy`: the failback snapshot to the primary region.
async fn copy(
    input: &SnapshotRestoreInput,
    clients: &Clients,
    out: &mut SnapshotRestoreOutput,
) -> Result<(), PilotLightError> {
    let snapshot_id =
        failback_snapshot_id(&input.database.replica_instance_id, &input.execution_id);
    let target = clients.rds.get(&input.primary_region)?;
    out.region = input.primary_region.clone();
    out.snapshot_id = Some(snapshot_id.clone());
    if let Some(found) = describe_snapshot(&target, &snapshot_id).await? {
        return follow_snapshot(input, &found, out);
    }
    let source_rds = clients.rds.get(&input.standby_region)?;
    let source = describe_snapshot(&source_rds, &snapshot_id)
        .await?
        .ok_or_else(|| PilotLightError::ResourceNotFound {
            kind: "DBSnapshot".into(),
            id: snapshot_id.clone(),
            region: input.standby_region.clone(),
        })?;
    if source.status != "available" {
        return Err(PilotLightError::InvalidState {
            resource: format!("DB snapshot {snapshot_id}"),
            state: source.status,
            reason: "copy only an `available` snapshot: poll `snapshot` until done".into(),
        });
    }
    let kms_key = match (source.encrypted, &input.database.primary_kms_key_id) {
        (false, _) => None,
        (true, Some(key)) => Some(key.clone()),
        (true, None) => return Err(PilotLightError::ConfigInvalid {
            field: format!("databases[{}].primaryKmsKeyId", input.database.name),
            reason:
                "the snapshot is encrypted: a cross-region copy needs the primary region's KMS key"
                    .into(),
        }),
    };
    let copied = target
        .copy_db_snapshot()
        .source_db_snapshot_identifier(&source.arn)
        .target_db_snapshot_identifier(&snapshot_id)
        .set_kms_key_id(kms_key)
        .set_tags(Some(tags(input)))
        .send()
        .await
        .map_err(|err| PilotLightError::from_sdk("CopyDBSnapshot", &err))?;
    let view = copied.db_snapshot().map(SnapshotView::of);
    out.status = StepStatus::Started;
    out.snapshot_status = Some(
        view.as_ref()
            .map(|v| v.status.clone())
            .unwrap_or_else(|| "creating".into()),
    );
    out.encrypted = Some(source.encrypted);
    out.resources = vec![source.arn, view.map(|v| v.arn).unwrap_or_default()];
    Ok(())
}

/// `clearWay`: free a side's identifier by renaming what holds it.
async fn clear_way(
    input: &SnapshotRestoreInput,
    clients: &Clients,
    out: &mut SnapshotRestoreOutput,
) -> Result<(), PilotLightError> {
    let side = required_side(input)?;
    let (instance_id, region) = side_instance(input, side);
    let rds = clients.rds.get(region)?;
    let renamed_id = renamed_instance_id(instance_id, &input.execution_id);
    let current = describe_instance(&rds, instance_id).await?;
    let renamed = describe_instance(&rds, &renamed_id).await?;
    out.region = region.to_string();
    out.instance_id = Some(instance_id.to_string());
    out.shape = Some(None);
    match decide_clear_way(current.as_ref(), renamed.as_ref(), &input.execution_id)? {
        ClearWayDecision::Clear => {
            out.status = StepStatus::AlreadyDone;
        }
        ClearWayDecision::OursAlready => {
            out.status = StepStatus::AlreadyDone;
            out.db_instance_status = current.as_ref().map(|c| c.status.clone());
        }
        ClearWayDecision::Renamed => {
            let renamed = decided(renamed, &renamed_id)?;
            out.status = if renamed.status == "available" {
                StepStatus::Done
            } else {
                StepStatus::InProgress
            };
            out.renamed_to = Some(renamed_id);
            out.db_instance_status = Some(renamed.status.clone());
            out.shape = Some(Some(renamed.shape.clone()));
            out.resources = vec![renamed.arn];
        }
        ClearWayDecision::Renaming => {
            let current = decided(current, instance_id)?;
            out.status = StepStatus::InProgress;
            out.renamed_to = Some(renamed_id);
            out.db_instance_status = Some(current.status.clone());
            out.shape = Some(Some(current.shape.clone()));
            out.resources = vec![current.arn];
        }
        ClearWayDecision::Rename => {
            let current = decided(current, instance_id)?;
            // An old primary in the way: record which promotion cut replication from it (the
            // standby still serves and carries `promote-replica`'s tags), so whoever finds it kept
            // later knows since when its writes never reached the standby.
            let cut_by = match side {
                Side::Primary => {
                    let standby = clients.rds.get(&input.standby_region)?;
                    describe_tags(&standby, &input.database.replica_instance_id)
                        .await?
                        .and_then(|tags| {
                            replication_cut_by(&tags, instance_id, &input.primary_region)
                        })
                }
                Side::Standby => None,
            };
            let tags = rename_tags(
                &input.env,
                &input.execution_id,
                instance_id,
                &Timestamp::now(),
                cut_by.as_deref(),
            );
            rds.add_tags_to_resource()
                .resource_name(&current.arn)
                .set_tags(Some(
                    tags.into_iter()
                        .map(|(key, value)| Tag::builder().key(key).value(value).build())
                        .collect(),
                ))
                .send()
                .await
                .map_err(|err| PilotLightError::from_sdk("AddTagsToResource", &err))?;
            tracing::info!(
                instance_id,
                renamed_to = %renamed_id,
                replication_cut_by = ?cut_by,
                "renaming the instance in the way; it is kept"
            );
            let renaming = rds
                .modify_db_instance()
                .db_instance_identifier(instance_id)
                .new_db_instance_identifier(&renamed_id)
                .apply_immediately(true)
                .send()
                .await;
            out.status = match renaming {
                Ok(_) => StepStatus::Started,
                // A rename asked for again while RDS begins the first one: the poll follows it.
                Err(err)
                    if err
                        .as_service_error()
                        .is_some_and(|e| e.is_invalid_db_instance_state_fault()) =>
                {
                    StepStatus::InProgress
                }
                Err(err) => return Err(PilotLightError::from_sdk("ModifyDBInstance", &err)),
            };
            out.renamed_to = Some(renamed_id);
            out.db_instance_status = Some("renaming".into());
            out.shape = Some(Some(current.shape.clone()));
            out.resources = vec![current.arn];
        }
    }
    Ok(())
}

/// `restore`: the copied snapshot under the original primary identifier.
async fn restore(
    input: &SnapshotRestoreInput,
    clients: &Clients,
    out: &mut SnapshotRestoreOutput,
) -> Result<(), PilotLightError> {
    let (instance_id, region) = side_instance(input, Side::Primary);
    let rds = clients.rds.get(region)?;
    let snapshot_id =
        failback_snapshot_id(&input.database.replica_instance_id, &input.execution_id);
    out.region = region.to_string();
    out.instance_id = Some(instance_id.to_string());
    out.snapshot_id = Some(snapshot_id.clone());
    let existing = describe_instance(&rds, instance_id).await?;
    match decide_restore(existing.as_ref(), &input.execution_id)? {
        CreateDecision::Follow {
            made_by_this_execution,
        } => {
            let existing = decided(existing, instance_id)?;
            out.status = creation_status(
                &format!("DB instance {instance_id}"),
                &existing.status,
                made_by_this_execution,
            )?;
            out.db_instance_status = Some(existing.status);
            out.resources = vec![existing.arn];
        }
        CreateDecision::Create => {
            let snapshot = describe_snapshot(&rds, &snapshot_id)
                .await?
                .ok_or_else(|| PilotLightError::ResourceNotFound {
                    kind: "DBSnapshot".into(),
                    id: snapshot_id.clone(),
                    region: region.to_string(),
                })?;
            if snapshot.status != "available" {
                return Err(PilotLightError::InvalidState {
                    resource: format!("DB snapshot {snapshot_id}"),
                    state: snapshot.status,
                    reason: "restore only from an `available` snapshot: poll `copy` until done"
                        .into(),
                });
            }
            let (shape, source) = choose_shape(
                input.shape.as_ref(),
                input.recorded_shapes.get(&input.database.name),
            );
            out.shape_source = Some(source);
            let restored = rds
                .restore_db_instance_from_db_snapshot()
                .db_instance_identifier(instance_id)
                .db_snapshot_identifier(&snapshot_id)
                .set_db_instance_class(shape.instance_class)
                .set_db_subnet_group_name(shape.db_subnet_group_name)
                .set_vpc_security_group_ids(
                    (!shape.vpc_security_group_ids.is_empty())
                        .then_some(shape.vpc_security_group_ids),
                )
                .set_multi_az(shape.multi_az)
                .set_db_parameter_group_name(shape.db_parameter_group_name)
                .set_tags(Some(tags(input)))
                .send()
                .await
                .map_err(|err| {
                    PilotLightError::from_sdk("RestoreDBInstanceFromDBSnapshot", &err)
                })?;
            let view = restored.db_instance().map(InstanceView::of);
            out.status = StepStatus::Started;
            out.db_instance_status = Some(
                view.as_ref()
                    .map(|v| v.status.clone())
                    .unwrap_or_else(|| "creating".into()),
            );
            out.resources = vec![snapshot.arn, view.map(|v| v.arn).unwrap_or_default()];
        }
    }
    Ok(())
}

/// `replicate`: a cross-region read replica on `side`, of the other side's instance.
async fn replicate(
    input: &SnapshotRestoreInput,
    clients: &Clients,
    out: &mut SnapshotRestoreOutput,
) -> Result<(), PilotLightError> {
    let side = required_side(input)?;
    let (target_id, target_region) = side_instance(input, side);
    let (source_id, source_region) = side_instance(input, other_side(side));
    let target = clients.rds.get(target_region)?;
    let source_rds = clients.rds.get(source_region)?;
    out.region = target_region.to_string();
    out.instance_id = Some(target_id.to_string());
    let source = describe_instance(&source_rds, source_id)
        .await?
        .ok_or_else(|| PilotLightError::ResourceNotFound {
            kind: "DBInstance".into(),
            id: source_id.to_string(),
            region: source_region.to_string(),
        })?;
    let existing = describe_instance(&target, target_id).await?;
    match decide_replicate(
        existing.as_ref(),
        &source,
        source_region,
        target_region,
        &input.execution_id,
    )? {
        CreateDecision::Follow {
            made_by_this_execution,
        } => {
            let existing = decided(existing, target_id)?;
            let status = replica_status(
                &format!("DB instance {target_id}"),
                &existing,
                &source.arn,
                made_by_this_execution,
            )?;
            out.status = status;
            out.db_instance_status = Some(existing.status);
            out.resources = vec![source.arn, existing.arn];
        }
        CreateDecision::Create => {
            let kms_key = match (source.encrypted, side) {
                (false, _) => None,
                (true, Side::Primary) => input.database.primary_kms_key_id.clone(),
                (true, Side::Standby) => input.database.standby_kms_key_id.clone(),
            };
            if source.encrypted && kms_key.is_none() {
                return Err(PilotLightError::ConfigInvalid {
                    field: format!(
                        "databases[{}].{}KmsKeyId",
                        input.database.name,
                        side.name()
                    ),
                    reason: "the source is encrypted: a cross-region replica needs the target region's KMS key".into(),
                });
            }
            // A reverse replica (side primary) becomes the primary: the primary's shape. A new DR
            // replica (side standby) keeps the old standby's (small) shape; nothing is recorded
            // for it.
            let recorded = match side {
                Side::Primary => input.recorded_shapes.get(&input.database.name),
                Side::Standby => None,
            };
            let (shape, shape_source) = choose_shape(input.shape.as_ref(), recorded);
            out.shape_source = Some(shape_source);
            let created = target
                .create_db_instance_read_replica()
                .db_instance_identifier(target_id)
                .source_db_instance_identifier(&source.arn)
                .set_kms_key_id(kms_key)
                .set_db_instance_class(shape.instance_class)
                .set_db_subnet_group_name(shape.db_subnet_group_name)
                .set_vpc_security_group_ids(
                    (!shape.vpc_security_group_ids.is_empty())
                        .then_some(shape.vpc_security_group_ids),
                )
                .set_multi_az(shape.multi_az)
                .set_db_parameter_group_name(shape.db_parameter_group_name)
                .set_tags(Some(tags(input)))
                .send()
                .await
                .map_err(|err| PilotLightError::from_sdk("CreateDBInstanceReadReplica", &err))?;
            let view = created.db_instance().map(InstanceView::of);
            out.status = StepStatus::Started;
            out.db_instance_status = Some(
                view.as_ref()
                    .map(|v| v.status.clone())
                    .unwrap_or_else(|| "creating".into()),
            );
            out.resources = vec![source.arn, view.map(|v| v.arn).unwrap_or_default()];
        }
    }
    Ok(())
}

/// `retire`: the instance this execution renamed on `side`, with a final snapshot.
async fn retire(
    input: &SnapshotRestoreInput,
    clients: &Clients,
    out: &mut SnapshotRestoreOutput,
) -> Result<(), PilotLightError> {
    let side = required_side(input)?;
    let (successor_id, region) = side_instance(input, side);
    let rds = clients.rds.get(region)?;
    let renamed_id = renamed_instance_id(successor_id, &input.execution_id);
    let final_id = final_snapshot_id(&renamed_id, &input.execution_id);
    out.region = region.to_string();
    out.instance_id = Some(renamed_id.clone());
    out.final_snapshot_id = Some(final_id.clone());
    let renamed = describe_instance(&rds, &renamed_id).await?;
    let successor = describe_instance(&rds, successor_id).await?;
    let final_snapshot = describe_snapshot(&rds, &final_id).await?;
    match decide_retire(
        renamed.as_ref(),
        successor.as_ref(),
        final_snapshot.is_some(),
        &input.execution_id,
    )? {
        RetireDecision::Gone { final_snapshot: _ } => {
            out.status = if final_snapshot.is_some() {
                StepStatus::Done
            } else {
                StepStatus::AlreadyDone
            };
            out.final_snapshot_id = final_snapshot.as_ref().map(|s| s.id.clone());
            out.snapshot_status = final_snapshot.as_ref().map(|s| s.status.clone());
            out.resources = final_snapshot.map(|s| vec![s.arn]).unwrap_or_default();
        }
        RetireDecision::Deleting => {
            out.status = StepStatus::InProgress;
            out.db_instance_status = Some("deleting".into());
        }
        RetireDecision::Delete => {
            let renamed = decided(renamed, &renamed_id)?;
            let deleted = rds
                .delete_db_instance()
                .db_instance_identifier(&renamed_id)
                .skip_final_snapshot(false)
                .final_db_snapshot_identifier(&final_id)
                .delete_automated_backups(false)
                .send()
                .await;
            match deleted {
                Ok(_) => {
                    out.status = StepStatus::Started;
                    out.resources = vec![renamed.arn];
                }
                Err(err) if deleted_by_another_run(err.as_service_error()) => {
                    // An aborted run of this failback, whose retire was still in flight, deletes
                    // it with the same final snapshot: the state machine polls until it is gone.
                    out.status = StepStatus::InProgress;
                }
                Err(err) => return Err(PilotLightError::from_sdk("DeleteDBInstance", &err)),
            }
            out.db_instance_status = Some("deleting".into());
        }
    }
    Ok(())
}

/// True when `DeleteDBInstance` was refused because the instance is already being deleted, or is
/// gone, between this run's look and its call: another run of the same failback (same final
/// snapshot name) got there first.
fn deleted_by_another_run(
    error: Option<&aws_sdk_rds::operation::delete_db_instance::DeleteDBInstanceError>,
) -> bool {
    error.is_some_and(|e| {
        e.is_db_instance_not_found_fault() || e.is_invalid_db_instance_state_fault()
    })
}

async fn describe_instance(
    rds: &aws_sdk_rds::Client,
    instance_id: &str,
) -> Result<Option<InstanceView>, PilotLightError> {
    Ok(describe_instance_of(rds, instance_id)
        .await?
        .as_ref()
        .map(InstanceView::of))
}

/// The tags of `instance_id` (`None`: no such instance).
async fn describe_tags(
    rds: &aws_sdk_rds::Client,
    instance_id: &str,
) -> Result<Option<std::collections::BTreeMap<String, String>>, PilotLightError> {
    Ok(describe_instance_of(rds, instance_id)
        .await?
        .as_ref()
        .map(instance_tags))
}

async fn describe_snapshot(
    rds: &aws_sdk_rds::Client,
    snapshot_id: &str,
) -> Result<Option<SnapshotView>, PilotLightError> {
    match rds
        .describe_db_snapshots()
        .db_snapshot_identifier(snapshot_id)
        .send()
        .await
    {
        Ok(out) => Ok(out
            .db_snapshots()
            .iter()
            .find(|s| s.db_snapshot_identifier() == Some(snapshot_id))
            .map(SnapshotView::of)),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_db_snapshot_not_found_fault()) =>
        {
            Ok(None)
        }
        Err(err) => Err(PilotLightError::from_sdk("DescribeDBSnapshots", &err)),
    }
}

#[cfg(test)]
mod tests;
