//! The `pilot-light` operator CLI: the parts worth testing without a terminal. `main.rs` parses the
//! command line and its `commands` carry it out and print; this library names executions, reads
//! histories, follows executions and turns every error into one line and an exit code scripts can
//! rely on ([`exit`]).
//!
//! Layout: this file holds the exit codes, the errors, the names, the execution reports and their
//! timelines; following an execution live is in `follow`.

mod follow;

pub use follow::{follow, Progress};

use aws_sdk_sfn::types::ExecutionStatus;
use pilot_light_core::execution_history::{
    build_timeline, describe_execution, fetch_history, format_duration, HistoryEvent, TimelineStep,
};
use pilot_light_core::{EnvName, PilotLightError};
use serde::Serialize;
use serde_json::Value;
use std::time::SystemTime;

/// Exit codes. Scripts may rely on these.
pub mod exit {
    /// Done: ready (`status`), the execution succeeded (`failover`, `failback`), found (`report`).
    pub const OK: i32 = 0;
    /// The command could not do its job: bad input, AWS unreachable, no credentials, not found.
    pub const ERROR: i32 = 1;
    /// The command line itself is wrong (clap's usage errors).
    pub const USAGE: i32 = 2;
    /// The answer is "no": a readiness check failed, or the execution did not succeed.
    pub const NOT_OK: i32 = 3;
}

/// What `unlock` does with a lock, from its holder's execution status (`None`: no such execution,
/// or a holder that is no execution ARN).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnlockDecision {
    /// The holder stopped (succeeded, failed, timed out, aborted) or never existed: remove the lock.
    Remove,
    /// The holder still runs: keep the lock (stop the execution first, or let it finish).
    KeepRunning,
}

/// Decides `unlock`: only a lock whose holder is not running is removed.
pub fn decide_unlock(holder_status: Option<&str>) -> UnlockDecision {
    match holder_status {
        Some("RUNNING") | Some("PENDING_REDRIVE") => UnlockDecision::KeepRunning,
        _ => UnlockDecision::Remove,
    }
}

/// An error for the operator: one line, and the exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    pub message: String,
    pub code: i32,
}

impl CliError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: one_line(&message.into()),
            code: exit::ERROR,
        }
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// At most 400 characters on one line.
pub fn one_line(text: &str) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > 400 {
        let mut cut: String = flat.chars().take(399).collect();
        cut.push('…');
        cut
    } else {
        flat
    }
}

/// A handler-library error, said for an operator at a terminal: what is wrong and what to try.
pub fn explain(err: &PilotLightError, env: &str, region: &str) -> CliError {
    let text = err.to_string();
    let lower = text.to_ascii_lowercase();
    let message = match err {
        PilotLightError::ResourceNotFound { kind, id, region } if kind == "Parameter" => format!(
            "no configuration for env `{env}` in {region} ({id} not found): is the stack deployed there? --region must be the standby region"
        ),
        _ if lower.contains("credential") => format!(
            "no usable AWS credentials: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY ({})",
            short_cause(&text)
        ),
        PilotLightError::AwsServiceError { code, .. }
            if [
                "UnrecognizedClientException",
                "InvalidClientTokenId",
                "ExpiredToken",
                "ExpiredTokenException",
                "InvalidSignatureException",
                "SignatureDoesNotMatch",
                "AccessDenied",
                "AccessDeniedException",
            ]
            .contains(&code.as_str()) =>
        {
            format!("AWS refused the request in {region}: {text}")
        }
        PilotLightError::AwsUnavailable { .. } => format!(
            "cannot reach AWS in {region}{}: {}",
            endpoint_note(),
            short_cause(&text)
        ),
        _ => text,
    };
    CliError::new(message)
}

/// ` at http://…` when `AWS_ENDPOINT_URL` points somewhere (the local emulator).
fn endpoint_note() -> String {
    std::env::var("AWS_ENDPOINT_URL")
        .ok()
        .filter(|e| !e.is_empty())
        .map(|e| format!(" at {e}"))
        .unwrap_or_default()
}

/// The last two parts of an error chain (`a: b: c: d` → `c: d`): the useful end.
fn short_cause(text: &str) -> String {
    let parts: Vec<&str> = text.split(": ").collect();
    let start = parts.len().saturating_sub(2);
    parts[start..].join(": ")
}

