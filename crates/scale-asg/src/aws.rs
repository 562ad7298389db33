//! The Auto Scaling and Elastic Load Balancing calls of `scale-asg`: describe the group, change it
//! (desired, min, processes, fence tags), count healthy targets, with SDK errors mapped to
//! `PilotLightError`. No decisions here.

use crate::decide::{process_list_value, FencePlan, GroupObservation};
use crate::{FENCED_MIN_SIZE_TAG, FENCED_SUSPENDED_PROCESSES_TAG};
use aws_sdk_autoscaling::error::ProvideErrorMetadata;
use aws_sdk_elasticloadbalancingv2::types::TargetHealthStateEnum;
use pilot_light_core::PilotLightError;
use std::collections::BTreeSet;

fn group_not_found(name: &str, region: &str) -> PilotLightError {
    PilotLightError::ResourceNotFound {
        kind: "AutoScalingGroup".into(),
        id: name.to_string(),
        region: region.to_string(),
    }
}

/// Describes the group. Not found is `ResourceNotFound`.
pub(crate) async fn observe_group(
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
pub(crate) async fn set_desired(
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
pub(crate) async fn remember_fence(
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
pub(crate) async fn forget_fenced_min(
    autoscaling: &aws_sdk_autoscaling::Client,
    name: &str,
    region: &str,
) -> Result<(), PilotLightError> {
    forget_tag(autoscaling, name, region, FENCED_MIN_SIZE_TAG).await
}

/// Removes one of the fence's tags.
pub(crate) async fn forget_tag(
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
pub(crate) async fn suspend_processes(
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
pub(crate) async fn resume_processes(
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
pub(crate) async fn restore_min(
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
pub(crate) async fn fence(
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
pub(crate) async fn count_healthy_targets(
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
