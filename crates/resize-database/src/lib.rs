//! `resize-database`: from pilot light to full flame. The standby replica is kept small (a smaller
//! class, single-AZ, short backup retention); once it serves, `resize` modifies it to the
//! database's configured `productionShape` (apply immediately). Failback does the same for the
//! restored primary (`side: primary`).
//!
//! One action, observe-then-act, called again by the state machine until it answers `done`:
//!
//! * describe the instance; still a replica → `InvalidState` (never resize before promotion);
//! * compare it with the shape, counting changes RDS already has pending as made;
//! * nothing to change and the instance usable (`available`, `storage-optimization`) → `done`
//!   (`alreadyDone` unless this execution resized it);
//! * something to change and the instance `available` → tag it
//!   [`RESIZED_BY_TAG`] = the execution (and, on a standby's first resize, its own small class and
//!   Multi-AZ in [`PILOT_LIGHT_SHAPE_TAG`], which failback reads to re-create a small DR replica),
//!   then one `ModifyDBInstance` with only the changed fields → `started`;
//! * something to change and the instance busy (`modifying`, `backing-up`, …) → `inProgress`: nothing
//!   is asked of RDS until it is `available` again;
//! * any other status (`failed`, `stopped`, `storage-full`, …) → `InvalidState`.
//!
//! Nothing is ever deleted or rebooted: static parameters of a new parameter group wait for the
//! next reboot (`parameterApplyStatus: pending-reboot` in the answer).
//!
//! Layout: one action, so one file: the input, the observation ([`InstanceShape`]), the pure
//! decision and the SDK calls in `lib.rs`; its tests in `tests`.

use aws_sdk_rds::types::{DbInstance, Tag};
use pilot_light_core::config::{check_db_instance_id, DatabaseConfig, ProductionShape, Side};
use pilot_light_core::converge::observe_again_if_landed;
use pilot_light_core::db_instances::{instance_status, instance_tag, replication_source};
use pilot_light_core::production_shape::{pilot_light_shape_tag, PILOT_LIGHT_SHAPE_TAG};
use pilot_light_core::{parse_step_input, PilotLightError, Regional, StepStatus, Timestamp};
use serde::{Deserialize, Serialize};

pub use pilot_light_core::tags::RESIZED_BY_TAG;

/// The actions of this handler.
pub const ACTIONS: &[&str] = &["resize"];

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
pub enum ResizeAction {
    /// Observe; modify when needed and possible; report `started`, `inProgress` or `done`.
    Resize,
}

/// Input from the state machine.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResizeInput {
    pub action: ResizeAction,
    /// Which instance serves now: `standby` (the promoted replica, after failover) or `primary`
    /// (the restored primary, after failback).
    pub side: Side,
    pub primary_region: String,
    pub standby_region: String,
    pub database: DatabaseConfig,
    /// The Step Functions execution: written in [`RESIZED_BY_TAG`].
    pub execution_id: String,
}

/// One field the resize changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShapeChange {
    /// The configuration field (`instanceClass`, `multiAz`, …).
    pub field: String,
    /// What the instance has (`null`: RDS did not say).
    pub from: Option<String>,
    pub to: String,
}

/// What the action found and did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResizeOutput {
    pub action: ResizeAction,
    pub status: StepStatus,
    /// Logical database name.
    pub database: String,
    pub side: Side,
    pub instance_id: String,
    pub region: String,
    pub db_instance_status: String,
    /// The fields this call asked RDS to change (empty unless `started`).
    pub changes: Vec<ShapeChange>,
    /// The fields that still differ from the shape (when `inProgress`: waiting for the instance).
    pub outstanding: Vec<ShapeChange>,
    /// The shape's `resize` timing (`beforeTraffic`, `background`), for the report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timing: Option<pilot_light_core::config::ResizeTiming>,
    /// `in-sync` or `pending-reboot` for the parameter group, when the shape names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameter_apply_status: Option<String>,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    pub resources: Vec<String>,
}

/// What describe tells about the instance, with RDS's pending values already applied: a change RDS
/// has accepted counts as made (it is under way).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstanceShape {
    pub arn: String,
    pub status: String,
    pub replication_source: Option<String>,
    pub instance_class: Option<String>,
    pub multi_az: Option<bool>,
    pub backup_retention_days: Option<i32>,
    pub allocated_storage_gib: Option<i32>,
    pub storage_type: Option<String>,
    pub db_parameter_group_name: Option<String>,
    pub parameter_apply_status: Option<String>,
    /// Value of [`RESIZED_BY_TAG`].
    pub resized_by: Option<String>,
    /// True when RDS shows pending modified values (a change still being applied).
    pub has_pending: bool,
    /// True when the instance already carries [`PILOT_LIGHT_SHAPE_TAG`].
    pub has_pilot_light_shape: bool,
}

