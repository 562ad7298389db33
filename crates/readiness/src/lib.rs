//! `readiness`: the scheduled check of whether a failover (or, while the standby serves, a failback)
//! would work right now. The checks themselves are the domain layer's
//! ([`pilot_light_domain::readiness`], which `pilot-light status` runs too); the handler adds what
//! only the schedule needs: an EMF line (`ReadinessFailures`, `ReadinessWarnings`), the last overall
//! result kept in `/pilot-light/<env>/readiness`, and an SNS message only when the overall result
//! changed.
//!
//! Layout: one file, the handler around the domain layer's checks.

use pilot_light_core::parameters::get_parameter_value as get_parameter;
use pilot_light_core::{EnvName, PilotLightError, StepStatus, Timestamp};
use pilot_light_domain::readiness::{
    checks, readiness_parameter_name, render_text, run_checks, CheckStatus, Clients,
    ReadinessReport,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

// ------------------------------------------------------------------------------------------------
// The scheduled handler

/// What the scheduled check keeps between runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LastResult {
    pub overall: CheckStatus,
    pub checked_at: Timestamp,
    #[serde(default)]
    pub failing: Vec<String>,
}

/// The handler's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadinessOutput {
    pub action: &'static str,
    pub status: StepStatus,
    #[serde(flatten)]
    pub report: ReadinessReport,
    /// The overall result of the previous run (`None`: first run).
    pub previous: Option<CheckStatus>,
    /// SNS message ids, when the overall result changed and a topic is configured.
    pub published: Vec<String>,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    pub resources: Vec<String>,
}

/// The EMF line of a run: `ReadinessFailures` and `ReadinessWarnings` (Count), dimension `Env`.
pub fn emf_line(report: &ReadinessReport, now_millis: i64) -> Value {
    pilot_light_core::metrics::emf_line(
        now_millis,
        &["Env"],
        &[
            ("ReadinessFailures", "Count"),
            ("ReadinessWarnings", "Count"),
        ],
        json!({
            "Env": report.env,
            "Overall": report.overall.name(),
            "ReadinessFailures": report.count(CheckStatus::Fail),
            "ReadinessWarnings": report.count(CheckStatus::Warn),
        }),
    )
}

/// The SNS subject: `pilot-light prod readiness: FAIL (2 failing, was pass)`.
pub fn notification_subject(report: &ReadinessReport, previous: Option<CheckStatus>) -> String {
    let failing = report.count(CheckStatus::Fail);
    let detail = if failing > 0 {
        format!("{failing} failing, ")
    } else {
        String::new()
    };
    let subject = format!(
        "pilot-light {} readiness: {} ({detail}was {})",
        report.env,
        report.overall.name().to_uppercase(),
        previous.unwrap_or(CheckStatus::Pass).name()
    );
    subject.chars().take(99).collect()
}

/// Decodes the event: a manual `{env?, region?}` or the EventBridge `Scheduled Event` (whose other
/// fields are ignored). `env` defaults to the function's `PILOT_LIGHT_ENV`; either must be an
/// environment name (`InvalidInput` at `env`).
pub fn parse_target(
    event: &Value,
    clients: &Clients,
) -> Result<(EnvName, String), PilotLightError> {
    let text = |key: &str| event.get(key).and_then(Value::as_str).map(str::to_string);
    let env: EnvName = text("env")
        .or_else(|| clients.default_env.clone())
        .ok_or_else(|| PilotLightError::InvalidInput {
            field: "env".into(),
            reason: "no env in the event and no PILOT_LIGHT_ENV".into(),
        })?
        .parse()?;
    let region = text("region")
        .or_else(|| clients.home_region.clone())
        .ok_or_else(|| PilotLightError::InvalidInput {
            field: "region".into(),
            reason: "no region in the event and none configured".into(),
        })?;
    pilot_light_core::clients::validate_region(&region).map_err(|reason| {
        PilotLightError::InvalidInput {
            field: "region".into(),
            reason,
        }
    })?;
    Ok((env, region))
}

