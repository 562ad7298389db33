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

use aws_sdk_autoscaling::error::ProvideErrorMetadata;
use aws_sdk_autoscaling::types::{AutoScalingGroup, LifecycleState};
use aws_sdk_elasticloadbalancingv2::types::TargetHealthStateEnum;
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

/// Group tag written by `fence`: the scaling processes it suspended, comma-separated (`scale`
/// resumes them and removes the tag).
pub const FENCED_SUSPENDED_PROCESSES_TAG: &str = "pilot-light:fenced-suspended-processes";

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

/// One instance of the group, reduced to what the decisions need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceObservation {
    pub instance_id: String,
    /// `Pending`, `InService`, `Terminating`, …
    pub lifecycle_state: String,
    /// `Healthy` or `Unhealthy`.
    pub health_status: String,
}

/// What a describe call tells about the group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupObservation {
    pub arn: String,
    pub min_size: u32,
    pub max_size: u32,
    pub desired: u32,
    /// Set by Auto Scaling only while the group is being deleted (`Delete in progress`).
    pub status: Option<String>,
    pub instances: Vec<InstanceObservation>,
    /// The value of [`FENCED_MIN_SIZE_TAG`], when the group was fenced by pilot-light.
    pub fenced_min_size: Option<u32>,
    /// The scaling processes suspended now (by anyone).
    pub suspended_processes: BTreeSet<String>,
    /// The value of [`FENCED_SUSPENDED_PROCESSES_TAG`]: the processes a pilot-light fence suspended.
    pub fenced_suspended: Option<BTreeSet<String>>,
}

impl GroupObservation {
    fn from_group(group: &AutoScalingGroup) -> Self {
        let size = |n: Option<i32>| n.unwrap_or(0).max(0) as u32;
        Self {
            arn: group
                .auto_scaling_group_arn()
                .unwrap_or_default()
                .to_string(),
            min_size: size(group.min_size()),
            max_size: size(group.max_size()),
            desired: size(group.desired_capacity()),
            status: group.status().filter(|s| !s.is_empty()).map(str::to_string),
            fenced_min_size: group
                .tags()
                .iter()
                .find(|t| t.key() == Some(FENCED_MIN_SIZE_TAG))
                .and_then(|t| t.value())
                .and_then(|v| v.parse().ok()),
            suspended_processes: group
                .suspended_processes()
                .iter()
                .filter_map(|p| p.process_name())
                .map(str::to_string)
                .collect(),
            fenced_suspended: group
                .tags()
                .iter()
                .find(|t| t.key() == Some(FENCED_SUSPENDED_PROCESSES_TAG))
                .map(|t| parse_process_list(t.value().unwrap_or_default())),
            instances: group
                .instances()
                .iter()
                .map(|i| InstanceObservation {
                    instance_id: i.instance_id().unwrap_or_default().to_string(),
                    lifecycle_state: i
                        .lifecycle_state()
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                    health_status: i.health_status().unwrap_or_default().to_string(),
                })
                .collect(),
        }
    }
}

/// What `scale` should ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScalePlan {
    /// The capacity to wait for: the target, at most `MaxSize`.
    pub target: u32,
    /// The desired capacity to set (equal to the current one when nothing is to change).
    pub desired: u32,
    /// The target was above `MaxSize`.
    pub limited_by_max_size: bool,
}

impl ScalePlan {
    /// True when the desired capacity has to change.
    pub fn changes(&self, current_desired: u32) -> bool {
        self.desired != current_desired
    }
}

/// Plans `scale`: never lower the desired capacity, never above `MaxSize`.
pub fn plan_scale(current_desired: u32, target: u32, max_size: u32) -> ScalePlan {
    let reachable = target.min(max_size);
    ScalePlan {
        target: reachable,
        desired: current_desired.max(reachable),
        limited_by_max_size: target > max_size,
    }
}

/// Instances that count as serving: `InService` and `Healthy`.
pub fn count_in_service(instances: &[InstanceObservation]) -> u32 {
    instances
        .iter()
        .filter(|i| i.lifecycle_state == LifecycleState::InService.as_str())
        .filter(|i| i.health_status == "Healthy")
        .count() as u32
}