impl InstanceShape {
    pub fn of_instance(instance: &DbInstance) -> Self {
        let pending = instance.pending_modified_values();
        let group = instance.db_parameter_groups().first();
        let has_pending = pending.is_some_and(|p| {
            p.db_instance_class().is_some()
                || p.multi_az().is_some()
                || p.backup_retention_period().is_some()
                || p.allocated_storage().is_some()
                || p.storage_type().is_some()
        });
        Self {
            arn: instance.db_instance_arn().unwrap_or_default().to_string(),
            status: instance_status(instance),
            replication_source: replication_source(instance),
            instance_class: pending
                .and_then(|p| p.db_instance_class())
                .or(instance.db_instance_class())
                .map(str::to_string),
            multi_az: pending.and_then(|p| p.multi_az()).or(instance.multi_az()),
            backup_retention_days: pending
                .and_then(|p| p.backup_retention_period())
                .or(instance.backup_retention_period()),
            allocated_storage_gib: pending
                .and_then(|p| p.allocated_storage())
                .or(instance.allocated_storage()),
            storage_type: pending
                .and_then(|p| p.storage_type())
                .or(instance.storage_type())
                .map(str::to_string),
            db_parameter_group_name: group
                .and_then(|g| g.db_parameter_group_name())
                .map(str::to_string),
            parameter_apply_status: group
                .and_then(|g| g.parameter_apply_status())
                .map(str::to_string),
            resized_by: instance_tag(instance, RESIZED_BY_TAG),
            has_pending,
            has_pilot_light_shape: instance
                .tag_list()
                .iter()
                .any(|t| t.key() == Some(PILOT_LIGHT_SHAPE_TAG)),
        }
    }
}

/// The fields where the instance differs from the shape. Storage only grows: a larger current size
/// matches.
pub fn shape_changes(current: &InstanceShape, wanted: &ProductionShape) -> Vec<ShapeChange> {
    let mut changes = Vec::new();
    let mut differ = |field: &str, from: Option<String>, to: String| {
        if from.as_deref() != Some(to.as_str()) {
            changes.push(ShapeChange {
                field: field.to_string(),
                from,
                to,
            });
        }
    };
    if let Some(class) = &wanted.instance_class {
        differ(
            "instanceClass",
            current.instance_class.clone(),
            class.clone(),
        );
    }
    if let Some(multi_az) = wanted.multi_az {
        differ(
            "multiAz",
            current.multi_az.map(|v| v.to_string()),
            multi_az.to_string(),
        );
    }
    if let Some(days) = wanted.backup_retention_days {
        differ(
            "backupRetentionDays",
            current.backup_retention_days.map(|v| v.to_string()),
            days.to_string(),
        );
    }
    if let Some(gib) = wanted.allocated_storage_gib {
        let big_enough = current
            .allocated_storage_gib
            .is_some_and(|have| i64::from(have) >= i64::from(gib));
        if !big_enough {
            differ(
                "allocatedStorageGib",
                current.allocated_storage_gib.map(|v| v.to_string()),
                gib.to_string(),
            );
        }
    }
    if let Some(kind) = &wanted.storage_type {
        differ("storageType", current.storage_type.clone(), kind.clone());
    }
    if let Some(group) = &wanted.db_parameter_group_name {
        differ(
            "dbParameterGroupName",
            current.db_parameter_group_name.clone(),
            group.clone(),
        );
    }
    changes
}

/// Statuses in which the instance serves and the resize counts as finished.
const USABLE: &[&str] = &["available", "storage-optimization"];
/// Statuses that pass by themselves: wait, and look again.
const TRANSITIONAL: &[&str] = &[
    "modifying",
    "backing-up",
    "rebooting",
    "upgrading",
    "maintenance",
    "configuring-enhanced-monitoring",
    "configuring-iam-database-auth",
    "configuring-log-exports",
    "converting-to-vpc",
    "moving-to-vpc",
    "renaming",
    "resetting-master-credentials",
    "starting",
];

/// What `resize` should do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResizeDecision {
    /// Tag, then ModifyDBInstance with these changes.
    Modify(Vec<ShapeChange>),
    /// The instance is busy (or a change is being applied): look again later.
    Wait(Vec<ShapeChange>),
    /// The instance has the shape and serves.
    Finished,
}

