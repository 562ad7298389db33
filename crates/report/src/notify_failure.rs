//! The `notifyFailure` action: summarise the failure, name the run that restores service, publish
//! the alert.

use crate::alert::{alert_text, parse_next_run, restore_commands};
use crate::aws::send;
use crate::input::topic;
use crate::render::{failure_subject, structured_message};
use crate::{Clients, NotifyFailureInput, NotifyFailureOutput, ReportAction};
use pilot_light_core::execution_history::{summarise_cause, truncate_chars};
use pilot_light_core::{PilotLightError, StepStatus, Timestamp};
use serde_json::json;

/// Publishes the alert of a failed execution (nothing without a topic: `alreadyDone`).
pub(crate) async fn notify_failure(
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
