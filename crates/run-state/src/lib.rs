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

pub mod approval;
pub mod capacity;

use aws_sdk_ssm::types::{ParameterTier, ParameterType, Tag};
use capacity::{capacity_parameter_name, CapacityRecord, RecordingDecision};
use pilot_light_core::clients::validate_region;
use pilot_light_core::config::{config_parameter_name, lock_parameter_name, state_parameter_name};
use pilot_light_core::{
    parse_step_input, PilotLightConfig, PilotLightError, Regional, StepStatus, Timestamp,
    ENV_TAG_KEY,
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

/// The run state of an environment (`/pilot-light/<env>/state`). Unknown fields are tolerated so a
/// newer writer (a flap guard's bookkeeping, say) does not break an older reader.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunState {
    /// The region serving production; absent until a first `markActive`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_region: Option<String>,
    /// When `activeRegion` became active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Timestamp>,
    /// The execution that made it active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_id: Option<String>,
    /// Desired capacity of each primary compute group (by group name), last recorded.
    #[serde(default)]
    pub primary_capacity: BTreeMap<String, u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_recorded_at: Option<Timestamp>,
    /// Set by a failback once traffic is back on the primary and until the standby is protected
    /// again (a new DR replica): a re-run of the failback then only re-protects.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reprotect_pending: bool,
    /// The primary databases' settings by logical name (`snapshot-restore` `describe` shapes), last
    /// recorded while the primary could be seen.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub database_shapes: BTreeMap<String, serde_json::Value>,
    /// The failback in progress: the id of the first failback execution since the last failover,
    /// until the standby is protected again. Every re-run of that failback (after a failure, an
    /// abort or a crash) names and owns what it makes with this id, so it finds and finishes the
    /// earlier run's snapshot, copy, restored and renamed instances instead of starting over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failback_id: Option<String>,
    /// When a failback last gave the standby back its writes (un-fenced it after a failure): the
    /// failback identity was renewed then. Cleared with `failbackId` at the end of the cycle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standby_unfenced_at: Option<Timestamp>,
    /// When a run of the failback in progress (this `failbackId`) first asked RDS to promote its
    /// reverse replicas: from then on they hold the standby's data only up to their promotion, so
    /// un-fencing the standby renews the identity. Cleared with `failbackId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reverse_promotion_requested_at: Option<Timestamp>,
    /// The failover cycle in progress: the id of the first failover execution since the primary was
    /// last active and protected. Every re-run of that failover (after a failure, an abort or a
    /// crash) uses it, and `promote-replica` tags the promoted standby with it: only a promotion of
    /// this cycle counts as "already done". Cleared when a failback makes the primary active again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failover_id: Option<String>,
    /// When a run of this failover cycle first asked RDS to promote (`promotionRequested`). From
    /// then on a failed failover never un-fences the primary: the standby may be writable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promotion_requested_at: Option<Timestamp>,
}

/// The identity a failover cycle names its promotions with: the one recorded in the run state, or
/// (first failover since the primary was last active and protected) this execution's, which must
/// then be recorded.
pub fn failover_identity(state: Option<&RunState>, execution_id: &str) -> (String, bool) {
    match state.and_then(|s| s.failover_id.clone()) {
        Some(id) => (id, false),
        None => (execution_id.to_string(), true),
    }
}

/// The identity a failback names its resources with: the one recorded in the run state, or (first
/// failback since the failover) this execution's, which must then be recorded.
pub fn failback_identity(state: Option<&RunState>, execution_id: &str) -> (String, bool) {
    match state.and_then(|s| s.failback_id.clone()) {
        Some(id) => (id, false),
        None => (execution_id.to_string(), true),
    }
}

/// The lock of an environment (`/pilot-light/<env>/lock`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lock {
    pub execution_id: String,
    pub operation: String,
    pub acquired_at: Timestamp,
}

/// What the lock parameter holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockView {
    /// No lock parameter.
    Free,
    Held(Lock),
    /// A lock parameter that is not a [`Lock`]: treated as held by someone else, never deleted.
    Unreadable,
}

impl LockView {
    /// Reads a lock parameter's value (`None`: no parameter).
    pub fn from_value(value: Option<&str>) -> Self {
        match value {
            None => Self::Free,
            Some(text) => serde_json::from_str(text)
                .map(Self::Held)
                .unwrap_or(Self::Unreadable),
        }
    }

    fn is_held_by(&self, execution_id: &str) -> bool {
        matches!(self, Self::Held(lock) if lock.execution_id == execution_id)
    }

    /// Who holds it, for messages (`None` when free).
    pub fn holder(&self) -> Option<String> {
        match self {
            Self::Free => None,
            Self::Held(lock) => Some(format!(
                "execution {} ({} since {})",
                lock.execution_id, lock.operation, lock.acquired_at.0
            )),
            Self::Unreadable => Some("an unreadable lock parameter (delete it by hand)".into()),
        }
    }
}

/// `beginFailover` input.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BeginFailoverInput {
    pub action: RunStateAction,
    pub env: String,
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
    pub env: String,
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
    pub env: String,
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
    pub env: String,
    pub execution_id: String,
    #[serde(default)]
    pub region: Option<String>,
}

/// `recordCapacity` input.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecordCapacityInput {
    pub action: RunStateAction,
    pub env: String,
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
    pub env: String,
    #[serde(default)]
    pub region: Option<String>,
}

/// `promotionRequested` and `standbyUnfenced` input.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MarkerInput {
    pub action: RunStateAction,
    pub env: String,
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
    pub env: String,
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

/// Only the action, to pick the input type.
#[derive(Deserialize)]
struct ActionOnly {
    action: RunStateAction,
}

/// What an action found and did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunStateOutput {
    pub action: RunStateAction,
    pub status: StepStatus,
    pub env: String,
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

/// The recorded shapes after merging `described` into `current` (`None`: nothing changes).
pub fn merge_database_shapes(
    current: &BTreeMap<String, serde_json::Value>,
    described: &[DescribedDatabase],
) -> Option<BTreeMap<String, serde_json::Value>> {
    let mut merged = current.clone();
    for entry in described.iter().filter(|d| d.shape.is_object()) {
        merged.insert(entry.database.clone(), entry.shape.clone());
    }
    (merged != *current).then_some(merged)
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

/// What a failback does given the run state: the standby must be active; a primary that is active
/// with `reprotectPending` is re-protected only; a primary active and protected (or no run state:
/// there never was a failover) needs nothing.
pub fn decide_failback(state: Option<&RunState>, standby_region: &str) -> FailbackDecision {
    if standby_is_active(state, standby_region) {
        FailbackDecision::Proceed
    } else if state.is_some_and(|s| s.reprotect_pending) {
        FailbackDecision::Reprotect
    } else {
        FailbackDecision::AlreadyActive
    }
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

// ------------------------------------------------------------------------------------------------
// Decisions (pure)

/// What `beginFailover` does, given what it read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BeginDecision {
    /// The standby is active already: answer `alreadyActive`. When the lock is this execution's
    /// (a retried step), delete it: `alreadyActive` leaves no lock behind.
    AlreadyActive { release_own_lock: bool },
    /// The lock is free: take it (`PutParameter Overwrite=false`).
    TakeLock,
    /// This execution holds the lock already (a retry): go on.
    Reenter,
    /// Another execution holds the lock: `FailoverInProgress`, change nothing.
    Refuse { holder: String },
    /// A failback moved traffic back to the primary and has not re-protected it: the standby's
    /// database is stale. `ReprotectPending`, change nothing (our own lock of a retried step is
    /// released).
    ReprotectPending { release_own_lock: bool },
}

/// True when the state says `standby_region` is the active region.
pub fn standby_is_active(state: Option<&RunState>, standby_region: &str) -> bool {
    state
        .and_then(|s| s.active_region.as_deref())
        .is_some_and(|active| active == standby_region)
}

/// Decides `beginFailover` from the state and the lock: an active standby wins over everything (no
/// lock is taken); a pending re-protection refuses (the standby holds a stale database); then the
/// lock decides.
pub fn decide_begin(
    state: Option<&RunState>,
    lock: &LockView,
    standby_region: &str,
    execution_id: &str,
) -> BeginDecision {
    if standby_is_active(state, standby_region) {
        return BeginDecision::AlreadyActive {
            release_own_lock: lock.is_held_by(execution_id),
        };
    }
    if state.is_some_and(|s| s.reprotect_pending) {
        return BeginDecision::ReprotectPending {
            release_own_lock: lock.is_held_by(execution_id),
        };
    }
    decide_lock(lock, execution_id)
}

/// What `promotionRequested` / `standbyUnfenced` do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarkerDecision {
    /// Write the new state.
    Write(Box<RunState>),
    /// The state already says so: nothing to write.
    AlreadyRecorded,
}

