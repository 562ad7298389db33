//! Decoding and validating an event before any AWS call: the action, then its input's tokens, ARNs,
//! topic and configuration.

use crate::approval;
use crate::{NotifyFailureInput, PublishInput, ReportAction, ReportInput, ACTIONS};
use pilot_light_core::clients::validate_region;
use pilot_light_core::execution_history::arn_region;
use pilot_light_core::step::ActionOnly;
use pilot_light_core::{parse_step_input, PilotLightError};
use serde_json::Value;

/// Decodes and validates an event without calling AWS: `UnknownAction`, or `InvalidInput` naming the
/// field (`executionArn`, `topicArn`, `outcome`, …).
pub fn parse_input(event: Value) -> Result<ReportInput, PilotLightError> {
    let ActionOnly::<ReportAction> { action } = parse_step_input(event.clone(), ACTIONS)?;
    match action {
        ReportAction::Publish => {
            let input: PublishInput = parse_step_input(event, ACTIONS)?;
            check_token("kind", &input.kind, 32)?;
            check_token("outcome", &input.outcome, 32)?;
            check_arn("executionArn", &input.execution_arn, "states")?;
            topic(input.topic_arn.as_deref())?;
            check_config_scope(&input)?;
            Ok(ReportInput::Publish(input))
        }
        ReportAction::NotifyFailure => {
            let input: NotifyFailureInput = parse_step_input(event, ACTIONS)?;
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

/// The topic to publish to, if any (`""` is none), validated.
pub(crate) fn topic(topic_arn: Option<&str>) -> Result<Option<(&str, &str)>, PilotLightError> {
    match topic_arn.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(arn) => Ok(Some((arn, check_arn("topicArn", arn, "sns")?))),
    }
}

pub(crate) fn check_token(field: &str, value: &str, max: usize) -> Result<(), PilotLightError> {
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
pub(crate) fn check_config_scope(input: &PublishInput) -> Result<(), PilotLightError> {
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

pub(crate) fn check_arn<'a>(
    field: &str,
    arn: &'a str,
    service: &str,
) -> Result<&'a str, PilotLightError> {
    arn_region(arn, service).map_err(|reason| PilotLightError::InvalidInput {
        field: field.into(),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
