//! `drill-resources`: the steps of the non-disruptive drill (`state-machines/drill.asl.json`).
//!
//! A drill rehearses a failover in the real account without touching what serves or protects
//! production: it builds a throw-away database and a throw-away Auto Scaling group in the standby
//! region, waits until they are ready, measures each phase, and removes them again. The live
//! replica, the standby group, the records and the run state are only ever read.
//!
//! * `plan` loads the configuration document and gives the state machine its slices.
//! * `createDatabase`: a new cross-region read replica of the primary (`databaseSource: replica`,
//!   then promoted with `promote-replica`), or a restore of the standby replica's newest snapshot
//!   (`snapshot`), named `<replica>-drill-<token>`.
//! * `databaseStatus`: `done` when the drill database is `available`.
//! * `createGroup`: an Auto Scaling group from the standby launch template's `$Default` version, in
//!   the standby group's subnets, named `<standby group>-drill-<token>` (health: `scale-asg status`).
//! * `sweep`: removes every drill resource of the environment whose drill is over, and, at
//!   teardown (`includeCurrent`), this drill's own.
//! * `measure`: the phases, the drill RTO and whether it meets the target.
//!
//! Every resource made here carries `pilot-light:env` and [`DRILL_TAG_KEY`] = the execution id;
//! the sweep removes nothing else ([`decide::decide_sweep`]). Observe, then act; nothing waits.

pub mod decide;

use aws_sdk_autoscaling::types::{LaunchTemplateSpecification, Tag as AsgTag, TagDescription};
use aws_sdk_rds::types::{DbInstance, Tag as RdsTag};
use decide::{
    decide_database_ready, decide_database_removal, decide_sweep, drill_database_id,
    drill_group_name, drill_owner, final_snapshot_id, measure, newest_available_snapshot,
    DatabaseRemoval, DatabaseTimes, ExecutionState, GroupTimes, Phase, SnapshotCandidate,
    SweepDecision,
};
pub use decide::{DRILL_OF_TAG_KEY, DRILL_TAG_KEY};
use pilot_light_core::config::{
    config_parameter_name, lock_parameter_name, state_parameter_name, ComputeGroupConfig,
    DatabaseConfig, DrillConfig, DrillDatabaseSource, PollConfig,
};
use pilot_light_core::converge::observe_again_if_landed;
use pilot_light_core::lock::{active_region_of, drill_may_start, held_lock};
use pilot_light_core::parameters::get_parameter_value;
use pilot_light_core::{
    execution_token, parse_step_input, PilotLightConfig, PilotLightError, Regional, StepStatus,
    Timestamp, ENV_TAG_KEY,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// The actions of this handler.
pub const ACTIONS: &[&str] = &[
    "plan",
    "createDatabase",
    "databaseStatus",
    "createGroup",
    "sweep",
    "measure",
];

/// The clients this handler uses, built once per Lambda instance.
pub struct Clients {
    pub rds: Regional<aws_sdk_rds::Client>,
    pub autoscaling: Regional<aws_sdk_autoscaling::Client>,
    pub ec2: Regional<aws_sdk_ec2::Client>,
    pub ssm: Regional<aws_sdk_ssm::Client>,
    pub sfn: Regional<aws_sdk_sfn::Client>,
    /// The region this handler runs in (the standby), for `plan` without a `region`.
    pub home_region: Option<String>,
}

impl Clients {
    /// Clients from the environment (honours `AWS_ENDPOINT_URL`).
    pub async fn from_env() -> Self {
        let base = pilot_light_core::clients::load_sdk_config().await;
        Self::from_config(base)
    }

    /// Clients from one `SdkConfig` (tests give the emulator's).
    pub fn from_config(base: aws_config::SdkConfig) -> Self {
        let home_region = base.region().map(|r| r.to_string());
        Self {
            rds: Regional::new(base.clone(), aws_sdk_rds::Client::new),
            autoscaling: Regional::new(base.clone(), aws_sdk_autoscaling::Client::new),
            ec2: Regional::new(base.clone(), aws_sdk_ec2::Client::new),
            ssm: Regional::new(base.clone(), aws_sdk_ssm::Client::new),
            sfn: Regional::new(base, aws_sdk_sfn::Client::new),
            home_region,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DrillAction {
    Plan,
    CreateDatabase,
    DatabaseStatus,
    CreateGroup,
    Sweep,
    Measure,
}

#[derive(Deserialize)]
struct ActionOnly {
    action: DrillAction,
}

/// `plan`: which environment; the configuration is read in `region` (default: this one).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlanInput {
    pub action: DrillAction,
    pub env: String,
    pub execution_id: String,
    #[serde(default)]
    pub region: Option<String>,
}

/// `createDatabase` / `databaseStatus`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DatabaseInput {
    pub action: DrillAction,
    pub env: String,
    pub execution_id: String,
    pub primary_region: String,
    pub standby_region: String,
    pub database: DatabaseConfig,
    #[serde(default)]
    pub source: DrillDatabaseSource,
}

/// `createGroup`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GroupInput {
    pub action: DrillAction,
    pub env: String,
    pub execution_id: String,
    /// The standby region.
    pub region: String,
    pub group: ComputeGroupConfig,
    pub size: u32,
    /// The drill's own target group for this group (never the standby group's).
    #[serde(default)]
    pub target_group_arn: Option<String>,
}

/// `sweep`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SweepInput {
    pub action: DrillAction,
    pub env: String,
    pub execution_id: String,
    /// The standby region, where drills build.
    pub region: String,
    /// Teardown: also this drill's own resources.
    #[serde(default)]
    pub include_current: bool,
    #[serde(default)]
    pub keep_final_snapshot: bool,
    /// Live resources (replica ids, standby group names) never touched whatever their tags.
    #[serde(default)]
    pub protected: Vec<String>,
}

