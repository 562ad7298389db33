//! `createGroup`: the throw-away Auto Scaling group of a drill, from the standby launch template's
//! `$Default` version in the standby group's subnets.

use crate::decide::{drill_group_name, drill_owner};
use crate::detail;
use crate::invalid;
use crate::Answer;
use crate::Clients;
use crate::GroupInput;
use crate::DRILL_OF_TAG_KEY;
use crate::DRILL_TAG_KEY;
use aws_sdk_autoscaling::types::{LaunchTemplateSpecification, Tag as AsgTag, TagDescription};
use pilot_light_core::{execution_token, PilotLightError, StepStatus, ENV_TAG_KEY};
use serde_json::json;
use std::collections::BTreeMap;

pub(crate) fn asg_tags(
    group: &aws_sdk_autoscaling::types::AutoScalingGroup,
) -> BTreeMap<String, String> {
    group
        .tags()
        .iter()
        .filter_map(|t: &TagDescription| Some((t.key()?.to_string(), t.value()?.to_string())))
        .collect()
}

pub(crate) async fn describe_group(
    autoscaling: &aws_sdk_autoscaling::Client,
    name: &str,
) -> Result<Option<aws_sdk_autoscaling::types::AutoScalingGroup>, PilotLightError> {
    let out = autoscaling
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(name)
        .send()
        .await
        .map_err(|err| PilotLightError::from_sdk("DescribeAutoScalingGroups", &err))?;
    Ok(out
        .auto_scaling_groups()
        .iter()
        .find(|g| g.auto_scaling_group_name() == Some(name))
        .cloned())
}

pub(crate) async fn create_group(
    input: GroupInput,
    clients: &Clients,
) -> Result<Answer, PilotLightError> {
    if !(1..=20).contains(&input.size) {
        return Err(invalid("size", "must be between 1 and 20"));
    }
    let autoscaling = clients.autoscaling.get(&input.region)?;
    let standby = &input.group.standby;
    let token = execution_token(&input.execution_id);
    let name = drill_group_name(&standby.auto_scaling_group_name, &token);
    // What `scale-asg status` takes to watch the drill group (never the standby group).
    let mut drill_group = input.group.clone();
    drill_group.standby.auto_scaling_group_name = name.clone();
    drill_group.standby.target_group_arn = input.target_group_arn.clone();
    let answer = |status: StepStatus, arn: String| -> Answer {
        (
            status,
            detail(&json!({
                "group": input.group.name,
                "region": input.region,
                "drillGroupName": name,
                "size": input.size,
                "launchTemplateName": standby.launch_template_name,
                "drillGroup": drill_group,
            })),
            vec![arn],
        )
    };

    if let Some(existing) = describe_group(&autoscaling, &name).await? {
        let tags = asg_tags(&existing);
        let ours = drill_owner(&tags) == Some(input.execution_id.as_str())
            && tags.get(ENV_TAG_KEY).map(String::as_str) == Some(input.env.as_str());
        if !ours {
            return Err(PilotLightError::UnsafeOperation {
                reason: format!(
                    "Auto Scaling group {name} exists and is not this drill's: left alone"
                ),
            });
        }
        let arn = existing
            .auto_scaling_group_arn()
            .unwrap_or_default()
            .to_string();
        return Ok(answer(StepStatus::AlreadyDone, arn));
    }

    // The launch template must exist: a typed error before anything is created.
    let ec2 = clients.ec2.get(&input.region)?;
    ec2.describe_launch_templates()
        .launch_template_names(&standby.launch_template_name)
        .send()
        .await
        .map_err(|err| {
            let missing = err.as_service_error().and_then(|e| {
                use aws_sdk_ec2::error::ProvideErrorMetadata;
                e.code().map(|c| c.starts_with("InvalidLaunchTemplateName"))
            });
            if missing == Some(true) {
                PilotLightError::ResourceNotFound {
                    kind: "LaunchTemplate".into(),
                    id: standby.launch_template_name.clone(),
                    region: input.region.clone(),
                }
            } else {
                PilotLightError::from_sdk("DescribeLaunchTemplates", &err)
            }
        })?;
    let live = describe_group(&autoscaling, &standby.auto_scaling_group_name)
        .await?
        .ok_or_else(|| PilotLightError::ResourceNotFound {
            kind: "AutoScalingGroup".into(),
            id: standby.auto_scaling_group_name.clone(),
            region: input.region.clone(),
        })?;
    let subnets = live
        .vpc_zone_identifier()
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let zones = live.availability_zones().to_vec();
    let size = input.size as i32;
    let tag = |key: &str, value: &str| {
        AsgTag::builder()
            .key(key)
            .value(value)
            .propagate_at_launch(true)
            .resource_id(&name)
            .resource_type("auto-scaling-group")
            .build()
    };
    autoscaling
        .create_auto_scaling_group()
        .auto_scaling_group_name(&name)
        .launch_template(
            LaunchTemplateSpecification::builder()
                .launch_template_name(&standby.launch_template_name)
                .version("$Default")
                .build(),
        )
        .min_size(size)
        .max_size(size)
        .desired_capacity(size)
        .set_vpc_zone_identifier(subnets.clone())
        .set_availability_zones(subnets.is_none().then_some(zones))
        .set_target_group_arns(input.target_group_arn.clone().map(|a| vec![a]))
        .tags(tag(ENV_TAG_KEY, &input.env))
        .tags(tag(DRILL_TAG_KEY, &input.execution_id))
        .tags(tag(DRILL_OF_TAG_KEY, &standby.auto_scaling_group_name))
        .send()
        .await
        .map_err(|err| match err.as_service_error() {
            Some(e) if e.is_already_exists_fault() => PilotLightError::Throttled {
                operation: "CreateAutoScalingGroup".into(),
                message: format!("{name} appeared meanwhile: observe again"),
            },
            _ => PilotLightError::from_sdk("CreateAutoScalingGroup", &err),
        })?;
    let arn = describe_group(&autoscaling, &name)
        .await?
        .and_then(|g| g.auto_scaling_group_arn().map(str::to_string))
        .unwrap_or_else(|| name.clone());
    Ok(answer(StepStatus::Started, arn))
}
