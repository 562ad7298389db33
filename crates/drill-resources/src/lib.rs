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
//!
//! Layout: the pure decisions are in `decide`; each action has its own module (`plan`,
//! `database` with `createDatabase` and `databaseStatus`, `group`, `sweep`, `measure`).

mod database;
pub mod decide;
mod group;
mod measure;
mod plan;
mod sweep;

pub use measure::{findings_of, Finding, Measurement};
pub use plan::plan_of;

use decide::{DatabaseTimes, GroupTimes};
pub use decide::{DRILL_OF_TAG_KEY, DRILL_TAG_KEY};
use pilot_light_core::config::{
    ComputeGroupConfig, DatabaseConfig, DrillConfig, DrillDatabaseSource, PollConfig,
};
use pilot_light_core::converge::observe_again_if_landed;
use pilot_light_core::step::ActionOnly;
use pilot_light_core::{
    parse_step_input, EnvName, PilotLightError, Regional, StepStatus, Timestamp,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

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

/// `plan`: which environment; the configuration is read in `region` (default: this one).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlanInput {
    pub action: DrillAction,
    pub env: EnvName,
    pub execution_id: String,
    #[serde(default)]
    pub region: Option<String>,
}

/// `createDatabase` / `databaseStatus`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DatabaseInput {
    pub action: DrillAction,
    pub env: EnvName,
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
    pub env: EnvName,
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
    pub env: EnvName,
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
    pub env: Option<EnvName>,
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
    pub env: EnvName,
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

pub(crate) fn invalid(field: &str, reason: impl Into<String>) -> PilotLightError {
    PilotLightError::InvalidInput {
        field: field.into(),
        reason: reason.into(),
    }
}

pub(crate) fn detail<T: Serialize>(value: &T) -> serde_json::Map<String, Value> {
    match serde_json::to_value(value) {
        Ok(Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    }
}

/// The Lambda handler: decode, validate, observe, act.
pub async fn handler(event: Value, clients: &Clients) -> Result<DrillOutput, PilotLightError> {
    let started_at = Timestamp::now();
    let ActionOnly::<DrillAction> { action } = parse_step_input(event.clone(), ACTIONS)?;
    let (status, detail, resources) = match action {
        DrillAction::Plan => plan::plan(parse_step_input(event, ACTIONS)?, clients).await?,
        // The creates and the sweep's deletes observe first: when AWS refuses one the way it
        // refuses a retry whose first attempt landed, they look again and find it.
        DrillAction::CreateDatabase => {
            observe_again_if_landed("createDatabase", || async {
                database::create_database(parse_step_input(event.clone(), ACTIONS)?, clients).await
            })
            .await?
        }
        DrillAction::DatabaseStatus => {
            database::database_status(parse_step_input(event, ACTIONS)?, clients).await?
        }
        DrillAction::CreateGroup => {
            group::create_group(parse_step_input(event, ACTIONS)?, clients).await?
        }
        DrillAction::Sweep => {
            observe_again_if_landed("sweep", || async {
                sweep::sweep(parse_step_input(event.clone(), ACTIONS)?, clients).await
            })
            .await?
        }
        DrillAction::Measure => measure::measure_drill(parse_step_input(event, ACTIONS)?)?,
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

pub(crate) type Answer = (StepStatus, serde_json::Map<String, Value>, Vec<String>);

#[cfg(test)]
mod tests;

#[cfg(test)]
mod action_list {
    use super::{DrillAction, ACTIONS};

    /// `ACTIONS` (what `UnknownAction` quotes and the state machines may send) names every action
    /// of [`DrillAction`] once, by its wire name. A new action does not compile here until it is counted.
    #[test]
    fn the_action_list_names_every_action_once() {
        let listed = pilot_light_core::step::check_action_list::<DrillAction>(ACTIONS).unwrap();
        let index = |action: &DrillAction| match action {
            DrillAction::Plan => 0,
            DrillAction::CreateDatabase => 1,
            DrillAction::DatabaseStatus => 2,
            DrillAction::CreateGroup => 3,
            DrillAction::Sweep => 4,
            DrillAction::Measure => 5,
        };
        let mut seen: Vec<usize> = listed.iter().map(index).collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..6).collect::<Vec<_>>());
    }
}
