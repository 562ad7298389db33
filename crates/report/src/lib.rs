//! `report`: the last step of every failover and failback (`publish`), and the alert of the failure
//! path (`notifyFailure`).
//!
//! `publish` reads the execution's own history while it is still running (the report is a step of
//! that execution), pairs every `*StateExited` event with its `*StateEntered` event by walking the
//! history's `previousEventId` chain ([`build_timeline`](pilot_light_core::execution_history::build_timeline):
//! parallel Map iterations are never mixed),
//! labels Map iterations with the item they worked on, measures the RTO (execution start → now),
//! writes CloudWatch Embedded Metric Format lines on stdout ([`emf_lines`]: no API call), publishes
//! the report to SNS when a topic is given, and returns it as the step's output.
//!
//! The report holds ids, states and timings only. It never copies a state's input or output: the one
//! thing taken from an input is the item's `name`, and from `results` only each handler answer's
//! `action`, `status` and `resources` ([`summarise_changes`]).
//!
//! A failback's report (its input carries the configuration) also lists `keptOldPrimaries`: every
//! instance in the primary region that a failback renamed aside from a configured primary
//! identifier and keeps, found by its tags (`pilot_light_core::kept`), so a re-run finds them too.
//! Each says since when its writes never reached the standby (`unreplicatedWritesSince`: when the
//! failover that cut replication from it asked RDS to promote, read from that execution's history,
//! [`promotion_requested_at`]) and whether it may hold writes the serving database lacks.
//!
//! Layout: decoding in `input`, the SDK calls in `aws`, one module per action (`publish`,
//! `notify_failure`, `approval`), and the parts of a report each in its own module (`render`,
//! `alert`, `changes`, `capacity`, `hooks`, `kept`); fixtures that span modules in `tests`.

pub mod alert;
pub mod approval;
pub mod capacity;
pub mod changes;
pub mod hooks;
pub mod input;
pub mod kept;
pub mod render;

mod aws;
mod notify_failure;
mod publish;

#[cfg(test)]
mod tests;

pub use alert::{
    alert_text, parse_next_run, restore_commands, NextRun, NextRunKind, NextRunMode,
    NextRunStrategy, RestoreCommands,
};
pub use changes::{objects_within, summarise_changes, Change};
pub use hooks::{hook_outcomes, HookOutcome, MAX_HOOK_OUTPUT_BYTES};
pub use input::parse_input;
pub use kept::{
    kept_old_primary, promotion_requested_at, render_kept_old_primaries, CutSource, KeptOldPrimary,
    OutputEvent,
};
pub use render::{
    emf_lines, failure_subject, fit_subject, recovery_time_seconds, render_drill, render_text,
    report_subject, structured_message, MAX_SUBJECT_CHARS, METRIC_NAMESPACE,
};

