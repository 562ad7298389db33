//! `plan`: reads the configuration, the run state and the lock in the handler's region, and says
//! which way the pipeline copies and what it needs for every group.

use crate::aws::get_parameter;
use crate::decide::{check_action, plan_copies};
use crate::{Clients, CopyAmiAction, PlanInput, PlanOutput};
use pilot_light_core::config::{config_parameter_name, lock_parameter_name, state_parameter_name};
use pilot_light_core::direction::active_region_in_state;
use pilot_light_core::lock::{held_lock, standing_aside};
use pilot_light_core::parameters::load_config;
use pilot_light_core::{PilotLightError, StepStatus, Timestamp};

/// `plan`: the direction from the run state, and the configuration slice.
pub async fn plan(input: PlanInput, clients: &Clients) -> Result<PlanOutput, PilotLightError> {
    let started_at = Timestamp::now();
    check_action(input.action, CopyAmiAction::Plan)?;
    let region = input
        .region
        .clone()
        .or_else(|| clients.home_region.clone())
        .ok_or_else(|| PilotLightError::InvalidInput {
            field: "region".into(),
            reason: "no region given and the handler has none configured".into(),
        })?;
    let ssm = clients.ssm.get(&region)?;
    let config_name = config_parameter_name(&input.env);
    let state_name = state_parameter_name(&input.env);
    let config = load_config(&ssm, &input.env, &region).await?;
    let state = get_parameter(&ssm, &state_name).await?;
    let active_region = active_region_in_state(state.as_deref())?;
    let (direction, kms_key_id) = plan_copies(&config, active_region.as_deref())?;
    // Read now, when the pipeline starts: a run that holds the lock is moving production.
    let lock_name = lock_parameter_name(&input.env);
    let skipped = held_lock(get_parameter(&ssm, &lock_name).await?.as_deref())
        .map(|lock| standing_aside("the AMI pipeline", &input.env, &lock));
    if let Some(notice) = &skipped {
        tracing::warn!(env = %input.env, notice = %notice, "copy-ami plan");
    }
    tracing::info!(
        env = %input.env,
        source_region = %direction.source_region,
        target_region = %direction.target_region,
        groups = config.compute_groups.len(),
        "copy-ami plan"
    );
    Ok(PlanOutput {
        action: input.action,
        status: StepStatus::Done,
        env: input.env.clone(),
        active_region,
        source_region: direction.source_region,
        source_side: direction.source_side,
        target_region: direction.target_region,
        target_side: direction.target_side,
        policy: config.ami_policy.clone(),
        kms_key_id,
        poll: config.poll.image,
        groups: if skipped.is_some() {
            Vec::new()
        } else {
            config.compute_groups.clone()
        },
        skipped,
        started_at,
        finished_at: Timestamp::now(),
        resources: vec![config_name, state_name, lock_name],
    })
}
