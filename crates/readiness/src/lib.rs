//! `readiness`: the scheduled check of whether a failover (or, while the standby serves, a failback)
//! would work right now. The checks themselves are the domain layer's
//! ([`pilot_light_domain::readiness`], which `pilot-light status` runs too); the handler adds what
//! only the schedule needs: an EMF line (`ReadinessFailures`, `ReadinessWarnings`), the last overall
//! result kept in `/pilot-light/<env>/readiness`, and an SNS message only when the overall result
//! changed.
//!
//! Layout: one file, the handler around the domain layer's checks.

use pilot_light_core::parameters::get_parameter_value as get_parameter;
use pilot_light_core::{parse_step_input, EnvName, PilotLightError, StepStatus, Timestamp};
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

/// A person's check (`aws lambda invoke`, the runbook): `{env?, region?}`, each defaulting to the
/// function's own (`PILOT_LIGHT_ENV`, its region).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CheckRequest {
    #[serde(default)]
    pub env: Option<EnvName>,
    #[serde(default)]
    pub region: Option<String>,
}

/// The EventBridge event of the schedule (`ReadinessSchedule`), as the ecosystem's event crate
/// types it.
pub use aws_lambda_events::eventbridge::EventBridgeEvent;

/// What started a check.
#[derive(Debug, Clone)]
pub enum ReadinessTrigger {
    Manual(CheckRequest),
    /// An EventBridge `Scheduled Event`: the function's own environment, in the event's region.
    Schedule(Box<EventBridgeEvent>),
}

/// Decodes the event without calling AWS: an EventBridge event when it has a `detail-type` (only a
/// `Scheduled Event` starts a check: another kind is `InvalidInput` at `detail-type`), else a
/// [`CheckRequest`]; a bad field is `InvalidInput` naming it.
pub fn parse_trigger(event: Value) -> Result<ReadinessTrigger, PilotLightError> {
    if event.get("detail-type").is_none() {
        return parse_step_input(event, &[]).map(ReadinessTrigger::Manual);
    }
    let scheduled: EventBridgeEvent = parse_step_input(event, &[])?;
    if scheduled.detail_type != "Scheduled Event" {
        return Err(PilotLightError::InvalidInput {
            field: "detail-type".into(),
            reason: format!(
                "`{}` from `{}` is not a trigger of readiness (expected a Scheduled Event)",
                scheduled.detail_type, scheduled.source
            ),
        });
    }
    Ok(ReadinessTrigger::Schedule(Box::new(scheduled)))
}

/// Which environment to check, and where its configuration is: the request's, else the
/// function's `PILOT_LIGHT_ENV` and region (a schedule always checks the function's own
/// environment). The env must be an environment name (`InvalidInput` at `env`).
pub fn parse_target(event: Value, clients: &Clients) -> Result<(EnvName, String), PilotLightError> {
    let (env, region) = match parse_trigger(event)? {
        ReadinessTrigger::Manual(request) => (request.env, request.region),
        ReadinessTrigger::Schedule(scheduled) => (None, scheduled.region),
    };
    let env = match env {
        Some(env) => env,
        None => clients
            .default_env
            .as_deref()
            .ok_or_else(|| PilotLightError::InvalidInput {
                field: "env".into(),
                reason: "no env in the event and no PILOT_LIGHT_ENV".into(),
            })?
            .parse()?,
    };
    let region = region
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
    let (env, region) = parse_target(event, clients)?;
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
        let mut clients = Clients::from_config(
            aws_config::SdkConfig::builder()
                .region(aws_config::Region::new("us-west-2"))
                .behavior_version(aws_config::BehaviorVersion::latest())
                .build(),
        );
        let scheduled: Value = serde_json::from_str(include_str!(
            "../../../events/readiness/scheduled-event.json"
        ))
        .unwrap();
        let manual: Value =
            serde_json::from_str(include_str!("../../../events/readiness/check.json")).unwrap();
        let mut other_kind = scheduled.clone();
        other_kind["detail-type"] = json!("EC2 Instance State-change Notification");
        let mut scheduled_elsewhere = scheduled.clone();
        scheduled_elsewhere["region"] = json!("eu-west-1");
        // (event, PILOT_LIGHT_ENV, the target or the field an InvalidInput names)
        type Case<'a> = (Value, Option<&'a str>, Result<(&'a str, &'a str), &'a str>);
        let cases: Vec<Case> = vec![
            (manual.clone(), None, Ok(("prod", "us-west-2"))),
            (json!({"env": "prod"}), None, Ok(("prod", "us-west-2"))),
            (json!({}), Some("staging"), Ok(("staging", "us-west-2"))),
            (json!({"env": "Prod_1"}), None, Err("env")),
            (json!({}), None, Err("env")),
            (json!({}), Some("Prod_1"), Err("env")),
            (
                json!({"env": "prod", "region": "nowhere"}),
                None,
                Err("region"),
            ),
            (json!({"env": "prod", "mode": "deep"}), None, Err("mode")),
            (scheduled.clone(), Some("prod"), Ok(("prod", "us-west-2"))),
            (scheduled_elsewhere, Some("prod"), Ok(("prod", "eu-west-1"))),
            (scheduled.clone(), None, Err("env")),
            (other_kind, Some("prod"), Err("detail-type")),
        ];
        for (event, default_env, expected) in cases {
            clients.default_env = default_env.map(str::to_string);
            let got = parse_target(event.clone(), &clients);
            match (expected, got) {
                (Ok((env, region)), Ok((got_env, got_region))) => {
                    assert_eq!(
                        (got_env.as_str(), got_region.as_str()),
                        (env, region),
                        "{event}"
                    )
                }
                (Err(field), Err(PilotLightError::InvalidInput { field: got, .. })) => {
                    assert_eq!(got, field, "{event}")
                }
                (expected, got) => {
                    panic!("{event} ({default_env:?}): {got:?}, expected {expected:?}")
                }
            }
        }
    }
}
