//! `report`: the last step of every failover and failback (`publish`), and the alert of the failure
//! path (`notifyFailure`).
//!
//! `publish` reads the execution's own history while it is still running (the report is a step of
//! that execution), pairs every `*StateExited` event with its `*StateEntered` event by walking the
//! history's `previousEventId` chain ([`build_timeline`]: parallel Map iterations are never mixed),
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

pub mod approval;
pub mod capacity;

use aws_sdk_sfn::types::ExecutionStatus;
use aws_sdk_sns::types::MessageAttributeValue;
use pilot_light_core::clients::validate_region;
use pilot_light_core::config::{DatabaseConfig, Side};
use pilot_light_core::db_instances::list_instances;
use pilot_light_core::execution_history::{
    arn_region, build_timeline, fetch_history, format_duration, read_history, seconds_between,
    summarise_cause, timestamp_from_millis, truncate_chars, TimelineStep,
};
use pilot_light_core::kept::{
    classify_kept, epoch_millis, may_hold_unreplicated_writes, reconcile_instruction, KeptInstance,
};
use pilot_light_core::{parse_step_input, PilotLightError, Regional, StepStatus, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::time::SystemTime;

/// The actions of this handler.
pub const ACTIONS: &[&str] = &["publish", "notifyFailure", "notifyApproval"];

/// The CloudWatch namespace of the EMF metrics.
pub const METRIC_NAMESPACE: &str = "PilotLight";

/// SNS subjects must be shorter than 100 characters.
pub const MAX_SUBJECT_CHARS: usize = 99;

/// Most values one EMF metric may carry in one line.
const MAX_EMF_VALUES: usize = 100;

/// SNS messages are at most 256 KiB; stay well below with the whole structured message.
const MAX_MESSAGE_BYTES: usize = 200 * 1024;

/// At most this many pages of DB instances (100 each) are read when looking for kept old primaries.
const MAX_INSTANCE_PAGES: usize = 100;

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
    pub env: String,
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

/// An old primary a failback renamed aside and keeps in the primary region: writable, and possibly
/// holding writes the serving database never received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeptOldPrimary {
    /// The logical database.
    pub database: String,
    /// Its identifier now (`<primaryInstanceId>-old-<token>`).
    pub instance_id: String,
    pub region: String,
    /// The identifier it had.
    pub renamed_from: String,
    /// When it was renamed (`null`: renamed before pilot-light recorded that).
    pub kept_since: Option<String>,
    /// Its `LatestRestorableTime` (`null`: RDS reports none).
    pub latest_restorable_time: Option<String>,
    /// When replication from it to the standby was cut: when the failover asked RDS to promote the
    /// standby (`null`: not recorded).
    pub unreplicated_writes_since: Option<String>,
    /// `latestRestorableTime > unreplicatedWritesSince`, or either is unknown.
    pub may_hold_unreplicated_writes: bool,
    /// What to do: reconcile, then retire with a final snapshot.
    pub reconcile: String,
}

/// `notifyFailure` input (the `Catch`'s `Error` and `Cause`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NotifyFailureInput {
    pub action: ReportAction,
    pub env: String,
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

/// The [`NextRun`] of a `notifyFailure` input; `None` when absent, `null` or not one (unknown run,
/// mode or strategy).
pub fn parse_next_run(value: Option<&Value>) -> Option<NextRun> {
    serde_json::from_value(value?.clone()).ok()
}

/// The run an alert asks for: which state machine, with which mode or strategy.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NextRun {
    pub run: NextRunKind,
    /// For a failover: `graceful` or `ungraceful`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<NextRunMode>,
    /// For a failback: `snapshot` or `replica`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<NextRunStrategy>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum NextRunKind {
    Failover,
    Failback,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum NextRunMode {
    Graceful,
    Ungraceful,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum NextRunStrategy {
    Snapshot,
    Replica,
}

/// The commands an alert names: the CLI's, and the plain AWS CLI's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreCommands {
    pub cli: String,
    pub aws: String,
}

/// The commands that start `next` for `env`, from the failed execution's ARN (its region and
/// account; its state machine when `next` runs the same kind, else the sibling machine named like
/// it, `…-failover` ↔ `…-failback`, or a placeholder when the name says nothing).
pub fn restore_commands(next: &NextRun, env: &str, execution_arn: &str) -> RestoreCommands {
    let kind = match next.run {
        NextRunKind::Failover => "failover",
        NextRunKind::Failback => "failback",
    };
    let mut flags = String::new();
    let mut input = serde_json::Map::new();
    input.insert("env".into(), json!(env));
    let mode = next.mode.map(|mode| match mode {
        NextRunMode::Graceful => "graceful",
        NextRunMode::Ungraceful => "ungraceful",
    });
    let strategy = next.strategy.map(|strategy| match strategy {
        NextRunStrategy::Snapshot => "snapshot",
        NextRunStrategy::Replica => "replica",
    });
    // Each option of the run is the same in both commands: a CLI flag, a key of the input.
    for (option, value) in [("mode", mode), ("strategy", strategy)] {
        if let Some(value) = value {
            flags.push_str(&format!(" --{option} {value}"));
            input.insert(option.into(), json!(value));
        }
    }
    let parts: Vec<&str> = execution_arn.split(':').collect();
    let region = parts.get(3).copied().filter(|r| !r.is_empty());
    let machine_arn = match (parts.as_slice(), region) {
        (["arn", partition, "states", region, account, "execution", machine, ..], Some(_)) => {
            let sibling = if machine.ends_with(kind) {
                Some(machine.to_string())
            } else {
                ["-failover", "-failback"]
                    .iter()
                    .find_map(|suffix| machine.strip_suffix(suffix))
                    .map(|stem| format!("{stem}-{kind}"))
            };
            sibling.map(|name| {
                format!("arn:{partition}:states:{region}:{account}:stateMachine:{name}")
            })
        }
        _ => None,
    }
    .unwrap_or_else(|| {
        format!(
            "<{}StateMachineArn>",
            if kind == "failover" {
                "Failover"
            } else {
                "Failback"
            }
        )
    });
    let region_flag = region.map(|r| format!(" --region {r}")).unwrap_or_default();
    RestoreCommands {
        cli: format!("pilot-light {kind} --env {env}{flags}{region_flag}"),
        aws: format!(
            "aws stepfunctions start-execution{region_flag} --state-machine-arn {machine_arn} --name {kind}-{env}-$(date -u +%Y%m%d%H%M) --input '{}'",
            serde_json::Value::Object(input)
        ),
    }
}

#[derive(Deserialize)]
struct ActionOnly {
    action: ReportAction,
}

/// One handler answer found in `results` that changed something (`started` or `done`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    pub action: String,
    pub status: StepStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
    #[serde(default)]
    pub resources: Vec<String>,
}

/// The report of one execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub env: String,
    pub kind: String,
    pub outcome: String,
    pub execution_arn: String,
    /// `RUNNING` while the report runs as a step of the execution.
    pub execution_status: String,
    /// The execution's start.
    pub started_at: Timestamp,
    /// Now (or the execution's stop, when it already stopped).
    pub finished_at: Timestamp,
    pub rto_seconds: f64,
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

/// One user hook's run, as the report shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HookOutcome {
    pub point: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_name: Option<String>,
    /// `succeeded` or `failed` (a failed `abort` hook stops the run and is in the failure alert).
    pub status: String,
    /// The function's answer (left out above [`MAX_HOOK_OUTPUT_BYTES`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
}

/// A hook's answer larger than this is left out of the report (its size is said instead).
pub const MAX_HOOK_OUTPUT_BYTES: usize = 4096;

/// Hook points in run order (failover and failback names).
const HOOK_POINT_ORDER: &[&str] = &[
    "beforeFailover",
    "beforeFailback",
    "afterDatabases",
    "afterCompute",
    "afterTraffic",
];

