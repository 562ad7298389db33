//! The approval window of an automatic failover (`requestApproval`, `checkApproval`); the record and
//! its decisions are `pilot_light_core::automatic_failover`'s.
//!
//! `requestApproval` runs after `beginFailover` took the lock, for an automatic start with
//! `automaticFailover.approval: required`. It writes `/pilot-light/<env>/approval` once per
//! execution (a retry finds its own request and keeps it, with any answer already given) and answers
//! how long to wait before looking. `checkApproval` says where the approval stands: `approved`,
//! `denied`, `waiting` (with the seconds to wait), or, once the window closed unanswered,
//! `proceedUnanswered` / `abandonUnanswered`. Nothing here waits: the state machine's Wait state does.

use crate::aws::{load_config, put_parameter, read_document, read_lock, to_json, Put, Target};
use crate::{Answer, LockView, RunStateAction};
use pilot_light_core::automatic_failover::{
    approval_outcome, approval_parameter_name, ApprovalOutcome, ApprovalRequest,
};
use pilot_light_core::config::lock_parameter_name;
use pilot_light_core::step::epoch_seconds;
use pilot_light_core::{EnvName, PilotLightError, StepStatus, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `requestApproval` input.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RequestApprovalInput {
    pub action: RunStateAction,
    pub env: EnvName,
    pub execution_id: String,
    /// `alarm` or `health`.
    pub trigger: String,
    /// The event the rule passed: the evidence the message carries.
    #[serde(default)]
    pub trigger_event: Value,
    #[serde(default)]
    pub region: Option<String>,
}

/// `checkApproval` input.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CheckApprovalInput {
    pub action: RunStateAction,
    pub env: EnvName,
    pub execution_id: String,
    #[serde(default)]
    pub region: Option<String>,
}

/// What both actions answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalResult {
    pub outcome: ApprovalOutcome,
    pub request: ApprovalRequest,
    /// Seconds to wait before looking again (`approvalPollSeconds`, never past the deadline; at
    /// least 1).
    pub wait_seconds: u64,
    /// Seconds left in the window (0 once it closed).
    pub seconds_left: u64,
    /// One sentence for people: who answered what, or what the silence means (the failure's cause
    /// when the failover ends here).
    pub summary: String,
}

/// The one-sentence account of where an approval stands.
pub fn summarise(outcome: ApprovalOutcome, request: &ApprovalRequest, seconds_left: u64) -> String {
    let answer = request.answer.as_ref();
    let by = answer.map(|a| a.by.as_str()).unwrap_or("nobody");
    let at = answer.map(|a| a.answered_at.as_str()).unwrap_or("");
    let why = answer
        .and_then(|a| a.reason.as_deref())
        .map(|r| format!(": {r}"))
        .unwrap_or_default();
    match outcome {
        ApprovalOutcome::Approved => format!("automatic failover approved by {by} at {at}{why}"),
        ApprovalOutcome::Denied => format!(
            "automatic failover denied by {by} at {at}{why}; nothing was changed"
        ),
        ApprovalOutcome::Waiting => format!(
            "automatic failover waits for approval until {} ({seconds_left} s left)",
            request.deadline
        ),
        ApprovalOutcome::ProceedUnanswered => format!(
            "nobody answered by {}; automaticFailover.whenUnanswered is proceed, so the failover goes ahead",
            request.deadline
        ),
        ApprovalOutcome::AbandonUnanswered => format!(
            "nobody answered by {}; automaticFailover.whenUnanswered is abandon, so nothing was changed",
            request.deadline
        ),
    }
}

/// The pause before the next look: the poll interval, cut to what is left of the window.
pub fn wait_before_next_look(poll_seconds: u64, seconds_left: u64) -> u64 {
    poll_seconds.min(seconds_left).max(1)
}

fn seconds_left(request: &ApprovalRequest, now: f64) -> u64 {
    epoch_seconds(&request.deadline)
        .map(|deadline| (deadline - now).max(0.0).ceil() as u64)
        .unwrap_or(0)
}

fn now_seconds() -> f64 {
    epoch_seconds(&Timestamp::now().0).unwrap_or(0.0)
}