/// Decides `status`: `done` when at least `target` instances serve and, with a target group, at
/// least `target` of them are healthy targets.
pub fn decide_health(target: u32, in_service: u32, healthy_targets: Option<u32>) -> StepStatus {
    let enough_targets = healthy_targets.is_none_or(|healthy| healthy >= target);
    if in_service >= target && enough_targets {
        StepStatus::Done
    } else {
        StepStatus::InProgress
    }
}

/// The processes of a [`FENCED_SUSPENDED_PROCESSES_TAG`] value (`none`: the fence suspended
/// nothing, everything was suspended already).
pub fn parse_process_list(value: &str) -> BTreeSet<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty() && *p != "none")
        .map(str::to_string)
        .collect()
}

/// A [`FENCED_SUSPENDED_PROCESSES_TAG`] value (`none` for no process: a tag value is never empty).
pub fn process_list_value(processes: &BTreeSet<String>) -> String {
    if processes.is_empty() {
        "none".to_string()
    } else {
        processes.iter().cloned().collect::<Vec<_>>().join(",")
    }
}

/// What `fence` must do, decided from the observation alone.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FencePlan {
    /// Write [`FENCED_MIN_SIZE_TAG`] with this min first (a min > 0 not remembered yet).
    pub remember_min: Option<u32>,
    /// Write [`FENCED_SUSPENDED_PROCESSES_TAG`] with this set first (what a fence suspended before,
    /// and what this one suspends now).
    pub remember_suspended: Option<BTreeSet<String>>,
    /// Suspend these processes (those of [`FENCE_PROCESSES`] not suspended yet).
    pub suspend: BTreeSet<String>,
    /// Put min and desired to 0.
    pub zero: bool,
}

impl FencePlan {
    /// True when the plan changes anything.
    pub fn changes(&self) -> bool {
        self.remember_min.is_some()
            || self.remember_suspended.is_some()
            || !self.suspend.is_empty()
            || self.zero
    }
}

/// Plans `fence`: remember first what is taken away (so a crash between the calls loses nothing),
/// then suspend what could start an instance, then zero the group. A process someone else had
/// suspended is neither suspended again nor remembered (the next `scale` leaves it suspended).
pub fn plan_fence(obs: &GroupObservation) -> FencePlan {
    let suspend: BTreeSet<String> = FENCE_PROCESSES
        .iter()
        .filter(|p| !obs.suspended_processes.contains(**p))
        .map(|p| p.to_string())
        .collect();
    let remember_suspended = if suspend.is_empty() && obs.fenced_suspended.is_some() {
        None
    } else {
        let mut remembered = obs.fenced_suspended.clone().unwrap_or_default();
        remembered.extend(suspend.iter().cloned());
        (obs.fenced_suspended.as_ref() != Some(&remembered)).then_some(remembered)
    };
    FencePlan {
        remember_min: (obs.min_size > 0 && obs.fenced_min_size.is_none()).then_some(obs.min_size),
        remember_suspended,
        suspend,
        zero: obs.desired != 0 || obs.min_size != 0,
    }
}

/// Decides `fence`'s answer from whether this call changed anything and how many instances the
/// group still has (any lifecycle state: one `Terminating` may still be writing): finished only
/// when none is left.
pub fn decide_fence_status(changed: bool, instances_left: usize) -> StepStatus {
    match (changed, instances_left) {
        (true, 0) => StepStatus::Done,
        (false, 0) => StepStatus::AlreadyDone,
        (true, _) => StepStatus::Started,
        (false, _) => StepStatus::InProgress,
    }
}

/// What `scale` does about the processes a fence suspended.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResumePlan {
    /// Resume these (suspended by a fence and still suspended).
    pub resume: BTreeSet<String>,
    /// Remove [`FENCED_SUSPENDED_PROCESSES_TAG`] afterwards.
    pub forget_tag: bool,
}

/// Decides the processes `scale` resumes: those the fence tag names that are still suspended.
pub fn plan_resume(
    suspended: &BTreeSet<String>,
    fenced_suspended: Option<&BTreeSet<String>>,
) -> ResumePlan {
    match fenced_suspended {
        None => ResumePlan::default(),
        Some(fenced) => ResumePlan {
            resume: fenced.intersection(suspended).cloned().collect(),
            forget_tag: true,
        },
    }
}