/// Decides `promotionRequested`: the first request of the cycle is recorded; later ones keep it.
/// While another execution holds the lock, it alone may write (`FailoverInProgress`).
pub fn decide_promotion_requested(
    state: Option<&RunState>,
    lock: &LockView,
    env: &str,
    execution_id: &str,
    now: &Timestamp,
) -> Result<MarkerDecision, PilotLightError> {
    decide_first_request(state, lock, env, execution_id, now, |s| {
        &mut s.promotion_requested_at
    })
}

/// Decides `reversePromotionRequested`: recorded once per failback identity; later ones keep it.
pub fn decide_reverse_promotion_requested(
    state: Option<&RunState>,
    lock: &LockView,
    env: &str,
    execution_id: &str,
    now: &Timestamp,
) -> Result<MarkerDecision, PilotLightError> {
    decide_first_request(state, lock, env, execution_id, now, |s| {
        &mut s.reverse_promotion_requested_at
    })
}

/// Decides `standbyUnfenced`: the failback's identity is forgotten (the next run names new
/// resources and snapshots what the standby holds then) and the time recorded. Nothing to write
/// when no identity is recorded and the time is.
pub fn decide_standby_unfenced(
    state: Option<&RunState>,
    lock: &LockView,
    env: &str,
    execution_id: &str,
    now: &Timestamp,
) -> Result<MarkerDecision, PilotLightError> {
    let before = state_to_mark(state, lock, env, execution_id)?;
    if before.failback_id.is_none()
        && before.reverse_promotion_requested_at.is_none()
        && before.standby_unfenced_at.is_some()
    {
        return Ok(MarkerDecision::AlreadyRecorded);
    }
    Ok(MarkerDecision::Write(Box::new(RunState {
        failback_id: None,
        reverse_promotion_requested_at: None,
        standby_unfenced_at: Some(now.clone()),
        ..before
    })))
}

/// Decides a request recorded once per cycle (`promotionRequested`, `reversePromotionRequested`):
/// the first request's time is written into the field `marker` picks; later ones keep it. While
/// another execution holds the lock, it alone may write (`FailoverInProgress`).
fn decide_first_request(
    state: Option<&RunState>,
    lock: &LockView,
    env: &str,
    execution_id: &str,
    now: &Timestamp,
    marker: fn(&mut RunState) -> &mut Option<Timestamp>,
) -> Result<MarkerDecision, PilotLightError> {
    let mut after = state_to_mark(state, lock, env, execution_id)?;
    let recorded = marker(&mut after);
    if recorded.is_some() {
        return Ok(MarkerDecision::AlreadyRecorded);
    }
    *recorded = Some(now.clone());
    Ok(MarkerDecision::Write(Box::new(after)))
}

/// The run state a marker action starts from (the default when none was ever written), once the
/// lock allows this execution to write: another execution's lock is `FailoverInProgress`.
fn state_to_mark(
    state: Option<&RunState>,
    lock: &LockView,
    env: &str,
    execution_id: &str,
) -> Result<RunState, PilotLightError> {
    match decide_lock(lock, execution_id) {
        BeginDecision::Refuse { holder } => Err(PilotLightError::FailoverInProgress {
            env: env.to_string(),
            holder,
        }),
        _ => Ok(state.cloned().unwrap_or_default()),
    }
}

/// The run-state fields that belong to a cycle, after `markActive` makes `active_region` active
/// (`switched`: it was not active before; `reprotect_pending`: the flag asked for). A failover (the
/// standby becomes active) starts a failback cycle afresh; the primary becoming active again ends
/// the failover cycle; a protected standby ends the failback.
pub fn cycle_fields_after_mark_active(
    before: &RunState,
    active_region: &str,
    primary_region: &str,
    standby_region: &str,
    switched: bool,
    reprotect_pending: Option<bool>,
) -> CycleFields {
    let to_primary = active_region == primary_region;
    let failback_over = (switched && active_region == standby_region)
        || (to_primary && reprotect_pending == Some(false));
    let failover_over = to_primary && (switched || reprotect_pending.is_some());
    CycleFields {
        failback_id: kept_unless_over(failback_over, &before.failback_id),
        standby_unfenced_at: kept_unless_over(failback_over, &before.standby_unfenced_at),
        reverse_promotion_requested_at: kept_unless_over(
            failback_over,
            &before.reverse_promotion_requested_at,
        ),
        failover_id: kept_unless_over(failover_over, &before.failover_id),
        promotion_requested_at: kept_unless_over(failover_over, &before.promotion_requested_at),
    }
}

/// A cycle field after `markActive`: cleared when its cycle is over, kept as it was otherwise.
fn kept_unless_over<T: Clone>(cycle_over: bool, before: &Option<T>) -> Option<T> {
    if cycle_over {
        None
    } else {
        before.clone()
    }
}

/// The cycle fields of the run state (see [`cycle_fields_after_mark_active`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CycleFields {
    pub failback_id: Option<String>,
    pub standby_unfenced_at: Option<Timestamp>,
    pub reverse_promotion_requested_at: Option<Timestamp>,
    pub failover_id: Option<String>,
    pub promotion_requested_at: Option<Timestamp>,
}

/// Decides from the lock alone: free → take it; ours → re-enter; anyone else's → refuse. Also used
/// after `PutParameter` said the lock exists (a race): it is re-read and decided again.
pub fn decide_lock(lock: &LockView, execution_id: &str) -> BeginDecision {
    match lock {
        LockView::Free => BeginDecision::TakeLock,
        held if held.is_held_by(execution_id) => BeginDecision::Reenter,
        other => BeginDecision::Refuse {
            holder: other.holder().unwrap_or_default(),
        },
    }
}

/// What `release` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReleaseDecision {
    /// This execution holds the lock: delete it (`done`).
    Delete,
    /// No lock: `alreadyDone`.
    NotHeld,
    /// Someone else's lock: leave it (`alreadyDone`, `heldBy`).
    HeldByOther { holder: String },
}

pub fn decide_release(lock: &LockView, execution_id: &str) -> ReleaseDecision {
    match lock {
        LockView::Free => ReleaseDecision::NotHeld,
        held if held.is_held_by(execution_id) => ReleaseDecision::Delete,
        other => ReleaseDecision::HeldByOther {
            holder: other.holder().unwrap_or_default(),
        },
    }
}

/// What `markActive` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarkActiveDecision {
    /// Write the state with the new active region (recorded capacities kept).
    Write,
    /// The state already names that region: nothing to write (`since` is kept).
    AlreadyActive,
}

/// Decides `markActive`: while another execution holds the lock, it alone may change the active
/// region (`FailoverInProgress`); without a lock (a manual correction) or with our own, go on.
pub fn decide_mark_active(
    state: Option<&RunState>,
    lock: &LockView,
    env: &str,
    execution_id: &str,
    active_region: &str,
    reprotect_pending: Option<bool>,
) -> Result<MarkActiveDecision, PilotLightError> {
    if let BeginDecision::Refuse { holder } = decide_lock(lock, execution_id) {
        return Err(PilotLightError::FailoverInProgress {
            env: env.to_string(),
            holder,
        });
    }
    let current = state.and_then(|s| s.active_region.as_deref());
    let pending = state.is_some_and(|s| s.reprotect_pending);
    let flag_differs = reprotect_pending.is_some_and(|wanted| wanted != pending);
    Ok(if current == Some(active_region) && !flag_differs {
        MarkActiveDecision::AlreadyActive
    } else {
        MarkActiveDecision::Write
    })
}

/// True when `recordCapacity` must write: the recorded map differs from the given one.
pub fn capacity_needs_write(state: Option<&RunState>, capacities: &BTreeMap<String, u32>) -> bool {
    state.map(|s| &s.primary_capacity) != Some(capacities)
}

/// **The flap guard**: a minimum time between automatic failovers, so an alarm that flaps (or a
/// primary that is still warming up after a failback) cannot bounce production between regions. It
/// is asked after "already active?" and before the lock is taken, with the run state: `since` is
/// when the active region last changed (a failback, or an earlier failover's `markActive`). An
/// automatic trigger (`alarm`, `health`) less than `min_seconds` after that switch is refused with
/// `FailoverTooSoon` and nothing is changed; a manual failover is never refused, and neither is a
/// first one (no `since` recorded). `min_seconds = 0` turns the guard off. A `since` that cannot be
/// read, or lies in the future (clock skew), counts as "just now": the guard errs on the side of
/// asking a person.
pub fn flap_guard(
    env: &str,
    state: Option<&RunState>,
    trigger: FailoverTrigger,
    min_seconds: u64,
    now: &Timestamp,
) -> Result<(), PilotLightError> {
    if !trigger.is_automatic() || min_seconds == 0 {
        return Ok(());
    }
    let Some(since) = state.and_then(|s| s.since.as_ref()) else {
        return Ok(());
    };
    let seconds_since = match (epoch_seconds(since), epoch_seconds(now)) {
        (Some(then), Some(now)) if now >= then => (now - then) as u64,
        _ => 0,
    };
    if seconds_since >= min_seconds {
        return Ok(());
    }
    Err(PilotLightError::FailoverTooSoon {
        env: env.to_string(),
        last_switch: match state.and_then(|s| s.execution_id.as_deref()) {
            Some(execution) => format!("at {} by {execution}", since.0),
            None => format!("at {}", since.0),
        },
        seconds_since,
        minimum_seconds: min_seconds,
    })
}