/// The hook records of a run (`{point: [record, …]}`), in run order: by point, then as listed.
/// Unknown points come last; anything that is not a record is skipped.
pub fn hook_outcomes(hooks: &Value) -> Vec<HookOutcome> {
    let Some(points) = hooks.as_object() else {
        return vec![];
    };
    let mut ordered: Vec<(&String, &Value)> = points.iter().collect();
    ordered.sort_by_key(|(point, _)| {
        HOOK_POINT_ORDER
            .iter()
            .position(|p| p == point)
            .unwrap_or(HOOK_POINT_ORDER.len())
    });
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_string);
    let mut out = Vec::new();
    for (point, records) in ordered {
        for record in records.as_array().into_iter().flatten() {
            let Some(name) = text(record, "name") else {
                continue;
            };
            let output = record.get("output").map(|o| {
                let size = serde_json::to_vec(o).map(|b| b.len()).unwrap_or(0);
                if size > MAX_HOOK_OUTPUT_BYTES {
                    Value::String(format!("({size} bytes of output left out)"))
                } else {
                    o.clone()
                }
            });
            let failure = record.get("failure");
            out.push(HookOutcome {
                point: point.clone(),
                name,
                function_name: text(record, "functionName"),
                status: text(record, "status").unwrap_or_else(|| "unknown".into()),
                output,
                error: failure.and_then(|f| text(f, "Error")),
                cause: failure
                    .and_then(|f| text(f, "Cause"))
                    .map(|c| summarise_cause(&c)),
            });
        }
    }
    out
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
    pub env: String,
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

/// The alert's text for people: the failure, where the run stopped, what to run.
pub fn alert_text(
    subject: &str,
    input: &NotifyFailureInput,
    error: &str,
    cause: &str,
    commands: Option<&RestoreCommands>,
    at: &Timestamp,
) -> String {
    let mut text = format!(
        "{subject}\n\nExecution: {}\nError:     {error}\nCause:     {cause}\nAt:        {}\n",
        input.execution_arn, at.0
    );
    if let Some(reached) = input.reached.as_deref().filter(|r| !r.trim().is_empty()) {
        text.push_str(&format!("\nWhere it stopped: {}\n", reached.trim()));
    }
    if let Some(commands) = commands {
        text.push_str(&format!(
            "\nRun next:  {}\n  (or:     {})\n",
            commands.cli, commands.aws
        ));
    }
    text
}

/// The answer of either action.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ReportOutput {
    Publish(PublishOutput),
    NotifyFailure(NotifyFailureOutput),
    NotifyApproval(approval::NotifyApprovalOutput),
}

// ------------------------------------------------------------------------------------------------
// Pure functions

/// The RTO: execution start → finish of the report.
pub fn recovery_time_seconds(execution_started_millis: i64, report_finished_millis: i64) -> f64 {
    seconds_between(execution_started_millis, report_finished_millis)
}

/// `pilot-light prod failover succeeded in 6m 12s`.
pub fn report_subject(env: &str, kind: &str, outcome: &str, rto_seconds: f64) -> String {
    fit_subject(&format!(
        "pilot-light {env} {kind} {outcome} in {}",
        format_duration(rto_seconds)
    ))
}

/// `pilot-light prod failover FAILED: PromotionTimedOut`.
pub fn failure_subject(env: &str, kind: &str, error: &str) -> String {
    fit_subject(&format!("pilot-light {env} {kind} FAILED: {error}"))
}

/// An SNS subject: printable ASCII on one line, shorter than 100 characters.
pub fn fit_subject(text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| match c {
            ' '..='~' => c,
            c if c.is_whitespace() => ' ',
            _ => '?',
        })
        .collect();
    let clean = clean.trim().to_string();
    if clean.chars().count() <= MAX_SUBJECT_CHARS {
        clean
    } else {
        let mut cut: String = clean.chars().take(MAX_SUBJECT_CHARS - 3).collect();
        cut.push_str("...");
        cut
    }
}

