//! What runs and schedules record in the run state: the primary groups' capacities (given, or
//! described on a schedule), the cycle markers (`promotionRequested`, `reversePromotionRequested`,
//! `standbyUnfenced`) and the primary databases' settings.

use crate::aws::{
    load_config, put_parameter, read_lock, read_state, to_json, usable_capacity_record,
    write_state, Put, Target,
};
use crate::capacity::{self, capacity_parameter_name, RecordingDecision};
use crate::decide::{
    capacity_needs_write, decide_promotion_requested, decide_reverse_promotion_requested,
    decide_standby_unfenced, merge_database_shapes, MarkerDecision,
};
use crate::{
    ActionResult, Answer, DescribedDatabase, MarkerInput, MarkerResult, RecordCapacityResult,
    RecordDatabasesResult, RecordPrimaryCapacityResult, RunState, RunStateAction,
};
use pilot_light_core::config::{config_parameter_name, lock_parameter_name, state_parameter_name};
use pilot_light_core::{PilotLightError, Regional, StepStatus, Timestamp};
use std::collections::BTreeMap;

pub(crate) async fn record_capacity(
    target: &Target,
    capacities: &BTreeMap<String, u32>,
) -> Result<Answer, PilotLightError> {
    let state = read_state(target).await?;
    let (status, recorded_at) = if capacity_needs_write(state.as_ref(), capacities) {
        let now = Timestamp::now();
        let new_state = RunState {
            primary_capacity: capacities.clone(),
            capacity_recorded_at: Some(now.clone()),
            ..state.clone().unwrap_or_default()
        };
        write_state(target, state.is_some(), &new_state).await?;
        (StepStatus::Done, Some(now))
    } else {
        (
            StepStatus::AlreadyDone,
            state.and_then(|s| s.capacity_recorded_at),
        )
    };
    Ok(Answer {
        status,
        execution_id: None,
        result: ActionResult::RecordCapacity(RecordCapacityResult {
            recorded_capacities: capacities.clone(),
            capacity_recorded_at: recorded_at,
        }),
        touched: target.touched(vec![state_parameter_name(&target.env)]),
    })
}

/// `recordPrimaryCapacity`: while the primary serves and nothing holds the lock, describe its groups
/// and write the capacity record (see [`capacity`]). Writes every time it describes: the record's
/// time says how fresh it is; `done` when a size changed, `alreadyDone` when only the time did.
pub(crate) async fn record_primary_capacity(
    target: &Target,
    autoscaling: &Regional<aws_sdk_autoscaling::Client>,
) -> Result<Answer, PilotLightError> {
    let env = &target.env;
    let config = load_config(target).await?;
    let state = read_state(target).await?;
    let lock = read_lock(target).await?;
    let earlier = usable_capacity_record(target).await?;
    let touched = target.touched(vec![
        config_parameter_name(env),
        state_parameter_name(env),
        lock_parameter_name(env),
        capacity_parameter_name(env),
    ]);
    let primary = &config.regions.primary;
    if let RecordingDecision::Skip(why) = capacity::decide_recording(state.as_ref(), &lock, primary)
    {
        tracing::info!(env = %env, reason = %why, "capacity not recorded");
        return Ok(Answer {
            status: StepStatus::AlreadyDone,
            execution_id: None,
            result: ActionResult::RecordPrimaryCapacity(RecordPrimaryCapacityResult {
                record: earlier,
                skipped: Some(why),
                notes: Vec::new(),
            }),
            touched,
        });
    }
    let names: Vec<String> = config
        .compute_groups
        .iter()
        .map(|g| g.primary.auto_scaling_group_name.clone())
        .collect();
    let observed = capacity::describe_primary_groups(autoscaling, primary, &names).await?;
    let (record, notes) = capacity::next_record(
        &config.compute_groups,
        &observed,
        earlier.as_ref(),
        primary,
        &Timestamp::now(),
    );
    let status = if capacity::sizes_changed(earlier.as_ref(), &record) {
        StepStatus::Done
    } else {
        StepStatus::AlreadyDone
    };
    let name = capacity_parameter_name(env);
    let value = to_json(&record)?;
    // Created tagged with the env when there was none (a concurrent creator's is overwritten).
    if put_parameter(&target.ssm, &name, &value, earlier.is_some(), env).await?
        == Put::AlreadyExists
    {
        put_parameter(&target.ssm, &name, &value, true, env).await?;
    }
    Ok(Answer {
        status,
        execution_id: None,
        result: ActionResult::RecordPrimaryCapacity(RecordPrimaryCapacityResult {
            record: Some(record),
            skipped: None,
            notes,
        }),
        touched,
    })
}

/// `promotionRequested` / `standbyUnfenced`: read, decide, write what differs.
pub(crate) async fn record_marker(
    target: &Target,
    input: &MarkerInput,
) -> Result<Answer, PilotLightError> {
    let env = &target.env;
    let state = read_state(target).await?;
    let lock = read_lock(target).await?;
    let now = Timestamp::now();
    let decision = match input.action {
        RunStateAction::PromotionRequested => {
            decide_promotion_requested(state.as_ref(), &lock, env, &input.execution_id, &now)?
        }
        RunStateAction::ReversePromotionRequested => decide_reverse_promotion_requested(
            state.as_ref(),
            &lock,
            env,
            &input.execution_id,
            &now,
        )?,
        _ => decide_standby_unfenced(state.as_ref(), &lock, env, &input.execution_id, &now)?,
    };
    let (status, new_state) = match decision {
        MarkerDecision::Write(new_state) => {
            write_state(target, state.is_some(), &new_state).await?;
            (StepStatus::Done, *new_state)
        }
        MarkerDecision::AlreadyRecorded => (StepStatus::AlreadyDone, state.unwrap_or_default()),
    };
    Ok(Answer {
        status,
        execution_id: Some(input.execution_id.clone()),
        result: ActionResult::Marker(MarkerResult { state: new_state }),
        touched: target.touched(vec![state_parameter_name(env), lock_parameter_name(env)]),
    })
}

pub(crate) async fn record_databases(
    target: &Target,
    described: &[DescribedDatabase],
) -> Result<Answer, PilotLightError> {
    let state = read_state(target).await?;
    let current = state
        .as_ref()
        .map(|s| s.database_shapes.clone())
        .unwrap_or_default();
    let (status, recorded) = match merge_database_shapes(&current, described) {
        Some(merged) => {
            let new_state = RunState {
                database_shapes: merged.clone(),
                ..state.clone().unwrap_or_default()
            };
            write_state(target, state.is_some(), &new_state).await?;
            (StepStatus::Done, merged)
        }
        None => (StepStatus::AlreadyDone, current),
    };
    Ok(Answer {
        status,
        execution_id: None,
        result: ActionResult::RecordDatabases(RecordDatabasesResult {
            recorded_shapes: recorded,
        }),
        touched: target.touched(vec![state_parameter_name(&target.env)]),
    })
}
