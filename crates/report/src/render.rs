//! The renderings of a report: the RTO, SNS subjects, the text for e-mail subscribers, the structured
//! SNS message, and the CloudWatch Embedded Metric Format lines. Pure: no AWS calls.

use crate::kept::render_kept_old_primaries;
use crate::{capacity, Report};
use pilot_light_core::execution_history::{format_duration, seconds_between, TimelineStep};
use pilot_light_core::PilotLightError;
use serde_json::{json, Value};
use std::collections::BTreeMap;

use pilot_light_core::metrics::emf_line;
/// The CloudWatch namespace of the EMF metrics.
pub use pilot_light_core::metrics::METRIC_NAMESPACE;

/// SNS subjects must be shorter than 100 characters.
pub const MAX_SUBJECT_CHARS: usize = 99;

/// Most values one EMF metric may carry in one line.
const MAX_EMF_VALUES: usize = 100;

/// SNS messages are at most 256 KiB; stay well below with the whole structured message.
const MAX_MESSAGE_BYTES: usize = 200 * 1024;

/// The RTO: execution start → finish of the report.
pub fn recovery_time_seconds(execution_started_millis: i64, report_finished_millis: i64) -> f64 {
    seconds_between(execution_started_millis, report_finished_millis)
}

/// The states that move traffic: the switch (either way) and its poll until Route 53 says INSYNC.
pub const TRAFFIC_STATES: &[&str] = &["SwitchTraffic", "SwitchTrafficBack", "CheckDns"];

/// Seconds from the execution's start until traffic was on the recovered region: the last exit of
/// a [`TRAFFIC_STATES`] state (`None` when none ran to its end).
pub fn traffic_switched_seconds(
    execution_started_millis: i64,
    steps: &[TimelineStep],
) -> Option<f64> {
    steps
        .iter()
        .filter(|s| TRAFFIC_STATES.contains(&s.state.as_str()))
        .map(|s| s.exited_millis)
        .max()
        .map(|exited| seconds_between(execution_started_millis, exited))
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

/// The CloudWatch Embedded Metric Format lines of a report: `RecoveryTimeSeconds` (dimensions
/// Env, Kind) when the outcome is `succeeded` (a recovery that did not happen has no recovery time),
/// and `StepDurationSeconds` (dimensions Env, Kind, State) for every step, the values of one state
/// in one line (at most 100 per line).
pub fn emf_lines(report: &Report, now_millis: i64) -> Vec<Value> {
    let mut lines = Vec::new();
    if report.outcome == "succeeded" {
        lines.push(emf_line(
            now_millis,
            &["Env", "Kind"],
            &[("RecoveryTimeSeconds", "Seconds")],
            json!({
            "Env": report.env,
            "Kind": report.kind,
            "Outcome": report.outcome,
            "ExecutionArn": report.execution_arn,
            "RecoveryTimeSeconds": report.rto_seconds,
            }),
        ));
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
            lines.push(emf_line(
                now_millis,
                &["Env", "Kind", "State"],
                &[("StepDurationSeconds", "Seconds")],
                json!({
                "Env": report.env,
                "Kind": report.kind,
                "State": state,
                "Outcome": report.outcome,
                "ExecutionArn": report.execution_arn,
                "StepDurationSeconds": value,
                }),
            ));
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
    if let Some(traffic) = report.traffic_switched_seconds {
        text.push_str(&format!(
            "Traffic:   on the recovered region {traffic:.1} s after the start ({})\n",
            format_duration(traffic)
        ));
    }
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

pub(crate) fn report_message(report: &Report) -> Result<String, PilotLightError> {
    let mut copy = report.clone();
    loop {
        let subject = report_subject(&copy.env, &copy.kind, &copy.outcome, copy.rto_seconds);
        let document = pilot_light_core::step::to_json_value(&copy)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::report;

    #[test]
    fn traffic_is_switched_when_the_last_dns_step_ends() {
        let mut steps = crate::tests::steps();
        assert_eq!(traffic_switched_seconds(0, &steps), None);
        let step =
            |state: &str, from: i64, to: i64| TimelineStep::ran(state, "Task", None, from, to);
        let switch = step("SwitchTraffic", 6_400, 6_700);
        let polls = [
            step("CheckDns", 6_800, 6_900),
            step("CheckDns", 8_900, 9_000),
        ];
        steps.push(switch.clone());
        assert_eq!(traffic_switched_seconds(0, &steps), Some(6.7));
        steps.extend(polls);
        assert_eq!(traffic_switched_seconds(0, &steps), Some(9.0));
        assert_eq!(traffic_switched_seconds(1_000, &steps), Some(8.0));
        let back = [step("SwitchTrafficBack", 100, 2_500)];
        assert_eq!(traffic_switched_seconds(0, &back), Some(2.5));
        let mut r = report("succeeded");
        r.traffic_switched_seconds = Some(301.5);
        assert!(
            render_text(&r)
                .contains("Traffic:   on the recovered region 301.5 s after the start (5m 2s)"),
            "{}",
            render_text(&r)
        );
        r.traffic_switched_seconds = None;
        assert!(!render_text(&r).contains("Traffic:"));
    }

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
}