/// A group being deleted cannot be scaled, fenced or waited for.
fn check_not_deleting(obs: &GroupObservation, name: &str) -> Result<(), PilotLightError> {
    match &obs.status {
        Some(status) => Err(PilotLightError::InvalidState {
            resource: format!("Auto Scaling group {name}"),
            state: status.clone(),
            reason: "the group is being deleted".into(),
        }),
        None => Ok(()),
    }
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

fn group_not_found(name: &str, region: &str) -> PilotLightError {
    PilotLightError::ResourceNotFound {
        kind: "AutoScalingGroup".into(),
        id: name.to_string(),
        region: region.to_string(),
    }
}

/// Describes the group. Not found is `ResourceNotFound`.
async fn observe_group(
    autoscaling: &aws_sdk_autoscaling::Client,
    name: &str,
    region: &str,
) -> Result<GroupObservation, PilotLightError> {
    let described = autoscaling
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(name)
        .send()
        .await
        .map_err(|err| PilotLightError::from_sdk("DescribeAutoScalingGroups", &err))?;
    described
        .auto_scaling_groups()
        .iter()
        .find(|g| g.auto_scaling_group_name() == Some(name))
        .map(GroupObservation::from_group)
        .ok_or_else(|| group_not_found(name, region))
}

/// Maps an error of a call that changes the group: a vanished group is `ResourceNotFound`, a
/// scaling activity or contention in the way is `Throttled` (try again later), another validation
/// error is `InvalidState`.
fn change_error<E>(
    operation: &str,
    err: &aws_sdk_autoscaling::error::SdkError<E>,
    name: &str,
    region: &str,
) -> PilotLightError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let message = err.message().unwrap_or_default().to_string();
    match err.code() {
        Some("ScalingActivityInProgress") | Some("ResourceContention") => {
            PilotLightError::Throttled {
                operation: operation.to_string(),
                message,
            }
        }
        Some("ValidationError") if message.to_lowercase().contains("not found") => {
            group_not_found(name, region)
        }
        Some("ValidationError") => PilotLightError::InvalidState {
            resource: format!("Auto Scaling group {name}"),
            state: "unchanged".into(),
            reason: format!("{operation} refused: {message}"),
        },
        _ => PilotLightError::from_sdk(operation, err),
    }
}

/// Sets the desired capacity (cooldowns do not apply to a failover).
async fn set_desired(
    autoscaling: &aws_sdk_autoscaling::Client,
    name: &str,
    region: &str,
    desired: u32,
) -> Result<(), PilotLightError> {
    autoscaling
        .set_desired_capacity()
        .auto_scaling_group_name(name)
        .desired_capacity(i32::try_from(desired).unwrap_or(i32::MAX))
        .honor_cooldown(false)
        .send()
        .await
        .map_err(|err| change_error("SetDesiredCapacity", &err, name, region))?;
    Ok(())
}

/// What `scale` does about a min size `fence` took away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MinRestore {
    /// No fence tag: nothing.
    Nothing,
    /// Put the min back to this (the recorded min, at most `MaxSize`), then remove the tag.
    Restore(u32),
    /// The min is already back (someone restored it): only remove the tag.
    ForgetTag,
}

/// Decides the min size `scale` restores from the fence tag.
pub fn decide_min_restore(min_size: u32, fenced_min: Option<u32>, max_size: u32) -> MinRestore {
    match fenced_min {
        None => MinRestore::Nothing,
        Some(recorded) => {
            let wanted = recorded.min(max_size);
            if min_size < wanted {
                MinRestore::Restore(wanted)
            } else {
                MinRestore::ForgetTag
            }
        }
    }
}

fn group_tag(name: &str, key: &str, value: Option<String>) -> aws_sdk_autoscaling::types::Tag {
    aws_sdk_autoscaling::types::Tag::builder()
        .resource_id(name)
        .resource_type("auto-scaling-group")
        .key(key)
        .set_value(value)
        .propagate_at_launch(false)
        .build()
}

