//! `beginFailover` and `beginFailback`: load and validate the configuration, read the run state
//! and the lock, decide, take the lock, and record the cycle's identity on the first run.

use crate::aws::{
    delete_parameter, load_config, put_parameter, read_lock, read_state, to_json,
    usable_capacity_record, write_state, Put, Target,
};
use crate::decide::{
    decide_begin, decide_failback, decide_lock, failback_identity, failover_identity, flap_guard,
    judge_trigger, standby_is_active, standby_runs_here, BeginDecision,
};
use crate::{
    capacity, ActionResult, Answer, BeginFailbackInput, BeginFailbackResult, BeginFailoverInput,
    BeginFailoverResult, FailbackDecision, FailoverDecision, Lock, LockView, RunState,
    FAILBACK_OPERATION, FAILOVER_OPERATION,
};
use pilot_light_core::config::{config_parameter_name, lock_parameter_name, state_parameter_name};
use pilot_light_core::{PilotLightError, StepStatus, Timestamp};

pub(crate) async fn begin_failover(
    target: &Target,
    input: &BeginFailoverInput,
) -> Result<Answer, PilotLightError> {
    let env = &target.env;
    let execution_id = input.execution_id.as_str();
    let lock_name = lock_parameter_name(env);
    let touched_names = vec![
        config_parameter_name(env),
        state_parameter_name(env),
        lock_name.clone(),
    ];

    let config = load_config(target).await?;
    standby_runs_here(&config, &target.region)?;
    let standby = config.regions.standby.clone();
    let state = read_state(target).await?;
    let lock = read_lock(target).await?;
    let capacity_record = usable_capacity_record(target).await?;

    let answer = |decision, state: Option<RunState>, lock: Option<Lock>, status| {
        let recorded_capacities =
            capacity::recorded_capacities(state.as_ref(), capacity_record.as_ref());
        let proceeding = decision == FailoverDecision::Proceed;
        Answer {
            status,
            execution_id: Some(execution_id.to_string()),
            result: ActionResult::BeginFailover(Box::new(BeginFailoverResult {
                decision,
                mode: input.mode,
                config: config.clone(),
                failover_id: proceeding.then(|| failover_identity(state.as_ref(), execution_id).0),
                promotion_requested: proceeding
                    && state
                        .as_ref()
                        .is_some_and(|s| s.promotion_requested_at.is_some()),
                state,
                recorded_capacities,
                capacity_recorded_at: capacity_record.as_ref().map(|r| r.recorded_at.clone()),
                lock,
                approval: pilot_light_core::automatic_failover::approval_plan(
                    &config.automatic_failover,
                    input.trigger.is_automatic(),
                ),
            })),
            touched: target.touched(touched_names.clone()),
        }
    };

    let status = match decide_begin(state.as_ref(), &lock, &standby, execution_id) {
        BeginDecision::AlreadyActive { release_own_lock } => {
            if release_own_lock {
                delete_parameter(&target.ssm, &lock_name).await?;
            }
            return Ok(answer(
                FailoverDecision::AlreadyActive,
                state,
                None,
                StepStatus::AlreadyDone,
            ));
        }
        BeginDecision::Refuse { holder } => {
            return Err(PilotLightError::FailoverInProgress {
                env: env.to_string(),
                holder,
            })
        }
        BeginDecision::ReprotectPending { release_own_lock } => {
            if release_own_lock {
                delete_parameter(&target.ssm, &lock_name).await?;
            }
            return Err(PilotLightError::ReprotectPending {
                env: env.to_string(),
            });
        }
        BeginDecision::Reenter => StepStatus::AlreadyDone,
        BeginDecision::TakeLock => {
            judge_trigger(env, &config, input.trigger, input.trigger_event.as_ref())?;
            flap_guard(
                env,
                state.as_ref(),
                input.trigger,
                config.min_seconds_between_failovers,
                &Timestamp::now(),
            )?;
            take_lock(target, &lock, execution_id, FAILOVER_OPERATION).await?
        }
    };

    // We hold the lock. Another run may have finished a failover between our first read and the
    // lock: look again.
    let state = read_state(target).await?;
    let held = read_lock(target).await?;
    let LockView::Held(lock) = held.clone() else {
        return Err(PilotLightError::FailoverInProgress {
            env: env.to_string(),
            holder: held
                .holder()
                .unwrap_or_else(|| "nobody: the lock vanished after we took it".into()),
        });
    };
    if lock.execution_id != execution_id {
        return Err(PilotLightError::FailoverInProgress {
            env: env.to_string(),
            holder: held.holder().unwrap_or_default(),
        });
    }
    if standby_is_active(state.as_ref(), &standby) {
        delete_parameter(&target.ssm, &lock_name).await?;
        return Ok(answer(
            FailoverDecision::AlreadyActive,
            state,
            None,
            StepStatus::AlreadyDone,
        ));
    }
    if state.as_ref().is_some_and(|s| s.reprotect_pending) {
        delete_parameter(&target.ssm, &lock_name).await?;
        return Err(PilotLightError::ReprotectPending {
            env: env.to_string(),
        });
    }
    // The first failover of the cycle records its identity; re-runs reuse it.
    let state = if failover_identity(state.as_ref(), execution_id).1 {
        let recorded = RunState {
            failover_id: Some(execution_id.to_string()),
            ..state.clone().unwrap_or_default()
        };
        write_state(target, state.is_some(), &recorded).await?;
        Some(recorded)
    } else {
        state
    };
    Ok(answer(FailoverDecision::Proceed, state, Some(lock), status))
}

