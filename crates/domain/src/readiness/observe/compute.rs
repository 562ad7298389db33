//! Observations of the compute groups readiness checks: launch templates, images, group sizes and
//! the capacity record.

use crate::readiness::capacity_record;
use crate::readiness::checks::{self, Check};
use crate::readiness::{Clients, RunState};
use pilot_light_core::config::PilotLightConfig;
use pilot_light_core::PilotLightError;
use std::collections::BTreeMap;

pub(crate) async fn observe_template(
    clients: &Clients,
    region: &str,
    template_name: &str,
) -> Result<checks::TemplateObservation, PilotLightError> {
    let ec2 = clients.ec2.get(region)?;
    let versions = match ec2
        .describe_launch_template_versions()
        .launch_template_name(template_name)
        .versions("$Default")
        .send()
        .await
    {
        Ok(out) => out,
        Err(err) if is_not_found_code(err.as_service_error().and_then(|e| e.meta().code())) => {
            return Ok(checks::TemplateObservation::Missing)
        }
        Err(err) => {
            return Err(PilotLightError::from_sdk(
                "DescribeLaunchTemplateVersions",
                &err,
            ))
        }
    };
    let Some(version) = versions.launch_template_versions().first() else {
        return Ok(checks::TemplateObservation::Missing);
    };
    let image_id = version
        .launch_template_data()
        .and_then(|d| d.image_id())
        .filter(|i| !i.is_empty())
        .map(str::to_string);
    let image_state = match &image_id {
        None => None,
        Some(id) => image_state(&ec2, id).await?,
    };
    Ok(checks::TemplateObservation::Found {
        default_version: version.version_number().unwrap_or_default(),
        image_id,
        image_state,
    })
}

/// An image's state; `None` when EC2 does not know it (any more).
pub(crate) async fn image_state(
    ec2: &aws_sdk_ec2::Client,
    image_id: &str,
) -> Result<Option<String>, PilotLightError> {
    match ec2.describe_images().image_ids(image_id).send().await {
        Ok(out) => Ok(out
            .images()
            .iter()
            .find(|i| i.image_id() == Some(image_id))
            .map(|i| {
                i.state()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_else(|| "unknown".into())
            })),
        Err(err) if is_not_found_code(err.as_service_error().and_then(|e| e.meta().code())) => {
            Ok(None)
        }
        Err(err) => Err(PilotLightError::from_sdk("DescribeImages", &err)),
    }
}

pub(crate) fn is_not_found_code(code: Option<&str>) -> bool {
    code.is_some_and(|c| c.contains("NotFound") || c.contains("Malformed"))
}

/// An Auto Scaling group's sizes.
pub(crate) struct GroupSizes {
    pub(crate) desired: u32,
    pub(crate) max: u32,
}

/// The sizes of the Auto Scaling group `group_name` in `region` (`None`: there is none).
pub(crate) async fn group_sizes(
    clients: &Clients,
    region: &str,
    group_name: &str,
) -> Result<Option<GroupSizes>, PilotLightError> {
    let autoscaling = clients.autoscaling.get(region)?;
    let out = autoscaling
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(group_name)
        .send()
        .await
        .map_err(|err| PilotLightError::from_sdk("DescribeAutoScalingGroups", &err))?;
    let size = |n: Option<i32>| n.unwrap_or_default().max(0) as u32;
    Ok(out
        .auto_scaling_groups()
        .iter()
        .find(|g| g.auto_scaling_group_name() == Some(group_name))
        .map(|g| GroupSizes {
            desired: size(g.desired_capacity()),
            max: size(g.max_size()),
        }))
}

/// `capacity-record`, with each primary group's desired capacity now (a group that cannot be
/// described is left out: the record's age still counts).
pub(crate) async fn capacity_record_check(
    clients: &Clients,
    config: &PilotLightConfig,
    state: &RunState,
    now_epoch_seconds: i64,
) -> Check {
    let primary = &config.regions.primary;
    let primary_serves = state.active_region.as_deref().is_none_or(|a| a == primary);
    let mut live_desired = BTreeMap::new();
    if primary_serves {
        for group in &config.compute_groups {
            let asg = &group.primary.auto_scaling_group_name;
            if let Ok(sizes) = group_sizes(clients, primary, asg).await {
                live_desired.insert(group.name.clone(), sizes.map(|s| s.desired));
            }
        }
    }
    capacity_record::check_capacity_record(&capacity_record::CapacityRecordView {
        env: &config.env,
        record: state.capacity_record.as_ref(),
        primary_serves,
        live_desired: &live_desired,
        now_epoch_seconds,
        max_age_seconds: config.readiness.max_capacity_record_age_seconds,
    })
}
