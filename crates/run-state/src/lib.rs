//! `run-state`: the run state of one pilot-light environment, kept in SSM Parameter Store in the
//! handler's own region (the standby, where the stack runs):
//!
//! * `/pilot-light/<env>/config`: the configuration document (written by the stack; read here);
//! * `/pilot-light/<env>/state`: [`RunState`], which region is active, since when, by which execution,
//!   and the primary groups' last recorded capacities;
//! * `/pilot-light/<env>/lock`: [`Lock`], taken with `PutParameter Overwrite=false` so two triggers
//!   never run two failovers at once.
//!
//! Actions: `beginFailover` (load and validate the configuration, take the lock, say whether to
//! proceed), `markActive`, `release`, `recordCapacity`, `promotionRequested` (a failover is about to
//! ask RDS to promote: from here on its failure path never un-fences the primary),
//! `reversePromotionRequested` (a replica failback is about to promote its reverse replicas),
//! `standbyUnfenced` (a failback gives the standby its writes back: the failback's identity is
//! renewed, so no re-run restores a snapshot, or takes a promoted reverse replica, older than those
//! writes). Observe, then act: every action reads the
//! parameters first and writes only what differs. What to do given the state and the lock is decided
//! by pure functions ([`decide_begin`], [`decide_lock`], [`decide_release`], [`decide_mark_active`]),
//! tested on tables. A lock held by the same execution is re-entrant, so a `Retry` of a step that
//! timed out after taking the lock goes on; a lock held by another execution is `FailoverInProgress`
//! and nothing is changed; `release` never deletes another execution's lock.
//!
//! Layout: decoding in `input`, the pure decisions in `decide`, the Parameter Store calls in
//! `aws`, and the actions by what they do: `begin` (begin a run), `record` (what runs and
//! schedules record), `capacity` (the capacity record), `approval` (the approval window) and
//! `finish` (mark active, release).

pub mod approval;
mod aws;
mod begin;
pub mod capacity;
pub mod decide;
mod finish;
pub mod input;
mod record;
pub use decide::{
    capacity_needs_write, cycle_fields_after_mark_active, decide_begin, decide_failback,
    decide_lock, decide_mark_active, decide_promotion_requested, decide_release,
    decide_reverse_promotion_requested, decide_standby_unfenced, failback_identity,
    failover_identity, flap_guard, judge_trigger, merge_database_shapes, standby_is_active,
    BeginDecision, CycleFields, MarkActiveDecision, MarkerDecision, ReleaseDecision,
};
pub use input::parse_input;
pub use pilot_light_core::run_state::{Lock, LockView, RunState};