/// An automatic trigger must concern this configuration: a Health event of a service it does not
/// use, of another region or of one zone is refused (`TriggerNotRelevant`) before the lock is taken.
/// Alarms are the team's own judgement of the application and always count.
pub fn judge_trigger(
    env: &str,
    config: &PilotLightConfig,
    trigger: FailoverTrigger,
    event: Option<&serde_json::Value>,
) -> Result<(), PilotLightError> {
    if trigger != FailoverTrigger::Health {
        return Ok(());
    }
    let empty = serde_json::Value::Null;
    pilot_light_core::automatic_failover::judge_health_trigger(config, event.unwrap_or(&empty))
        .map_err(|reason| PilotLightError::TriggerNotRelevant {
            env: env.to_string(),
            reason,
        })
}

/// Seconds since the epoch of an RFC 3339 timestamp (`None`: not one).
fn epoch_seconds(timestamp: &Timestamp) -> Option<f64> {
    aws_smithy_types::DateTime::from_str(
        &timestamp.0,
        aws_smithy_types::date_time::Format::DateTime,
    )
    .ok()
    .map(|t| t.as_secs_f64())
}

/// Environment names are part of parameter names: lower-case letters, digits, hyphens (as `core`
/// validates the configuration's `env`). Anything else could reach another parameter path.
pub fn check_env(env: &str) -> Result<(), PilotLightError> {
    let ok = !env.is_empty()
        && env.len() <= 32
        && env
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !env.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(PilotLightError::InvalidInput {
            field: "env".into(),
            reason: format!(
                "`{env}` is not an environment name (1–32 lower-case letters, digits or hyphens)"
            ),
        })
    }
}

