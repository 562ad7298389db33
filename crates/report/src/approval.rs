//! `notifyApproval`: the messages of an automatic failover's approval window. `requested` asks the
//! on-call to answer (the evidence, the deadline, what happens without an answer, and the two
//! commands); `proceedingUnanswered` says the window closed unanswered and the failover goes ahead.
//! A denied or abandoned failover ends through `notifyFailure` like every other failure.

use crate::aws::send;
use crate::input::{check_arn, topic};
use crate::render::{fit_subject, structured_message};
use crate::{Clients, Published, ReportAction};
use pilot_light_core::automatic_failover::{ApprovalRequest, WhenUnanswered};
use pilot_light_core::{EnvName, PilotLightError, StepStatus};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Which message of the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ApprovalStage {
    /// The failover waits: approve or deny.
    Requested,
    /// Nobody answered and `whenUnanswered: proceed`: the failover goes ahead now.
    ProceedingUnanswered,
}

/// The part of `run-state requestApproval`'s answer the message needs.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalState {
    pub request: ApprovalRequest,
}

/// `notifyApproval` input.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NotifyApprovalInput {
    pub action: ReportAction,
    pub env: EnvName,
    pub execution_arn: String,
    #[serde(default)]
    pub topic_arn: Option<String>,
    pub stage: ApprovalStage,
    /// What `run-state requestApproval` / `checkApproval` answered.
    pub approval: ApprovalState,
}

/// `notifyApproval` output.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NotifyApprovalOutput {
    pub action: ReportAction,
    /// `done` when published, `alreadyDone` when no topic was given.
    pub status: StepStatus,
    pub env: EnvName,
    pub execution_arn: String,
    pub stage: ApprovalStage,
    pub subject: String,
    pub commands: AnswerCommands,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published: Option<Published>,
}

/// The commands that answer a waiting failover.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AnswerCommands {
    pub approve: String,
    pub deny: String,
}

/// `pilot-light approve|deny <execution name> --env E --region R`, from the execution's ARN.
pub fn answer_commands(env: &str, execution_arn: &str) -> AnswerCommands {
    let parts: Vec<&str> = execution_arn.split(':').collect();
    let name = parts.last().copied().unwrap_or(execution_arn);
    let region = parts
        .get(3)
        .filter(|r| !r.is_empty())
        .map(|r| format!(" --region {r}"))
        .unwrap_or_default();
    AnswerCommands {
        approve: format!("pilot-light approve {name} --env {env}{region}"),
        deny: format!("pilot-light deny {name} --env {env}{region} --reason '<why>'"),
    }
}

/// The subject line of a stage.
pub fn approval_subject(env: &str, stage: ApprovalStage, request: &ApprovalRequest) -> String {
    fit_subject(&match stage {
        ApprovalStage::Requested => format!(
            "pilot-light {env} APPROVAL NEEDED: automatic failover ({}) waits until {}",
            request.trigger, request.deadline
        ),
        ApprovalStage::ProceedingUnanswered => format!(
            "pilot-light {env} failover PROCEEDS without an answer ({})",
            request.trigger
        ),
    })
}

/// The plain-text message of a stage.
pub fn approval_text(
    env: &str,
    stage: ApprovalStage,
    request: &ApprovalRequest,
    commands: &AnswerCommands,
) -> String {
    let unanswered = match request.when_unanswered {
        WhenUnanswered::Abandon => {
            "it is abandoned: nothing is changed, and the primary keeps serving (or not)"
        }
        WhenUnanswered::Proceed => "it goes ahead: the standby region becomes production",
    };
    let evidence = serde_json::to_string_pretty(&request.trigger_event).unwrap_or_default();
    match stage {
        ApprovalStage::Requested => format!(
            "An automatic failover of `{env}` was started by a {trigger} and waits for a person.\n\
             Nothing has been changed yet; it holds the lock.\n\n\
             Evidence (the event that started it):\n{evidence}\n\n\
             Approve (fail over now):  {approve}\n\
             Deny (change nothing):    {deny}\n\n\
             If nobody answers by {deadline}, {unanswered}.\n\
             Execution: {execution}\n",
            trigger = request.trigger,
            approve = commands.approve,
            deny = commands.deny,
            deadline = request.deadline,
            execution = request.execution_id,
        ),
        ApprovalStage::ProceedingUnanswered => format!(
            "Nobody answered the automatic failover of `{env}` by {deadline}; as configured \
             (automaticFailover.whenUnanswered: proceed), it goes ahead now: the standby region \
             becomes production. Its report follows when it ends.\n\n\
             Evidence (the event that started it):\n{evidence}\n\n\
             Execution: {execution}\n",
            deadline = request.deadline,
            execution = request.execution_id,
        ),
    }
}

