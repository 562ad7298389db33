//! `scale-asg`: brings a compute group's Auto Scaling group (one side, one region) to its failover
//! capacity (`scale`), tells when that capacity is `InService` and healthy (`status`), and fences a
//! group to zero (`fence`).
//!
//! Observe, then act: every action first describes the group. `scale` never lowers a group's desired
//! capacity (a group already bigger than the target is left alone) and never asks for more than the
//! group's `MaxSize` (it says `limitedByMaxSize` instead, and the answer's `target` is what `status`
//! should wait for). `fence` stops every way the group could start an instance (it suspends the
//! scaling processes in [`FENCE_PROCESSES`]: launches, alarm-driven and scheduled scaling, AZ
//! rebalancing, replacement, instance refresh) and puts desired and min to 0, after writing what it
//! takes away in group tags: the min it found ([`FENCED_MIN_SIZE_TAG`]) and the processes it
//! suspended ([`FENCED_SUSPENDED_PROCESSES_TAG`]; processes someone else suspended are left so).
//! The next `scale` of that group resumes those processes, puts the min back (never above
//! `MaxSize`) and removes the tags, so a failback leaves the primary group as it was.
//!
//! A fence is finished only when the group has no instance left (none `Pending`, `InService`,
//! `Terminating`, …: an instance still shutting down may still write): until then `fence` answers
//! `started` / `inProgress`, and the state machine runs it again after a `Wait` (it changes
//! nothing the second time) until it answers `done` / `alreadyDone`. Nothing here waits: the state
//! machine polls `status` and `fence`.
//!
//! Layout: the observations of a group and the pure decisions (the scale plan, health, the fence
//! plan and answer, what `scale` resumes and restores) are in `decide`, the Auto Scaling and
//! Elastic Load Balancing calls in `aws`; the handler here observes, decides and acts, one `match`
//! arm per action.

mod aws;
pub mod decide;

pub use decide::{
    count_in_service, decide_fence_status, decide_health, decide_min_restore, parse_process_list,
    plan_fence, plan_resume, plan_scale, process_list_value, FencePlan, GroupObservation,
    InstanceObservation, MinRestore, ResumePlan, ScalePlan,
};

use crate::aws::{
    count_healthy_targets, fence, forget_fenced_min, forget_tag, observe_group, remember_fence,
    restore_min, resume_processes, set_desired, suspend_processes,
};
use crate::decide::check_not_deleting;