use aws::Target;
use capacity::CapacityRecord;
use pilot_light_core::{
    EnvName, PilotLightConfig, PilotLightError, Regional, StepStatus, Timestamp,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The actions of this handler.
pub const ACTIONS: &[&str] = &[
    "beginFailover",
    "beginFailback",
    "markActive",
    "release",
    "recordCapacity",
    "recordPrimaryCapacity",
    "recordDatabases",
    "promotionRequested",
    "reversePromotionRequested",
    "standbyUnfenced",
    "requestApproval",
    "checkApproval",
];

/// The `operation` a failover writes into the lock.
pub const FAILOVER_OPERATION: &str = "failover";

/// The `operation` a failback writes into the lock.
pub const FAILBACK_OPERATION: &str = "failback";

/// The clients this handler uses, built once per Lambda instance.
pub struct Clients {
    pub ssm: Regional<aws_sdk_ssm::Client>,
    /// Describes the primary compute groups (`recordPrimaryCapacity`).
    pub autoscaling: Regional<aws_sdk_autoscaling::Client>,
    /// The region this handler runs in (the standby, where the parameters live): the loaded
    /// `SdkConfig`'s region. An input's `region` field overrides it.
    pub home_region: Option<String>,
}

impl Clients {
    /// Clients from the environment (honours `AWS_ENDPOINT_URL`); the home region is `AWS_REGION`.
    pub async fn from_env() -> Self {
        let base = pilot_light_core::clients::load_sdk_config().await;
        let home_region = base.region().map(|r| r.to_string());
        Self {
            ssm: Regional::new(base.clone(), aws_sdk_ssm::Client::new),
            autoscaling: Regional::new(base, aws_sdk_autoscaling::Client::new),
            home_region,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RunStateAction {
    /// Load and validate the configuration, take the lock, decide `proceed` or `alreadyActive`.
    BeginFailover,
    /// Load and validate the configuration, take the lock, decide `proceed`, `reprotect` or
    /// `alreadyActive` for a failback.
    BeginFailback,
    /// Record which region is now active.
    MarkActive,
    /// Delete the lock, only when this execution holds it.
    Release,
    /// Store the primary groups' desired capacities.
    RecordCapacity,
    /// Describe the primary groups and keep their sizes in the capacity record (scheduled).
    RecordPrimaryCapacity,
    /// Store the primary databases' settings (class, Multi-AZ, groups), for a failback that finds
    /// the old primary gone.
    RecordDatabases,
    /// Record that this failover cycle asks RDS to promote (`promotionRequestedAt`): a failure of
    /// this or any later run of the cycle must never un-fence the primary.
    PromotionRequested,
    /// Record that this failback asks RDS to promote its reverse replicas
    /// (`reversePromotionRequestedAt`): un-fencing the standby must then renew the failback's
    /// identity, whichever run of the failback fails.
    ReversePromotionRequested,
    /// Record that a failback un-fences the standby (`standbyUnfencedAt`) and forget the failback's
    /// identity (`failbackId`): the standby takes writes again, so a re-run must snapshot anew.
    StandbyUnfenced,
    /// An automatic failover holding the lock asks a person for approval (writes the request once).
    RequestApproval,
    /// Where this failover's approval stands (approved, denied, waiting, window closed).
    CheckApproval,
}

/// How a failover treats the primary region: `graceful` (a planned switch) fences it and waits for
/// replica lag 0 first; `ungraceful` (the default: the primary is failing) never touches it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FailoverMode {
    Graceful,
    #[default]
    Ungraceful,
}

/// `beginFailover` input.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BeginFailoverInput {
    pub action: RunStateAction,
    pub env: EnvName,
    /// The Step Functions execution (its ARN): the lock's owner.
    pub execution_id: String,
    #[serde(default)]
    pub mode: FailoverMode,
    /// What started the failover: only automatic triggers are held back by the flap guard.
    #[serde(default)]
    pub trigger: FailoverTrigger,
    /// The event behind an automatic trigger, as the rule passed it: a Health event is judged
    /// against the configuration (`pilot_light_core::automatic_failover::judge_health_trigger`).
    #[serde(default)]
    pub trigger_event: Option<serde_json::Value>,
    /// Overrides the handler's own region.
    #[serde(default)]
    pub region: Option<String>,
}

/// What started a failover. The EventBridge rules of the stack say `alarm` or `health`; a person
/// (CLI, console, `start-execution` without a trigger) is `manual`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FailoverTrigger {
    #[default]
    Manual,
    /// A CloudWatch alarm of the application's health went to `ALARM`.
    Alarm,
    /// An open AWS Health issue in the primary region.
    Health,
}

impl FailoverTrigger {
    /// True for triggers no person started (the flap guard applies to these).
    pub fn is_automatic(self) -> bool {
        !matches!(self, Self::Manual)
    }
}

/// How a failback re-seeds the primary database: `snapshot` (final snapshot of the standby, copy,
/// restore: writes are fenced for the whole copy) or `replica` (a cross-region replica of the
/// standby in the primary region, caught up, then promoted: writes are fenced only for the promotion).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FailbackStrategy {
    #[default]
    Snapshot,
    Replica,
}