/// `measure`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MeasureInput {
    pub action: DrillAction,
    #[serde(default)]
    pub env: Option<String>,
    #[serde(default)]
    pub execution_id: Option<String>,
    pub rto_target_seconds: u64,
    #[serde(default)]
    pub databases: Vec<DatabaseTimes>,
    #[serde(default)]
    pub groups: Vec<GroupTimes>,
    /// The readiness function's answer (`overall`, `checks`), or null when it could not run.
    #[serde(default)]
    pub readiness: Option<Value>,
}

/// Every answer: the action, its status, when, what it looked at or changed, and the action's own
/// fields (see `docs/handlers.md`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DrillOutput {
    pub action: DrillAction,
    pub status: StepStatus,
    #[serde(flatten)]
    pub detail: serde_json::Map<String, Value>,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    pub resources: Vec<String>,
}

/// One compute group as the drill builds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedGroup {
    pub group: ComputeGroupConfig,
    /// `drill.targetGroupArns[group]`, or null.
    pub target_group_arn: Option<String>,
}

/// `plan`'s answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub env: String,
    pub execution_id: String,
    pub token: String,
    pub primary_region: String,
    pub standby_region: String,
    pub drill: DrillConfig,
    pub poll: PollConfig,
    pub databases: Vec<DatabaseConfig>,
    pub groups: Vec<PlannedGroup>,
    /// Live resources the sweep must never touch.
    pub protected: Vec<String>,
    pub notification_topic_arn: Option<String>,
}

/// A drill resource the sweep found, and what it decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SweptResource {
    /// `DBInstance`, `AutoScalingGroup`, `Instance`.
    pub kind: String,
    pub id: String,
    /// The drill execution it belongs to.
    pub drill: String,
    /// `delete requested`, `deleting`, `waiting (<state>)`, `kept: …`.
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_snapshot_id: Option<String>,
}

fn invalid(field: &str, reason: impl Into<String>) -> PilotLightError {
    PilotLightError::InvalidInput {
        field: field.into(),
        reason: reason.into(),
    }
}