use pilot_light_core::capacity_record::failover_capacity;
use pilot_light_core::config::ComputeGroupConfig;
use pilot_light_core::{parse_step_input, PilotLightError, Regional, StepStatus, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The actions of this handler.
pub const ACTIONS: &[&str] = &["scale", "status", "fence"];

/// Group tag written by `fence`: the min size the group had before it was fenced (`scale` restores
/// it and removes the tag).
pub use pilot_light_core::FENCED_MIN_SIZE_TAG;

pub use pilot_light_core::tags::FENCED_SUSPENDED_PROCESSES_TAG;

/// The scaling processes a fence suspends: everything that could start an instance in a fenced
/// group. `Terminate` stays on (the fence needs it); `HealthCheck` and `AddToLoadBalancer` start
/// nothing.
pub const FENCE_PROCESSES: &[&str] = &[
    "Launch",
    "AlarmNotification",
    "ScheduledActions",
    "AZRebalance",
    "ReplaceUnhealthy",
    "InstanceRefresh",
];

/// The clients this handler uses, built once per Lambda instance.
pub struct Clients {
    pub autoscaling: Regional<aws_sdk_autoscaling::Client>,
    pub elbv2: Regional<aws_sdk_elasticloadbalancingv2::Client>,
}

impl Clients {
    /// Clients from the environment (honours `AWS_ENDPOINT_URL`).
    pub async fn from_env() -> Self {
        let base = pilot_light_core::clients::load_sdk_config().await;
        Self {
            autoscaling: Regional::new(base.clone(), aws_sdk_autoscaling::Client::new),
            elbv2: Regional::new(base, aws_sdk_elasticloadbalancingv2::Client::new),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ScaleAction {
    /// Raise the desired capacity to the target (once; never lower it).
    Scale,
    /// `done` when `target` instances are `InService` and `Healthy` (and healthy in the target
    /// group, when one is configured).
    Status,
    /// Scaling processes suspended, desired and min to 0; `done` once no instance is left.
    Fence,
}

/// Which half of a compute group entry to act on.
pub use pilot_light_core::config::Side;

/// Input from the state machine: the action and the slice of configuration it needs.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScaleAsgInput {
    pub action: ScaleAction,
    /// The region of `side`'s group.
    pub region: String,
    pub side: Side,
    pub group: ComputeGroupConfig,
    /// The primary groups' desired capacities as last recorded, by compute group name.
    #[serde(default)]
    pub recorded_capacities: Option<BTreeMap<String, u32>>,
    /// For `status`: the `target` of the `scale` answer. Without it, `status` works the target out
    /// as `scale` does.
    #[serde(default)]
    pub target: Option<u32>,
    /// The Step Functions execution, for the logs.
    #[serde(default)]
    pub execution_id: Option<String>,
}

/// What the action found and did. Fields that belong to one action only are left out of the others.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScaleAsgOutput {
    pub action: ScaleAction,
    pub status: StepStatus,
    /// Logical compute group name from the configuration.
    pub group: String,
    pub region: String,
    pub side: Side,
    pub auto_scaling_group_name: String,
    /// `scale`, `status`: the capacity to wait for (the policy's target, at most `MaxSize`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<u32>,
    /// `scale`: the policy's target before the `MaxSize` limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_target: Option<u32>,
    /// `scale`, `fence`: the desired capacity found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_desired: Option<u32>,
    /// `fence`: the min size found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_min_size: Option<u32>,
    /// `scale`: the min size put back from [`FENCED_MIN_SIZE_TAG`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restored_min_size: Option<u32>,
    /// `fence`: the scaling processes this call suspended.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suspended_processes: Vec<String>,
    /// `scale`: the scaling processes a fence had suspended and this call resumed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resumed_processes: Vec<String>,
    /// `fence`: the group's instances not gone yet (any lifecycle state), after this call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instances_left: Option<u32>,
    /// The desired capacity now.
    pub desired_capacity: u32,
    pub min_size: u32,
    pub max_size: u32,
    /// `scale`: the target was above `MaxSize`, so the group got `MaxSize`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limited_by_max_size: Option<bool>,
    /// `status`: instances `InService` and `Healthy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_service: Option<u32>,
    /// `status`, with a target group configured: the group's instances that are `healthy` targets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy_targets: Option<u32>,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    /// ARNs of the resources looked at or changed.
    pub resources: Vec<String>,
}
/// The Lambda handler: decode, validate, observe, act.
pub async fn handler(
    event: serde_json::Value,
    clients: &Clients,
) -> Result<ScaleAsgOutput, PilotLightError> {
    let started_at = Timestamp::now();
    let input: ScaleAsgInput = parse_step_input(event, ACTIONS)?;
    let side = input.side.of_group(&input.group);
    let side_name = input.side.name();
    if side.auto_scaling_group_name.trim().is_empty() {
        return Err(PilotLightError::InvalidInput {
            field: format!("group.{side_name}.autoScalingGroupName"),
            reason: "must not be empty".into(),
        });
    }
    let autoscaling = clients.autoscaling.get(&input.region)?;
    let region = input.region.as_str();
    let name = side.auto_scaling_group_name.as_str();
    let obs = observe_group(&autoscaling, name, region).await?;
    check_not_deleting(&obs, name)?;
    let recorded = input
        .recorded_capacities
        .as_ref()
        .and_then(|r| r.get(&input.group.name))
        .copied();

    let mut out = ScaleAsgOutput {
        action: input.action,
        status: StepStatus::AlreadyDone,
        group: input.group.name.clone(),
        region: region.to_string(),
        side: input.side,
        auto_scaling_group_name: name.to_string(),
        target: None,
        requested_target: None,
        previous_desired: None,
        previous_min_size: None,
        restored_min_size: None,
        suspended_processes: Vec::new(),
        resumed_processes: Vec::new(),
        instances_left: None,
        desired_capacity: obs.desired,
        min_size: obs.min_size,
        max_size: obs.max_size,
        limited_by_max_size: None,
        in_service: None,
        healthy_targets: None,
        started_at,
        finished_at: Timestamp::now(),
        resources: vec![obs.arn.clone()],
    };

    match input.action {
        ScaleAction::Scale => {
            let requested = failover_capacity(&input.group.capacity, recorded);
            let plan = plan_scale(obs.desired, requested, obs.max_size);
            out.target = Some(plan.target);
            out.requested_target = Some(requested);
            out.previous_desired = Some(obs.desired);
            out.limited_by_max_size = Some(plan.limited_by_max_size);
            // Processes first: a group whose launches are suspended would not grow.
            let resume = plan_resume(&obs.suspended_processes, obs.fenced_suspended.as_ref());
            if !resume.resume.is_empty() {
                resume_processes(&autoscaling, name, region, &resume.resume).await?;
                out.resumed_processes = resume.resume.iter().cloned().collect();
                out.status = StepStatus::Done;
            }
            match decide_min_restore(obs.min_size, obs.fenced_min_size, obs.max_size) {
                MinRestore::Restore(min) => {
                    let desired = plan.desired.max(min);
                    restore_min(&autoscaling, name, region, min, desired).await?;
                    forget_fenced_min(&autoscaling, name, region).await?;
                    out.restored_min_size = Some(min);
                    out.min_size = min;
                    out.desired_capacity = desired;
                    out.status = StepStatus::Started;
                }
                MinRestore::ForgetTag => {
                    forget_fenced_min(&autoscaling, name, region).await?;
                }
                MinRestore::Nothing => {}
            }
            if out.status != StepStatus::Started && plan.changes(obs.desired) {
                set_desired(&autoscaling, name, region, plan.desired).await?;
                out.desired_capacity = plan.desired;
                out.status = StepStatus::Started;
            }
            if resume.forget_tag {
                forget_tag(&autoscaling, name, region, FENCED_SUSPENDED_PROCESSES_TAG).await?;
            }
        }
        ScaleAction::Status => {
            let target = input.target.unwrap_or_else(|| {
                plan_scale(
                    obs.desired,
                    failover_capacity(&input.group.capacity, recorded),
                    obs.max_size,
                )
                .target
            });
            let in_service = count_in_service(&obs.instances);
            let healthy_targets = match &side.target_group_arn {
                Some(arn) => {
                    let elbv2 = clients.elbv2.get(region)?;
                    let members: BTreeSet<&str> = obs
                        .instances
                        .iter()
                        .map(|i| i.instance_id.as_str())
                        .collect();
                    out.resources.push(arn.clone());
                    Some(count_healthy_targets(&elbv2, arn, &members, region).await?)
                }
                None => None,
            };
            out.target = Some(target);
            out.in_service = Some(in_service);
            out.healthy_targets = healthy_targets;
            out.status = decide_health(target, in_service, healthy_targets);
        }
        ScaleAction::Fence => {
            out.previous_desired = Some(obs.desired);
            out.previous_min_size = Some(obs.min_size);
            let plan = plan_fence(&obs);
            if plan.remember_min.is_some() || plan.remember_suspended.is_some() {
                remember_fence(&autoscaling, name, region, &plan).await?;
            }
            if !plan.suspend.is_empty() {
                suspend_processes(&autoscaling, name, region, &plan.suspend).await?;
                out.suspended_processes = plan.suspend.iter().cloned().collect();
            }
            if plan.zero {
                fence(&autoscaling, name, region).await?;
            }
            // Look again: what is left is what the group still runs (or still shuts down).
            let after = if plan.changes() {
                observe_group(&autoscaling, name, region).await?
            } else {
                obs.clone()
            };
            out.desired_capacity = after.desired;
            out.min_size = after.min_size;
            out.instances_left = Some(after.instances.len() as u32);
            out.status = decide_fence_status(plan.changes(), after.instances.len());
        }
    }

    tracing::info!(
        action = ?input.action,
        group = %input.group.name,
        side = side_name,
        region,
        auto_scaling_group = name,
        execution_id = input.execution_id.as_deref().unwrap_or(""),
        desired_capacity = out.desired_capacity,
        target = ?out.target,
        in_service = ?out.in_service,
        healthy_targets = ?out.healthy_targets,
        status = ?out.status,
        "scale-asg"
    );
    out.finished_at = Timestamp::now();
    Ok(out)
}

#[cfg(test)]
mod action_list {
    use super::{ScaleAction, ACTIONS};

    /// `ACTIONS` (what `UnknownAction` quotes and the state machines may send) names every action
    /// of [`ScaleAction`] once, by its wire name. A new action does not compile here until it is counted.
    #[test]
    fn the_action_list_names_every_action_once() {
        let listed = pilot_light_core::step::check_action_list::<ScaleAction>(ACTIONS).unwrap();
        let index = |action: &ScaleAction| match action {
            ScaleAction::Scale => 0,
            ScaleAction::Status => 1,
            ScaleAction::Fence => 2,
        };
        let mut seen: Vec<usize> = listed.iter().map(index).collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..3).collect::<Vec<_>>());
    }
}