/// The handler answers in `results` that changed something: every JSON object with a string
/// `action` and a `status` of `started` or `done`, reported with its `resources` (strings only) and
/// its item (`database`, `group` or `name`, when a string). Nothing else of `results` is kept.
pub fn summarise_changes(results: &Value) -> Vec<Change> {
    let mut changes = Vec::new();
    for map in objects_within(results) {
        let action = map.get("action").and_then(Value::as_str);
        let status = map
            .get("status")
            .cloned()
            .and_then(|s| serde_json::from_value::<StepStatus>(s).ok());
        if let (Some(action), Some(status @ (StepStatus::Started | StepStatus::Done))) =
            (action, status)
        {
            let item = ["database", "group", "name"]
                .iter()
                .find_map(|k| map.get(*k).and_then(Value::as_str))
                .map(str::to_string);
            let resources = map
                .get("resources")
                .and_then(Value::as_array)
                .map(|r| {
                    r.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            changes.push(Change {
                action: action.to_string(),
                status,
                item,
                resources,
            });
        }
    }
    changes
}

/// Every JSON object in `value`, at any depth (bounded at 32 levels), outermost first: the handler
/// answers a state machine gathered into `results`.
pub fn objects_within(value: &Value) -> Vec<&serde_json::Map<String, Value>> {
    fn walk<'a>(value: &'a Value, out: &mut Vec<&'a serde_json::Map<String, Value>>, depth: usize) {
        if depth > 32 {
            return;
        }
        match value {
            Value::Array(items) => items.iter().for_each(|v| walk(v, out, depth + 1)),
            Value::Object(map) => {
                out.push(map);
                map.values().for_each(|v| walk(v, out, depth + 1));
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(value, &mut out, 0);
    out
}

/// One event of the history of the failover that cut replication, reduced to what finding its
/// promotion request needs.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputEvent {
    /// `ExecutionStarted`, `LambdaFunctionSucceeded`, `TaskStateExited`, …
    pub event_type: String,
    pub timestamp_millis: i64,
    /// The state's or the task's output, when the event has one.
    pub output: Option<Value>,
}

impl OutputEvent {
    /// From the SDK's history event.
    pub fn from_sfn(event: &aws_sdk_sfn::types::HistoryEvent) -> Self {
        let output = event
            .state_exited_event_details()
            .and_then(|d| d.output())
            .or_else(|| {
                event
                    .lambda_function_succeeded_event_details()
                    .and_then(|d| d.output())
            })
            .or_else(|| {
                event
                    .task_succeeded_event_details()
                    .and_then(|d| d.output())
            })
            .and_then(|text| serde_json::from_str(text).ok());
        Self {
            event_type: event.r#type().as_str().to_string(),
            timestamp_millis: event.timestamp().to_millis().unwrap_or_default(),
            output,
        }
    }
}

/// Where an `unreplicatedWritesSince` came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CutSource {
    /// The `promote-replica` answer that asked RDS to promote (`status: started`): its `startedAt`.
    PromotionRequest,
    /// No such answer in the history (the promotion was asked by a retry whose answer was lost):
    /// the execution's start, a little earlier than the request.
    ExecutionStart,
}

/// When the failover whose history `events` is asked RDS to promote `database`'s standby: the
/// earliest `startedAt` of a `promote-replica` answer with `action: promote`, `status: started`
/// and that `database`, wherever the history carries it (task results, state outputs); else the
/// execution's start (never later than the request, so no write after the cut is left out); `None`
/// for an empty history.
pub fn promotion_requested_at(
    events: &[OutputEvent],
    database: &str,
) -> Option<(Timestamp, CutSource)> {
    let mut starts = Vec::new();
    for output in events.iter().filter_map(|e| e.output.as_ref()) {
        collect_promotion_starts(output, database, &mut starts, 0);
    }
    if let Some(earliest) = starts
        .iter()
        .filter_map(|text| Some((epoch_millis(text)?, text)))
        .min_by_key(|(millis, _)| *millis)
    {
        return Some((Timestamp(earliest.1.clone()), CutSource::PromotionRequest));
    }
    events
        .iter()
        .find(|e| e.event_type == "ExecutionStarted")
        .map(|e| {
            (
                timestamp_from_millis(e.timestamp_millis),
                CutSource::ExecutionStart,
            )
        })
}

fn collect_promotion_starts(value: &Value, database: &str, out: &mut Vec<String>, depth: usize) {
    if depth > 32 {
        return;
    }
    match value {
        Value::Array(items) => items
            .iter()
            .for_each(|v| collect_promotion_starts(v, database, out, depth + 1)),
        Value::Object(map) => {
            let field = |key: &str| map.get(key).and_then(Value::as_str);
            if field("action") == Some("promote")
                && field("status") == Some("started")
                && field("database") == Some(database)
            {
                if let Some(started) = field("startedAt") {
                    out.push(started.to_string());
                }
            }
            map.values()
                .for_each(|v| collect_promotion_starts(v, database, out, depth + 1));
        }
        _ => {}
    }
}

/// A kept instance as the failback report lists it: only old primaries (renamed from a configured
/// primary identifier in the primary region), with the cut and what to do.
pub fn kept_old_primary(
    kept: &KeptInstance,
    unreplicated_writes_since: Option<&Timestamp>,
) -> Option<KeptOldPrimary> {
    if kept.side != Some(Side::Primary) {
        return None;
    }
    let database = kept.database.clone()?;
    let since = unreplicated_writes_since.map(|t| t.0.as_str());
    let may_hold = may_hold_unreplicated_writes(kept.latest_restorable_time.as_deref(), since);
    Some(KeptOldPrimary {
        database,
        instance_id: kept.instance_id.clone(),
        region: kept.region.clone(),
        renamed_from: kept.renamed_from.clone(),
        kept_since: kept.kept_since.clone(),
        latest_restorable_time: kept.latest_restorable_time.clone(),
        unreplicated_writes_since: since.map(str::to_string),
        may_hold_unreplicated_writes: may_hold,
        reconcile: reconcile_instruction(
            &kept.instance_id,
            &kept.region,
            &kept.renamed_from,
            since,
            may_hold,
        ),
    })
}

/// The kept old primaries as text, for e-mail subscribers (`none` said explicitly).
pub fn render_kept_old_primaries(kept: &[KeptOldPrimary]) -> String {
    if kept.is_empty() {
        return "\nKept old primaries: none\n".to_string();
    }
    let unknown = "unknown";
    let mut text = format!(
        "\nKept old primaries ({}): renamed aside, still writable, never deleted by pilot-light\n",
        kept.len()
    );
    for entry in kept {
        text.push_str(&format!(
            "  {} [{}] in {}, renamed from {}, kept since {}\n",
            entry.instance_id,
            entry.database,
            entry.region,
            entry.renamed_from,
            entry.kept_since.as_deref().unwrap_or(unknown),
        ));
        text.push_str(&format!(
            "    unreplicated writes since {}, latest restorable {}: {}\n",
            entry
                .unreplicated_writes_since
                .as_deref()
                .unwrap_or(unknown),
            entry.latest_restorable_time.as_deref().unwrap_or(unknown),
            if entry.may_hold_unreplicated_writes {
                "MAY HOLD WRITES the serving database lacks"
            } else {
                "nothing restorable after the cut"
            }
        ));
        text.push_str(&format!("    → {}\n", entry.reconcile));
    }
    text
}

/// The CloudWatch Embedded Metric Format lines of a report: `RecoveryTimeSeconds` (dimensions
/// Env, Kind) when the outcome is `succeeded` (a recovery that did not happen has no recovery time),
/// and `StepDurationSeconds` (dimensions Env, Kind, State) for every step, the values of one state
/// in one line (at most 100 per line).
pub fn emf_lines(report: &Report, now_millis: i64) -> Vec<Value> {
    let envelope = |dimensions: Value, metric: &str| {
        json!({
            "Timestamp": now_millis,
            "CloudWatchMetrics": [{
                "Namespace": METRIC_NAMESPACE,
                "Dimensions": [dimensions],
                "Metrics": [{"Name": metric, "Unit": "Seconds"}]
            }]
        })
    };
    let mut lines = Vec::new();
    if report.outcome == "succeeded" {
        lines.push(json!({
            "_aws": envelope(json!(["Env", "Kind"]), "RecoveryTimeSeconds"),
            "Env": report.env,
            "Kind": report.kind,
            "Outcome": report.outcome,
            "ExecutionArn": report.execution_arn,
            "RecoveryTimeSeconds": report.rto_seconds,
        }));
    }
    let mut by_state: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for step in &report.steps {
        by_state
            .entry(step.state.as_str())
            .or_default()
            .push(step.duration_seconds);
    }
    for (state, durations) in by_state {
        for chunk in durations.chunks(MAX_EMF_VALUES) {
            let value = if chunk.len() == 1 {
                json!(chunk[0])
            } else {
                json!(chunk)
            };
            lines.push(json!({
                "_aws": envelope(json!(["Env", "Kind", "State"]), "StepDurationSeconds"),
                "Env": report.env,
                "Kind": report.kind,
                "State": state,
                "Outcome": report.outcome,
                "ExecutionArn": report.execution_arn,
                "StepDurationSeconds": value,
            }));
        }
    }
    lines
}

/// The report as text, for e-mail subscribers.
pub fn render_text(report: &Report) -> String {
    let mut text = format!(
        "{}\n\nExecution: {}\nStatus:    {}\nStarted:   {}\nFinished:  {}\nRTO:       {:.1} s ({})\n",
        report_subject(&report.env, &report.kind, &report.outcome, report.rto_seconds),
        report.execution_arn,
        report.execution_status,
        report.started_at.0,
        report.finished_at.0,
        report.rto_seconds,
        format_duration(report.rto_seconds),
    );
    if !report.steps.is_empty() {
        text.push_str("\nSteps:\n");
        for step in &report.steps {
            let item = step
                .item
                .as_deref()
                .map(|i| format!(" [{i}]"))
                .unwrap_or_default();
            text.push_str(&format!(
                "  {:>9.3} s  {}{item}  ({})\n",
                step.duration_seconds, step.state, step.started_at.0
            ));
        }
    }
    if let Some(drill) = &report.drill {
        text.push_str(&render_drill(drill));
    }
    if let Some(omitted) = report.steps_omitted {
        text.push_str(&format!(
            "  … and {omitted} more steps (see the step output)\n"
        ));
    }
    if !report.hooks.is_empty() {
        text.push_str("\nHooks:\n");
        for hook in &report.hooks {
            let detail = match (&hook.error, &hook.cause) {
                (Some(error), Some(cause)) => format!(": {error}: {cause}"),
                (Some(error), None) => format!(": {error}"),
                _ => String::new(),
            };
            text.push_str(&format!(
                "  {:<15} {} {}{detail}\n",
                hook.point, hook.name, hook.status
            ));
        }
    }
    if let Some(kept) = &report.kept_old_primaries {
        text.push_str(&render_kept_old_primaries(kept));
    }
    if let Some(asked) = &report.capacity {
        text.push_str(&capacity::render_capacity(asked));
    }
    if !report.changes.is_empty() {
        text.push_str("\nChanged:\n");
        for change in &report.changes {
            let item = change
                .item
                .as_deref()
                .map(|i| format!(" [{i}]"))
                .unwrap_or_default();
            text.push_str(&format!(
                "  {} {:?}{item}: {}\n",
                change.action,
                change.status,
                change.resources.join(", ")
            ));
        }
    }
    text
}

/// A drill's verdict as text: the drill RTO against the target, each phase, each readiness finding.
pub fn render_drill(drill: &Value) -> String {
    let number = |key: &str| drill.get(key).and_then(Value::as_f64).unwrap_or_default();
    let verdict = match drill.get("meetsTarget").and_then(Value::as_bool) {
        Some(true) => "meets the target",
        Some(false) => "MISSES the target",
        None => "not measured",
    };
    let mut text = format!(
        "\nDrill RTO: {:.1} s ({}), target {} s: {verdict}\n",
        number("drillRtoSeconds"),
        format_duration(number("drillRtoSeconds")),
        number("rtoTargetSeconds"),
    );
    for phase in drill
        .get("phases")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let field = |key: &str| phase.get(key).and_then(Value::as_str).unwrap_or_default();
        let counts = phase.get("countsTowardsRto").and_then(Value::as_bool) == Some(true);
        text.push_str(&format!(
            "  {:>9.3} s  {} [{}]{}\n",
            phase
                .get("durationSeconds")
                .and_then(Value::as_f64)
                .unwrap_or_default(),
            field("phase"),
            field("item"),
            if counts { "  (RTO)" } else { "" }
        ));
    }
    let readiness = drill
        .get("readiness")
        .and_then(Value::as_str)
        .unwrap_or("unknown");
    text.push_str(&format!("\nReadiness: {readiness}\n"));
    for finding in drill
        .get("findings")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let field = |key: &str| finding.get(key).and_then(Value::as_str).unwrap_or_default();
        text.push_str(&format!(
            "  {:<4}  {}: {}\n",
            field("status"),
            field("name"),
            field("evidence")
        ));
    }
    text
}