fn detail<T: Serialize>(value: &T) -> serde_json::Map<String, Value> {
    match serde_json::to_value(value) {
        Ok(Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    }
}

/// The Lambda handler: decode, validate, observe, act.
pub async fn handler(event: Value, clients: &Clients) -> Result<DrillOutput, PilotLightError> {
    let started_at = Timestamp::now();
    let ActionOnly { action } = parse_step_input(event.clone(), ACTIONS)?;
    let (status, detail, resources) = match action {
        DrillAction::Plan => plan(parse_step_input(event, ACTIONS)?, clients).await?,
        // The creates and the sweep's deletes observe first: when AWS refuses one the way it
        // refuses a retry whose first attempt landed, they look again and find it.
        DrillAction::CreateDatabase => {
            observe_again_if_landed("createDatabase", || async {
                create_database(parse_step_input(event.clone(), ACTIONS)?, clients).await
            })
            .await?
        }
        DrillAction::DatabaseStatus => {
            database_status(parse_step_input(event, ACTIONS)?, clients).await?
        }
        DrillAction::CreateGroup => {
            create_group(parse_step_input(event, ACTIONS)?, clients).await?
        }
        DrillAction::Sweep => {
            observe_again_if_landed("sweep", || async {
                sweep(parse_step_input(event.clone(), ACTIONS)?, clients).await
            })
            .await?
        }
        DrillAction::Measure => measure_drill(parse_step_input(event, ACTIONS)?)?,
    };
    tracing::info!(action = ?action, status = ?status, resources = ?resources, "drill-resources");
    Ok(DrillOutput {
        action,
        status,
        detail,
        started_at,
        finished_at: Timestamp::now(),
        resources,
    })
}

type Answer = (StepStatus, serde_json::Map<String, Value>, Vec<String>);

// ------------------------------------------------------------------------------------------------
// plan

async fn plan(input: PlanInput, clients: &Clients) -> Result<Answer, PilotLightError> {
    let region = input
        .region
        .clone()
        .or_else(|| clients.home_region.clone())
        .ok_or_else(|| invalid("region", "no region given and none configured"))?;
    let ssm = clients.ssm.get(&region)?;
    let name = config_parameter_name(&input.env);
    let text = ssm
        .get_parameter()
        .name(&name)
        .send()
        .await
        .map_err(|err| {
            PilotLightError::from_sdk_or_missing(
                "GetParameter",
                &err,
                |e| e.is_parameter_not_found(),
                || PilotLightError::ResourceNotFound {
                    kind: "Parameter".into(),
                    id: name.clone(),
                    region: region.clone(),
                },
            )
        })?
        .parameter()
        .and_then(|p| p.value())
        .map(str::to_string)
        .unwrap_or_default();
    let config = PilotLightConfig::from_json_str(&text)?;
    let plan = plan_of(&config, &input.env, &input.execution_id, &region)?;
    // Read when the drill acts, not when it was scheduled: a failover may have begun since.
    let lock_name = lock_parameter_name(&input.env);
    let state_name = state_parameter_name(&input.env);
    let lock = get_parameter_value(&ssm, &lock_name).await?;
    let state = get_parameter_value(&ssm, &state_name).await?;
    drill_may_start(
        &input.env,
        held_lock(lock.as_deref()).as_ref(),
        active_region_of(state.as_deref()).as_deref(),
        &config.regions.standby,
    )?;
    Ok((
        StepStatus::Done,
        detail(&plan),
        vec![name, lock_name, state_name],
    ))
}

/// The drill's plan from a validated configuration (pure).
pub fn plan_of(
    config: &PilotLightConfig,
    env: &str,
    execution_id: &str,
    region: &str,
) -> Result<Plan, PilotLightError> {
    if config.env != env {
        return Err(PilotLightError::config(
            "env",
            format!("the document is for `{}`, not `{env}`", config.env),
        ));
    }
    if config.regions.standby != region {
        return Err(PilotLightError::config(
            "regions.standby",
            format!(
                "is {}, but the drill runs in {region}: drills build in the standby region",
                config.regions.standby
            ),
        ));
    }
    if execution_id.trim().is_empty() {
        return Err(invalid("executionId", "must not be empty"));
    }
    let groups = config
        .compute_groups
        .iter()
        .map(|group| PlannedGroup {
            group: group.clone(),
            target_group_arn: config.drill.target_group_arns.get(&group.name).cloned(),
        })
        .collect();
    let mut protected: Vec<String> = Vec::new();
    for db in &config.databases {
        protected.push(db.replica_instance_id.clone());
        protected.push(db.primary_instance_id.clone());
    }
    for group in &config.compute_groups {
        protected.push(group.standby.auto_scaling_group_name.clone());
        protected.push(group.primary.auto_scaling_group_name.clone());
    }
    Ok(Plan {
        env: env.to_string(),
        execution_id: execution_id.to_string(),
        token: execution_token(execution_id),
        primary_region: config.regions.primary.clone(),
        standby_region: config.regions.standby.clone(),
        drill: config.drill.clone(),
        poll: config.poll,
        databases: config.databases.clone(),
        groups,
        protected,
        notification_topic_arn: config.notification_topic_arn.clone(),
    })
}

// ------------------------------------------------------------------------------------------------
// databases

/// What the drill needs to know about a DB instance.
#[derive(Debug, Clone, PartialEq, Eq)]
struct DbView {
    id: String,
    arn: String,
    status: String,
    source: Option<String>,
    class: Option<String>,
    encrypted: bool,
    subnet_group: Option<String>,
    security_groups: Vec<String>,
    tags: BTreeMap<String, String>,
}

impl DbView {
    fn of(instance: &DbInstance) -> Self {
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
            source: instance
                .read_replica_source_db_instance_identifier()
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            class: instance.db_instance_class().map(str::to_string),
            encrypted: instance.storage_encrypted().unwrap_or(false),
            subnet_group: instance
                .db_subnet_group()
                .and_then(|g| g.db_subnet_group_name())
                .filter(|n| !n.is_empty() && *n != "default")
                .map(str::to_string),
            security_groups: instance
                .vpc_security_groups()
                .iter()
                .filter_map(|g| g.vpc_security_group_id().map(str::to_string))
                .collect(),
            tags: instance
                .tag_list()
                .iter()
                .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
                .collect(),
        }
    }
}

async fn describe_db(
    rds: &aws_sdk_rds::Client,
    id: &str,
) -> Result<Option<DbView>, PilotLightError> {
    Ok(pilot_light_core::db_instances::describe_instance(rds, id)
        .await?
        .as_ref()
        .map(DbView::of))
}

fn check_database_input(input: &DatabaseInput) -> Result<(), PilotLightError> {
    if input.primary_region == input.standby_region {
        return Err(PilotLightError::UnsafeOperation {
            reason: format!(
                "primary and standby are both {}: a drill builds in the standby region only",
                input.standby_region
            ),
        });
    }
    pilot_light_core::config::check_db_instance_id(
        "database.replicaInstanceId",
        &input.database.replica_instance_id,
    )
    .map_err(|e| match e {
        PilotLightError::ConfigInvalid { field, reason } => invalid(&field, reason),
        other => other,
    })
}

