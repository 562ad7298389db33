//! `plan`: the configuration's slices the drill state machine maps over (databases, groups), and
//! whether a drill may start now.

use crate::detail;
use crate::invalid;
use crate::Answer;
use crate::Clients;
use crate::Plan;
use crate::PlanInput;
use crate::PlannedGroup;
use pilot_light_core::config::{config_parameter_name, lock_parameter_name, state_parameter_name};
use pilot_light_core::lock::{active_region_of, drill_may_start, held_lock};
use pilot_light_core::parameters::{get_parameter_value, load_config};
use pilot_light_core::{execution_token, EnvName, PilotLightConfig, PilotLightError, StepStatus};

pub(crate) async fn plan(input: PlanInput, clients: &Clients) -> Result<Answer, PilotLightError> {
    let region = input
        .region
        .clone()
        .or_else(|| clients.home_region.clone())
        .ok_or_else(|| invalid("region", "no region given and none configured"))?;
    let ssm = clients.ssm.get(&region)?;
    let name = config_parameter_name(&input.env);
    let config = load_config(&ssm, &input.env, &region).await?;
    let plan = plan_of(&config, &input.env, &input.execution_id, &region)?;
    // Read when the drill acts, not when it was scheduled: a failover may have begun since.
    let lock_name = lock_parameter_name(&input.env);
    let state_name = state_parameter_name(&input.env);
    let lock = get_parameter_value(&ssm, &lock_name).await?;
    let state = get_parameter_value(&ssm, &state_name).await?;
    drill_may_start(
        &input.env,
        held_lock(lock.as_deref()).as_ref(),
        active_region_of(state.as_deref()).as_deref(),
        &config.regions.standby,
    )?;
    Ok((
        StepStatus::Done,
        detail(&plan),
        vec![name, lock_name, state_name],
    ))
}

/// The drill's plan from a validated configuration (pure).
pub fn plan_of(
    config: &PilotLightConfig,
    env: &EnvName,
    execution_id: &str,
    region: &str,
) -> Result<Plan, PilotLightError> {
    if config.env != *env {
        return Err(PilotLightError::config(
            "env",
            format!("the document is for `{}`, not `{env}`", config.env),
        ));
    }
    if config.regions.standby != region {
        return Err(PilotLightError::config(
            "regions.standby",
            format!(
                "is {}, but the drill runs in {region}: drills build in the standby region",
                config.regions.standby
            ),
        ));
    }
    if execution_id.trim().is_empty() {
        return Err(invalid("executionId", "must not be empty"));
    }
    let groups = config
        .compute_groups
        .iter()
        .map(|group| PlannedGroup {
            group: group.clone(),
            target_group_arn: config.drill.target_group_arns.get(&group.name).cloned(),
        })
        .collect();
    let mut protected: Vec<String> = Vec::new();
    for db in &config.databases {
        protected.push(db.replica_instance_id.clone());
        protected.push(db.primary_instance_id.clone());
    }
    for group in &config.compute_groups {
        protected.push(group.standby.auto_scaling_group_name.clone());
        protected.push(group.primary.auto_scaling_group_name.clone());
    }
    Ok(Plan {
        env: env.clone(),
        execution_id: execution_id.to_string(),
        token: execution_token(execution_id),
        primary_region: config.regions.primary.clone(),
        standby_region: config.regions.standby.clone(),
        drill: config.drill.clone(),
        poll: config.poll,
        databases: config.databases.clone(),
        groups,
        protected,
        notification_topic_arn: config.notification_topic_arn.clone(),
    })
}