/// `beginFailback`: the failback's guard and lock. Unlike failover it has no flap guard (a person
/// starts it) and its "already done" is the primary being active and protected.
pub(crate) async fn begin_failback(
    target: &Target,
    input: &BeginFailbackInput,
) -> Result<Answer, PilotLightError> {
    let env = &target.env;
    let execution_id = input.execution_id.as_str();
    let lock_name = lock_parameter_name(env);
    let config = load_config(target).await?;
    standby_runs_here(&config, &target.region)?;
    let standby = config.regions.standby.clone();
    let capacity_record = usable_capacity_record(target).await?;
    let answer = |decision, state: Option<RunState>, lock: Option<Lock>, status| Answer {
        status,
        execution_id: Some(execution_id.to_string()),
        result: ActionResult::BeginFailback(Box::new(BeginFailbackResult {
            failback_id: (decision != FailbackDecision::AlreadyActive)
                .then(|| failback_identity(state.as_ref(), execution_id).0),
            reverse_promotion_requested: decision != FailbackDecision::AlreadyActive
                && state.as_ref().is_some_and(|s| {
                    s.failback_id.is_some() && s.reverse_promotion_requested_at.is_some()
                }),
            decision,
            strategy: input.strategy,
            config: config.clone(),
            recorded_capacities: capacity::recorded_capacities(
                state.as_ref(),
                capacity_record.as_ref(),
            ),
            capacity_recorded_at: capacity_record.as_ref().map(|r| r.recorded_at.clone()),
            recorded_shapes: state
                .as_ref()
                .map(|s| s.database_shapes.clone())
                .unwrap_or_default(),
            state,
            lock,
        })),
        touched: target.touched(vec![
            config_parameter_name(env),
            state_parameter_name(env),
            lock_name.clone(),
        ]),
    };

    let state = read_state(target).await?;
    let lock = read_lock(target).await?;
    if decide_failback(state.as_ref(), &standby) == FailbackDecision::AlreadyActive {
        if lock.is_held_by(execution_id) {
            delete_parameter(&target.ssm, &lock_name).await?;
        }
        return Ok(answer(
            FailbackDecision::AlreadyActive,
            state,
            None,
            StepStatus::AlreadyDone,
        ));
    }
    let status = take_lock(target, &lock, execution_id, FAILBACK_OPERATION).await?;
    // We hold the lock: decide on the state as it is now.
    let state = read_state(target).await?;
    let decision = decide_failback(state.as_ref(), &standby);
    if decision == FailbackDecision::AlreadyActive {
        delete_parameter(&target.ssm, &lock_name).await?;
        return Ok(answer(decision, state, None, StepStatus::AlreadyDone));
    }
    let held = read_lock(target).await?;
    let LockView::Held(lock) = held else {
        return Err(PilotLightError::FailoverInProgress {
            env: env.to_string(),
            holder: "nobody: the lock vanished after we took it".into(),
        });
    };
    // The first failback since the failover records its identity; re-runs reuse it.
    let state = match state {
        Some(before) if failback_identity(Some(&before), execution_id).1 => {
            let recorded = RunState {
                failback_id: Some(execution_id.to_string()),
                reverse_promotion_requested_at: None,
                ..before
            };
            write_state(target, true, &recorded).await?;
            Some(recorded)
        }
        other => other,
    };
    Ok(answer(decision, state, Some(lock), status))
}

/// Takes the lock for `execution_id` (`done`), or finds it already ours (`alreadyDone`, a retry);
/// another holder is `FailoverInProgress` and nothing is changed.
async fn take_lock(
    target: &Target,
    lock: &LockView,
    execution_id: &str,
    operation: &str,
) -> Result<StepStatus, PilotLightError> {
    let env = &target.env;
    let refuse = |holder: String| PilotLightError::FailoverInProgress {
        env: env.to_string(),
        holder,
    };
    match decide_lock(lock, execution_id) {
        BeginDecision::Reenter => return Ok(StepStatus::AlreadyDone),
        BeginDecision::Refuse { holder } => return Err(refuse(holder)),
        _ => {}
    }
    let value = to_json(&Lock {
        execution_id: execution_id.to_string(),
        operation: operation.to_string(),
        acquired_at: Timestamp::now(),
    })?;
    let lock_name = lock_parameter_name(env);
    if put_parameter(&target.ssm, &lock_name, &value, false, env).await? == Put::AlreadyExists {
        match decide_lock(&read_lock(target).await?, execution_id) {
            BeginDecision::Reenter => return Ok(StepStatus::AlreadyDone),
            BeginDecision::Refuse { holder } => return Err(refuse(holder)),
            _ => {
                return Err(refuse(
                    "a run that took and released the lock while we tried".into(),
                ))
            }
        }
    }
    Ok(StepStatus::Done)
}