/// A drill instance named like ours must be ours: this env, this execution.
fn check_own_database(view: &DbView, env: &str, execution_id: &str) -> Result<(), PilotLightError> {
    let ours = drill_owner(&view.tags) == Some(execution_id)
        && view.tags.get(ENV_TAG_KEY).map(String::as_str) == Some(env);
    if ours {
        Ok(())
    } else {
        Err(PilotLightError::UnsafeOperation {
            reason: format!(
                "DB instance {} exists and is not this drill's (tags {:?}): left alone",
                view.id, view.tags
            ),
        })
    }
}

fn database_detail(
    input: &DatabaseInput,
    drill_id: &str,
    status: &str,
    extra: Value,
) -> serde_json::Map<String, Value> {
    let mut map = detail(&json!({
        "database": input.database.name,
        "source": input.source,
        "region": input.standby_region,
        "drillInstanceId": drill_id,
        "dbInstanceStatus": status,
        // The live database's entry, for the next steps (they derive the drill name from it).
        "databaseConfig": input.database,
        // What `promote-replica` takes to promote the drill database (never the live replica).
        "drillDatabase": DatabaseConfig {
            replica_instance_id: drill_id.to_string(),
            ..input.database.clone()
        },
    }));
    if let Value::Object(extra) = extra {
        map.extend(extra);
    }
    map
}

async fn create_database(
    input: DatabaseInput,
    clients: &Clients,
) -> Result<Answer, PilotLightError> {
    check_database_input(&input)?;
    let rds = clients.rds.get(&input.standby_region)?;
    let token = execution_token(&input.execution_id);
    let drill_id = drill_database_id(&input.database.replica_instance_id, &token);

    if let Some(existing) = describe_db(&rds, &drill_id).await? {
        check_own_database(&existing, &input.env, &input.execution_id)?;
        let status = if existing.status == "available" {
            StepStatus::AlreadyDone
        } else {
            StepStatus::InProgress
        };
        let detail = database_detail(&input, &drill_id, &existing.status, json!({}));
        return Ok((status, detail, vec![existing.arn]));
    }

    let replica_id = input.database.replica_instance_id.as_str();
    let replica =
        describe_db(&rds, replica_id)
            .await?
            .ok_or_else(|| PilotLightError::ReplicaNotFound {
                instance_id: replica_id.to_string(),
                region: input.standby_region.clone(),
            })?;
    let kms_key = match (replica.encrypted, &input.database.standby_kms_key_id) {
        (false, _) => None,
        (true, Some(key)) => Some(key.clone()),
        (true, None) => {
            return Err(PilotLightError::config(
                "databases[].standbyKmsKeyId",
                format!("{replica_id} is encrypted: give the standby region's key"),
            ))
        }
    };
    let tags = vec![
        RdsTag::builder().key(ENV_TAG_KEY).value(&input.env).build(),
        RdsTag::builder()
            .key(DRILL_TAG_KEY)
            .value(&input.execution_id)
            .build(),
        RdsTag::builder()
            .key(DRILL_OF_TAG_KEY)
            .value(replica_id)
            .build(),
    ];
    let (created, extra) = match input.source {
        DrillDatabaseSource::Replica => {
            let source = replica.source.clone().ok_or_else(|| PilotLightError::InvalidState {
                resource: format!("replica {replica_id} in {}", input.standby_region),
                state: replica.status.clone(),
                reason: "it replicates from nothing (is the standby serving?): a replica drill copies the primary the replica follows".into(),
            })?;
            if !source.starts_with(&format!("arn:aws:rds:{}:", input.primary_region))
                && !source.contains(&format!(":rds:{}:", input.primary_region))
            {
                return Err(PilotLightError::UnsafeOperation {
                    reason: format!(
                        "{replica_id} replicates from {source}, not from the primary region {}",
                        input.primary_region
                    ),
                });
            }
            let created = rds
                .create_db_instance_read_replica()
                .db_instance_identifier(&drill_id)
                .source_db_instance_identifier(&source)
                .set_db_instance_class(replica.class.clone())
                .set_kms_key_id(kms_key)
                .set_db_subnet_group_name(replica.subnet_group.clone())
                .set_vpc_security_group_ids(
                    (!replica.security_groups.is_empty()).then(|| replica.security_groups.clone()),
                )
                .set_tags(Some(tags))
                .send()
                .await
                .map_err(|err| PilotLightError::from_sdk("CreateDBInstanceReadReplica", &err))?;
            (
                created.db_instance().map(DbView::of),
                json!({"sourceArn": source}),
            )
        }
        DrillDatabaseSource::Snapshot => {
            let snapshot = newest_snapshot(&rds, replica_id, &input.standby_region).await?;
            let created = rds
                .restore_db_instance_from_db_snapshot()
                .db_instance_identifier(&drill_id)
                .db_snapshot_identifier(&snapshot)
                .set_db_instance_class(replica.class.clone())
                .set_db_subnet_group_name(replica.subnet_group.clone())
                .set_vpc_security_group_ids(
                    (!replica.security_groups.is_empty()).then(|| replica.security_groups.clone()),
                )
                .set_tags(Some(tags))
                .send()
                .await
                .map_err(|err| {
                    PilotLightError::from_sdk("RestoreDBInstanceFromDBSnapshot", &err)
                })?;
            (
                created.db_instance().map(DbView::of),
                json!({"snapshotId": snapshot}),
            )
        }
    };
    let status = created
        .as_ref()
        .map(|v| v.status.clone())
        .unwrap_or_else(|| "creating".into());
    let arn = created.map(|v| v.arn).unwrap_or_default();
    Ok((
        StepStatus::Started,
        database_detail(&input, &drill_id, &status, extra),
        vec![arn, replica.arn],
    ))
}