/// The Lambda handler: run the checks, emit the metrics, keep the result, notify on a change.
pub async fn handler(event: Value, clients: &Clients) -> Result<ReadinessOutput, PilotLightError> {
    let started_at = Timestamp::now();
    let (env, region) = parse_target(&event, clients)?;
    let report = run_checks(clients, &env, &region).await?;
    println!(
        "{}",
        emf_line(&report, pilot_light_core::step::now_millis())
    );

    let ssm = clients.ssm.get(&region)?;
    let parameter = readiness_parameter_name(&env);
    let previous = get_parameter(&ssm, &parameter)
        .await?
        .and_then(|t| serde_json::from_str::<LastResult>(&t).ok());
    let previous_overall = previous.as_ref().map(|p| p.overall);
    let changed = checks::should_notify(previous_overall, report.overall);

    let mut published = Vec::new();
    let mut resources = vec![parameter.clone()];
    if changed {
        // The stack's topic only: the function may publish nowhere else.
        let topics: Vec<String> = clients
            .topic_arn
            .iter()
            .filter(|t| !t.trim().is_empty())
            .cloned()
            .collect();
        let subject = notification_subject(&report, previous_overall);
        let document = pilot_light_core::step::to_json_text(&report)?;
        let message = json!({
            "default": document,
            "email": render_text(&report),
            "sms": subject,
        })
        .to_string();
        for topic in topics {
            let topic_region = topic.split(':').nth(3).unwrap_or(&region).to_string();
            let sns = clients.sns.get(&topic_region)?;
            let attribute = |v: &str| {
                aws_sdk_sns::types::MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value(v)
                    .build()
                    .map_err(|e| PilotLightError::InvalidInput {
                        field: "topicArn".into(),
                        reason: e.to_string(),
                    })
            };
            let out = sns
                .publish()
                .topic_arn(&topic)
                .subject(&subject)
                .message(&message)
                .message_structure("json")
                .message_attributes("pilot-light.type", attribute("readiness")?)
                .message_attributes("pilot-light.env", attribute(&env)?)
                .message_attributes("pilot-light.overall", attribute(report.overall.name())?)
                .send()
                .await
                .map_err(|e| {
                    PilotLightError::from_sdk_or_missing(
                        "Publish",
                        &e,
                        |e| e.is_not_found_exception(),
                        || PilotLightError::ResourceNotFound {
                            kind: "Topic".into(),
                            id: topic.clone(),
                            region: topic_region.clone(),
                        },
                    )
                })?;
            published.push(out.message_id().unwrap_or_default().to_string());
            resources.push(topic);
        }
    }
    if changed || previous.is_none() {
        let last = LastResult {
            overall: report.overall,
            checked_at: report.checked_at.clone(),
            failing: report.failing().into_iter().map(str::to_string).collect(),
        };
        let value = serde_json::to_string(&last).unwrap_or_default();
        ssm.put_parameter()
            .name(&parameter)
            .value(value)
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .overwrite(true)
            .send()
            .await
            .map_err(|e| PilotLightError::from_sdk("PutParameter", &e))?;
    }
    tracing::info!(
        env = %env,
        overall = report.overall.name(),
        failing = ?report.failing(),
        changed,
        published = published.len(),
        "readiness checked"
    );
    Ok(ReadinessOutput {
        action: "check",
        status: if changed || previous.is_none() {
            StepStatus::Done
        } else {
            StepStatus::AlreadyDone
        },
        report,
        previous: previous_overall,
        published,
        started_at,
        finished_at: Timestamp::now(),
        resources,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pilot_light_domain::readiness::{Check, NextMove};

    /// A report of one check per status, named `c0`, `c1`, …
    fn report(statuses: &[CheckStatus]) -> ReadinessReport {
        let named = |(i, status): (usize, &CheckStatus)| match status {
            CheckStatus::Pass => Check::pass(format!("c{i}"), "seen"),
            _ => Check::fail(format!("c{i}"), "seen", "do"),
        };
        let mut checks: Vec<Check> = statuses.iter().enumerate().map(named).collect();
        for (check, status) in checks.iter_mut().zip(statuses) {
            check.status = *status;
        }
        ReadinessReport::new(
            &"prod".parse().unwrap(),
            ("us-east-1", "us-west-2"),
            None,
            NextMove::Failover,
            checks,
        )
    }

    #[test]
    fn emf_counts_failures_and_warnings() {
        let r = report(&[CheckStatus::Fail, CheckStatus::Warn, CheckStatus::Fail]);
        let line = emf_line(&r, 5);
        assert_eq!(line["ReadinessFailures"], 2);
        assert_eq!(line["ReadinessWarnings"], 1);
        assert_eq!(line["Overall"], "fail");
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            "PilotLight"
        );
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0][0],
            "Env"
        );
    }

    #[test]
    fn subject_names_the_change() {
        let r = report(&[CheckStatus::Fail, CheckStatus::Pass]);
        assert_eq!(
            notification_subject(&r, Some(CheckStatus::Pass)),
            "pilot-light prod readiness: FAIL (1 failing, was pass)"
        );
    }

    #[test]
    fn the_event_names_env_and_region() {
        let clients = Clients::from_config(
            aws_config::SdkConfig::builder()
                .region(aws_config::Region::new("us-west-2"))
                .behavior_version(aws_config::BehaviorVersion::latest())
                .build(),
        );
        assert_eq!(
            parse_target(&json!({"env": "prod"}), &clients).unwrap(),
            ("prod".parse().unwrap(), "us-west-2".to_string())
        );
        let err = parse_target(&json!({"env": "Prod_1"}), &clients).unwrap_err();
        assert_eq!(err.error_type(), "InvalidInput");
        assert!(
            matches!(&err, PilotLightError::InvalidInput { field, .. } if field == "env"),
            "{err}"
        );
        let scheduled = json!({"detail-type": "Scheduled Event", "source": "aws.events", "region": "us-west-2"});
        assert_eq!(
            parse_target(&scheduled, &clients).unwrap_err().error_type(),
            "InvalidInput"
        );
        assert_eq!(
            parse_target(&json!({"env": "prod", "region": "nowhere"}), &clients)
                .unwrap_err()
                .error_type(),
            "InvalidInput"
        );
    }
}