/// The SNS message (`MessageStructure=json`): the JSON document for programs (`default`: SQS,
/// Lambda, HTTP(S), `email-json`), text for `email`, the subject for `sms`. Steps are dropped from
/// the copy (halving until it fits) when the message would exceed the size limit.
pub fn structured_message(subject: &str, document: &Value, text: &str) -> String {
    json!({
        "default": document.to_string(),
        "email": text,
        "sms": subject,
    })
    .to_string()
}

fn report_message(report: &Report) -> Result<String, PilotLightError> {
    let mut copy = report.clone();
    loop {
        let subject = report_subject(&copy.env, &copy.kind, &copy.outcome, copy.rto_seconds);
        let document = serde_json::to_value(&copy).map_err(encoding_error)?;
        let message = structured_message(&subject, &document, &render_text(&copy));
        if message.len() <= MAX_MESSAGE_BYTES || copy.steps.is_empty() {
            return Ok(message);
        }
        let keep = copy.steps.len() / 2;
        let omitted = copy.steps.len() - keep + copy.steps_omitted.unwrap_or(0);
        copy.steps.truncate(keep);
        copy.steps_omitted = Some(omitted);
    }
}

fn check_token(field: &str, value: &str, max: usize) -> Result<(), PilotLightError> {
    let ok = !value.is_empty()
        && value.len() <= max
        && value.starts_with(|c: char| c.is_ascii_alphanumeric())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(PilotLightError::InvalidInput {
            field: field.into(),
            reason: format!("`{value}` must be 1–{max} letters, digits, `-` or `_`"),
        })
    }
}

/// A failback's report lists the kept old primaries, so it needs the configuration; the regions
/// it names must be regions.
fn check_config_scope(input: &PublishInput) -> Result<(), PilotLightError> {
    let Some(config) = &input.config else {
        return if input.kind == "failback" {
            Err(PilotLightError::InvalidInput {
                field: "config".into(),
                reason: "a failback report lists the kept old primaries: pass the configuration (`config.$`: `$.begin.config`)".into(),
            })
        } else {
            Ok(())
        };
    };
    for (field, region) in [
        ("config.regions.primary", &config.regions.primary),
        ("config.regions.standby", &config.regions.standby),
    ] {
        validate_region(region).map_err(|reason| PilotLightError::InvalidInput {
            field: field.into(),
            reason,
        })?;
    }
    Ok(())
}

fn check_arn<'a>(field: &str, arn: &'a str, service: &str) -> Result<&'a str, PilotLightError> {
    arn_region(arn, service).map_err(|reason| PilotLightError::InvalidInput {
        field: field.into(),
        reason,
    })
}

fn encoding_error(err: serde_json::Error) -> PilotLightError {
    PilotLightError::InvalidInput {
        field: ".".into(),
        reason: format!("cannot encode the report: {err}"),
    }
}

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

// ------------------------------------------------------------------------------------------------
// The handler

/// A decoded input, one variant per action.
#[derive(Debug, Clone)]
pub enum ReportInput {
    Publish(PublishInput),
    NotifyFailure(NotifyFailureInput),
    NotifyApproval(approval::NotifyApprovalInput),
}

/// Decodes and validates an event without calling AWS: `UnknownAction`, or `InvalidInput` naming the
/// field (`executionArn`, `topicArn`, `outcome`, …).
pub fn parse_input(event: Value) -> Result<ReportInput, PilotLightError> {
    let ActionOnly { action } = parse_step_input(event.clone(), ACTIONS)?;
    match action {
        ReportAction::Publish => {
            let input: PublishInput = parse_step_input(event, ACTIONS)?;
            check_token("env", &input.env, 32)?;
            check_token("kind", &input.kind, 32)?;
            check_token("outcome", &input.outcome, 32)?;
            check_arn("executionArn", &input.execution_arn, "states")?;
            topic(input.topic_arn.as_deref())?;
            check_config_scope(&input)?;
            Ok(ReportInput::Publish(input))
        }
        ReportAction::NotifyFailure => {
            let input: NotifyFailureInput = parse_step_input(event, ACTIONS)?;
            check_token("env", &input.env, 32)?;
            check_token("kind", &input.kind, 32)?;
            check_arn("executionArn", &input.execution_arn, "states")?;
            topic(input.topic_arn.as_deref())?;
            Ok(ReportInput::NotifyFailure(input))
        }
        ReportAction::NotifyApproval => {
            let input: approval::NotifyApprovalInput = parse_step_input(event, ACTIONS)?;
            approval::check(&input)?;
            Ok(ReportInput::NotifyApproval(input))
        }
    }
}

/// The Lambda handler: decode, validate, observe, act.
pub async fn handler(event: Value, clients: &Clients) -> Result<ReportOutput, PilotLightError> {
    match parse_input(event)? {
        ReportInput::Publish(input) => publish(input, clients).await.map(ReportOutput::Publish),
        ReportInput::NotifyFailure(input) => notify_failure(input, clients)
            .await
            .map(ReportOutput::NotifyFailure),
        ReportInput::NotifyApproval(input) => approval::notify_approval(input, clients)
            .await
            .map(ReportOutput::NotifyApproval),
    }
}

/// The topic to publish to, if any (`""` is none), validated.
fn topic(topic_arn: Option<&str>) -> Result<Option<(&str, &str)>, PilotLightError> {
    match topic_arn.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(arn) => Ok(Some((arn, check_arn("topicArn", arn, "sns")?))),
    }
}

async fn publish(input: PublishInput, clients: &Clients) -> Result<PublishOutput, PilotLightError> {
    let region = check_arn("executionArn", &input.execution_arn, "states")?;
    let topic = topic(input.topic_arn.as_deref())?;
    let sfn = clients.sfn.get(region)?;

    let execution = sfn
        .describe_execution()
        .execution_arn(&input.execution_arn)
        .send()
        .await
        .map_err(|err| match err.as_service_error() {
            Some(e) if e.is_execution_does_not_exist() => PilotLightError::ResourceNotFound {
                kind: "Execution".into(),
                id: input.execution_arn.clone(),
                region: region.to_string(),
            },
            Some(e) if e.is_invalid_arn() => PilotLightError::InvalidInput {
                field: "executionArn".into(),
                reason: e.to_string(),
            },
            _ => PilotLightError::from_sdk("DescribeExecution", &err),
        })?;
    let events = read_history(&sfn, &input.execution_arn, region).await?;

    let now = now_millis();
    let running = *execution.status() == ExecutionStatus::Running;
    let started = execution.start_date().to_millis().unwrap_or_default();
    let finished = match execution.stop_date().and_then(|d| d.to_millis().ok()) {
        Some(stopped) if !running => stopped,
        _ => now,
    };
    let kept_old_primaries = match &input.config {
        Some(config) => Some(find_kept_old_primaries(clients, &input.env, config).await?),
        None => None,
    };
    let report = Report {
        env: input.env.clone(),
        kind: input.kind.clone(),
        outcome: input.outcome.clone(),
        execution_arn: input.execution_arn.clone(),
        execution_status: execution.status().as_str().to_string(),
        started_at: timestamp_from_millis(started),
        finished_at: timestamp_from_millis(finished),
        rto_seconds: recovery_time_seconds(started, finished),
        steps: build_timeline(&events),
        changes: input
            .results
            .as_ref()
            .map(summarise_changes)
            .unwrap_or_default(),
        steps_omitted: None,
        drill: input.drill.clone(),
        hooks: input.hooks.as_ref().map(hook_outcomes).unwrap_or_default(),
        kept_old_primaries,
        capacity: input.results.as_ref().and_then(capacity::capacity_asked),
    };
    for line in emf_lines(&report, now) {
        // EMF: one JSON document per line on stdout; CloudWatch Logs extracts the metrics.
        println!("{line}");
    }

    let mut resources = vec![input.execution_arn.clone()];
    let published = match topic {
        None => None,
        Some((topic_arn, topic_region)) => {
            let subject = report_subject(
                &report.env,
                &report.kind,
                &report.outcome,
                report.rto_seconds,
            );
            let message = report_message(&report)?;
            let attributes = [
                ("type", "report"),
                ("env", report.env.as_str()),
                ("kind", report.kind.as_str()),
                ("outcome", report.outcome.as_str()),
            ];
            resources.push(topic_arn.to_string());
            Some(
                send(
                    clients,
                    topic_arn,
                    topic_region,
                    &subject,
                    &message,
                    &attributes,
                )
                .await?,
            )
        }
    };
    tracing::info!(
        env = %report.env,
        kind = %report.kind,
        outcome = %report.outcome,
        execution_arn = %report.execution_arn,
        rto_seconds = report.rto_seconds,
        steps = report.steps.len(),
        kept_old_primaries = report.kept_old_primaries.as_ref().map(Vec::len),
        published = published.is_some(),
        "report published"
    );
    Ok(PublishOutput {
        action: ReportAction::Publish,
        status: StepStatus::Done,
        report,
        published,
        resources,
    })
}