/// The id of the replica's newest `available` snapshot (manual or automated).
async fn newest_snapshot(
    rds: &aws_sdk_rds::Client,
    replica_id: &str,
    region: &str,
) -> Result<String, PilotLightError> {
    let mut candidates = Vec::new();
    let mut marker = None;
    loop {
        let page = rds
            .describe_db_snapshots()
            .db_instance_identifier(replica_id)
            .set_marker(marker)
            .send()
            .await
            .map_err(|err| PilotLightError::from_sdk("DescribeDBSnapshots", &err))?;
        for s in page.db_snapshots() {
            candidates.push(SnapshotCandidate {
                id: s.db_snapshot_identifier().unwrap_or_default().to_string(),
                status: s.status().unwrap_or_default().to_string(),
                created_millis: s
                    .snapshot_create_time()
                    .and_then(|t| t.to_millis().ok())
                    .unwrap_or(0),
            });
        }
        marker = page.marker().filter(|m| !m.is_empty()).map(str::to_string);
        if marker.is_none() {
            break;
        }
    }
    newest_available_snapshot(&candidates)
        .map(|s| s.id.clone())
        .ok_or_else(|| PilotLightError::ResourceNotFound {
            kind: "DBSnapshot".into(),
            id: format!("an available snapshot of {replica_id}"),
            region: region.to_string(),
        })
}

async fn database_status(
    input: DatabaseInput,
    clients: &Clients,
) -> Result<Answer, PilotLightError> {
    check_database_input(&input)?;
    let rds = clients.rds.get(&input.standby_region)?;
    let drill_id = drill_database_id(
        &input.database.replica_instance_id,
        &execution_token(&input.execution_id),
    );
    let view =
        describe_db(&rds, &drill_id)
            .await?
            .ok_or_else(|| PilotLightError::ResourceNotFound {
                kind: "DBInstance".into(),
                id: drill_id.clone(),
                region: input.standby_region.clone(),
            })?;
    check_own_database(&view, &input.env, &input.execution_id)?;
    let ready =
        decide_database_ready(&view.status).map_err(|state| PilotLightError::InvalidState {
            resource: format!("drill database {drill_id}"),
            state,
            reason: "RDS will not make it available".into(),
        })?;
    let status = if ready {
        StepStatus::Done
    } else {
        StepStatus::InProgress
    };
    Ok((
        status,
        database_detail(&input, &drill_id, &view.status, json!({})),
        vec![view.arn],
    ))
}

// ------------------------------------------------------------------------------------------------
// groups

fn asg_tags(group: &aws_sdk_autoscaling::types::AutoScalingGroup) -> BTreeMap<String, String> {
    group
        .tags()
        .iter()
        .filter_map(|t: &TagDescription| Some((t.key()?.to_string(), t.value()?.to_string())))
        .collect()
}

async fn describe_group(
    autoscaling: &aws_sdk_autoscaling::Client,
    name: &str,
) -> Result<Option<aws_sdk_autoscaling::types::AutoScalingGroup>, PilotLightError> {
    let out = autoscaling
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(name)
        .send()
        .await
        .map_err(|err| PilotLightError::from_sdk("DescribeAutoScalingGroups", &err))?;
    Ok(out
        .auto_scaling_groups()
        .iter()
        .find(|g| g.auto_scaling_group_name() == Some(name))
        .cloned())
}

