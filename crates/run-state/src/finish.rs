//! `markActive` and `release`: a run records which region it made active (and where its cycles
//! stand), then gives the lock back.

use crate::aws::{delete_parameter, load_config, read_lock, read_state, write_state, Target};
use crate::decide::{
    cycle_fields_after_mark_active, decide_mark_active, decide_release, MarkActiveDecision,
    ReleaseDecision,
};
use crate::{ActionResult, Answer, MarkActiveInput, MarkActiveResult, ReleaseResult, RunState};
use pilot_light_core::config::{config_parameter_name, lock_parameter_name, state_parameter_name};
use pilot_light_core::{PilotLightError, StepStatus, Timestamp};

pub(crate) async fn mark_active(
    target: &Target,
    input: &MarkActiveInput,
) -> Result<Answer, PilotLightError> {
    let env = &target.env;
    let touched = target.touched(vec![
        config_parameter_name(env),
        state_parameter_name(env),
        lock_parameter_name(env),
    ]);
    let config = load_config(target).await?;
    if input.active_region != config.regions.primary
        && input.active_region != config.regions.standby
    {
        return Err(PilotLightError::InvalidInput {
            field: "activeRegion".into(),
            reason: format!(
                "`{}` is neither the primary ({}) nor the standby ({}) region of `{env}`",
                input.active_region, config.regions.primary, config.regions.standby
            ),
        });
    }
    let state = read_state(target).await?;
    let lock = read_lock(target).await?;
    let decision = decide_mark_active(
        state.as_ref(),
        &lock,
        env,
        &input.execution_id,
        &input.active_region,
        input.reprotect_pending,
    )?;
    let previous = state.as_ref().and_then(|s| s.active_region.clone());
    let (status, new_state) = match decision {
        MarkActiveDecision::AlreadyActive => {
            (StepStatus::AlreadyDone, state.clone().unwrap_or_default())
        }
        MarkActiveDecision::Write => {
            let before = state.clone().unwrap_or_default();
            let switched = before.active_region.as_deref() != Some(input.active_region.as_str());
            let new_state = RunState {
                active_region: Some(input.active_region.clone()),
                since: if switched {
                    Some(Timestamp::now())
                } else {
                    before.since.clone()
                },
                execution_id: if switched {
                    Some(input.execution_id.clone())
                } else {
                    before.execution_id.clone()
                },
                reprotect_pending: input.reprotect_pending.unwrap_or(before.reprotect_pending),
                ..before.clone()
            };
            // A failover starts a new failback cycle; the primary active again ends the failover
            // cycle; a protected standby ends the failback.
            let cycle = cycle_fields_after_mark_active(
                &before,
                &input.active_region,
                &config.regions.primary,
                &config.regions.standby,
                switched,
                input.reprotect_pending,
            );
            let new_state = RunState {
                failback_id: cycle.failback_id,
                standby_unfenced_at: cycle.standby_unfenced_at,
                reverse_promotion_requested_at: cycle.reverse_promotion_requested_at,
                failover_id: cycle.failover_id,
                promotion_requested_at: cycle.promotion_requested_at,
                ..new_state
            };
            write_state(target, state.is_some(), &new_state).await?;
            (StepStatus::Done, new_state)
        }
    };
    Ok(Answer {
        status,
        execution_id: Some(input.execution_id.clone()),
        result: ActionResult::MarkActive(MarkActiveResult {
            active_region: input.active_region.clone(),
            previous_active_region: previous,
            state: new_state,
        }),
        touched,
    })
}

pub(crate) async fn release(
    target: &Target,
    execution_id: &str,
) -> Result<Answer, PilotLightError> {
    let lock_name = lock_parameter_name(&target.env);
    let lock = read_lock(target).await?;
    let (status, result) = match decide_release(&lock, execution_id) {
        ReleaseDecision::Delete => {
            // Deleted in between (a concurrent release of ours) is fine: it is gone either way.
            let deleted = delete_parameter(&target.ssm, &lock_name).await?;
            (
                if deleted {
                    StepStatus::Done
                } else {
                    StepStatus::AlreadyDone
                },
                ReleaseResult {
                    released: deleted,
                    held_by: None,
                },
            )
        }
        ReleaseDecision::NotHeld => (
            StepStatus::AlreadyDone,
            ReleaseResult {
                released: false,
                held_by: None,
            },
        ),
        ReleaseDecision::HeldByOther { holder } => (
            StepStatus::AlreadyDone,
            ReleaseResult {
                released: false,
                held_by: Some(holder),
            },
        ),
    };
    Ok(Answer {
        status,
        execution_id: Some(execution_id.to_string()),
        result: ActionResult::Release(result),
        touched: target.touched(vec![lock_name]),
    })
}