async fn notify_failure(
    input: NotifyFailureInput,
    clients: &Clients,
) -> Result<NotifyFailureOutput, PilotLightError> {
    let started_at = Timestamp::now();
    let topic = topic(input.topic_arn.as_deref())?;
    let error = truncate_chars(input.error.trim(), 256);
    let cause = summarise_cause(input.cause.as_deref().unwrap_or_default());

    let next = parse_next_run(input.next.as_ref());
    let commands = next
        .as_ref()
        .map(|next| restore_commands(next, &input.env, &input.execution_arn));
    let reached = input
        .reached
        .as_deref()
        .map(|r| truncate_chars(r.trim(), 1000))
        .filter(|r| !r.is_empty());
    let mut resources = vec![input.execution_arn.clone()];
    let published = match topic {
        None => None,
        Some((topic_arn, topic_region)) => {
            let subject = failure_subject(&input.env, &input.kind, &error);
            let document = json!({
                "type": "alert",
                "env": input.env,
                "kind": input.kind,
                "executionArn": input.execution_arn,
                "error": error,
                "cause": cause,
                "reached": reached,
                "next": next,
                "restoreCommand": commands,
                "failedAt": started_at,
            });
            let text = alert_text(
                &subject,
                &input,
                &error,
                &cause,
                commands.as_ref(),
                &started_at,
            );
            let message = structured_message(&subject, &document, &text);
            let attributes = [
                ("type", "alert"),
                ("env", input.env.as_str()),
                ("kind", input.kind.as_str()),
                ("outcome", "failed"),
            ];
            resources.push(topic_arn.to_string());
            Some(
                send(
                    clients,
                    topic_arn,
                    topic_region,
                    &subject,
                    &message,
                    &attributes,
                )
                .await?,
            )
        }
    };
    tracing::warn!(
        env = %input.env,
        kind = %input.kind,
        execution_arn = %input.execution_arn,
        error = %error,
        published = published.is_some(),
        "failure notified"
    );
    Ok(NotifyFailureOutput {
        action: ReportAction::NotifyFailure,
        status: if published.is_some() {
            StepStatus::Done
        } else {
            StepStatus::AlreadyDone
        },
        env: input.env,
        kind: input.kind,
        execution_arn: input.execution_arn,
        error,
        reached,
        restore_command: commands,
        published,
        started_at,
        finished_at: Timestamp::now(),
        resources,
    })
}

/// The kept old primaries of `env`: every instance in the primary region that
/// [`classify_kept`] says a failback renamed aside from a configured primary identifier, each with
/// the time the failover that cut replication from it asked for the promotion. Sorted by database,
/// then identifier.
async fn find_kept_old_primaries(
    clients: &Clients,
    env: &str,
    config: &ConfigScope,
) -> Result<Vec<KeptOldPrimary>, PilotLightError> {
    let primary = config.regions.primary.as_str();
    let rds = clients.rds.get(primary)?;
    let databases = config.database_configs();
    let mut histories: HashMap<String, Vec<OutputEvent>> = HashMap::new();
    let mut found = Vec::new();
    for instance in list_instances(&rds, primary, MAX_INSTANCE_PAGES).await? {
        let Some(kept) =
            classify_kept(&instance, env, primary, &config.regions.standby, &databases)
        else {
            continue;
        };
        let (Some(Side::Primary), Some(database)) = (kept.side, kept.database.as_deref()) else {
            continue;
        };
        let cut = match kept.replication_cut_by.as_deref() {
            Some(execution) => {
                if !histories.contains_key(execution) {
                    let events = failover_history(clients, execution).await?;
                    histories.insert(execution.to_string(), events);
                }
                let cut = promotion_requested_at(&histories[execution], database);
                tracing::info!(
                    instance_id = %kept.instance_id,
                    failover = execution,
                    cut = ?cut,
                    "kept old primary"
                );
                cut.map(|(time, _)| time)
            }
            None => None,
        };
        found.extend(kept_old_primary(&kept, cut.as_ref()));
    }
    found.sort_by(|a, b| (&a.database, &a.instance_id).cmp(&(&b.database, &b.instance_id)));
    Ok(found)
}

/// The history of the failover that cut replication (empty when it cannot be read: not an
/// execution ARN, or gone after Step Functions' retention).
async fn failover_history(
    clients: &Clients,
    execution_arn: &str,
) -> Result<Vec<OutputEvent>, PilotLightError> {
    let Ok(region) = arn_region(execution_arn, "states") else {
        return Ok(vec![]);
    };
    let sfn = clients.sfn.get(region)?;
    match fetch_history(&sfn, execution_arn, region).await {
        Ok(events) => Ok(events.iter().map(OutputEvent::from_sfn).collect()),
        Err(PilotLightError::ResourceNotFound { .. }) => Ok(vec![]),
        Err(err) => Err(err),
    }
}