/// What to start: failover or failback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Failover,
    Failback,
    /// The non-disruptive drill: throw-away copies in the standby, measured, torn down.
    Drill,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Failover => "failover",
            Self::Failback => "failback",
            Self::Drill => "drill",
        }
    }

    pub fn state_machine_name(self, env: &str) -> String {
        match self {
            Self::Failover => pilot_light_domain::readiness::failover_state_machine_name(env),
            Self::Failback => pilot_light_domain::readiness::failback_state_machine_name(env),
            Self::Drill => pilot_light_domain::readiness::drill_state_machine_name(env),
        }
    }
}

/// The execution name: `<kind>-<env>-<ticket>` with a ticket, else `<kind>-<env>-<yyyymmddhhmm>`
/// (the UTC minute), so a double click in the same minute starts one execution.
pub fn execution_name(
    kind: Kind,
    env: &str,
    ticket: Option<&str>,
    now: SystemTime,
) -> Result<String, CliError> {
    let suffix = match ticket {
        Some(ticket) => {
            let ok = !ticket.is_empty()
                && ticket.len() <= 40
                && ticket
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !ok {
                return Err(CliError::new(format!(
                    "--ticket `{ticket}` must be 1–40 letters, digits, `-` or `_`"
                )));
            }
            ticket.to_string()
        }
        None => utc_minute(now),
    };
    let name = format!("{}-{env}-{suffix}", kind.name());
    if name.len() > 80 {
        return Err(CliError::new(format!(
            "execution name `{name}` is longer than Step Functions allows (80)"
        )));
    }
    Ok(name)
}

/// `yyyymmddhhmm` in UTC.
pub fn utc_minute(now: SystemTime) -> String {
    let stamp = pilot_light_core::Timestamp::from_system_time(now).0;
    stamp
        .chars()
        .filter(char::is_ascii_digit)
        .take(12)
        .collect()
}

/// The execution ARN of `name` on the state machine `state_machine_arn`.
pub fn execution_arn(state_machine_arn: &str, name: &str) -> String {
    format!(
        "{}:{name}",
        state_machine_arn.replacen(":stateMachine:", ":execution:", 1)
    )
}

/// Checks a region name given on the command line.
pub fn check_region(region: &str) -> Result<(), CliError> {
    pilot_light_core::clients::validate_region(region)
        .map_err(|reason| CliError::new(format!("--region: {reason}")))
}

/// Reads `--env` (or `PILOT_LIGHT_ENV`) into an [`EnvName`] (clap's `value_parser`): the rule the
/// handlers and the configuration apply ([`pilot_light_core::env_name`]), so a name the CLI accepts
/// is never refused later. A bad name is a usage error whose reason is the rule.
pub fn parse_env(env: &str) -> Result<EnvName, String> {
    env.parse()
        .map_err(|_| pilot_light_core::env_name::ENV_NAME_RULE.to_string())
}

// ------------------------------------------------------------------------------------------------
// Executions

/// An execution as `DescribeExecution` shows it, plus its timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionReport {
    pub execution_arn: String,
    pub state_machine_arn: String,
    pub name: String,
    pub status: String,
    pub started_at: pilot_light_core::Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped_at: Option<pilot_light_core::Timestamp>,
    /// The report's RTO when the execution output has one (execution start → report), else start →
    /// stop (or → now while running).
    pub rto_seconds: f64,
    pub steps: Vec<TimelineStep>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// The execution output (the report of a finished failover or failback).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
}

impl ExecutionReport {
    pub fn succeeded(&self) -> bool {
        self.status == ExecutionStatus::Succeeded.as_str()
    }
}