use pilot_light_core::config::DatabaseConfig;
use pilot_light_core::execution_history::TimelineStep;
use pilot_light_core::{EnvName, PilotLightError, Regional, StepStatus, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The actions of this handler.
pub const ACTIONS: &[&str] = &["publish", "notifyFailure", "notifyApproval"];

/// The clients this handler uses, built once per Lambda instance. The region of each call comes from
/// the ARN it concerns (execution, topic).
pub struct Clients {
    pub sfn: Regional<aws_sdk_sfn::Client>,
    pub sns: Regional<aws_sdk_sns::Client>,
    /// Read-only: the kept old primaries of a failback report.
    pub rds: Regional<aws_sdk_rds::Client>,
}

impl Clients {
    /// Clients from the environment (honours `AWS_ENDPOINT_URL`).
    pub async fn from_env() -> Self {
        let base = pilot_light_core::clients::load_sdk_config().await;
        Self {
            sfn: Regional::new(base.clone(), aws_sdk_sfn::Client::new),
            sns: Regional::new(base.clone(), aws_sdk_sns::Client::new),
            rds: Regional::new(base, aws_sdk_rds::Client::new),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ReportAction {
    /// Build the report of an execution, emit its metrics, publish it.
    Publish,
    /// Publish an alert about a failed execution.
    NotifyFailure,
    /// Ask the on-call to approve a waiting automatic failover, or say it proceeds unanswered.
    NotifyApproval,
}

/// `publish` input.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PublishInput {
    pub action: ReportAction,
    pub env: EnvName,
    /// `failover`, `failback`, `drill`, …
    pub kind: String,
    /// `succeeded`, `alreadyActive`, `failed`, …
    pub outcome: String,
    pub execution_arn: String,
    /// SNS topic to publish to; none (or `""`) publishes nothing.
    #[serde(default)]
    pub topic_arn: Option<String>,
    /// The state machine's results (handler answers); only their ids and statuses are reported.
    #[serde(default)]
    pub results: Option<Value>,
    /// A drill's verdict (`drill-resources measure`: phases, drill RTO, target, readiness
    /// findings), carried into the report as it is.
    #[serde(default)]
    pub drill: Option<Value>,
    /// What the user hooks answered: one list per hook point (`beforeFailover`, `afterDatabases`,
    /// …), each entry the state machine's record of one hook (name, status, output or failure).
    #[serde(default)]
    pub hooks: Option<Value>,
    /// The configuration (a failback passes `$.begin.config`; required for `kind: failback`):
    /// where to look for kept old primaries. Only the regions and the databases' identifiers are
    /// read.
    #[serde(default)]
    pub config: Option<ConfigScope>,
}

/// The part of the configuration document the report reads (the rest is ignored).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigScope {
    pub regions: RegionScope,
    #[serde(default)]
    pub databases: Vec<DatabaseScope>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegionScope {
    pub primary: String,
    pub standby: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DatabaseScope {
    pub name: String,
    pub primary_instance_id: String,
    pub replica_instance_id: String,
}

impl ConfigScope {
    fn database_configs(&self) -> Vec<DatabaseConfig> {
        self.databases
            .iter()
            .map(|db| {
                DatabaseConfig::identifiers_only(
                    &db.name,
                    &db.primary_instance_id,
                    &db.replica_instance_id,
                )
            })
            .collect()
    }
}

/// `notifyFailure` input (the `Catch`'s `Error` and `Cause`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NotifyFailureInput {
    pub action: ReportAction,
    pub env: EnvName,
    pub kind: String,
    pub execution_arn: String,
    pub error: String,
    #[serde(default)]
    pub cause: Option<String>,
    #[serde(default)]
    pub topic_arn: Option<String>,
    /// Where the run stopped and who serves now, in one or two sentences (the state machine
    /// writes it on each failure path).
    #[serde(default)]
    pub reached: Option<String>,
    /// The one run that restores service or completes what was begun (`null`: none needed), as
    /// [`NextRun`]. Read leniently ([`parse_next_run`]): an alert is never refused because of its
    /// hint (a failover started with a bad `mode` still gets its alert, without a command).
    #[serde(default)]
    pub next: Option<Value>,
}

/// The report of one execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub env: EnvName,
    pub kind: String,
    pub outcome: String,
    pub execution_arn: String,
    /// `RUNNING` while the report runs as a step of the execution.
    pub execution_status: String,
    /// The execution's start.
    pub started_at: Timestamp,
    /// Now (or the execution's stop, when it already stopped).
    pub finished_at: Timestamp,
    /// Execution start → this report (everything the run did before it, background work included).
    pub rto_seconds: f64,
    /// Execution start → traffic on the recovered region: the DNS change confirmed (the last DNS
    /// check), or made when nothing was left to wait for. `None`: the run moved no traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic_switched_seconds: Option<f64>,
    pub steps: Vec<TimelineStep>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
    /// Steps left out of the SNS message to keep it under the size limit (never in the step output).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps_omitted: Option<usize>,
    /// A drill's verdict, when the report is a drill's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drill: Option<Value>,
    /// The user hooks that ran, in run order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hooks: Vec<HookOutcome>,
    /// A failback's kept old primaries (always present, maybe empty, in a failback's report).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept_old_primaries: Option<Vec<KeptOldPrimary>>,
    /// The capacity each group was asked for, and the capacity record it came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<capacity::CapacityAsked>,
}

/// Where a message went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Published {
    pub topic_arn: String,
    pub message_id: String,
}

/// `publish` output: the report, plus the common fields.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PublishOutput {
    pub action: ReportAction,
    pub status: StepStatus,
    #[serde(flatten)]
    pub report: Report,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published: Option<Published>,
    pub resources: Vec<String>,
}

/// `notifyFailure` output.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NotifyFailureOutput {
    pub action: ReportAction,
    /// `done` when published, `alreadyDone` when no topic was given.
    pub status: StepStatus,
    pub env: EnvName,
    pub kind: String,
    pub execution_arn: String,
    pub error: String,
    /// Where the run stopped and who serves now (as the state machine said).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reached: Option<String>,
    /// The command that restores service or completes what was begun.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restore_command: Option<RestoreCommands>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published: Option<Published>,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    pub resources: Vec<String>,
}

/// The answer of either action.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ReportOutput {
    Publish(Box<PublishOutput>),
    NotifyFailure(NotifyFailureOutput),
    NotifyApproval(approval::NotifyApprovalOutput),
}

/// A decoded input, one variant per action.
#[derive(Debug, Clone)]
pub enum ReportInput {
    Publish(PublishInput),
    NotifyFailure(NotifyFailureInput),
    NotifyApproval(approval::NotifyApprovalInput),
}

/// The Lambda handler: decode, validate, observe, act.
pub async fn handler(event: Value, clients: &Clients) -> Result<ReportOutput, PilotLightError> {
    match parse_input(event)? {
        ReportInput::Publish(input) => publish::publish(input, clients)
            .await
            .map(|output| ReportOutput::Publish(Box::new(output))),
        ReportInput::NotifyFailure(input) => notify_failure::notify_failure(input, clients)
            .await
            .map(ReportOutput::NotifyFailure),
        ReportInput::NotifyApproval(input) => approval::notify_approval(input, clients)
            .await
            .map(ReportOutput::NotifyApproval),
    }
}

#[cfg(test)]
mod action_list {
    use super::{ReportAction, ACTIONS};

    /// `ACTIONS` (what `UnknownAction` quotes and the state machines may send) names every action
    /// of [`ReportAction`] once, by its wire name. A new action does not compile here until it is counted.
    #[test]
    fn the_action_list_names_every_action_once() {
        let listed = pilot_light_core::step::check_action_list::<ReportAction>(ACTIONS).unwrap();
        let index = |action: &ReportAction| match action {
            ReportAction::Publish => 0,
            ReportAction::NotifyFailure => 1,
            ReportAction::NotifyApproval => 2,
        };
        let mut seen: Vec<usize> = listed.iter().map(index).collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..3).collect::<Vec<_>>());
    }
}
