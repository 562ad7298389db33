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
//!
//! Layout: the names, the views of what is observed and the pure decisions are in `decide`, the SDK
//! reads in `aws`, and each action has its own module (`describe`, `snapshot` with `copy`,
//! `clear_way`, `create` with `restore` and `replicate`, `retire`) that observes, decides and acts.

mod aws;
mod clear_way;
mod create;
pub mod decide;
mod describe;
mod retire;
mod snapshot;

pub use decide::{
    choose_shape, creation_status, decide_clear_way, decide_replicate, decide_restore,
    decide_retire, failback_snapshot_id, final_snapshot_id, rename_tags, renamed_instance_id,
    replica_status, ClearWayDecision, CreateDecision, InstanceView, RetireDecision, ShapeSource,
    SnapshotView,
};

use aws_sdk_rds::types::{DbInstance, Tag};
use pilot_light_core::config::{check_db_instance_id, DatabaseConfig, Side};
use pilot_light_core::converge::observe_again_if_landed;
use pilot_light_core::production_shape::{parse_pilot_light_shape_tag, PILOT_LIGHT_SHAPE_TAG};
use pilot_light_core::{
    parse_step_input, EnvName, PilotLightError, Regional, StepStatus, Timestamp, ENV_TAG_KEY,
};
use serde::{Deserialize, Serialize};

/// On a renamed instance: the identifier it had ([`RENAMED_FROM_TAG`]), the execution that renamed
/// it ([`RENAMED_BY_TAG`]), when ([`RENAMED_AT_TAG`]) and, on an old primary, the execution whose
/// promotion of the standby cut replication from it ([`REPLICATION_CUT_BY_TAG`]): what the failback
/// report and `pilot-light status` read to list it (`pilot_light_core::kept`).
pub use pilot_light_core::kept::{
    RENAMED_AT_TAG, RENAMED_BY_TAG, RENAMED_FROM_TAG, REPLICATION_CUT_BY_TAG,
};
pub use pilot_light_core::tags::EXECUTION_TAG;

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
    pub env: EnvName,
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
pub(crate) fn decided<T>(observed: Option<T>, what: &str) -> Result<T, PilotLightError> {
    observed.ok_or_else(|| PilotLightError::InvalidState {
        resource: what.to_string(),
        state: "vanished".into(),
        reason: "it disappeared between two reads; run the step again".into(),
    })
}

// ------------------------------------------------------------------------------------------------
// The handler

/// Where a side's instance lives: `(instance id, region)`.
pub(crate) fn side_instance(input: &SnapshotRestoreInput, side: Side) -> (&str, &str) {
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

pub(crate) fn other_side(side: Side) -> Side {
    match side {
        Side::Primary => Side::Standby,
        Side::Standby => Side::Primary,
    }
}

pub(crate) fn required_side(input: &SnapshotRestoreInput) -> Result<Side, PilotLightError> {
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
            SnapshotRestoreAction::Describe => describe::describe(input, clients, &mut out).await?,
            SnapshotRestoreAction::Snapshot => snapshot::snapshot(input, clients, &mut out).await?,
            SnapshotRestoreAction::Copy => snapshot::copy(input, clients, &mut out).await?,
            SnapshotRestoreAction::ClearWay => {
                clear_way::clear_way(input, clients, &mut out).await?
            }
            SnapshotRestoreAction::Restore => create::restore(input, clients, &mut out).await?,
            SnapshotRestoreAction::Replicate => create::replicate(input, clients, &mut out).await?,
            SnapshotRestoreAction::Retire => retire::retire(input, clients, &mut out).await?,
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

pub(crate) fn tags(input: &SnapshotRestoreInput) -> Vec<Tag> {
    vec![
        Tag::builder().key(ENV_TAG_KEY).value(&input.env).build(),
        Tag::builder()
            .key(EXECUTION_TAG)
            .value(&input.execution_id)
            .build(),
        Tag::builder()
            .key(pilot_light_core::tags::DATABASE_TAG)
            .value(&input.database.name)
            .build(),
    ]
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod action_list {
    use super::{SnapshotRestoreAction, ACTIONS};

    /// `ACTIONS` (what `UnknownAction` quotes and the state machines may send) names every action
    /// of [`SnapshotRestoreAction`] once, by its wire name. A new action does not compile here until it is counted.
    #[test]
    fn the_action_list_names_every_action_once() {
        let listed =
            pilot_light_core::step::check_action_list::<SnapshotRestoreAction>(ACTIONS).unwrap();
        let index = |action: &SnapshotRestoreAction| match action {
            SnapshotRestoreAction::Describe => 0,
            SnapshotRestoreAction::Snapshot => 1,
            SnapshotRestoreAction::Copy => 2,
            SnapshotRestoreAction::ClearWay => 3,
            SnapshotRestoreAction::Restore => 4,
            SnapshotRestoreAction::Replicate => 5,
            SnapshotRestoreAction::Retire => 6,
        };
        let mut seen: Vec<usize> = listed.iter().map(index).collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..7).collect::<Vec<_>>());
    }
}