/// Describes an execution and builds its timeline from its history (with `report`'s code, so the
/// CLI and the execution's own report agree). Unknown → `ResourceNotFound` (kind `Execution`).
pub async fn describe(
    sfn: &aws_sdk_sfn::Client,
    execution_arn: &str,
    region: &str,
) -> Result<ExecutionReport, PilotLightError> {
    let described = describe_execution(sfn, execution_arn, region, "execution").await?;
    let history = fetch_history(sfn, execution_arn, region).await?;
    let events: Vec<HistoryEvent> = history.iter().map(HistoryEvent::from_sfn).collect();
    let started = described.start_date().to_millis().unwrap_or_default();
    let stopped = described.stop_date().and_then(|d| d.to_millis().ok());
    let output = described
        .output()
        .and_then(|o| serde_json::from_str::<Value>(o).ok());
    let now = pilot_light_core::step::now_millis();
    let rto_seconds = output
        .as_ref()
        .and_then(|o| o.get("rtoSeconds"))
        .and_then(Value::as_f64)
        .unwrap_or_else(|| {
            pilot_light_core::execution_history::seconds_between(started, stopped.unwrap_or(now))
        });
    Ok(ExecutionReport {
        execution_arn: execution_arn.to_string(),
        state_machine_arn: described.state_machine_arn().to_string(),
        name: described.name().unwrap_or_default().to_string(),
        status: described.status().as_str().to_string(),
        started_at: pilot_light_core::execution_history::timestamp_from_millis(started),
        stopped_at: stopped.map(pilot_light_core::execution_history::timestamp_from_millis),
        rto_seconds,
        steps: build_timeline(&events),
        error: described.error().map(str::to_string),
        cause: described.cause().map(str::to_string),
        output,
    })
}

/// The timeline as a table: offset from the execution start, duration, state and item.
pub fn render_timeline(report: &ExecutionReport, verbose: bool) -> String {
    let start = report
        .steps
        .iter()
        .map(|s| s.entered_millis)
        .min()
        .unwrap_or_default();
    let start = parse_millis(&report.started_at.0).unwrap_or(start);
    let mut text = format!(
        "{}  {}\n  started {}{}\n\n  {:>8}  {:>9}  state\n",
        report.name,
        report.status,
        report.started_at.0,
        report
            .stopped_at
            .as_ref()
            .map(|s| format!(", stopped {}", s.0))
            .unwrap_or_default(),
        "at",
        "took",
    );
    for row in pilot_light_core::execution_history::steps_to_show(&report.steps, verbose) {
        text.push_str(&format!(
            "  {:>8}  {:>8.1}s  {}{}{}\n",
            clock(row.entered_millis - start),
            row.duration_seconds,
            row.state,
            row.item.map(|i| format!(" [{i}]")).unwrap_or_default(),
            if row.runs > 1 {
                format!(" ({} runs)", row.runs)
            } else {
                String::new()
            }
        ));
    }
    text.push_str(&format!(
        "\n  RTO {} ({:.1} s){}\n",
        format_duration(report.rto_seconds),
        report.rto_seconds,
        if report
            .output
            .as_ref()
            .and_then(|o| o.get("rtoSeconds"))
            .is_some()
        {
            ", execution start → report"
        } else {
            ""
        }
    ));
    if let Some(traffic) = report
        .output
        .as_ref()
        .and_then(|o| o.get("trafficSwitchedSeconds"))
        .and_then(serde_json::Value::as_f64)
    {
        text.push_str(&format!(
            "  traffic on the recovered region after {} ({traffic:.1} s)\n",
            format_duration(traffic)
        ));
    }
    if let Some(error) = &report.error {
        text.push_str(&format!(
            "  error {error}: {}\n",
            report
                .cause
                .as_deref()
                .map(pilot_light_core::execution_history::summarise_cause)
                .unwrap_or_default()
        ));
    }
    text
}

/// Epoch milliseconds of an RFC 3339 timestamp.
fn parse_millis(text: &str) -> Option<i64> {
    aws_sdk_sfn::primitives::DateTime::from_str(
        text,
        aws_sdk_sfn::primitives::DateTimeFormat::DateTime,
    )
    .ok()
    .and_then(|d| d.to_millis().ok())
}