/// `requestApproval`: write this execution's request unless it is there already.
pub(crate) async fn request_approval(
    target: &Target,
    input: &RequestApprovalInput,
) -> Result<Answer, PilotLightError> {
    let env = &target.env;
    let name = approval_parameter_name(env);
    let config = load_config(target).await?;
    holds_the_lock(target, &input.execution_id).await?;
    let existing: Option<ApprovalRequest> =
        read_document(target, &name, "an approval request").await?;
    let now = now_seconds();
    let (status, request) = match existing.filter(|r| r.execution_id == input.execution_id) {
        Some(own) => (StepStatus::AlreadyDone, own),
        None => {
            let policy = &config.automatic_failover;
            let request = ApprovalRequest {
                execution_id: input.execution_id.clone(),
                trigger: input.trigger.clone(),
                trigger_event: input.trigger_event.clone(),
                requested_at: Timestamp::now().0,
                deadline: Timestamp::from_millis(
                    ((now + policy.approval_window_seconds as f64) * 1000.0) as i64,
                )
                .0,
                when_unanswered: policy.when_unanswered,
                answer: None,
            };
            let value = to_json(&request)?;
            if put_parameter(&target.ssm, &name, &value, false, env).await? == Put::AlreadyExists {
                // An older failover's request: this execution holds the lock, so it is over.
                put_parameter(&target.ssm, &name, &value, true, env).await?;
            }
            (StepStatus::Done, request)
        }
    };
    tracing::info!(env = %env, execution_id = %input.execution_id, deadline = %request.deadline,
        "automatic failover waits for approval");
    answer(target, &input.execution_id, status, request, now, &config)
}

/// `checkApproval`: where this execution's approval stands.
pub(crate) async fn check_approval(
    target: &Target,
    input: &CheckApprovalInput,
) -> Result<Answer, PilotLightError> {
    let name = approval_parameter_name(&target.env);
    let config = load_config(target).await?;
    let request: Option<ApprovalRequest> =
        read_document(target, &name, "an approval request").await?;
    let Some(request) = request.filter(|r| r.execution_id == input.execution_id) else {
        return Err(PilotLightError::InvalidState {
            resource: format!("parameter {name} in {}", target.region),
            state: "missing".into(),
            reason: format!(
                "no approval request of {}: requestApproval must run first",
                input.execution_id
            ),
        });
    };
    answer(
        target,
        &input.execution_id,
        StepStatus::Done,
        request,
        now_seconds(),
        &config,
    )
}

fn answer(
    target: &Target,
    execution_id: &str,
    status: StepStatus,
    request: ApprovalRequest,
    now: f64,
    config: &pilot_light_core::PilotLightConfig,
) -> Result<Answer, PilotLightError> {
    let outcome = approval_outcome(Some(&request), execution_id, now).unwrap_or(
        // Unreachable: the request is this execution's. Never proceed on a guess.
        ApprovalOutcome::AbandonUnanswered,
    );
    let left = seconds_left(&request, now);
    Ok(Answer {
        status,
        execution_id: Some(execution_id.to_string()),
        result: super::ActionResult::Approval(Box::new(ApprovalResult {
            outcome,
            wait_seconds: wait_before_next_look(
                config.automatic_failover.approval_poll_seconds,
                left,
            ),
            seconds_left: left,
            summary: summarise(outcome, &request, left),
            request,
        })),
        touched: target.touched(vec![
            approval_parameter_name(&target.env),
            lock_parameter_name(&target.env),
        ]),
    })
}

/// Only the execution holding the lock may ask for approval: any other would ask for a failover
/// that cannot run.
async fn holds_the_lock(target: &Target, execution_id: &str) -> Result<(), PilotLightError> {
    match read_lock(target).await? {
        LockView::Held(lock) if lock.execution_id == execution_id => Ok(()),
        held => Err(PilotLightError::FailoverInProgress {
            env: target.env.to_string(),
            holder: held
                .holder()
                .unwrap_or_else(|| "nobody: this failover does not hold the lock".into()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_is_the_poll_interval_cut_to_the_window() {
        for (poll, left, want) in [
            (15, 900, 15),
            (15, 4, 4),
            (15, 0, 1),
            (1, 1, 1),
            (30, 30, 30),
        ] {
            assert_eq!(wait_before_next_look(poll, left), want, "{poll} {left}");
        }
    }
}