/// Publishes one message with string attributes.
async fn send(
    clients: &Clients,
    topic_arn: &str,
    region: &str,
    subject: &str,
    message: &str,
    attributes: &[(&str, &str)],
) -> Result<Published, PilotLightError> {
    let sns = clients.sns.get(region)?;
    let mut request = sns
        .publish()
        .topic_arn(topic_arn)
        .subject(subject)
        .message(message)
        .message_structure("json");
    for (name, value) in attributes {
        let attribute = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(*value)
            .build()
            .map_err(|err| PilotLightError::InvalidInput {
                field: (*name).to_string(),
                reason: err.to_string(),
            })?;
        request = request.message_attributes(format!("pilot-light.{name}"), attribute);
    }
    let out = request
        .send()
        .await
        .map_err(|err| match err.as_service_error() {
            Some(e) if e.is_not_found_exception() => PilotLightError::ResourceNotFound {
                kind: "Topic".into(),
                id: topic_arn.to_string(),
                region: region.to_string(),
            },
            _ => PilotLightError::from_sdk("Publish", &err),
        })?;
    Ok(Published {
        topic_arn: topic_arn.to_string(),
        message_id: out.message_id().unwrap_or_default().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rto_is_start_to_finish_and_never_negative() {
        assert_eq!(recovery_time_seconds(1_000, 373_100), 372.1);
        assert_eq!(recovery_time_seconds(5_000, 4_000), 0.0);
        assert_eq!(seconds_between(0, 1), 0.001);
    }

    #[test]
    fn durations_and_subjects() {
        let cases = [
            (0.0, "0s"),
            (0.4, "0s"),
            (45.2, "45s"),
            (59.6, "1m 0s"),
            (372.1, "6m 12s"),
            (3_725.0, "1h 2m 5s"),
            (f64::NAN, "0s"),
            (-3.0, "0s"),
        ];
        for (seconds, text) in cases {
            assert_eq!(format_duration(seconds), text, "{seconds}");
        }
        assert_eq!(
            report_subject("prod", "failover", "succeeded", 372.1),
            "pilot-light prod failover succeeded in 6m 12s"
        );
        assert_eq!(
            failure_subject("prod", "failback", "PromotionTimedOut"),
            "pilot-light prod failback FAILED: PromotionTimedOut"
        );
        let long = failure_subject("prod", "failover", &"E".repeat(300));
        assert_eq!(long.chars().count(), MAX_SUBJECT_CHARS);
        assert!(long.ends_with("..."));
        assert_eq!(fit_subject("a\nb\tc é"), "a b c ?");
    }

    /// A failover's steps over two databases whose iterations interleave, as `build_timeline`
    /// pairs them (its own tests are in `pilot_light_core::execution_history`).
    fn steps() -> Vec<TimelineStep> {
        let step = |state: &str, item: Option<&str>, from: i64, to: i64| TimelineStep {
            state: state.into(),
            item: item.map(str::to_string),
            started_at: timestamp_from_millis(from),
            finished_at: timestamp_from_millis(to),
            duration_seconds: seconds_between(from, to),
            entered_millis: from,
            exited_millis: to,
        };
        vec![
            step("LoadConfig", None, 0, 200),
            step("PromoteDatabases", None, 200, 6_340),
            step("PromoteReplica", Some("orders"), 300, 5_300),
            step("PromoteReplica", Some("billing"), 400, 1_400),
            step("WaitForPromotion", Some("billing"), 1_400, 2_400),
            step("WaitForPromotion", Some("orders"), 5_300, 6_300),
        ]
    }

    fn report(outcome: &str) -> Report {
        Report {
            env: "prod".into(),
            kind: "failover".into(),
            outcome: outcome.into(),
            execution_arn: "arn:aws:states:us-west-2:1:execution:m:e".into(),
            execution_status: "RUNNING".into(),
            started_at: timestamp_from_millis(0),
            finished_at: timestamp_from_millis(372_100),
            rto_seconds: 372.1,
            steps: steps(),
            changes: vec![],
            steps_omitted: None,
            drill: None,
            hooks: vec![],
            kept_old_primaries: None,
            capacity: None,
        }
    }

    #[test]
    fn a_drill_report_says_whether_the_target_is_met_and_lists_phases_and_findings() {
        let mut drilled = report("succeeded");
        drilled.kind = "drill".into();
        drilled.drill = Some(json!({
            "drillRtoSeconds": 240.5, "rtoTargetSeconds": 200, "meetsTarget": false,
            "phases": [{"phase": "promoteDatabase", "item": "orders", "durationSeconds": 240.5, "countsTowardsRto": true}],
            "readiness": "warn",
            "findings": [{"name": "ami-age:web", "status": "warn", "evidence": "9 days old"}]
        }));
        let text = render_text(&drilled);
        assert!(text.contains("Drill RTO: 240.5 s"), "{text}");
        assert!(text.contains("MISSES the target"), "{text}");
        assert!(text.contains("promoteDatabase [orders]  (RTO)"), "{text}");
        assert!(text.contains("warn  ami-age:web: 9 days old"), "{text}");
        assert!(!render_text(&report("succeeded")).contains("Drill RTO"));
    }

    #[test]
    fn emf_lines_carry_the_rto_and_one_line_per_state() {
        let lines = emf_lines(&report("succeeded"), 42);
        assert_eq!(lines.len(), 1 + 4, "{lines:#?}");
        let rto = &lines[0];
        assert_eq!(rto["RecoveryTimeSeconds"], json!(372.1));
        assert_eq!(rto["_aws"]["Timestamp"], json!(42));
        let directive = &rto["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], METRIC_NAMESPACE);
        assert_eq!(directive["Dimensions"], json!([["Env", "Kind"]]));
        assert_eq!(directive["Metrics"][0]["Name"], "RecoveryTimeSeconds");
        assert_eq!(
            (rto["Env"].as_str(), rto["Kind"].as_str()),
            (Some("prod"), Some("failover"))
        );
        let promote = lines
            .iter()
            .find(|l| l["State"] == "PromoteReplica")
            .unwrap();
        assert_eq!(promote["StepDurationSeconds"], json!([5.0, 1.0]));
        assert_eq!(
            promote["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Env", "Kind", "State"]])
        );
        let load = lines.iter().find(|l| l["State"] == "LoadConfig").unwrap();
        assert_eq!(load["StepDurationSeconds"], json!(0.2));
        // No recovery happened: no recovery time, but the steps are still measured.
        let failed = emf_lines(&report("failed"), 42);
        assert!(failed
            .iter()
            .all(|l| l.get("RecoveryTimeSeconds").is_none()));
        assert_eq!(failed.len(), 4);
    }

    #[test]
    fn many_values_are_split_into_lines_of_at_most_one_hundred() {
        let mut r = report("succeeded");
        let step = r.steps[0].clone();
        r.steps = vec![step; 250];
        let lines = emf_lines(&r, 0);
        let sizes: Vec<usize> = lines[1..]
            .iter()
            .map(|l| l["StepDurationSeconds"].as_array().map_or(1, Vec::len))
            .collect();
        assert_eq!(sizes, vec![100, 100, 50]);
    }

    #[test]
    fn changes_keep_only_ids_and_statuses() {
        let results = json!({
            "databases": [
                {"database": "orders", "promote": {"action": "promote", "status": "started",
                  "resources": ["arn:aws:rds:us-west-2:1:db:orders-dr"], "dbInstanceStatus": "modifying"}},
                {"database": "billing", "promote": {"action": "promote", "status": "alreadyDone",
                  "resources": ["arn:aws:rds:us-west-2:1:db:billing-dr"]}}
            ],
            "traffic": {"action": "switch", "status": "done", "to": "standby",
                        "resources": ["Z1", 7], "secretLooking": "hunter2"},
            "noise": {"action": "x", "status": "sometimes"}
        });
        let changes = summarise_changes(&results);
        assert_eq!(
            changes,
            vec![
                Change {
                    action: "promote".into(),
                    status: StepStatus::Started,
                    item: None,
                    resources: vec!["arn:aws:rds:us-west-2:1:db:orders-dr".into()],
                },
                Change {
                    action: "switch".into(),
                    status: StepStatus::Done,
                    item: None,
                    resources: vec!["Z1".into()],
                },
            ]
        );
        let text = serde_json::to_string(&changes).unwrap();
        assert!(!text.contains("hunter2") && !text.contains("modifying"));
    }

    #[test]
    fn alerts_name_the_run_that_restores_service() {
        let arn = "arn:aws:states:us-west-2:123456789012:execution:pilot-light-prod-failover:fo-1";
        let next = |run, mode, strategy| NextRun {
            run,
            mode,
            strategy,
        };
        let cases = [
            (
                next(NextRunKind::Failover, Some(NextRunMode::Ungraceful), None),
                "pilot-light failover --env prod --mode ungraceful --region us-west-2",
                "aws stepfunctions start-execution --region us-west-2 --state-machine-arn arn:aws:states:us-west-2:123456789012:stateMachine:pilot-light-prod-failover --name failover-prod-$(date -u +%Y%m%d%H%M) --input '{\"env\":\"prod\",\"mode\":\"ungraceful\"}'",
            ),
            // From a failover to the failback: the sibling machine.
            (
                next(NextRunKind::Failback, None, None),
                "pilot-light failback --env prod --region us-west-2",
                "aws stepfunctions start-execution --region us-west-2 --state-machine-arn arn:aws:states:us-west-2:123456789012:stateMachine:pilot-light-prod-failback --name failback-prod-$(date -u +%Y%m%d%H%M) --input '{\"env\":\"prod\"}'",
            ),
            (
                next(NextRunKind::Failback, None, Some(NextRunStrategy::Replica)),
                "pilot-light failback --env prod --strategy replica --region us-west-2",
                "aws stepfunctions start-execution --region us-west-2 --state-machine-arn arn:aws:states:us-west-2:123456789012:stateMachine:pilot-light-prod-failback --name failback-prod-$(date -u +%Y%m%d%H%M) --input '{\"env\":\"prod\",\"strategy\":\"replica\"}'",
            ),
        ];
        for (next, cli, aws) in cases {
            let commands = restore_commands(&next, "prod", arn);
            assert_eq!(commands.cli, cli);
            assert_eq!(commands.aws, aws);
        }
        // A machine whose name says nothing: a placeholder, never a wrong ARN.
        let odd = "arn:aws:states:us-west-2:1:execution:SomethingElse:run";
        let commands = restore_commands(&next(NextRunKind::Failback, None, None), "prod", odd);
        assert!(
            commands
                .aws
                .contains("--state-machine-arn <FailbackStateMachineArn>"),
            "{}",
            commands.aws
        );
        let commands = restore_commands(
            &next(NextRunKind::Failover, Some(NextRunMode::Graceful), None),
            "prod",
            "not an arn",
        );
        assert_eq!(
            commands.cli,
            "pilot-light failover --env prod --mode graceful"
        );
        assert!(commands.aws.contains("<FailoverStateMachineArn>"));
    }

    #[test]
    fn the_alert_text_says_where_the_run_stopped_and_what_to_run() {
        let input = NotifyFailureInput {
            action: ReportAction::NotifyFailure,
            env: "prod".into(),
            kind: "failover".into(),
            execution_arn: "arn:aws:states:us-west-2:1:execution:pilot-light-prod-failover:fo"
                .into(),
            error: "DnsChangeTimedOut".into(),
            cause: None,
            topic_arn: None,
            reached: Some("The standby's databases were promoted; nobody serves.".into()),
            next: Some(json!({"run": "failover", "mode": "ungraceful"})),
        };
        let next = parse_next_run(input.next.as_ref()).expect("a next run");
        let commands = restore_commands(&next, "prod", &input.execution_arn);
        let text = alert_text(
            "subject",
            &input,
            "DnsChangeTimedOut",
            "",
            Some(&commands),
            &Timestamp("2026-01-01T00:00:00Z".into()),
        );
        assert!(
            text.contains("Where it stopped: The standby's databases were promoted"),
            "{text}"
        );
        assert!(
            text.contains("Run next:  pilot-light failover --env prod --mode ungraceful"),
            "{text}"
        );
        assert!(text.contains("aws stepfunctions start-execution"), "{text}");
        // Without them, the alert is as before.
        let plain = NotifyFailureInput {
            reached: None,
            next: None,
            ..input
        };
        let text = alert_text("subject", &plain, "E", "C", None, &Timestamp("t".into()));
        assert!(
            !text.contains("Run next") && !text.contains("Where it stopped"),
            "{text}"
        );
    }

    #[test]
    fn a_next_run_is_validated() {
        let ok: NextRun =
            serde_json::from_value(json!({"run": "failback", "strategy": "snapshot"})).unwrap();
        assert_eq!(ok.strategy, Some(NextRunStrategy::Snapshot));
        // Never an error: an alert is published without a command instead.
        for bad in [
            json!({"run": "drill"}),
            json!({"run": "failover", "mode": "fast"}),
            json!({"run": "failover", "extra": 1}),
            json!(null),
            json!("failover"),
        ] {
            assert_eq!(parse_next_run(Some(&bad)), None, "{bad}");
        }
        assert_eq!(parse_next_run(None), None);
    }

    #[test]
    fn oversized_messages_drop_steps_and_say_so() {
        let mut big = report("succeeded");
        let step = big.steps[2].clone();
        big.steps = vec![step; 5_000];
        let message = report_message(&big).unwrap();
        assert!(message.len() <= MAX_MESSAGE_BYTES, "{}", message.len());
        let outer: Value = serde_json::from_str(&message).unwrap();
        let document: Report = serde_json::from_str(outer["default"].as_str().unwrap()).unwrap();
        let omitted = document.steps_omitted.expect("stepsOmitted");
        assert_eq!(document.steps.len() + omitted, 5_000);
        assert!(outer["email"].as_str().unwrap().contains("more steps"));
    }

    #[test]
    fn the_message_has_json_for_programs_and_text_for_people() {
        let r = report("succeeded");
        let outer: Value = serde_json::from_str(&report_message(&r).unwrap()).unwrap();
        let document: Value = serde_json::from_str(outer["default"].as_str().unwrap()).unwrap();
        assert_eq!(document["rtoSeconds"], json!(372.1));
        assert_eq!(document["steps"][2]["item"], "orders");
        assert!(document["steps"][0].get("enteredMillis").is_none());
        let text = outer["email"].as_str().unwrap();
        assert!(
            text.starts_with("pilot-light prod failover succeeded in 6m 12s"),
            "{text}"
        );
        assert!(text.contains("PromoteReplica [orders]"), "{text}");
        assert_eq!(
            outer["sms"],
            "pilot-light prod failover succeeded in 6m 12s"
        );
    }

    #[test]
    fn hook_outcomes_follow_run_order_and_keep_failures_and_small_outputs() {
        let hooks = json!({
            "afterTraffic": [{"name": "tell-partner", "point": "afterTraffic", "functionName": "f3",
                              "status": "failed", "failure": {"Error": "HookRefused", "Cause": "no"}}],
            "beforeFailover": [{"name": "drain", "point": "beforeFailover", "functionName": "f1",
                                "status": "succeeded", "output": {"drained": 3}}],
            "afterCompute": [],
            "afterDatabases": [{"name": "big", "status": "succeeded",
                                "output": "x".repeat(MAX_HOOK_OUTPUT_BYTES + 1)},
                               {"not": "a record"}],
        });
        let outcomes = hook_outcomes(&hooks);
        let names: Vec<&str> = outcomes.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["drain", "big", "tell-partner"]);
        assert_eq!(outcomes[0].output, Some(json!({"drained": 3})));
        assert!(outcomes[1]
            .output
            .as_ref()
            .unwrap()
            .as_str()
            .unwrap()
            .contains("left out"));
        assert_eq!(outcomes[2].status, "failed");
        assert_eq!(outcomes[2].error.as_deref(), Some("HookRefused"));
        let mut r = report("succeeded");
        r.hooks = outcomes;
        let text = render_text(&r);
        assert!(
            text.contains("afterTraffic    tell-partner failed: HookRefused: no"),
            "{text}"
        );
        assert!(hook_outcomes(&json!(null)).is_empty());
    }

    fn output_event(kind: &str, at: i64, output: Option<Value>) -> OutputEvent {
        OutputEvent {
            event_type: kind.into(),
            timestamp_millis: at,
            output,
        }
    }

    fn promote_answer(database: &str, status: &str, started_at: &str) -> Value {
        json!({"action": "promote", "status": status, "database": database,
               "instanceId": format!("{database}-dr"), "startedAt": started_at,
               "finishedAt": started_at, "resources": []})
    }

    #[test]
    fn the_cut_is_the_promotion_request_found_anywhere_in_the_failover_history() {
        let started = output_event("ExecutionStarted", 1_000, None);
        /// The history, then the cut expected and where it came from.
        type Case<'a> = (Vec<OutputEvent>, Option<(&'a str, CutSource)>);
        let cases: Vec<Case> = vec![
            // The Lambda's own answer.
            (
                vec![
                    started.clone(),
                    output_event(
                        "LambdaFunctionSucceeded",
                        5_000,
                        Some(promote_answer(
                            "orders",
                            "started",
                            "2026-03-01T10:00:04.000Z",
                        )),
                    ),
                ],
                Some(("2026-03-01T10:00:04.000Z", CutSource::PromotionRequest)),
            ),
            // Only in a state's output (`$.promote` of a Map iteration), and carried on later:
            // the earliest wins, the other database's does not count.
            (
                vec![
                    started.clone(),
                    output_event(
                        "TaskStateExited",
                        5_000,
                        Some(json!({"database": {"name": "orders"},
                                    "promote": promote_answer("orders", "started", "2026-03-01T10:00:04.000Z")})),
                    ),
                    output_event(
                        "MapStateExited",
                        9_000,
                        Some(json!({"results": {"databases": [
                            {"promote": promote_answer("billing", "started", "2026-03-01T10:00:01.000Z")},
                            {"promote": promote_answer("orders", "started", "2026-03-01T10:00:04.000Z")}]}})),
                    ),
                ],
                Some(("2026-03-01T10:00:04.000Z", CutSource::PromotionRequest)),
            ),
            // Answers that asked for nothing, and unreadable times, are not the request: the
            // execution's start is (a little earlier, so no write after the cut is left out).
            (
                vec![
                    started.clone(),
                    output_event(
                        "LambdaFunctionSucceeded",
                        5_000,
                        Some(promote_answer(
                            "orders",
                            "inProgress",
                            "2026-03-01T10:00:04.000Z",
                        )),
                    ),
                    output_event(
                        "LambdaFunctionSucceeded",
                        6_000,
                        Some(promote_answer("orders", "started", "soon")),
                    ),
                    output_event(
                        "LambdaFunctionSucceeded",
                        7_000,
                        Some(promote_answer(
                            "billing",
                            "started",
                            "2026-03-01T10:00:04.000Z",
                        )),
                    ),
                ],
                Some(("1970-01-01T00:00:01Z", CutSource::ExecutionStart)),
            ),
            (vec![], None),
        ];
        for (events, expected) in cases {
            let got = promotion_requested_at(&events, "orders");
            let got = got.as_ref().map(|(t, source)| (t.0.as_str(), *source));
            assert_eq!(got, expected, "{events:?}");
        }
    }

    fn kept(side: Option<Side>, database: Option<&str>, latest: Option<&str>) -> KeptInstance {
        KeptInstance {
            database: database.map(str::to_string),
            side,
            instance_id: "orders-db-old-1a2b3c4d".into(),
            region: "us-east-1".into(),
            status: "available".into(),
            renamed_from: "orders-db".into(),
            renamed_by: Some("arn:aws:states:us-west-2:1:execution:fb:fb-1".into()),
            kept_since: Some("2026-03-02T08:00:00Z".into()),
            replication_cut_by: Some("arn:aws:states:us-west-2:1:execution:fo:fo-1".into()),
            latest_restorable_time: latest.map(str::to_string),
        }
    }

    #[test]
    fn only_old_primaries_of_configured_databases_are_listed_with_what_they_may_hold() {
        let cut = Timestamp("2026-03-01T10:00:00.000Z".into());
        let after = Some("2026-03-01T10:05:00.000Z");
        let before = Some("2026-03-01T09:59:00.000Z");
        let cases: Vec<(KeptInstance, Option<&Timestamp>, Option<bool>)> = vec![
            (
                kept(Some(Side::Primary), Some("orders"), after),
                Some(&cut),
                Some(true),
            ),
            (
                kept(Some(Side::Primary), Some("orders"), before),
                Some(&cut),
                Some(false),
            ),
            // Nothing recorded about the cut, or no restorable time: it may.
            (
                kept(Some(Side::Primary), Some("orders"), before),
                None,
                Some(true),
            ),
            (
                kept(Some(Side::Primary), Some("orders"), None),
                Some(&cut),
                Some(true),
            ),
            // A promoted standby renamed at re-protect is no old primary; nor is an instance whose
            // database left the configuration (readiness still lists both).
            (
                kept(Some(Side::Standby), Some("orders"), after),
                Some(&cut),
                None,
            ),
            (kept(Some(Side::Primary), None, after), Some(&cut), None),
            (kept(None, Some("orders"), after), Some(&cut), None),
        ];
        for (instance, since, expected) in cases {
            let got = kept_old_primary(&instance, since);
            assert_eq!(
                got.as_ref().map(|k| k.may_hold_unreplicated_writes),
                expected,
                "{instance:?} {since:?}"
            );
            if let Some(entry) = got {
                assert_eq!(entry.renamed_from, "orders-db");
                assert_eq!(entry.kept_since.as_deref(), Some("2026-03-02T08:00:00Z"));
                assert_eq!(
                    entry.unreplicated_writes_since.as_deref(),
                    since.map(|t| t.0.as_str())
                );
                assert!(
                    entry
                        .reconcile
                        .contains("--final-db-snapshot-identifier orders-db-old-1a2b3c4d-final"),
                    "{}",
                    entry.reconcile
                );
            }
        }
    }

    #[test]
    fn a_kept_old_primary_has_exactly_the_documented_fields() {
        let entry = kept_old_primary(
            &kept(Some(Side::Primary), Some("orders"), None),
            Some(&Timestamp("2026-03-01T10:00:00.000Z".into())),
        )
        .unwrap();
        let value = serde_json::to_value(&entry).unwrap();
        let keys: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let expected = vec![
            "database",
            "instanceId",
            "region",
            "renamedFrom",
            "keptSince",
            "latestRestorableTime",
            "unreplicatedWritesSince",
            "mayHoldUnreplicatedWrites",
            "reconcile",
        ];
        assert_eq!(
            keys, expected,
            "the documented fields, in the documented order"
        );
        assert_eq!(value["latestRestorableTime"], Value::Null);
        assert_eq!(value["mayHoldUnreplicatedWrites"], json!(true));
        // In the report: present when computed (a failback), absent otherwise.
        let mut failback = report("succeeded");
        failback.kind = "failback".into();
        failback.kept_old_primaries = Some(vec![]);
        let document = serde_json::to_value(&failback).unwrap();
        assert_eq!(document["keptOldPrimaries"], json!([]));
        assert!(serde_json::to_value(report("succeeded"))
            .unwrap()
            .get("keptOldPrimaries")
            .is_none());
    }

    #[test]
    fn the_text_names_each_kept_old_primary_and_says_none_when_there_is_none() {
        let mut failback = report("succeeded");
        failback.kind = "failback".into();
        failback.kept_old_primaries = Some(vec![]);
        assert!(render_text(&failback).contains("Kept old primaries: none"));
        failback.kept_old_primaries = Some(vec![kept_old_primary(
            &kept(
                Some(Side::Primary),
                Some("orders"),
                Some("2026-03-01T10:05:00.000Z"),
            ),
            Some(&Timestamp("2026-03-01T10:00:00.000Z".into())),
        )
        .unwrap()]);
        let text = render_text(&failback);
        assert!(text.contains("Kept old primaries (1)"), "{text}");
        assert!(
            text.contains("orders-db-old-1a2b3c4d [orders] in us-east-1, renamed from orders-db"),
            "{text}"
        );
        assert!(text.contains("MAY HOLD WRITES"), "{text}");
        assert!(text.contains("→ copy into orders-db"), "{text}");
        assert!(!render_text(&report("succeeded")).contains("Kept old primaries"));
    }

    #[test]
    fn a_failback_report_needs_the_configuration() {
        let event = |kind: &str, config: Option<Value>| {
            let mut e = json!({"action": "publish", "env": "prod", "kind": kind,
                               "outcome": "succeeded",
                               "executionArn": "arn:aws:states:us-west-2:1:execution:m:e"});
            if let Some(config) = config {
                e["config"] = config;
            }
            e
        };
        let config = json!({"env": "prod", "regions": {"primary": "us-east-1", "standby": "us-west-2"},
                            "databases": [{"name": "orders", "primaryInstanceId": "orders-db",
                                           "replicaInstanceId": "orders-db-dr"}],
                            "computeGroups": [], "poll": {}});
        let cases: Vec<(Value, Result<(), &str>)> = vec![
            (event("failback", Some(config.clone())), Ok(())),
            (event("failover", None), Ok(())),
            (event("failback", None), Err("config")),
            (
                event(
                    "failback",
                    Some(json!({"regions": {"primary": "nowhere", "standby": "us-west-2"}})),
                ),
                Err("config.regions.primary"),
            ),
            (
                event("failback", Some(json!({"databases": []}))),
                Err("config.regions"),
            ),
        ];
        for (input, expected) in cases {
            let got = parse_input(input.clone()).map(|_| ()).map_err(|e| match e {
                PilotLightError::InvalidInput { field, .. } => field,
                other => other.to_string(),
            });
            assert_eq!(
                got.as_ref().map(|_| ()).map_err(String::as_str),
                expected,
                "{input}"
            );
        }
    }
}