/// Writes what a fence is about to take away: the min size, the processes it suspends.
async fn remember_fence(
    autoscaling: &aws_sdk_autoscaling::Client,
    name: &str,
    region: &str,
    plan: &FencePlan,
) -> Result<(), PilotLightError> {
    let mut request = autoscaling.create_or_update_tags();
    if let Some(min_size) = plan.remember_min {
        request = request.tags(group_tag(
            name,
            FENCED_MIN_SIZE_TAG,
            Some(min_size.to_string()),
        ));
    }
    if let Some(processes) = &plan.remember_suspended {
        request = request.tags(group_tag(
            name,
            FENCED_SUSPENDED_PROCESSES_TAG,
            Some(process_list_value(processes)),
        ));
    }
    request
        .send()
        .await
        .map_err(|err| change_error("CreateOrUpdateTags", &err, name, region))?;
    Ok(())
}

/// Removes the min fence tag once the min is back.
async fn forget_fenced_min(
    autoscaling: &aws_sdk_autoscaling::Client,
    name: &str,
    region: &str,
) -> Result<(), PilotLightError> {
    forget_tag(autoscaling, name, region, FENCED_MIN_SIZE_TAG).await
}

/// Removes one of the fence's tags.
async fn forget_tag(
    autoscaling: &aws_sdk_autoscaling::Client,
    name: &str,
    region: &str,
    key: &str,
) -> Result<(), PilotLightError> {
    autoscaling
        .delete_tags()
        .tags(group_tag(name, key, None))
        .send()
        .await
        .map_err(|err| change_error("DeleteTags", &err, name, region))?;
    Ok(())
}

/// Suspends scaling processes.
async fn suspend_processes(
    autoscaling: &aws_sdk_autoscaling::Client,
    name: &str,
    region: &str,
    processes: &BTreeSet<String>,
) -> Result<(), PilotLightError> {
    autoscaling
        .suspend_processes()
        .auto_scaling_group_name(name)
        .set_scaling_processes(Some(processes.iter().cloned().collect()))
        .send()
        .await
        .map_err(|err| change_error("SuspendProcesses", &err, name, region))?;
    Ok(())
}

/// Resumes scaling processes.
async fn resume_processes(
    autoscaling: &aws_sdk_autoscaling::Client,
    name: &str,
    region: &str,
    processes: &BTreeSet<String>,
) -> Result<(), PilotLightError> {
    autoscaling
        .resume_processes()
        .auto_scaling_group_name(name)
        .set_scaling_processes(Some(processes.iter().cloned().collect()))
        .send()
        .await
        .map_err(|err| change_error("ResumeProcesses", &err, name, region))?;
    Ok(())
}

/// Min back to what it was, desired at least that.
async fn restore_min(
    autoscaling: &aws_sdk_autoscaling::Client,
    name: &str,
    region: &str,
    min_size: u32,
    desired: u32,
) -> Result<(), PilotLightError> {
    let size = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
    autoscaling
        .update_auto_scaling_group()
        .auto_scaling_group_name(name)
        .min_size(size(min_size))
        .desired_capacity(size(desired))
        .send()
        .await
        .map_err(|err| change_error("UpdateAutoScalingGroup", &err, name, region))?;
    Ok(())
}

/// Desired and min to 0.
async fn fence(
    autoscaling: &aws_sdk_autoscaling::Client,
    name: &str,
    region: &str,
) -> Result<(), PilotLightError> {
    autoscaling
        .update_auto_scaling_group()
        .auto_scaling_group_name(name)
        .min_size(0)
        .desired_capacity(0)
        .send()
        .await
        .map_err(|err| change_error("UpdateAutoScalingGroup", &err, name, region))?;
    Ok(())
}