/// Decides `resize` from the observation alone.
pub fn decide_resize(
    current: &InstanceShape,
    wanted: &ProductionShape,
    instance: &str,
) -> Result<ResizeDecision, PilotLightError> {
    if let Some(source) = &current.replication_source {
        return Err(PilotLightError::InvalidState {
            resource: instance.to_string(),
            state: current.status.clone(),
            reason: format!(
                "still a read replica of {source}: a database is resized only once it serves (promote it first)"
            ),
        });
    }
    let changes = shape_changes(current, wanted);
    let status = current.status.as_str();
    if USABLE.contains(&status) {
        return Ok(match (changes.is_empty(), current.has_pending) {
            (true, false) => ResizeDecision::Finished,
            // RDS has accepted the change but not applied it yet.
            (true, true) => ResizeDecision::Wait(changes),
            (false, _) if status == "available" => ResizeDecision::Modify(changes),
            // storage-optimization accepts no new storage change for hours; the rest waits too.
            (false, _) => ResizeDecision::Wait(changes),
        });
    }
    if TRANSITIONAL.contains(&status) {
        return Ok(ResizeDecision::Wait(changes));
    }
    Err(PilotLightError::InvalidState {
        resource: instance.to_string(),
        state: status.to_string(),
        reason: "the instance must be available to be resized; look at it in the RDS console"
            .into(),
    })
}

/// A finished resize: `done` when this execution resized the instance, `alreadyDone` when it had
/// the shape already (never resized, or resized by an earlier run).
pub fn finished_status(current: &InstanceShape, execution_id: &str) -> StepStatus {
    if current.resized_by.as_deref() == Some(execution_id) {
        StepStatus::Done
    } else {
        StepStatus::AlreadyDone
    }
}

/// The serving instance of `side`: its identifier and region.
pub fn serving_instance(input: &ResizeInput) -> (&str, &str) {
    match input.side {
        Side::Standby => (
            input.database.replica_instance_id.as_str(),
            input.standby_region.as_str(),
        ),
        Side::Primary => (
            input.database.primary_instance_id.as_str(),
            input.primary_region.as_str(),
        ),
    }
}

/// Decodes and validates an event: the input and the shape to resize to. Refuses a same-region pair
/// (which instance serves would be a guess), a bad identifier and a database without a shape.
pub fn parse_input(
    event: serde_json::Value,
) -> Result<(ResizeInput, ProductionShape), PilotLightError> {
    let input: ResizeInput = parse_step_input(event, ACTIONS)?;
    if input.primary_region == input.standby_region {
        return Err(PilotLightError::UnsafeOperation {
            reason: format!(
                "primary and standby are both {}: refusing to guess which instance serves",
                input.standby_region
            ),
        });
    }
    let (instance_id, _) = serving_instance(&input);
    let field = match input.side {
        Side::Standby => "database.replicaInstanceId",
        Side::Primary => "database.primaryInstanceId",
    };
    check_db_instance_id(field, instance_id).map_err(PilotLightError::into_input_error)?;
    let shape = match &input.database.production_shape {
        Some(shape) => {
            shape
                .validate("database.productionShape")
                .map_err(PilotLightError::into_input_error)?;
            shape.clone()
        }
        None => {
            return Err(PilotLightError::InvalidInput {
                field: "database.productionShape".into(),
                reason: format!(
                    "database `{}` has no production shape: nothing to resize to",
                    input.database.name
                ),
            })
        }
    };
    Ok((input, shape))
}