fn check_execution_id(execution_id: &str) -> Result<(), PilotLightError> {
    if execution_id.trim().is_empty() || execution_id.len() > 1024 {
        Err(PilotLightError::InvalidInput {
            field: "executionId".into(),
            reason: "must be a non-empty execution id of at most 1024 characters".into(),
        })
    } else {
        Ok(())
    }
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
        RunStateInput::BeginFailover(input) => begin_failover(&target, input).await?,
        RunStateInput::BeginFailback(input) => begin_failback(&target, input).await?,
        RunStateInput::MarkActive(input) => mark_active(&target, input).await?,
        RunStateInput::Release(input) => release(&target, &input.execution_id).await?,
        RunStateInput::RecordCapacity(input) => record_capacity(&target, &input.capacities).await?,
        RunStateInput::RecordPrimaryCapacity(_) => {
            record_primary_capacity(&target, &clients.autoscaling).await?
        }
        RunStateInput::RecordDatabases(input) => {
            record_databases(&target, &input.described).await?
        }
        RunStateInput::PromotionRequested(input)
        | RunStateInput::ReversePromotionRequested(input)
        | RunStateInput::StandbyUnfenced(input) => record_marker(&target, input).await?,
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

impl RunStateInput {
    pub fn action(&self) -> RunStateAction {
        match self {
            Self::BeginFailover(_) => RunStateAction::BeginFailover,
            Self::BeginFailback(_) => RunStateAction::BeginFailback,
            Self::MarkActive(_) => RunStateAction::MarkActive,
            Self::Release(_) => RunStateAction::Release,
            Self::RecordCapacity(_) => RunStateAction::RecordCapacity,
            Self::RecordPrimaryCapacity(_) => RunStateAction::RecordPrimaryCapacity,
            Self::RecordDatabases(_) => RunStateAction::RecordDatabases,
            Self::PromotionRequested(_) => RunStateAction::PromotionRequested,
            Self::ReversePromotionRequested(_) => RunStateAction::ReversePromotionRequested,
            Self::StandbyUnfenced(_) => RunStateAction::StandbyUnfenced,
            Self::RequestApproval(_) => RunStateAction::RequestApproval,
            Self::CheckApproval(_) => RunStateAction::CheckApproval,
        }
    }

    pub fn env(&self) -> &str {
        match self {
            Self::BeginFailover(i) => &i.env,
            Self::BeginFailback(i) => &i.env,
            Self::MarkActive(i) => &i.env,
            Self::Release(i) => &i.env,
            Self::RecordCapacity(i) => &i.env,
            Self::RecordPrimaryCapacity(i) => &i.env,
            Self::RecordDatabases(i) => &i.env,
            Self::PromotionRequested(i)
            | Self::ReversePromotionRequested(i)
            | Self::StandbyUnfenced(i) => &i.env,
            Self::RequestApproval(i) => &i.env,
            Self::CheckApproval(i) => &i.env,
        }
    }

    /// The region asked for, if any (else the handler's own).
    pub fn region(&self) -> Option<&str> {
        match self {
            Self::BeginFailover(i) => i.region.as_deref(),
            Self::BeginFailback(i) => i.region.as_deref(),
            Self::MarkActive(i) => i.region.as_deref(),
            Self::Release(i) => i.region.as_deref(),
            Self::RecordCapacity(i) => i.region.as_deref(),
            Self::RecordPrimaryCapacity(i) => i.region.as_deref(),
            Self::RecordDatabases(i) => i.region.as_deref(),
            Self::PromotionRequested(i)
            | Self::ReversePromotionRequested(i)
            | Self::StandbyUnfenced(i) => i.region.as_deref(),
            Self::RequestApproval(i) => i.region.as_deref(),
            Self::CheckApproval(i) => i.region.as_deref(),
        }
    }
}

/// Decodes and validates an event without calling AWS: `UnknownAction`, or `InvalidInput` naming the
/// field (`executionId`, `capacities.web`, …).
pub fn parse_input(event: serde_json::Value) -> Result<RunStateInput, PilotLightError> {
    let ActionOnly { action } = parse_step_input(event.clone(), ACTIONS)?;
    let input = match action {
        RunStateAction::BeginFailover => {
            RunStateInput::BeginFailover(parse_step_input(event, ACTIONS)?)
        }
        RunStateAction::BeginFailback => {
            RunStateInput::BeginFailback(parse_step_input(event, ACTIONS)?)
        }
        RunStateAction::MarkActive => RunStateInput::MarkActive(parse_step_input(event, ACTIONS)?),
        RunStateAction::Release => RunStateInput::Release(parse_step_input(event, ACTIONS)?),
        RunStateAction::RecordCapacity => {
            RunStateInput::RecordCapacity(parse_step_input(event, ACTIONS)?)
        }
        RunStateAction::RecordPrimaryCapacity => {
            RunStateInput::RecordPrimaryCapacity(parse_step_input(event, ACTIONS)?)
        }
        RunStateAction::RecordDatabases => {
            RunStateInput::RecordDatabases(parse_step_input(event, ACTIONS)?)
        }
        RunStateAction::PromotionRequested => {
            RunStateInput::PromotionRequested(parse_step_input(event, ACTIONS)?)
        }
        RunStateAction::ReversePromotionRequested => {
            RunStateInput::ReversePromotionRequested(parse_step_input(event, ACTIONS)?)
        }
        RunStateAction::StandbyUnfenced => {
            RunStateInput::StandbyUnfenced(parse_step_input(event, ACTIONS)?)
        }
        RunStateAction::RequestApproval => {
            RunStateInput::RequestApproval(parse_step_input(event, ACTIONS)?)
        }
        RunStateAction::CheckApproval => {
            RunStateInput::CheckApproval(parse_step_input(event, ACTIONS)?)
        }
    };
    check_env(input.env())?;
    if let Some(region) = input.region() {
        check_region("region", region)?;
    }
    match &input {
        RunStateInput::BeginFailover(i) => check_execution_id(&i.execution_id)?,
        RunStateInput::BeginFailback(i) => check_execution_id(&i.execution_id)?,
        RunStateInput::Release(i) => check_execution_id(&i.execution_id)?,
        RunStateInput::MarkActive(i) => {
            check_execution_id(&i.execution_id)?;
            check_region("activeRegion", &i.active_region)?;
        }
        RunStateInput::RecordCapacity(i) => check_group_names(&i.capacities)?,
        RunStateInput::RecordDatabases(_) | RunStateInput::RecordPrimaryCapacity(_) => {}
        RunStateInput::PromotionRequested(i)
        | RunStateInput::ReversePromotionRequested(i)
        | RunStateInput::StandbyUnfenced(i) => check_execution_id(&i.execution_id)?,
        RunStateInput::RequestApproval(i) => check_execution_id(&i.execution_id)?,
        RunStateInput::CheckApproval(i) => check_execution_id(&i.execution_id)?,
    }
    Ok(input)
}

fn check_region(field: &str, region: &str) -> Result<(), PilotLightError> {
    validate_region(region).map_err(|reason| PilotLightError::InvalidInput {
        field: field.into(),
        reason,
    })
}

fn check_group_names(capacities: &BTreeMap<String, u32>) -> Result<(), PilotLightError> {
    for name in capacities.keys() {
        let ok = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !ok {
            return Err(PilotLightError::InvalidInput {
                field: format!("capacities.{name}"),
                reason: "group names are 1–64 letters, digits, `-` or `_`".into(),
            });
        }
    }
    Ok(())
}

/// Where an action works: the environment, the region and its SSM client.
struct Target {
    env: String,
    region: String,
    ssm: aws_sdk_ssm::Client,
}

impl Target {
    fn new(clients: &Clients, env: &str, region: Option<&str>) -> Result<Self, PilotLightError> {
        let region = region
            .map(str::to_string)
            .or_else(|| clients.home_region.clone())
            .ok_or_else(|| PilotLightError::InvalidInput {
                field: "region".into(),
                reason: "the handler's own region is unknown: set AWS_REGION or pass `region`"
                    .into(),
            })?;
        let ssm = clients.ssm.get(&region)?;
        Ok(Self {
            env: env.to_string(),
            region,
            ssm,
        })
    }

    fn touched(&self, names: Vec<String>) -> Touched {
        Touched {
            env: self.env.clone(),
            region: self.region.clone(),
            names,
        }
    }
}

/// The parameters an action looked at or changed.
struct Touched {
    env: String,
    region: String,
    names: Vec<String>,
}

/// What an action answers, before the common fields are added.
struct Answer {
    status: StepStatus,
    execution_id: Option<String>,
    result: ActionResult,
    touched: Touched,
}

async fn begin_failover(
    target: &Target,
    input: &BeginFailoverInput,
) -> Result<Answer, PilotLightError> {
    let env = &target.env;
    let execution_id = input.execution_id.as_str();
    let lock_name = lock_parameter_name(env);
    let touched_names = vec![
        config_parameter_name(env),
        state_parameter_name(env),
        lock_name.clone(),
    ];

    let config = load_config(target).await?;
    if config.regions.standby != target.region {
        return Err(PilotLightError::config(
            "regions.standby",
            format!(
                "the configuration names {} as the standby, but its parameters are in {}, where the stack runs",
                config.regions.standby, target.region
            ),
        ));
    }
    let standby = config.regions.standby.clone();
    let state = read_state(target).await?;
    let lock = read_lock(target).await?;
    let capacity_record = usable_capacity_record(target).await?;

    let answer = |decision, state: Option<RunState>, lock: Option<Lock>, status| {
        let recorded_capacities =
            capacity::recorded_capacities(state.as_ref(), capacity_record.as_ref());
        let proceeding = decision == FailoverDecision::Proceed;
        Answer {
            status,
            execution_id: Some(execution_id.to_string()),
            result: ActionResult::BeginFailover(Box::new(BeginFailoverResult {
                decision,
                mode: input.mode,
                config: config.clone(),
                failover_id: proceeding.then(|| failover_identity(state.as_ref(), execution_id).0),
                promotion_requested: proceeding
                    && state
                        .as_ref()
                        .is_some_and(|s| s.promotion_requested_at.is_some()),
                state,
                recorded_capacities,
                capacity_recorded_at: capacity_record.as_ref().map(|r| r.recorded_at.clone()),
                lock,
                approval: pilot_light_core::automatic_failover::approval_plan(
                    &config.automatic_failover,
                    input.trigger.is_automatic(),
                ),
            })),
            touched: target.touched(touched_names.clone()),
        }
    };

    let status = match decide_begin(state.as_ref(), &lock, &standby, execution_id) {
        BeginDecision::AlreadyActive { release_own_lock } => {
            if release_own_lock {
                delete_parameter(&target.ssm, &lock_name).await?;
            }
            return Ok(answer(
                FailoverDecision::AlreadyActive,
                state,
                None,
                StepStatus::AlreadyDone,
            ));
        }
        BeginDecision::Refuse { holder } => {
            return Err(PilotLightError::FailoverInProgress {
                env: env.clone(),
                holder,
            })
        }
        BeginDecision::ReprotectPending { release_own_lock } => {
            if release_own_lock {
                delete_parameter(&target.ssm, &lock_name).await?;
            }
            return Err(PilotLightError::ReprotectPending { env: env.clone() });
        }
        BeginDecision::Reenter => StepStatus::AlreadyDone,
        BeginDecision::TakeLock => {
            judge_trigger(env, &config, input.trigger, input.trigger_event.as_ref())?;
            flap_guard(
                env,
                state.as_ref(),
                input.trigger,
                config.min_seconds_between_failovers,
                &Timestamp::now(),
            )?;
            take_lock(target, &lock, execution_id, FAILOVER_OPERATION).await?
        }
    };

    // We hold the lock. Another run may have finished a failover between our first read and the
    // lock: look again.
    let state = read_state(target).await?;
    let held = read_lock(target).await?;
    let LockView::Held(lock) = held.clone() else {
        return Err(PilotLightError::FailoverInProgress {
            env: env.clone(),
            holder: held
                .holder()
                .unwrap_or_else(|| "nobody: the lock vanished after we took it".into()),
        });
    };
    if lock.execution_id != execution_id {
        return Err(PilotLightError::FailoverInProgress {
            env: env.clone(),
            holder: held.holder().unwrap_or_default(),
        });
    }
    if standby_is_active(state.as_ref(), &standby) {
        delete_parameter(&target.ssm, &lock_name).await?;
        return Ok(answer(
            FailoverDecision::AlreadyActive,
            state,
            None,
            StepStatus::AlreadyDone,
        ));
    }
    if state.as_ref().is_some_and(|s| s.reprotect_pending) {
        delete_parameter(&target.ssm, &lock_name).await?;
        return Err(PilotLightError::ReprotectPending { env: env.clone() });
    }
    // The first failover of the cycle records its identity; re-runs reuse it.
    let state = if failover_identity(state.as_ref(), execution_id).1 {
        let recorded = RunState {
            failover_id: Some(execution_id.to_string()),
            ..state.clone().unwrap_or_default()
        };
        write_state(target, state.is_some(), &recorded).await?;
        Some(recorded)
    } else {
        state
    };
    Ok(answer(FailoverDecision::Proceed, state, Some(lock), status))
}

/// `beginFailback`: the failback's guard and lock. Unlike failover it has no flap guard (a person
/// starts it) and its "already done" is the primary being active and protected.
async fn begin_failback(
    target: &Target,
    input: &BeginFailbackInput,
) -> Result<Answer, PilotLightError> {
    let env = &target.env;
    let execution_id = input.execution_id.as_str();
    let lock_name = lock_parameter_name(env);
    let config = load_config(target).await?;
    if config.regions.standby != target.region {
        return Err(PilotLightError::config(
            "regions.standby",
            format!(
                "the configuration names {} as the standby, but its parameters are in {}, where the stack runs",
                config.regions.standby, target.region
            ),
        ));
    }
    let standby = config.regions.standby.clone();
    let capacity_record = usable_capacity_record(target).await?;
    let answer = |decision, state: Option<RunState>, lock: Option<Lock>, status| Answer {
        status,
        execution_id: Some(execution_id.to_string()),
        result: ActionResult::BeginFailback(Box::new(BeginFailbackResult {
            failback_id: (decision != FailbackDecision::AlreadyActive)
                .then(|| failback_identity(state.as_ref(), execution_id).0),
            reverse_promotion_requested: decision != FailbackDecision::AlreadyActive
                && state.as_ref().is_some_and(|s| {
                    s.failback_id.is_some() && s.reverse_promotion_requested_at.is_some()
                }),
            decision,
            strategy: input.strategy,
            config: config.clone(),
            recorded_capacities: capacity::recorded_capacities(
                state.as_ref(),
                capacity_record.as_ref(),
            ),
            capacity_recorded_at: capacity_record.as_ref().map(|r| r.recorded_at.clone()),
            recorded_shapes: state
                .as_ref()
                .map(|s| s.database_shapes.clone())
                .unwrap_or_default(),
            state,
            lock,
        })),
        touched: target.touched(vec![
            config_parameter_name(env),
            state_parameter_name(env),
            lock_name.clone(),
        ]),
    };

    let state = read_state(target).await?;
    let lock = read_lock(target).await?;
    if decide_failback(state.as_ref(), &standby) == FailbackDecision::AlreadyActive {
        if lock.is_held_by(execution_id) {
            delete_parameter(&target.ssm, &lock_name).await?;
        }
        return Ok(answer(
            FailbackDecision::AlreadyActive,
            state,
            None,
            StepStatus::AlreadyDone,
        ));
    }
    let status = take_lock(target, &lock, execution_id, FAILBACK_OPERATION).await?;
    // We hold the lock: decide on the state as it is now.
    let state = read_state(target).await?;
    let decision = decide_failback(state.as_ref(), &standby);
    if decision == FailbackDecision::AlreadyActive {
        delete_parameter(&target.ssm, &lock_name).await?;
        return Ok(answer(decision, state, None, StepStatus::AlreadyDone));
    }
    let held = read_lock(target).await?;
    let LockView::Held(lock) = held else {
        return Err(PilotLightError::FailoverInProgress {
            env: env.clone(),
            holder: "nobody: the lock vanished after we took it".into(),
        });
    };
    // The first failback since the failover records its identity; re-runs reuse it.
    let state = match state {
        Some(before) if failback_identity(Some(&before), execution_id).1 => {
            let recorded = RunState {
                failback_id: Some(execution_id.to_string()),
                reverse_promotion_requested_at: None,
                ..before
            };
            write_state(target, true, &recorded).await?;
            Some(recorded)
        }
        other => other,
    };
    Ok(answer(decision, state, Some(lock), status))
}

/// Takes the lock for `execution_id` (`done`), or finds it already ours (`alreadyDone`, a retry);
/// another holder is `FailoverInProgress` and nothing is changed.
async fn take_lock(
    target: &Target,
    lock: &LockView,
    execution_id: &str,
    operation: &str,
) -> Result<StepStatus, PilotLightError> {
    let env = &target.env;
    let refuse = |holder: String| PilotLightError::FailoverInProgress {
        env: env.clone(),
        holder,
    };
    match decide_lock(lock, execution_id) {
        BeginDecision::Reenter => return Ok(StepStatus::AlreadyDone),
        BeginDecision::Refuse { holder } => return Err(refuse(holder)),
        _ => {}
    }
    let value = to_json(&Lock {
        execution_id: execution_id.to_string(),
        operation: operation.to_string(),
        acquired_at: Timestamp::now(),
    })?;
    let lock_name = lock_parameter_name(env);
    if put_parameter(&target.ssm, &lock_name, &value, false, env).await? == Put::AlreadyExists {
        match decide_lock(&read_lock(target).await?, execution_id) {
            BeginDecision::Reenter => return Ok(StepStatus::AlreadyDone),
            BeginDecision::Refuse { holder } => return Err(refuse(holder)),
            _ => {
                return Err(refuse(
                    "a run that took and released the lock while we tried".into(),
                ))
            }
        }
    }
    Ok(StepStatus::Done)
}

async fn mark_active(target: &Target, input: &MarkActiveInput) -> Result<Answer, PilotLightError> {
    let env = &target.env;
    let touched = target.touched(vec![
        config_parameter_name(env),
        state_parameter_name(env),
        lock_parameter_name(env),
    ]);
    let config = load_config(target).await?;
    if input.active_region != config.regions.primary
        && input.active_region != config.regions.standby
    {
        return Err(PilotLightError::InvalidInput {
            field: "activeRegion".into(),
            reason: format!(
                "`{}` is neither the primary ({}) nor the standby ({}) region of `{env}`",
                input.active_region, config.regions.primary, config.regions.standby
            ),
        });
    }
    let state = read_state(target).await?;
    let lock = read_lock(target).await?;
    let decision = decide_mark_active(
        state.as_ref(),
        &lock,
        env,
        &input.execution_id,
        &input.active_region,
        input.reprotect_pending,
    )?;
    let previous = state.as_ref().and_then(|s| s.active_region.clone());
    let (status, new_state) = match decision {
        MarkActiveDecision::AlreadyActive => {
            (StepStatus::AlreadyDone, state.clone().unwrap_or_default())
        }
        MarkActiveDecision::Write => {
            let before = state.clone().unwrap_or_default();
            let switched = before.active_region.as_deref() != Some(input.active_region.as_str());
            let new_state = RunState {
                active_region: Some(input.active_region.clone()),
                since: if switched {
                    Some(Timestamp::now())
                } else {
                    before.since.clone()
                },
                execution_id: if switched {
                    Some(input.execution_id.clone())
                } else {
                    before.execution_id.clone()
                },
                reprotect_pending: input.reprotect_pending.unwrap_or(before.reprotect_pending),
                ..before.clone()
            };
            // A failover starts a new failback cycle; the primary active again ends the failover
            // cycle; a protected standby ends the failback.
            let cycle = cycle_fields_after_mark_active(
                &before,
                &input.active_region,
                &config.regions.primary,
                &config.regions.standby,
                switched,
                input.reprotect_pending,
            );
            let new_state = RunState {
                failback_id: cycle.failback_id,
                standby_unfenced_at: cycle.standby_unfenced_at,
                reverse_promotion_requested_at: cycle.reverse_promotion_requested_at,
                failover_id: cycle.failover_id,
                promotion_requested_at: cycle.promotion_requested_at,
                ..new_state
            };
            write_state(target, state.is_some(), &new_state).await?;
            (StepStatus::Done, new_state)
        }
    };
    Ok(Answer {
        status,
        execution_id: Some(input.execution_id.clone()),
        result: ActionResult::MarkActive(MarkActiveResult {
            active_region: input.active_region.clone(),
            previous_active_region: previous,
            state: new_state,
        }),
        touched,
    })
}

async fn release(target: &Target, execution_id: &str) -> Result<Answer, PilotLightError> {
    let lock_name = lock_parameter_name(&target.env);
    let lock = read_lock(target).await?;
    let (status, result) = match decide_release(&lock, execution_id) {
        ReleaseDecision::Delete => {
            // Deleted in between (a concurrent release of ours) is fine: it is gone either way.
            let deleted = delete_parameter(&target.ssm, &lock_name).await?;
            (
                if deleted {
                    StepStatus::Done
                } else {
                    StepStatus::AlreadyDone
                },
                ReleaseResult {
                    released: deleted,
                    held_by: None,
                },
            )
        }
        ReleaseDecision::NotHeld => (
            StepStatus::AlreadyDone,
            ReleaseResult {
                released: false,
                held_by: None,
            },
        ),
        ReleaseDecision::HeldByOther { holder } => (
            StepStatus::AlreadyDone,
            ReleaseResult {
                released: false,
                held_by: Some(holder),
            },
        ),
    };
    Ok(Answer {
        status,
        execution_id: Some(execution_id.to_string()),
        result: ActionResult::Release(result),
        touched: target.touched(vec![lock_name]),
    })
}

async fn record_capacity(
    target: &Target,
    capacities: &BTreeMap<String, u32>,
) -> Result<Answer, PilotLightError> {
    let state = read_state(target).await?;
    let (status, recorded_at) = if capacity_needs_write(state.as_ref(), capacities) {
        let now = Timestamp::now();
        let new_state = RunState {
            primary_capacity: capacities.clone(),
            capacity_recorded_at: Some(now.clone()),
            ..state.clone().unwrap_or_default()
        };
        write_state(target, state.is_some(), &new_state).await?;
        (StepStatus::Done, Some(now))
    } else {
        (
            StepStatus::AlreadyDone,
            state.and_then(|s| s.capacity_recorded_at),
        )
    };
    Ok(Answer {
        status,
        execution_id: None,
        result: ActionResult::RecordCapacity(RecordCapacityResult {
            recorded_capacities: capacities.clone(),
            capacity_recorded_at: recorded_at,
        }),
        touched: target.touched(vec![state_parameter_name(&target.env)]),
    })
}

/// `recordPrimaryCapacity`: while the primary serves and nothing holds the lock, describe its groups
/// and write the capacity record (see [`capacity`]). Writes every time it describes: the record's
/// time says how fresh it is; `done` when a size changed, `alreadyDone` when only the time did.
async fn record_primary_capacity(
    target: &Target,
    autoscaling: &Regional<aws_sdk_autoscaling::Client>,
) -> Result<Answer, PilotLightError> {
    let env = &target.env;
    let config = load_config(target).await?;
    let state = read_state(target).await?;
    let lock = read_lock(target).await?;
    let earlier = usable_capacity_record(target).await?;
    let touched = target.touched(vec![
        config_parameter_name(env),
        state_parameter_name(env),
        lock_parameter_name(env),
        capacity_parameter_name(env),
    ]);
    let primary = &config.regions.primary;
    if let RecordingDecision::Skip(why) = capacity::decide_recording(state.as_ref(), &lock, primary)
    {
        tracing::info!(env = %env, reason = %why, "capacity not recorded");
        return Ok(Answer {
            status: StepStatus::AlreadyDone,
            execution_id: None,
            result: ActionResult::RecordPrimaryCapacity(RecordPrimaryCapacityResult {
                record: earlier,
                skipped: Some(why),
                notes: Vec::new(),
            }),
            touched,
        });
    }
    let names: Vec<String> = config
        .compute_groups
        .iter()
        .map(|g| g.primary.auto_scaling_group_name.clone())
        .collect();
    let observed = capacity::describe_primary_groups(autoscaling, primary, &names).await?;
    let (record, notes) = capacity::next_record(
        &config.compute_groups,
        &observed,
        earlier.as_ref(),
        primary,
        &Timestamp::now(),
    );
    let status = if capacity::sizes_changed(earlier.as_ref(), &record) {
        StepStatus::Done
    } else {
        StepStatus::AlreadyDone
    };
    let name = capacity_parameter_name(env);
    let value = to_json(&record)?;
    // Created tagged with the env when there was none (a concurrent creator's is overwritten).
    if put_parameter(&target.ssm, &name, &value, earlier.is_some(), env).await?
        == Put::AlreadyExists
    {
        put_parameter(&target.ssm, &name, &value, true, env).await?;
    }
    Ok(Answer {
        status,
        execution_id: None,
        result: ActionResult::RecordPrimaryCapacity(RecordPrimaryCapacityResult {
            record: Some(record),
            skipped: None,
            notes,
        }),
        touched,
    })
}

/// `promotionRequested` / `standbyUnfenced`: read, decide, write what differs.
async fn record_marker(target: &Target, input: &MarkerInput) -> Result<Answer, PilotLightError> {
    let env = &target.env;
    let state = read_state(target).await?;
    let lock = read_lock(target).await?;
    let now = Timestamp::now();
    let decision = match input.action {
        RunStateAction::PromotionRequested => {
            decide_promotion_requested(state.as_ref(), &lock, env, &input.execution_id, &now)?
        }
        RunStateAction::ReversePromotionRequested => decide_reverse_promotion_requested(
            state.as_ref(),
            &lock,
            env,
            &input.execution_id,
            &now,
        )?,
        _ => decide_standby_unfenced(state.as_ref(), &lock, env, &input.execution_id, &now)?,
    };
    let (status, new_state) = match decision {
        MarkerDecision::Write(new_state) => {
            write_state(target, state.is_some(), &new_state).await?;
            (StepStatus::Done, *new_state)
        }
        MarkerDecision::AlreadyRecorded => (StepStatus::AlreadyDone, state.unwrap_or_default()),
    };
    Ok(Answer {
        status,
        execution_id: Some(input.execution_id.clone()),
        result: ActionResult::Marker(MarkerResult { state: new_state }),
        touched: target.touched(vec![state_parameter_name(env), lock_parameter_name(env)]),
    })
}

async fn record_databases(
    target: &Target,
    described: &[DescribedDatabase],
) -> Result<Answer, PilotLightError> {
    let state = read_state(target).await?;
    let current = state
        .as_ref()
        .map(|s| s.database_shapes.clone())
        .unwrap_or_default();
    let (status, recorded) = match merge_database_shapes(&current, described) {
        Some(merged) => {
            let new_state = RunState {
                database_shapes: merged.clone(),
                ..state.clone().unwrap_or_default()
            };
            write_state(target, state.is_some(), &new_state).await?;
            (StepStatus::Done, merged)
        }
        None => (StepStatus::AlreadyDone, current),
    };
    Ok(Answer {
        status,
        execution_id: None,
        result: ActionResult::RecordDatabases(RecordDatabasesResult {
            recorded_shapes: recorded,
        }),
        touched: target.touched(vec![state_parameter_name(&target.env)]),
    })
}

// ------------------------------------------------------------------------------------------------
// Parameters

/// Loads and validates the configuration document. Missing → `ConfigInvalid` naming the parameter;
/// invalid → `ConfigInvalid` naming the field; written for another env → `ConfigInvalid` at `env`.
async fn load_config(target: &Target) -> Result<PilotLightConfig, PilotLightError> {
    let name = config_parameter_name(&target.env);
    let text = get_parameter(&target.ssm, &name).await?.ok_or_else(|| {
        PilotLightError::config(
            name.clone(),
            format!(
                "no configuration document for `{}` in {}",
                target.env, target.region
            ),
        )
    })?;
    let config = PilotLightConfig::from_json_str(&text)?;
    if config.env != target.env {
        return Err(PilotLightError::config(
            "env",
            format!(
                "the document at {name} is for `{}`, not `{}`",
                config.env, target.env
            ),
        ));
    }
    Ok(config)
}

async fn read_state(target: &Target) -> Result<Option<RunState>, PilotLightError> {
    read_document(target, &state_parameter_name(&target.env), "a run state").await
}

/// The capacity record, if it can be read. One that cannot (edited by hand, written by a newer
/// version) counts as none, with a warning: a failover then asks for the run state's capacities or
/// `capacity.minimum` instead of not starting at all, and the next recording replaces it.
/// Readiness's `capacity-record` check fails on it meanwhile. SSM errors still fail (the state
/// machine retries them).
async fn usable_capacity_record(
    target: &Target,
) -> Result<Option<CapacityRecord>, PilotLightError> {
    let name = capacity_parameter_name(&target.env);
    match read_document(target, &name, "a capacity record").await {
        Err(PilotLightError::InvalidState { reason, .. }) => {
            tracing::warn!(env = %target.env, parameter = %name, %reason, "capacity record ignored");
            Ok(None)
        }
        read => read,
    }
}

/// One of this env's JSON parameters (`None`: there is none); one that cannot be read as `what` is
/// `InvalidState` (fix or delete it by hand).
async fn read_document<T: serde::de::DeserializeOwned>(
    target: &Target,
    name: &str,
    what: &str,
) -> Result<Option<T>, PilotLightError> {
    match get_parameter(&target.ssm, name).await? {
        None => Ok(None),
        Some(text) => {
            serde_json::from_str(&text)
                .map(Some)
                .map_err(|err| PilotLightError::InvalidState {
                    resource: format!("parameter {name} in {}", target.region),
                    state: "unreadable".into(),
                    reason: format!("not {what} ({err}); fix or delete it by hand"),
                })
        }
    }
}

async fn read_lock(target: &Target) -> Result<LockView, PilotLightError> {
    let text = get_parameter(&target.ssm, &lock_parameter_name(&target.env)).await?;
    Ok(LockView::from_value(text.as_deref()))
}

/// Writes the state: created (tagged) when there was none, overwritten otherwise. When another
/// writer created it first, this is `Throttled` so the state machine's Retry re-reads and merges.
async fn write_state(
    target: &Target,
    exists: bool,
    state: &RunState,
) -> Result<(), PilotLightError> {
    let name = state_parameter_name(&target.env);
    let value = to_json(state)?;
    match put_parameter(&target.ssm, &name, &value, exists, &target.env).await? {
        Put::Written => Ok(()),
        Put::AlreadyExists => Err(PilotLightError::Throttled {
            operation: "PutParameter".into(),
            message: format!("{name} was created concurrently; retry to merge with it"),
        }),
    }
}

fn to_json<T: Serialize>(value: &T) -> Result<String, PilotLightError> {
    serde_json::to_string(value).map_err(|err| PilotLightError::InvalidInput {
        field: ".".into(),
        reason: format!("cannot encode: {err}"),
    })
}

use pilot_light_core::parameters::get_parameter_value as get_parameter;

#[derive(Debug, PartialEq, Eq)]
enum Put {
    Written,
    AlreadyExists,
}

/// `PutParameter`. Without `overwrite` it creates the parameter (tagged with the env) or answers
/// [`Put::AlreadyExists`]: that is the lock's compare-and-set.
async fn put_parameter(
    ssm: &aws_sdk_ssm::Client,
    name: &str,
    value: &str,
    overwrite: bool,
    env: &str,
) -> Result<Put, PilotLightError> {
    let mut request = ssm
        .put_parameter()
        .name(name)
        .value(value)
        .r#type(ParameterType::String)
        .overwrite(overwrite);
    if !overwrite {
        // Tags are allowed only when creating; they let IAM conditions scope the parameter.
        let tag = Tag::builder()
            .key(ENV_TAG_KEY)
            .value(env)
            .build()
            .map_err(|err| PilotLightError::InvalidInput {
                field: "env".into(),
                reason: err.to_string(),
            })?;
        request = request
            .tags(tag)
            .tier(ParameterTier::Standard)
            .description("pilot-light run state (written by run-state)");
    }
    match request.send().await {
        Ok(_) => Ok(Put::Written),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_parameter_already_exists()) =>
        {
            Ok(Put::AlreadyExists)
        }
        Err(err) => Err(PilotLightError::from_sdk("PutParameter", &err)),
    }
}