/// The group's instances that are `healthy` targets of the target group.
async fn count_healthy_targets(
    elbv2: &aws_sdk_elasticloadbalancingv2::Client,
    target_group_arn: &str,
    members: &BTreeSet<&str>,
    region: &str,
) -> Result<u32, PilotLightError> {
    let described = elbv2
        .describe_target_health()
        .target_group_arn(target_group_arn)
        .send()
        .await
        .map_err(|err| {
            PilotLightError::from_sdk_or_missing(
                "DescribeTargetHealth",
                &err,
                |e| e.is_target_group_not_found_exception(),
                || PilotLightError::ResourceNotFound {
                    kind: "TargetGroup".into(),
                    id: target_group_arn.to_string(),
                    region: region.to_string(),
                },
            )
        })?;
    let healthy: BTreeSet<&str> = described
        .target_health_descriptions()
        .iter()
        .filter(|d| {
            d.target_health().and_then(|h| h.state()) == Some(&TargetHealthStateEnum::Healthy)
        })
        .filter_map(|d| d.target().and_then(|t| t.id()))
        .filter(|id| members.contains(id))
        .collect();
    Ok(healthy.len() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_min_a_fence_took_is_put_back_once_and_never_above_max() {
        for (min, fenced, max, expected) in [
            (0, None, 4, MinRestore::Nothing),
            (2, None, 4, MinRestore::Nothing),
            (0, Some(2), 4, MinRestore::Restore(2)),
            (1, Some(2), 4, MinRestore::Restore(2)),
            (0, Some(6), 4, MinRestore::Restore(4)),
            (2, Some(2), 4, MinRestore::ForgetTag),
            (3, Some(2), 4, MinRestore::ForgetTag),
        ] {
            assert_eq!(
                decide_min_restore(min, fenced, max),
                expected,
                "min {min}, fenced {fenced:?}, max {max}"
            );
        }
    }

    #[test]
    fn scale_plans() {
        // (current desired, target, max) → (target to wait for, desired, limited, changes)
        let cases = [
            // From zero to the target.
            (0, 3, 10, (3, 3, false, true)),
            // Already there.
            (3, 3, 10, (3, 3, false, false)),
            // Never scale down: a bigger group stays as it is.
            (5, 3, 10, (3, 5, false, false)),
            // Up from a smaller group.
            (2, 4, 10, (4, 4, false, true)),
            // Clamped at MaxSize.
            (0, 6, 4, (4, 4, true, true)),
            (4, 6, 4, (4, 4, true, false)),
            // A group above its max (AWS would not allow it) is not lowered either.
            (5, 6, 4, (4, 5, true, false)),
            // A group that may not run anything.
            (0, 2, 0, (0, 0, true, false)),
            (0, 0, 4, (0, 0, false, false)),
        ];
        for (current, target, max, (want_target, desired, limited, changes)) in cases {
            let plan = plan_scale(current, target, max);
            assert_eq!(
                (
                    plan.target,
                    plan.desired,
                    plan.limited_by_max_size,
                    plan.changes(current)
                ),
                (want_target, desired, limited, changes),
                "current {current}, target {target}, max {max}"
            );
        }
    }

    fn instance(state: &str, health: &str) -> InstanceObservation {
        InstanceObservation {
            instance_id: format!("i-{state}-{health}"),
            lifecycle_state: state.into(),
            health_status: health.into(),
        }
    }

    #[test]
    fn serving_instances() {
        let instances = vec![
            instance("InService", "Healthy"),
            instance("InService", "Unhealthy"),
            instance("Pending", "Healthy"),
            instance("Terminating", "Healthy"),
            instance("Standby", "Healthy"),
            instance("InService", "Healthy"),
        ];
        assert_eq!(count_in_service(&instances), 2);
        assert_eq!(count_in_service(&[]), 0);
    }

    #[test]
    fn health_decisions() {
        use StepStatus::*;
        let cases = [
            (3, 3, None, Done),
            (3, 4, None, Done),
            (3, 2, None, InProgress),
            (0, 0, None, Done),
            (3, 3, Some(3), Done),
            (3, 3, Some(2), InProgress),
            (3, 2, Some(3), InProgress),
            (0, 0, Some(0), Done),
        ];
        for (target, in_service, healthy, expected) in cases {
            assert_eq!(
                decide_health(target, in_service, healthy),
                expected,
                "target {target}, in service {in_service}, healthy targets {healthy:?}"
            );
        }
    }

    fn processes(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    fn observed(min: u32, desired: u32, suspended: &[&str]) -> GroupObservation {
        GroupObservation {
            arn: "arn".into(),
            min_size: min,
            max_size: 10,
            desired,
            status: None,
            instances: vec![],
            fenced_min_size: None,
            suspended_processes: processes(suspended),
            fenced_suspended: None,
        }
    }

    #[test]
    fn fence_plans() {
        let all = processes(FENCE_PROCESSES);
        // A running group: remember min and processes, suspend them all, zero it.
        let plan = plan_fence(&observed(2, 4, &[]));
        assert_eq!(plan.remember_min, Some(2));
        assert_eq!(plan.remember_suspended, Some(all.clone()));
        assert_eq!(plan.suspend, all);
        assert!(plan.zero && plan.changes());

        // Min 0: nothing to remember about it.
        assert_eq!(plan_fence(&observed(0, 4, &[])).remember_min, None);

        // Processes someone else suspended are neither suspended again nor remembered.
        let plan = plan_fence(&observed(0, 2, &["Launch", "HealthCheck"]));
        assert!(!plan.suspend.contains("Launch"));
        assert_eq!(plan.suspend.len(), FENCE_PROCESSES.len() - 1);
        assert_eq!(plan.remember_suspended.as_ref(), Some(&plan.suspend));

        // Fenced already (tags written, processes suspended, zero): nothing to do.
        let fenced = GroupObservation {
            fenced_min_size: Some(2),
            fenced_suspended: Some(all.clone()),
            ..observed(0, 0, FENCE_PROCESSES)
        };
        assert_eq!(plan_fence(&fenced), FencePlan::default());
        assert!(!plan_fence(&fenced).changes());

        // A crash after the tags were written and before the suspension: suspend, the tag stays.
        let half = GroupObservation {
            fenced_min_size: Some(2),
            fenced_suspended: Some(all.clone()),
            ..observed(2, 4, &[])
        };
        let plan = plan_fence(&half);
        assert_eq!((plan.remember_min, plan.remember_suspended), (None, None));
        assert_eq!(plan.suspend, all);
        assert!(plan.zero);

        // Everything was suspended by someone else before: remembered as "none".
        let plan = plan_fence(&observed(0, 0, FENCE_PROCESSES));
        assert_eq!(plan.remember_suspended, Some(BTreeSet::new()));
        assert!(plan.suspend.is_empty() && !plan.zero);
    }

    #[test]
    fn a_fence_is_finished_only_when_no_instance_is_left() {
        use StepStatus::*;
        let cases = [
            (true, 0, Done),
            (false, 0, AlreadyDone),
            (true, 2, Started),
            (false, 1, InProgress),
        ];
        for (changed, left, expected) in cases {
            assert_eq!(
                decide_fence_status(changed, left),
                expected,
                "changed {changed}, {left} left"
            );
        }
    }

    #[test]
    fn scale_resumes_only_what_a_fence_suspended_and_is_still_suspended() {
        let suspended = processes(&["Launch", "AZRebalance", "ScheduledActions"]);
        assert_eq!(plan_resume(&suspended, None), ResumePlan::default());
        let fenced = processes(&["Launch", "ScheduledActions", "AlarmNotification"]);
        assert_eq!(
            plan_resume(&suspended, Some(&fenced)),
            ResumePlan {
                resume: processes(&["Launch", "ScheduledActions"]),
                forget_tag: true,
            }
        );
        // Someone resumed them already: only the tag goes.
        assert_eq!(
            plan_resume(&BTreeSet::new(), Some(&fenced)),
            ResumePlan {
                resume: BTreeSet::new(),
                forget_tag: true,
            }
        );
    }

    #[test]
    fn process_lists_round_trip_through_the_tag() {
        for set in [
            processes(&[]),
            processes(&["Launch"]),
            processes(FENCE_PROCESSES),
        ] {
            assert_eq!(parse_process_list(&process_list_value(&set)), set);
        }
        assert_eq!(process_list_value(&processes(&[])), "none");
        assert_eq!(
            parse_process_list(" Launch , ScheduledActions,,"),
            processes(&["Launch", "ScheduledActions"])
        );
        assert!(!FENCE_PROCESSES.contains(&"Terminate"));
    }

    #[test]
    fn a_deleting_group_is_invalid_state() {
        let mut obs = GroupObservation {
            max_size: 4,
            ..observed(0, 0, &[])
        };
        assert!(check_not_deleting(&obs, "web").is_ok());
        obs.status = Some("Delete in progress".into());
        assert_eq!(
            check_not_deleting(&obs, "web").unwrap_err().error_type(),
            "InvalidState"
        );
    }
}