pub(crate) fn check(input: &NotifyApprovalInput) -> Result<(), PilotLightError> {
    check_arn("executionArn", &input.execution_arn, "states")?;
    topic(input.topic_arn.as_deref())?;
    Ok(())
}

pub(crate) async fn notify_approval(
    input: NotifyApprovalInput,
    clients: &Clients,
) -> Result<NotifyApprovalOutput, PilotLightError> {
    let request = &input.approval.request;
    let commands = answer_commands(&input.env, &input.execution_arn);
    let subject = approval_subject(&input.env, input.stage, request);
    let published = match topic(input.topic_arn.as_deref())? {
        None => None,
        Some((topic_arn, topic_region)) => {
            let document = json!({
                "type": "approval",
                "stage": input.stage,
                "env": input.env,
                "executionArn": input.execution_arn,
                "trigger": request.trigger,
                "triggerEvent": request.trigger_event,
                "deadline": request.deadline,
                "whenUnanswered": request.when_unanswered,
                "commands": commands,
            });
            let text = approval_text(&input.env, input.stage, request, &commands);
            let message = structured_message(&subject, &document, &text);
            let stage = match input.stage {
                ApprovalStage::Requested => "requested",
                ApprovalStage::ProceedingUnanswered => "proceedingUnanswered",
            };
            let attributes = [
                ("type", "approval"),
                ("env", input.env.as_str()),
                ("kind", "failover"),
                ("stage", stage),
            ];
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
    tracing::warn!(env = %input.env, execution_arn = %input.execution_arn, stage = ?input.stage,
        deadline = %request.deadline, published = published.is_some(), "approval notified");
    Ok(NotifyApprovalOutput {
        action: ReportAction::NotifyApproval,
        status: if published.is_some() {
            StepStatus::Done
        } else {
            StepStatus::AlreadyDone
        },
        env: input.env,
        execution_arn: input.execution_arn,
        stage: input.stage,
        subject,
        commands,
        published,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(when: WhenUnanswered) -> ApprovalRequest {
        ApprovalRequest {
            execution_id:
                "arn:aws:states:us-west-2:123456789012:execution:pl-prod-failover:health-1".into(),
            trigger: "health".into(),
            trigger_event: json!({"service": "RDS", "eventTypeCode": "AWS_RDS_OPERATIONAL_ISSUE"}),
            requested_at: "2026-12-07T03:00:00Z".into(),
            deadline: "2026-12-07T03:15:00Z".into(),
            when_unanswered: when,
            answer: None,
        }
    }

    #[test]
    fn the_request_names_both_commands_the_evidence_and_what_silence_does() {
        let r = request(WhenUnanswered::Abandon);
        let commands = answer_commands("prod", &r.execution_id);
        assert_eq!(
            commands.approve,
            "pilot-light approve health-1 --env prod --region us-west-2"
        );
        assert!(commands
            .deny
            .starts_with("pilot-light deny health-1 --env prod --region us-west-2"));
        let text = approval_text("prod", ApprovalStage::Requested, &r, &commands);
        for needed in [
            commands.approve.as_str(),
            commands.deny.as_str(),
            "AWS_RDS_OPERATIONAL_ISSUE",
            "2026-12-07T03:15:00Z",
            "abandoned",
            "Nothing has been changed",
        ] {
            assert!(text.contains(needed), "{needed}: {text}");
        }
        let proceed = approval_text(
            "prod",
            ApprovalStage::Requested,
            &request(WhenUnanswered::Proceed),
            &commands,
        );
        assert!(proceed.contains("it goes ahead"), "{proceed}");
        let subject = approval_subject("prod", ApprovalStage::Requested, &r);
        assert!(
            subject.contains("APPROVAL NEEDED") && subject.len() < 100,
            "{subject}"
        );
        let subject = approval_subject("prod", ApprovalStage::ProceedingUnanswered, &r);
        assert!(subject.contains("PROCEEDS without an answer"), "{subject}");
    }
}