/// `DeleteParameter`; false when it did not exist.
async fn delete_parameter(ssm: &aws_sdk_ssm::Client, name: &str) -> Result<bool, PilotLightError> {
    match ssm.delete_parameter().name(name).send().await {
        Ok(_) => Ok(true),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_parameter_not_found()) =>
        {
            Ok(false)
        }
        Err(err) => Err(PilotLightError::from_sdk("DeleteParameter", &err)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STANDBY: &str = "us-west-2";
    const PRIMARY: &str = "us-east-1";
    const ME: &str = "arn:aws:states:us-west-2:1:execution:failover:me";
    const OTHER: &str = "arn:aws:states:us-west-2:1:execution:failover:other";

    fn state(active: Option<&str>) -> RunState {
        RunState {
            active_region: active.map(str::to_string),
            ..RunState::default()
        }
    }

    fn held_by(id: &str) -> LockView {
        LockView::Held(Lock {
            execution_id: id.into(),
            operation: FAILOVER_OPERATION.into(),
            acquired_at: Timestamp("2026-01-01T00:00:00Z".into()),
        })
    }

    /// The state a marker decision writes; a panic saying `why` when it writes nothing or fails.
    fn written_state(decision: Result<MarkerDecision, PilotLightError>, why: &str) -> RunState {
        match decision {
            Ok(MarkerDecision::Write(state)) => *state,
            other => panic!("{why}: {other:?}"),
        }
    }

    #[test]
    fn database_shapes_merge_and_an_equal_record_writes_nothing() {
        let described = |name: &str, class: &str| DescribedDatabase {
            database: name.into(),
            shape: serde_json::json!({"instanceClass": class}),
        };
        let current: BTreeMap<String, serde_json::Value> = [(
            "orders".to_string(),
            serde_json::json!({"instanceClass": "db.m5.large"}),
        )]
        .into();
        assert_eq!(
            merge_database_shapes(&current, &[described("orders", "db.m5.large")]),
            None
        );
        let merged = merge_database_shapes(&current, &[described("accounts", "db.r6g.large")])
            .expect("a new database is recorded");
        assert_eq!(merged.len(), 2);
        let changed = merge_database_shapes(&current, &[described("orders", "db.r6g.xlarge")])
            .expect("a changed shape is recorded");
        assert_eq!(changed["orders"]["instanceClass"], "db.r6g.xlarge");
        let not_a_shape = DescribedDatabase {
            database: "orders".into(),
            shape: serde_json::Value::Null,
        };
        assert_eq!(merge_database_shapes(&current, &[not_a_shape]), None);
    }

    #[test]
    fn failback_decisions() {
        use FailbackDecision::*;
        let pending = RunState {
            reprotect_pending: true,
            ..state(Some(PRIMARY))
        };
        let cases: Vec<(Option<RunState>, FailbackDecision)> = vec![
            (None, AlreadyActive),
            (Some(state(None)), AlreadyActive),
            (Some(state(Some(PRIMARY))), AlreadyActive),
            (Some(state(Some(STANDBY))), Proceed),
            (Some(pending), Reprotect),
        ];
        for (state, expected) in cases {
            assert_eq!(
                decide_failback(state.as_ref(), STANDBY),
                expected,
                "{state:?}"
            );
        }
    }

    #[test]
    fn mark_active_writes_when_the_reprotect_flag_changes() {
        let pending = RunState {
            reprotect_pending: true,
            ..state(Some(PRIMARY))
        };
        let cases: Vec<(RunState, Option<bool>, MarkActiveDecision)> = vec![
            (
                state(Some(PRIMARY)),
                None,
                MarkActiveDecision::AlreadyActive,
            ),
            (
                state(Some(PRIMARY)),
                Some(false),
                MarkActiveDecision::AlreadyActive,
            ),
            (state(Some(PRIMARY)), Some(true), MarkActiveDecision::Write),
            (
                pending.clone(),
                Some(true),
                MarkActiveDecision::AlreadyActive,
            ),
            (pending.clone(), Some(false), MarkActiveDecision::Write),
            (pending, None, MarkActiveDecision::AlreadyActive),
            (state(Some(STANDBY)), Some(true), MarkActiveDecision::Write),
        ];
        for (state, flag, expected) in cases {
            let got = decide_mark_active(Some(&state), &LockView::Free, "prod", ME, PRIMARY, flag);
            assert_eq!(got, Ok(expected), "{state:?} {flag:?}");
        }
    }

    #[test]
    fn a_failback_keeps_the_identity_of_the_first_run_since_the_failover() {
        let fresh = state(Some(STANDBY));
        assert_eq!(
            failback_identity(Some(&fresh), "exec-b"),
            ("exec-b".to_string(), true)
        );
        let resumed = RunState {
            failback_id: Some("exec-a".into()),
            ..state(Some(STANDBY))
        };
        assert_eq!(
            failback_identity(Some(&resumed), "exec-b"),
            ("exec-a".to_string(), false)
        );
        assert_eq!(
            failback_identity(None, "exec-c"),
            ("exec-c".to_string(), true)
        );
    }

    #[test]
    fn begin_decisions() {
        use BeginDecision::*;
        let primary = state(Some(PRIMARY));
        let standby = state(Some(STANDBY));
        let fresh = state(None);
        let cases: Vec<(Option<&RunState>, LockView, &str)> = vec![
            (None, LockView::Free, "take"),
            (Some(&fresh), LockView::Free, "take"),
            (Some(&primary), LockView::Free, "take"),
            (Some(&primary), held_by(ME), "reenter"),
            (Some(&primary), held_by(OTHER), "refuse"),
            (None, held_by(OTHER), "refuse"),
            (Some(&primary), LockView::Unreadable, "refuse"),
            // Already active wins: no lock is taken, and another run's lock does not matter.
            (Some(&standby), LockView::Free, "active"),
            (Some(&standby), held_by(OTHER), "active"),
            // Our own lock (a retried step) is released on the way out.
            (Some(&standby), held_by(ME), "active+release"),
        ];
        for (state, lock, expected) in cases {
            let got = decide_begin(state, &lock, STANDBY, ME);
            let name = match &got {
                TakeLock => "take",
                Reenter => "reenter",
                Refuse { .. } => "refuse",
                AlreadyActive {
                    release_own_lock: false,
                } => "active",
                AlreadyActive {
                    release_own_lock: true,
                } => "active+release",
                ReprotectPending {
                    release_own_lock: false,
                } => "reprotect",
                ReprotectPending {
                    release_own_lock: true,
                } => "reprotect+release",
            };
            assert_eq!(name, expected, "{state:?} {lock:?}");
        }
    }

    #[test]
    fn a_failover_is_refused_while_reprotection_is_pending() {
        use BeginDecision::*;
        let pending = RunState {
            reprotect_pending: true,
            ..state(Some(PRIMARY))
        };
        let cases: Vec<(LockView, BeginDecision)> = vec![
            (
                LockView::Free,
                ReprotectPending {
                    release_own_lock: false,
                },
            ),
            // Refused before the lock matters: another run's lock changes nothing.
            (
                held_by(OTHER),
                ReprotectPending {
                    release_own_lock: false,
                },
            ),
            // A retried step of ours leaves no lock behind.
            (
                held_by(ME),
                ReprotectPending {
                    release_own_lock: true,
                },
            ),
        ];
        for (lock, expected) in cases {
            assert_eq!(
                decide_begin(Some(&pending), &lock, STANDBY, ME),
                expected,
                "{lock:?}"
            );
        }
        // Once protected again, a failover may begin.
        let protected = state(Some(PRIMARY));
        assert_eq!(
            decide_begin(Some(&protected), &LockView::Free, STANDBY, ME),
            TakeLock
        );
    }

    #[test]
    fn a_failover_keeps_the_identity_of_the_first_run_of_its_cycle() {
        assert_eq!(failover_identity(None, ME), (ME.to_string(), true));
        let fresh = state(Some(PRIMARY));
        assert_eq!(failover_identity(Some(&fresh), ME), (ME.to_string(), true));
        let resumed = RunState {
            failover_id: Some(OTHER.into()),
            ..state(Some(PRIMARY))
        };
        assert_eq!(
            failover_identity(Some(&resumed), ME),
            (OTHER.to_string(), false)
        );
    }

    #[test]
    fn a_promotion_request_is_recorded_once_per_cycle() {
        let now = Timestamp("2026-01-01T00:00:10Z".into());
        let fresh = RunState {
            failover_id: Some(ME.into()),
            ..state(Some(PRIMARY))
        };
        let written = written_state(
            decide_promotion_requested(Some(&fresh), &held_by(ME), "prod", ME, &now),
            "the first request is recorded",
        );
        assert_eq!(written.promotion_requested_at, Some(now.clone()));
        assert_eq!(
            written.failover_id.as_deref(),
            Some(ME),
            "the cycle is kept"
        );
        let later = Timestamp("2026-01-01T00:09:00Z".into());
        assert_eq!(
            decide_promotion_requested(Some(&written), &held_by(ME), "prod", ME, &later),
            Ok(MarkerDecision::AlreadyRecorded),
            "the first request's time is kept"
        );
        // No state yet (never written): recorded all the same.
        assert!(matches!(
            decide_promotion_requested(None, &LockView::Free, "prod", ME, &now),
            Ok(MarkerDecision::Write(_))
        ));
        assert_eq!(
            decide_promotion_requested(Some(&fresh), &held_by(OTHER), "prod", ME, &now)
                .unwrap_err()
                .error_type(),
            "FailoverInProgress"
        );
    }

    #[test]
    fn unfencing_the_standby_forgets_the_failback_identity() {
        let now = Timestamp("2026-01-01T00:00:10Z".into());
        let failing_back = RunState {
            failback_id: Some(OTHER.into()),
            ..state(Some(STANDBY))
        };
        let written = written_state(
            decide_standby_unfenced(Some(&failing_back), &held_by(ME), "prod", ME, &now),
            "the identity is forgotten",
        );
        assert_eq!(written.failback_id, None);
        assert_eq!(written.standby_unfenced_at, Some(now.clone()));
        assert_eq!(written.reverse_promotion_requested_at, None);
        assert_eq!(written.active_region.as_deref(), Some(STANDBY));
        // A re-run then names its resources after itself.
        assert_eq!(
            failback_identity(Some(&written), ME),
            (ME.to_string(), true)
        );
        // A retry of the same step writes nothing more.
        assert_eq!(
            decide_standby_unfenced(Some(&written), &held_by(ME), "prod", ME, &now),
            Ok(MarkerDecision::AlreadyRecorded)
        );
        assert_eq!(
            decide_standby_unfenced(Some(&failing_back), &held_by(OTHER), "prod", ME, &now)
                .unwrap_err()
                .error_type(),
            "FailoverInProgress"
        );
    }

    #[test]
    fn a_reverse_promotion_is_recorded_until_the_failback_identity_is_renewed() {
        let now = Timestamp("2026-01-01T00:00:10Z".into());
        let failing_back = RunState {
            failback_id: Some(ME.into()),
            ..state(Some(STANDBY))
        };
        let marked = written_state(
            decide_reverse_promotion_requested(Some(&failing_back), &held_by(ME), "prod", ME, &now),
            "the first request is recorded",
        );
        assert_eq!(marked.reverse_promotion_requested_at, Some(now.clone()));
        assert_eq!(
            decide_reverse_promotion_requested(Some(&marked), &held_by(ME), "prod", ME, &now),
            Ok(MarkerDecision::AlreadyRecorded)
        );
        let renewed = written_state(
            decide_standby_unfenced(Some(&marked), &held_by(ME), "prod", ME, &now),
            "un-fencing renews",
        );
        assert_eq!(
            (
                renewed.failback_id.clone(),
                renewed.reverse_promotion_requested_at.clone()
            ),
            (None, None)
        );
        assert_eq!(
            decide_reverse_promotion_requested(
                Some(&failing_back),
                &held_by(OTHER),
                "prod",
                ME,
                &now
            )
            .unwrap_err()
            .error_type(),
            "FailoverInProgress"
        );
    }

    #[test]
    fn cycles_begin_and_end_with_the_active_region() {
        let t = || Some(Timestamp("2026-01-01T00:00:00Z".into()));
        let during = RunState {
            failback_id: Some("fb".into()),
            standby_unfenced_at: t(),
            reverse_promotion_requested_at: t(),
            failover_id: Some("fo".into()),
            promotion_requested_at: t(),
            ..state(Some(STANDBY))
        };
        let kept = CycleFields {
            failback_id: Some("fb".into()),
            standby_unfenced_at: t(),
            reverse_promotion_requested_at: t(),
            failover_id: Some("fo".into()),
            promotion_requested_at: t(),
        };
        let failover_kept = CycleFields {
            failover_id: Some("fo".into()),
            promotion_requested_at: t(),
            ..CycleFields::default()
        };
        let failback_kept = CycleFields {
            failback_id: Some("fb".into()),
            standby_unfenced_at: t(),
            reverse_promotion_requested_at: t(),
            ..CycleFields::default()
        };
        // (active region, switched, reprotect flag) → the cycle fields kept.
        let cases: Vec<(&str, bool, Option<bool>, CycleFields)> = vec![
            // A failover marks the standby active: a new failback cycle, the failover's kept.
            (STANDBY, true, None, failover_kept.clone()),
            (STANDBY, false, None, kept.clone()),
            // A failback marks the primary active (re-protection pending): the failover cycle
            // ends, the failback goes on until the standby is protected.
            (PRIMARY, true, Some(true), failback_kept),
            // Protected: both end.
            (PRIMARY, false, Some(false), CycleFields::default()),
            // A manual correction naming the active primary again changes nothing.
            (PRIMARY, false, None, kept),
        ];
        for (active, switched, flag, expected) in cases {
            assert_eq!(
                cycle_fields_after_mark_active(&during, active, PRIMARY, STANDBY, switched, flag),
                expected,
                "{active} switched={switched} {flag:?}"
            );
        }
    }

    #[test]
    fn a_refusal_names_the_holder() {
        let BeginDecision::Refuse { holder } = decide_lock(&held_by(OTHER), ME) else {
            panic!("expected a refusal");
        };
        assert!(holder.contains(OTHER), "{holder}");
        assert!(
            holder.contains("failover since 2026-01-01T00:00:00Z"),
            "{holder}"
        );
    }

    #[test]
    fn release_decisions() {
        use ReleaseDecision::*;
        assert_eq!(decide_release(&LockView::Free, ME), NotHeld);
        assert_eq!(decide_release(&held_by(ME), ME), Delete);
        assert!(
            matches!(decide_release(&held_by(OTHER), ME), HeldByOther { holder } if holder.contains(OTHER))
        );
        assert!(matches!(
            decide_release(&LockView::Unreadable, ME),
            HeldByOther { .. }
        ));
    }

    #[test]
    fn mark_active_decisions() {
        use MarkActiveDecision::*;
        let primary = state(Some(PRIMARY));
        let standby = state(Some(STANDBY));
        let cases: Vec<(
            Option<&RunState>,
            LockView,
            Result<MarkActiveDecision, &str>,
        )> = vec![
            (None, LockView::Free, Ok(Write)),
            (Some(&primary), held_by(ME), Ok(Write)),
            (Some(&primary), LockView::Free, Ok(Write)),
            (Some(&standby), held_by(ME), Ok(AlreadyActive)),
            (Some(&standby), LockView::Free, Ok(AlreadyActive)),
            (Some(&primary), held_by(OTHER), Err("FailoverInProgress")),
            (
                Some(&primary),
                LockView::Unreadable,
                Err("FailoverInProgress"),
            ),
        ];
        for (state, lock, expected) in cases {
            let got = decide_mark_active(state, &lock, "prod", ME, STANDBY, None)
                .map_err(|e| e.error_type());
            assert_eq!(got, expected, "{state:?} {lock:?}");
        }
    }

    #[test]
    fn capacity_writes_only_when_different() {
        let wanted: BTreeMap<String, u32> = [("web".to_string(), 4)].into();
        let mut recorded = state(Some(PRIMARY));
        assert!(capacity_needs_write(None, &wanted));
        assert!(capacity_needs_write(Some(&recorded), &wanted));
        recorded.primary_capacity = wanted.clone();
        assert!(!capacity_needs_write(Some(&recorded), &wanted));
        recorded.primary_capacity.insert("api".into(), 2);
        assert!(capacity_needs_write(Some(&recorded), &wanted));
    }

    #[test]
    fn lock_values() {
        assert_eq!(LockView::from_value(None), LockView::Free);
        assert_eq!(LockView::from_value(Some("not json")), LockView::Unreadable);
        assert_eq!(
            LockView::from_value(Some(r#"{"executionId": 3}"#)),
            LockView::Unreadable
        );
        let text =
            r#"{"executionId":"x","operation":"failover","acquiredAt":"2026-01-01T00:00:00Z"}"#;
        assert!(LockView::from_value(Some(text)).is_held_by("x"));
        assert!(!LockView::from_value(Some(text)).is_held_by("y"));
    }

    #[test]
    fn state_documents_round_trip_and_tolerate_new_fields() {
        let text = r#"{"activeRegion":"us-west-2","since":"2026-01-01T00:00:00Z","executionId":"e",
            "primaryCapacity":{"web":4},"capacityRecordedAt":"2025-12-31T00:00:00Z","lastAutomaticFailoverAt":"x"}"#;
        let state: RunState = serde_json::from_str(text).unwrap();
        assert_eq!(state.active_region.as_deref(), Some("us-west-2"));
        assert_eq!(state.primary_capacity["web"], 4);
        let again: RunState =
            serde_json::from_str(&serde_json::to_string(&state).unwrap()).unwrap();
        assert_eq!(again, state);
        assert_eq!(
            serde_json::to_string(&RunState::default()).unwrap(),
            r#"{"primaryCapacity":{}}"#
        );
        let cycle = RunState {
            failover_id: Some("fo".into()),
            promotion_requested_at: Some(Timestamp("2026-01-01T00:00:00Z".into())),
            standby_unfenced_at: Some(Timestamp("2026-01-01T00:01:00Z".into())),
            ..RunState::default()
        };
        let text = serde_json::to_string(&cycle).unwrap();
        for field in ["failoverId", "promotionRequestedAt", "standbyUnfencedAt"] {
            assert!(text.contains(field), "{text}");
        }
        assert_eq!(serde_json::from_str::<RunState>(&text).unwrap(), cycle);
    }

    #[test]
    fn env_names() {
        for good in ["prod", "e2e-ab12", "a"] {
            assert!(check_env(good).is_ok(), "{good}");
        }
        for bad in ["", "Prod", "prod/../x", "-x", "a b", &"x".repeat(33)] {
            let err = check_env(bad).unwrap_err();
            assert_eq!(err.error_type(), "InvalidInput", "{bad}");
        }
    }
}