async fn create_group(input: GroupInput, clients: &Clients) -> Result<Answer, PilotLightError> {
    if !(1..=20).contains(&input.size) {
        return Err(invalid("size", "must be between 1 and 20"));
    }
    let autoscaling = clients.autoscaling.get(&input.region)?;
    let standby = &input.group.standby;
    let token = execution_token(&input.execution_id);
    let name = drill_group_name(&standby.auto_scaling_group_name, &token);
    // What `scale-asg status` takes to watch the drill group (never the standby group).
    let mut drill_group = input.group.clone();
    drill_group.standby.auto_scaling_group_name = name.clone();
    drill_group.standby.target_group_arn = input.target_group_arn.clone();
    let answer = |status: StepStatus, arn: String| -> Answer {
        (
            status,
            detail(&json!({
                "group": input.group.name,
                "region": input.region,
                "drillGroupName": name,
                "size": input.size,
                "launchTemplateName": standby.launch_template_name,
                "drillGroup": drill_group,
            })),
            vec![arn],
        )
    };

    if let Some(existing) = describe_group(&autoscaling, &name).await? {
        let tags = asg_tags(&existing);
        let ours = drill_owner(&tags) == Some(input.execution_id.as_str())
            && tags.get(ENV_TAG_KEY) == Some(&input.env);
        if !ours {
            return Err(PilotLightError::UnsafeOperation {
                reason: format!(
                    "Auto Scaling group {name} exists and is not this drill's: left alone"
                ),
            });
        }
        let arn = existing
            .auto_scaling_group_arn()
            .unwrap_or_default()
            .to_string();
        return Ok(answer(StepStatus::AlreadyDone, arn));
    }

    // The launch template must exist: a typed error before anything is created.
    let ec2 = clients.ec2.get(&input.region)?;
    ec2.describe_launch_templates()
        .launch_template_names(&standby.launch_template_name)
        .send()
        .await
        .map_err(|err| {
            let missing = err.as_service_error().and_then(|e| {
                use aws_sdk_ec2::error::ProvideErrorMetadata;
                e.code().map(|c| c.starts_with("InvalidLaunchTemplateName"))
            });
            if missing == Some(true) {
                PilotLightError::ResourceNotFound {
                    kind: "LaunchTemplate".into(),
                    id: standby.launch_template_name.clone(),
                    region: input.region.clone(),
                }
            } else {
                PilotLightError::from_sdk("DescribeLaunchTemplates", &err)
            }
        })?;
    let live = describe_group(&autoscaling, &standby.auto_scaling_group_name)
        .await?
        .ok_or_else(|| PilotLightError::ResourceNotFound {
            kind: "AutoScalingGroup".into(),
            id: standby.auto_scaling_group_name.clone(),
            region: input.region.clone(),
        })?;
    let subnets = live
        .vpc_zone_identifier()
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let zones = live.availability_zones().to_vec();
    let size = input.size as i32;
    let tag = |key: &str, value: &str| {
        AsgTag::builder()
            .key(key)
            .value(value)
            .propagate_at_launch(true)
            .resource_id(&name)
            .resource_type("auto-scaling-group")
            .build()
    };
    autoscaling
        .create_auto_scaling_group()
        .auto_scaling_group_name(&name)
        .launch_template(
            LaunchTemplateSpecification::builder()
                .launch_template_name(&standby.launch_template_name)
                .version("$Default")
                .build(),
        )
        .min_size(size)
        .max_size(size)
        .desired_capacity(size)
        .set_vpc_zone_identifier(subnets.clone())
        .set_availability_zones(subnets.is_none().then_some(zones))
        .set_target_group_arns(input.target_group_arn.clone().map(|a| vec![a]))
        .tags(tag(ENV_TAG_KEY, &input.env))
        .tags(tag(DRILL_TAG_KEY, &input.execution_id))
        .tags(tag(DRILL_OF_TAG_KEY, &standby.auto_scaling_group_name))
        .send()
        .await
        .map_err(|err| match err.as_service_error() {
            Some(e) if e.is_already_exists_fault() => PilotLightError::Throttled {
                operation: "CreateAutoScalingGroup".into(),
                message: format!("{name} appeared meanwhile: observe again"),
            },
            _ => PilotLightError::from_sdk("CreateAutoScalingGroup", &err),
        })?;
    let arn = describe_group(&autoscaling, &name)
        .await?
        .and_then(|g| g.auto_scaling_group_arn().map(str::to_string))
        .unwrap_or_else(|| name.clone());
    Ok(answer(StepStatus::Started, arn))
}

// ------------------------------------------------------------------------------------------------
// sweep

/// Whether the drill execution `execution_id` is still running. A malformed or unknown execution is
/// over (its resources are leftovers).
async fn execution_state(
    clients: &Clients,
    execution_id: &str,
    cache: &mut BTreeMap<String, ExecutionState>,
) -> Result<ExecutionState, PilotLightError> {
    if let Some(state) = cache.get(execution_id) {
        return Ok(*state);
    }
    let parts: Vec<&str> = execution_id.split(':').collect();
    let state = if parts.len() >= 8 && parts[0] == "arn" && parts[2] == "states" {
        let sfn = clients.sfn.get(parts[3])?;
        match sfn
            .describe_execution()
            .execution_arn(execution_id)
            .send()
            .await
        {
            Ok(out) if *out.status() == aws_sdk_sfn::types::ExecutionStatus::Running => {
                ExecutionState::Running
            }
            Ok(_) => ExecutionState::Stopped,
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_execution_does_not_exist() || e.is_invalid_arn()) =>
            {
                ExecutionState::Stopped
            }
            Err(err) => return Err(PilotLightError::from_sdk("DescribeExecution", &err)),
        }
    } else {
        ExecutionState::Stopped
    };
    cache.insert(execution_id.to_string(), state);
    Ok(state)
}