/// `beginFailback` input.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BeginFailbackInput {
    pub action: RunStateAction,
    pub env: EnvName,
    pub execution_id: String,
    #[serde(default)]
    pub strategy: FailbackStrategy,
    #[serde(default)]
    pub region: Option<String>,
}

/// `markActive` input.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MarkActiveInput {
    pub action: RunStateAction,
    pub env: EnvName,
    pub execution_id: String,
    /// The configuration's primary or standby region.
    pub active_region: String,
    /// When given, also sets the state's `reprotectPending` (a failback: `true` once traffic is on
    /// the primary, `false` once the DR replica is back).
    #[serde(default)]
    pub reprotect_pending: Option<bool>,
    #[serde(default)]
    pub region: Option<String>,
}

/// `release` input.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReleaseInput {
    pub action: RunStateAction,
    pub env: EnvName,
    pub execution_id: String,
    #[serde(default)]
    pub region: Option<String>,
}

/// `recordCapacity` input.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecordCapacityInput {
    pub action: RunStateAction,
    pub env: EnvName,
    /// Desired capacity of each primary compute group, by group name. Replaces the recorded map.
    pub capacities: BTreeMap<String, u32>,
    #[serde(default)]
    pub region: Option<String>,
}

/// `recordPrimaryCapacity` input (what `CapacityRecordSchedule` sends).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecordPrimaryCapacityInput {
    pub action: RunStateAction,
    pub env: EnvName,
    #[serde(default)]
    pub region: Option<String>,
}

/// `promotionRequested` and `standbyUnfenced` input.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MarkerInput {
    pub action: RunStateAction,
    pub env: EnvName,
    /// The execution that asks: it must hold the lock (or nobody may).
    pub execution_id: String,
    #[serde(default)]
    pub region: Option<String>,
}

/// `recordDatabases` input.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecordDatabasesInput {
    pub action: RunStateAction,
    pub env: EnvName,
    /// What `snapshot-restore` `describe` answered, one per database (`database` = the logical name,
    /// `shape` = its settings); merged into the recorded map.
    pub described: Vec<DescribedDatabase>,
    #[serde(default)]
    pub region: Option<String>,
}

/// The part of a `describe` answer that is recorded.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribedDatabase {
    pub database: String,
    pub shape: serde_json::Value,
}

/// A decoded input, one variant per action.
#[derive(Debug, Clone)]
pub enum RunStateInput {
    BeginFailover(BeginFailoverInput),
    BeginFailback(BeginFailbackInput),
    MarkActive(MarkActiveInput),
    Release(ReleaseInput),
    RecordCapacity(RecordCapacityInput),
    RecordPrimaryCapacity(RecordPrimaryCapacityInput),
    RecordDatabases(RecordDatabasesInput),
    PromotionRequested(MarkerInput),
    ReversePromotionRequested(MarkerInput),
    StandbyUnfenced(MarkerInput),
    RequestApproval(approval::RequestApprovalInput),
    CheckApproval(approval::CheckApprovalInput),
}

/// What an action found and did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunStateOutput {
    pub action: RunStateAction,
    pub status: StepStatus,
    pub env: EnvName,
    /// Where the parameters are.
    pub region: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_id: Option<String>,
    #[serde(flatten)]
    pub result: ActionResult,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    /// Names of the parameters looked at or changed.
    pub resources: Vec<String>,
}