/// `mm:ss` (or `h:mm:ss`) of a millisecond offset.
pub fn clock(offset_millis: i64) -> String {
    let total = offset_millis.max(0) / 1000;
    let (h, m, s) = (total / 3600, total % 3600 / 60, total % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m:02}:{s:02}")
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn only_a_lock_of_a_stopped_or_unknown_execution_is_removed() {
        for (status, expected) in [
            (Some("RUNNING"), UnlockDecision::KeepRunning),
            (Some("PENDING_REDRIVE"), UnlockDecision::KeepRunning),
            (Some("SUCCEEDED"), UnlockDecision::Remove),
            (Some("FAILED"), UnlockDecision::Remove),
            (Some("TIMED_OUT"), UnlockDecision::Remove),
            (Some("ABORTED"), UnlockDecision::Remove),
            (None, UnlockDecision::Remove),
        ] {
            assert_eq!(decide_unlock(status), expected, "{status:?}");
        }
    }

    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn execution_names_are_deterministic() {
        let t = UNIX_EPOCH + Duration::from_secs(1_767_225_599); // 2025-12-31T23:59:59Z
        assert_eq!(
            execution_name(Kind::Failover, "prod", None, t).unwrap(),
            "failover-prod-202512312359"
        );
        assert_eq!(
            execution_name(Kind::Failover, "prod", None, t + Duration::from_secs(1)).unwrap(),
            "failover-prod-202601010000"
        );
        assert_eq!(
            execution_name(Kind::Failback, "prod", Some("INC-42"), t).unwrap(),
            "failback-prod-INC-42"
        );
        for bad in ["", "has space", "x/y", &"a".repeat(41)] {
            assert!(
                execution_name(Kind::Failover, "prod", Some(bad), t).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn execution_arns_from_state_machine_arns() {
        assert_eq!(
            execution_arn(
                "arn:aws:states:us-west-2:123456789012:stateMachine:pilot-light-prod-failover",
                "failover-prod-1"
            ),
            "arn:aws:states:us-west-2:123456789012:execution:pilot-light-prod-failover:failover-prod-1"
        );
    }

    #[test]
    fn errors_are_one_line_with_a_hint() {
        let missing = PilotLightError::ResourceNotFound {
            kind: "Parameter".into(),
            id: "/pilot-light/prod/config".into(),
            region: "us-east-1".into(),
        };
        let e = explain(&missing, "prod", "us-east-1");
        assert!(e
            .message
            .starts_with("no configuration for env `prod` in us-east-1"));
        assert_eq!(e.code, exit::ERROR);
        let unreachable = PilotLightError::AwsUnavailable {
            operation: "GetParameter".into(),
            message: "dispatch failure: io error: client error (Connect):\n tcp connect error: Connection refused".into(),
        };
        let e = explain(&unreachable, "prod", "us-west-2");
        assert!(
            e.message.starts_with("cannot reach AWS in us-west-2"),
            "{e}"
        );
        assert!(!e.message.contains('\n'));
        let creds = PilotLightError::AwsUnavailable {
            operation: "GetParameter".into(),
            message: "dispatch failure: other: no credentials in the property bag".into(),
        };
        assert!(explain(&creds, "prod", "us-west-2")
            .message
            .starts_with("no usable AWS credentials"));
        assert_eq!(one_line(&"x".repeat(500)).chars().count(), 400);
    }

    #[test]
    fn regions_and_envs_are_checked() {
        assert!(check_region("us-west-2").is_ok());
        assert!(check_region("uswest2").is_err());
        assert_eq!(parse_env("prod-1").unwrap(), "prod-1");
        assert!(parse_env("").is_err());
        assert!(parse_env("a b").is_err());
        assert_eq!(
            parse_env("Prod_1").unwrap_err(),
            pilot_light_core::env_name::ENV_NAME_RULE,
            "refused by the handlers: refused here"
        );
    }

    #[test]
    fn clocks() {
        assert_eq!(clock(0), "00:00");
        assert_eq!(clock(61_500), "01:01");
        assert_eq!(clock(3_661_000), "1:01:01");
        assert_eq!(clock(-5), "00:00");
    }

    fn event(
        id: i64,
        previous: i64,
        kind: aws_sdk_sfn::types::HistoryEventType,
        state: Option<&str>,
        input: Option<&str>,
        millis: i64,
    ) -> aws_sdk_sfn::types::HistoryEvent {
        use aws_sdk_sfn::types::{StateEnteredEventDetails, StateExitedEventDetails};
        let mut builder = aws_sdk_sfn::types::HistoryEvent::builder()
            .id(id)
            .previous_event_id(previous)
            .r#type(kind.clone())
            .timestamp(aws_sdk_sfn::primitives::DateTime::from_millis(millis));
        if let Some(state) = state {
            if kind.as_str().ends_with("Entered") {
                let mut details = StateEnteredEventDetails::builder().name(state);
                if let Some(input) = input {
                    details = details.input(input);
                }
                builder = builder.state_entered_event_details(details.build().unwrap());
            } else {
                builder = builder.state_exited_event_details(
                    StateExitedEventDetails::builder()
                        .name(state)
                        .build()
                        .unwrap(),
                );
            }
        }
        builder.build().unwrap()
    }

    #[test]
    fn progress_prints_each_step_once() {
        use aws_sdk_sfn::types::HistoryEventType as T;
        let mut history = vec![
            event(1, 0, T::ExecutionStarted, None, None, 1_000),
            event(
                2,
                1,
                T::TaskStateEntered,
                Some("BeginFailover"),
                Some("{}"),
                1_000,
            ),
        ];
        let mut progress = Progress::verbose();
        assert_eq!(
            progress.lines(&history, 1_000),
            vec!["[00:00] → BeginFailover".to_string()]
        );
        history.push(event(
            3,
            2,
            T::TaskStateExited,
            Some("BeginFailover"),
            None,
            3_500,
        ));
        history.push(event(
            4,
            3,
            T::TaskStateEntered,
            Some("Promote"),
            Some(r#"{"database":{"name":"orders"}}"#),
            3_500,
        ));
        history.push(event(
            5,
            4,
            T::ChoiceStateEntered,
            Some("Done?"),
            None,
            64_000,
        ));
        history.push(event(
            6,
            5,
            T::ChoiceStateExited,
            Some("Done?"),
            None,
            64_000,
        ));
        assert_eq!(
            progress.lines(&history, 1_000),
            vec![
                "[00:02] ✓ BeginFailover (2.5s)".to_string(),
                "[00:02] → Promote [orders]".to_string(),
                "[01:03] ✓ Done? (0.0s)".to_string(),
            ]
        );
        assert!(progress.lines(&history, 1_000).is_empty());
    }

    #[test]
    fn progress_folds_a_poll_loop_into_its_check() {
        use aws_sdk_sfn::types::HistoryEventType as T;
        let orders = Some(r#"{"database":{"name":"orders"}}"#);
        // Each state: (entered, exited) events, chained; (kind entered, kind exited, name, t0, t1).
        let states = [
            (
                T::PassStateEntered,
                T::PassStateExited,
                "StartPromotionPolling",
                1_000,
                1_000,
            ),
            (
                T::TaskStateEntered,
                T::TaskStateExited,
                "CheckPromotion",
                1_000,
                1_200,
            ),
            (
                T::PassStateEntered,
                T::PassStateExited,
                "CountPromotionAttempt",
                1_200,
                1_200,
            ),
            (
                T::ChoiceStateEntered,
                T::ChoiceStateExited,
                "IsPromotionDone",
                1_200,
                1_200,
            ),
            (
                T::WaitStateEntered,
                T::WaitStateExited,
                "WaitForPromotion",
                1_200,
                2_200,
            ),
            (
                T::TaskStateEntered,
                T::TaskStateExited,
                "CheckPromotion",
                2_200,
                2_500,
            ),
            (
                T::PassStateEntered,
                T::PassStateExited,
                "CountPromotionAttempt",
                2_500,
                2_500,
            ),
            (
                T::ChoiceStateEntered,
                T::ChoiceStateExited,
                "IsPromotionDone",
                2_500,
                2_500,
            ),
        ];
        let mut history = vec![event(1, 0, T::ExecutionStarted, None, None, 1_000)];
        let count = states.len();
        for (entered, exited, name, t0, t1) in states {
            let id = history.len() as i64 + 1;
            history.push(event(id, id - 1, entered, Some(name), orders, t0));
            history.push(event(id + 1, id, exited, Some(name), None, t1));
        }
        let lines = Progress::default().lines(&history, 1_000);
        assert_eq!(
            lines,
            vec![
                "[00:00] → CheckPromotion [orders]".to_string(),
                "[00:00] ✓ CheckPromotion [orders] (0.2s)".to_string(),
                "[00:01] ✓ CheckPromotion [orders] (0.3s, run 2)".to_string(),
            ]
        );
        let every_state = Progress::verbose().lines(&history, 1_000);
        assert_eq!(every_state.len(), 2 + count, "{every_state:#?}");
    }
}