async fn sweep(input: SweepInput, clients: &Clients) -> Result<Answer, PilotLightError> {
    let rds = clients.rds.get(&input.region)?;
    let autoscaling = clients.autoscaling.get(&input.region)?;
    let ec2 = clients.ec2.get(&input.region)?;
    let protected: BTreeSet<String> = input.protected.iter().cloned().collect();
    let mut states = BTreeMap::new();
    let mut swept: Vec<SweptResource> = Vec::new();
    let mut kept: Vec<SweptResource> = Vec::new();
    let mut requested = false;
    let mut remaining = 0usize;
    let mut resources = Vec::new();

    // Decide one resource: `Some(owner)` when it is to be removed.
    macro_rules! decide {
        ($kind:expr, $id:expr, $tags:expr) => {{
            let tags: &BTreeMap<String, String> = $tags;
            match drill_owner(tags).map(str::to_string) {
                None => None,
                Some(owner) => {
                    let state = execution_state(clients, &owner, &mut states).await?;
                    let decision = decide_sweep(
                        $id,
                        tags,
                        &input.env,
                        &input.execution_id,
                        input.include_current,
                        &protected,
                        state,
                    );
                    match decision {
                        SweepDecision::Remove => Some(owner),
                        SweepDecision::KeepCurrent | SweepDecision::KeepRunning => {
                            kept.push(SweptResource {
                                kind: $kind.into(),
                                id: $id.to_string(),
                                drill: owner,
                                outcome: format!("kept: {decision:?}"),
                                final_snapshot_id: None,
                            });
                            None
                        }
                        _ => None,
                    }
                }
            }
        }};
    }

    // Auto Scaling groups (first: their instances go with them).
    let mut token = None;
    loop {
        let page = autoscaling
            .describe_auto_scaling_groups()
            .filters(
                aws_sdk_autoscaling::types::Filter::builder()
                    .name("tag-key")
                    .values(DRILL_TAG_KEY)
                    .build(),
            )
            .set_next_token(token)
            .send()
            .await
            .map_err(|err| PilotLightError::from_sdk("DescribeAutoScalingGroups", &err))?;
        for group in page.auto_scaling_groups() {
            let name = group.auto_scaling_group_name().unwrap_or_default();
            let Some(owner) = decide!("AutoScalingGroup", name, &asg_tags(group)) else {
                continue;
            };
            remaining += 1;
            resources.push(group.auto_scaling_group_arn().unwrap_or(name).to_string());
            let outcome = if group.status() == Some("Delete in progress") {
                "deleting".to_string()
            } else {
                match autoscaling
                    .delete_auto_scaling_group()
                    .auto_scaling_group_name(name)
                    .force_delete(true)
                    .send()
                    .await
                {
                    Ok(_) => {
                        requested = true;
                        "delete requested".to_string()
                    }
                    Err(err) => {
                        use aws_sdk_autoscaling::error::ProvideErrorMetadata;
                        match err.as_service_error().and_then(|e| e.code()) {
                            Some("ScalingActivityInProgress" | "ResourceInUse") => {
                                "waiting (busy)".to_string()
                            }
                            _ => {
                                return Err(PilotLightError::from_sdk(
                                    "DeleteAutoScalingGroup",
                                    &err,
                                ))
                            }
                        }
                    }
                }
            };
            swept.push(SweptResource {
                kind: "AutoScalingGroup".into(),
                id: name.to_string(),
                drill: owner,
                outcome,
                final_snapshot_id: None,
            });
        }
        token = page
            .next_token()
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if token.is_none() {
            break;
        }
    }

    // Instances a drill group launched (ForceDelete terminates them; any left are terminated).
    let mut token = None;
    let mut to_terminate = Vec::new();
    loop {
        let page = ec2
            .describe_instances()
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name("tag-key")
                    .values(DRILL_TAG_KEY)
                    .build(),
            )
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name("instance-state-name")
                    .values("pending")
                    .values("running")
                    .values("stopping")
                    .values("stopped")
                    .values("shutting-down")
                    .build(),
            )
            .set_next_token(token)
            .send()
            .await
            .map_err(|err| PilotLightError::from_sdk("DescribeInstances", &err))?;
        for instance in page.reservations().iter().flat_map(|r| r.instances()) {
            let id = instance.instance_id().unwrap_or_default();
            let tags: BTreeMap<String, String> = instance
                .tags()
                .iter()
                .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
                .collect();
            let Some(owner) = decide!("Instance", id, &tags) else {
                continue;
            };
            remaining += 1;
            let state = instance
                .state()
                .and_then(|s| s.name())
                .map(|n| n.as_str().to_string())
                .unwrap_or_default();
            let outcome = if state == "shutting-down" {
                "terminating".to_string()
            } else {
                to_terminate.push(id.to_string());
                "terminate requested".to_string()
            };
            swept.push(SweptResource {
                kind: "Instance".into(),
                id: id.to_string(),
                drill: owner,
                outcome,
                final_snapshot_id: None,
            });
        }
        token = page
            .next_token()
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    if !to_terminate.is_empty() {
        ec2.terminate_instances()
            .set_instance_ids(Some(to_terminate.clone()))
            .send()
            .await
            .map_err(|err| PilotLightError::from_sdk("TerminateInstances", &err))?;
        requested = true;
        resources.extend(to_terminate);
    }

    // Drill databases.
    let mut marker = None;
    loop {
        let page = rds
            .describe_db_instances()
            .set_marker(marker)
            .send()
            .await
            .map_err(|err| PilotLightError::from_sdk("DescribeDBInstances", &err))?;
        for instance in page.db_instances() {
            let view = DbView::of(instance);
            let Some(owner) = decide!("DBInstance", &view.id, &view.tags) else {
                continue;
            };
            remaining += 1;
            resources.push(view.arn.clone());
            let final_id =
                final_snapshot_id(&view.id, input.keep_final_snapshot, view.source.is_some());
            let outcome = match decide_database_removal(&view.status) {
                DatabaseRemoval::Deleting => "deleting".to_string(),
                DatabaseRemoval::WaitThenDelete => format!("waiting ({})", view.status),
                DatabaseRemoval::Delete => {
                    let request = rds
                        .delete_db_instance()
                        .db_instance_identifier(&view.id)
                        .delete_automated_backups(true);
                    let request = match &final_id {
                        Some(id) => request
                            .skip_final_snapshot(false)
                            .final_db_snapshot_identifier(id),
                        None => request.skip_final_snapshot(true),
                    };
                    match request.send().await {
                        Ok(_) => {
                            requested = true;
                            "delete requested".to_string()
                        }
                        Err(err)
                            if err
                                .as_service_error()
                                .is_some_and(|e| e.is_invalid_db_instance_state_fault()) =>
                        {
                            format!("waiting ({})", view.status)
                        }
                        Err(err)
                            if err
                                .as_service_error()
                                .is_some_and(|e| e.is_db_instance_not_found_fault()) =>
                        {
                            remaining -= 1;
                            "gone".to_string()
                        }
                        Err(err) => {
                            return Err(PilotLightError::from_sdk("DeleteDBInstance", &err))
                        }
                    }
                }
            };
            swept.push(SweptResource {
                kind: "DBInstance".into(),
                id: view.id.clone(),
                drill: owner,
                outcome,
                final_snapshot_id: final_id,
            });
        }
        marker = page.marker().filter(|m| !m.is_empty()).map(str::to_string);
        if marker.is_none() {
            break;
        }
    }

    let status = if requested {
        StepStatus::Started
    } else if remaining > 0 {
        StepStatus::InProgress
    } else {
        StepStatus::AlreadyDone
    };
    Ok((
        status,
        detail(&json!({
            "region": input.region,
            "includeCurrent": input.include_current,
            "swept": swept,
            "kept": kept,
            "remaining": remaining,
        })),
        resources,
    ))
}