/// The action-specific part of the answer (its fields sit beside the common ones).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ActionResult {
    BeginFailover(Box<BeginFailoverResult>),
    BeginFailback(Box<BeginFailbackResult>),
    MarkActive(MarkActiveResult),
    Release(ReleaseResult),
    RecordCapacity(RecordCapacityResult),
    RecordPrimaryCapacity(RecordPrimaryCapacityResult),
    RecordDatabases(RecordDatabasesResult),
    Marker(MarkerResult),
    Approval(Box<approval::ApprovalResult>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FailoverDecision {
    /// This execution holds the lock; go on with the failover.
    Proceed,
    /// The standby already serves production; nothing to do, the lock is not held.
    AlreadyActive,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BeginFailoverResult {
    pub decision: FailoverDecision,
    pub mode: FailoverMode,
    /// The validated configuration document, for the state machine to slice.
    pub config: PilotLightConfig,
    /// The run state as read after taking the lock (`null`: never written).
    pub state: Option<RunState>,
    /// The capacity record's desired capacities, else `state.primaryCapacity`'s: group name →
    /// desired capacity (`{}` when none was recorded).
    pub recorded_capacities: BTreeMap<String, u32>,
    /// When the capacity record was last written (`null`: no record).
    pub capacity_recorded_at: Option<Timestamp>,
    /// The lock this execution holds (`null` when `alreadyActive`).
    pub lock: Option<Lock>,
    /// The failover cycle (see `RunState::failover_id`): `promote-replica` tags and recognises this
    /// cycle's promotions with it. Absent when the failover has nothing to do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failover_id: Option<String>,
    /// True when a run of this cycle already asked RDS to promote: a failure must then never
    /// un-fence the primary. Always present, so the state machine can read it.
    pub promotion_requested: bool,
    /// Whether this failover waits for a person before it changes anything (automatic starts with
    /// `automaticFailover.approval: required`), and for how long.
    pub approval: pilot_light_core::automatic_failover::ApprovalPlan,
}

/// What `beginFailback` decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FailbackDecision {
    /// The standby serves: this execution holds the lock; fail back.
    Proceed,
    /// Traffic is back on the primary but the DR replica is not re-created yet (an earlier failback
    /// stopped there): this execution holds the lock; only re-protect.
    Reprotect,
    /// The primary serves and is protected: nothing to do, no lock taken.
    AlreadyActive,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BeginFailbackResult {
    pub decision: FailbackDecision,
    pub strategy: FailbackStrategy,
    /// The validated configuration document, for the state machine to slice.
    pub config: PilotLightConfig,
    pub state: Option<RunState>,
    /// What the primary groups are scaled back to: the capacity record's desired capacities (kept
    /// from before the failover: nothing records while the standby serves), else
    /// `state.primaryCapacity`'s.
    pub recorded_capacities: BTreeMap<String, u32>,
    /// When the capacity record was last written (`null`: no record).
    pub capacity_recorded_at: Option<Timestamp>,
    /// `state.databaseShapes`: the primary databases' recorded settings (`{}` when none).
    pub recorded_shapes: BTreeMap<String, serde_json::Value>,
    pub lock: Option<Lock>,
    /// The identity snapshot-restore names and owns resources with (see `RunState::failback_id`);
    /// absent when the failback has nothing to do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failback_id: Option<String>,
    /// True when a run of this failback already asked RDS to promote its reverse replicas: a
    /// failure that un-fences the standby must then renew the identity. Always present.
    pub reverse_promotion_requested: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MarkActiveResult {
    pub active_region: String,
    pub previous_active_region: Option<String>,
    pub state: RunState,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseResult {
    /// True when this call deleted the lock.
    pub released: bool,
    /// Who holds the lock, when another execution does (it was left in place).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordCapacityResult {
    pub recorded_capacities: BTreeMap<String, u32>,
    pub capacity_recorded_at: Option<Timestamp>,
}

/// What `recordPrimaryCapacity` did: the record as written, or why nothing was described.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordPrimaryCapacityResult {
    /// The capacity record after this call (as it was, when skipped).
    pub record: Option<CapacityRecord>,
    /// Why the primary was not described (a run holds the lock, the standby serves).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// Groups that kept an earlier record, and why.
    pub notes: Vec<String>,
}

/// What `promotionRequested` and `standbyUnfenced` answer: the run state after the action.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MarkerResult {
    pub state: RunState,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordDatabasesResult {
    pub recorded_shapes: BTreeMap<String, serde_json::Value>,
}

/// The parameters an action looked at or changed.
pub(crate) struct Touched {
    pub(crate) env: EnvName,
    pub(crate) region: String,
    pub(crate) names: Vec<String>,
}

/// What an action answers, before the common fields are added.
pub(crate) struct Answer {
    pub(crate) status: StepStatus,
    pub(crate) execution_id: Option<String>,
    pub(crate) result: ActionResult,
    pub(crate) touched: Touched,
}

// ------------------------------------------------------------------------------------------------
// The handler

/// The Lambda handler: decode, validate, observe, act.
pub async fn handler(
    event: serde_json::Value,
    clients: &Clients,
) -> Result<RunStateOutput, PilotLightError> {
    let started_at = Timestamp::now();
    let input = parse_input(event)?;
    let action = input.action();
    let target = Target::new(clients, input.env(), input.region())?;
    let output = match &input {
        RunStateInput::BeginFailover(input) => begin::begin_failover(&target, input).await?,
        RunStateInput::BeginFailback(input) => begin::begin_failback(&target, input).await?,
        RunStateInput::MarkActive(input) => finish::mark_active(&target, input).await?,
        RunStateInput::Release(input) => finish::release(&target, &input.execution_id).await?,
        RunStateInput::RecordCapacity(input) => {
            record::record_capacity(&target, &input.capacities).await?
        }
        RunStateInput::RecordPrimaryCapacity(_) => {
            record::record_primary_capacity(&target, &clients.autoscaling).await?
        }
        RunStateInput::RecordDatabases(input) => {
            record::record_databases(&target, &input.described).await?
        }
        RunStateInput::PromotionRequested(input)
        | RunStateInput::ReversePromotionRequested(input)
        | RunStateInput::StandbyUnfenced(input) => record::record_marker(&target, input).await?,
        RunStateInput::RequestApproval(input) => approval::request_approval(&target, input).await?,
        RunStateInput::CheckApproval(input) => approval::check_approval(&target, input).await?,
    };
    let Answer {
        status,
        execution_id,
        result,
        touched,
    } = output;
    tracing::info!(
        action = ?action,
        status = ?status,
        env = %touched.env,
        region = %touched.region,
        execution_id = execution_id.as_deref().unwrap_or(""),
        "run-state"
    );
    Ok(RunStateOutput {
        action,
        status,
        env: touched.env,
        region: touched.region,
        execution_id,
        result,
        started_at,
        finished_at: Timestamp::now(),
        resources: touched.names,
    })
}

#[cfg(test)]
mod action_list {
    use super::{RunStateAction, ACTIONS};

    /// `ACTIONS` (what `UnknownAction` quotes and the state machines may send) names every action
    /// of [`RunStateAction`] once, by its wire name. A new action does not compile here until it is counted.
    #[test]
    fn the_action_list_names_every_action_once() {
        let listed = pilot_light_core::step::check_action_list::<RunStateAction>(ACTIONS).unwrap();
        let index = |action: &RunStateAction| match action {
            RunStateAction::BeginFailover => 0,
            RunStateAction::BeginFailback => 1,
            RunStateAction::MarkActive => 2,
            RunStateAction::Release => 3,
            RunStateAction::RecordCapacity => 4,
            RunStateAction::RecordPrimaryCapacity => 5,
            RunStateAction::RecordDatabases => 6,
            RunStateAction::PromotionRequested => 7,
            RunStateAction::ReversePromotionRequested => 8,
            RunStateAction::StandbyUnfenced => 9,
            RunStateAction::RequestApproval => 10,
            RunStateAction::CheckApproval => 11,
        };
        let mut seen: Vec<usize> = listed.iter().map(index).collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..12).collect::<Vec<_>>());
    }
}
