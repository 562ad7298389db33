//! The failure alert of `notifyFailure`: its text for people, and the run (and the commands that
//! start it) that restores service or completes what was begun. Pure: no AWS calls.

use crate::NotifyFailureInput;
use pilot_light_core::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ReportAction;

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
            env: "prod".parse().unwrap(),
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
}