// ------------------------------------------------------------------------------------------------
// measure

/// One readiness finding, as the drill report carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub name: String,
    pub status: String,
    pub evidence: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

/// The drill's verdict: its phases, RTO, the target, and the readiness findings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Measurement {
    pub phases: Vec<Phase>,
    pub drill_rto_seconds: f64,
    pub rto_target_seconds: u64,
    pub meets_target: bool,
    /// The readiness result (`pass | warn | fail`, or `unknown` when it could not run).
    pub readiness: String,
    pub findings: Vec<Finding>,
}

/// The readiness answer reduced to its findings (names, statuses, evidence: no values).
pub fn findings_of(readiness: Option<&Value>) -> (String, Vec<Finding>) {
    let Some(readiness) = readiness.filter(|r| !r.is_null()) else {
        return ("unknown".into(), Vec::new());
    };
    let overall = readiness
        .get("overall")
        .and_then(Value::as_str)
        .unwrap_or("unknown")
        .to_string();
    let findings = readiness
        .get("checks")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| serde_json::from_value::<Finding>(c.clone()).ok())
        .collect();
    (overall, findings)
}

fn measure_drill(input: MeasureInput) -> Result<Answer, PilotLightError> {
    let (phases, rto) =
        measure(&input.databases, &input.groups).map_err(|reason| invalid("databases", reason))?;
    let (readiness, findings) = findings_of(input.readiness.as_ref());
    let measurement = Measurement {
        phases,
        drill_rto_seconds: rto,
        rto_target_seconds: input.rto_target_seconds,
        meets_target: rto <= input.rto_target_seconds as f64,
        readiness,
        findings,
    };
    Ok((StepStatus::Done, detail(&measurement), Vec::new()))
}

#[cfg(test)]
mod tests;