/// The Lambda handler: decode, validate, observe, act.
pub async fn handler(
    event: serde_json::Value,
    clients: &Clients,
) -> Result<ResizeOutput, PilotLightError> {
    let started_at = Timestamp::now();
    let (input, shape) = parse_input(event)?;
    let (instance_id, region) = serving_instance(&input);
    let rds = clients.rds.get(region)?;
    let name = format!("DB instance {instance_id} in {region}");
    // A resize whose answer was lost may be refused on retry (the instance is `modifying`): look
    // again, and the resize is found under way.
    let (status, changes, outstanding, after) = observe_again_if_landed("resize", || async {
        let current = observe(&rds, instance_id, region).await?;
        Ok(match decide_resize(&current, &shape, &name)? {
            ResizeDecision::Finished => (
                finished_status(&current, &input.execution_id),
                vec![],
                vec![],
                current,
            ),
            ResizeDecision::Wait(outstanding) => {
                (StepStatus::InProgress, vec![], outstanding, current)
            }
            ResizeDecision::Modify(changes) => {
                request_resize(
                    &rds,
                    input.side,
                    &current,
                    instance_id,
                    &input.execution_id,
                    &changes,
                )
                .await?;
                let after = observe(&rds, instance_id, region).await?;
                (StepStatus::Started, changes, vec![], after)
            }
        })
    })
    .await?;
    tracing::info!(
        database = %input.database.name,
        instance_id,
        region,
        db_instance_status = %after.status,
        status = ?status,
        changes = changes.len(),
        outstanding = outstanding.len(),
        "resize-database"
    );
    Ok(ResizeOutput {
        action: input.action,
        status,
        database: input.database.name.clone(),
        side: input.side,
        instance_id: instance_id.to_string(),
        region: region.to_string(),
        db_instance_status: after.status,
        changes,
        outstanding,
        timing: Some(shape.resize),
        parameter_apply_status: shape
            .db_parameter_group_name
            .as_ref()
            .and(after.parameter_apply_status),
        started_at,
        finished_at: Timestamp::now(),
        resources: vec![after.arn],
    })
}

/// Describes the serving instance. Not found is `ResourceNotFound`.
async fn observe(
    rds: &aws_sdk_rds::Client,
    instance_id: &str,
    region: &str,
) -> Result<InstanceShape, PilotLightError> {
    let missing = || PilotLightError::ResourceNotFound {
        kind: "DBInstance".into(),
        id: instance_id.to_string(),
        region: region.to_string(),
    };
    pilot_light_core::db_instances::describe_instance(rds, instance_id)
        .await?
        .as_ref()
        .map(InstanceShape::of_instance)
        .ok_or_else(missing)
}

/// Tags the instance with the execution, then asks RDS for exactly the changed fields.
async fn request_resize(
    rds: &aws_sdk_rds::Client,
    side: Side,
    current: &InstanceShape,
    instance_id: &str,
    execution_id: &str,
    changes: &[ShapeChange],
) -> Result<(), PilotLightError> {
    let mut tags = rds.add_tags_to_resource().resource_name(&current.arn).tags(
        Tag::builder()
            .key(RESIZED_BY_TAG)
            .value(execution_id)
            .build(),
    );
    // The standby's own small shape, written once (before its first resize): failback re-creates
    // the DR replica with it.
    if side == Side::Standby && !current.has_pilot_light_shape {
        let small = pilot_light_shape_tag(current.instance_class.as_deref(), current.multi_az);
        if !small.is_empty() {
            tags = tags.tags(
                Tag::builder()
                    .key(PILOT_LIGHT_SHAPE_TAG)
                    .value(small)
                    .build(),
            );
        }
    }
    tags.send()
        .await
        .map_err(|err| PilotLightError::from_sdk("AddTagsToResource", &err))?;
    let mut request = rds
        .modify_db_instance()
        .db_instance_identifier(instance_id)
        .apply_immediately(true);
    for change in changes {
        let to = change.to.as_str();
        request = match change.field.as_str() {
            "instanceClass" => request.db_instance_class(to),
            "multiAz" => request.multi_az(to == "true"),
            "backupRetentionDays" => request.backup_retention_period(parse_number(to)?),
            "allocatedStorageGib" => request.allocated_storage(parse_number(to)?),
            "storageType" => request.storage_type(to),
            "dbParameterGroupName" => request.db_parameter_group_name(to),
            other => {
                return Err(PilotLightError::InvalidInput {
                    field: other.to_string(),
                    reason: "not a shape field".into(),
                })
            }
        };
    }
    request
        .send()
        .await
        .map_err(|err| PilotLightError::from_sdk("ModifyDBInstance", &err))?;
    Ok(())
}

fn parse_number(text: &str) -> Result<i32, PilotLightError> {
    text.parse().map_err(|_| PilotLightError::InvalidInput {
        field: "productionShape".into(),
        reason: format!("`{text}` is not a number"),
    })
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod action_list {
    use super::{ResizeAction, ACTIONS};

    /// `ACTIONS` (what `UnknownAction` quotes and the state machines may send) names every action
    /// of [`ResizeAction`] once, by its wire name. A new action does not compile here until it is counted.
    #[test]
    fn the_action_list_names_every_action_once() {
        let listed = pilot_light_core::step::check_action_list::<ResizeAction>(ACTIONS).unwrap();
        let index = |action: &ResizeAction| match action {
            ResizeAction::Resize => 0,
        };
        let mut seen: Vec<usize> = listed.iter().map(index).collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..1).collect::<Vec<_>>());
    }
}
