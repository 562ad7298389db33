//! `create`: the source image of one compute group in the active region, by tag or as an image
//! of a healthy instance; a retried `create` finds the image its first attempt made.

use crate::aws::{create_image, create_tags, observe_group_instances, tag_filter};
use crate::decide::{
    check_action, check_group, check_not_empty, choose_instance, clip, created_image_tags,
    image_name, missing_tags, name_stamp, reusable_image, EXECUTION_TAG, MAX_DESCRIPTION,
    MAX_TAG_VALUE, SOURCE_INSTANCE_TAG_KEY,
};
use crate::{Clients, CopyAmiAction, CreateInput, CreateOutput};
use pilot_light_core::config::AmiSource;
use pilot_light_core::images::{describe_own_images, pick_newest_tagged, ImageView};
use pilot_light_core::{PilotLightError, StepStatus, Timestamp, ENV_TAG_KEY};

/// `create`: the group's source image in the active region.
pub async fn create(
    input: CreateInput,
    clients: &Clients,
) -> Result<CreateOutput, PilotLightError> {
    let started_at = Timestamp::now();
    check_action(input.action, CopyAmiAction::Create)?;
    check_not_empty("executionId", &input.execution_id)?;
    check_group(&input.group)?;
    let ec2 = clients.ec2.get(&input.region)?;
    let region = input.region.as_str();
    let group = &input.group;

    let output = |status, image: &ImageView, instance_id: Option<String>| CreateOutput {
        action: input.action,
        status,
        group: group.name.clone(),
        region: region.to_string(),
        side: input.side,
        source: input.policy.source,
        image_id: image.image_id.clone(),
        image_name: image.name.clone(),
        image_state: image.state.clone(),
        instance_id,
        started_at: started_at.clone(),
        finished_at: Timestamp::now(),
        resources: vec![image.image_id.clone()],
    };

    match input.policy.source {
        AmiSource::Tag => {
            let tag = &group.ami_tag;
            let images = describe_own_images(
                &ec2,
                vec![tag_filter(&tag.key, &tag.value)],
                "DescribeImages",
            )
            .await?;
            let image =
                pick_newest_tagged(&images, tag).ok_or_else(|| PilotLightError::ImageNotFound {
                    tag: format!("{}={}", tag.key, tag.value),
                    region: region.to_string(),
                })?;
            let wanted = vec![(ENV_TAG_KEY.to_string(), input.env.to_string())];
            let missing = missing_tags(&image.tags, &wanted);
            let status = if missing.is_empty() {
                StepStatus::AlreadyDone
            } else {
                create_tags(&ec2, std::slice::from_ref(&image.image_id), &missing).await?;
                StepStatus::Done
            };
            tracing::info!(group = %group.name, region, image_id = %image.image_id, status = ?status, "copy-ami create (tag)");
            Ok(output(status, image, None))
        }
        AmiSource::Instance => {
            // A retried create finds the image its first attempt made.
            let made = describe_own_images(
                &ec2,
                vec![
                    tag_filter(EXECUTION_TAG, &clip(&input.execution_id, MAX_TAG_VALUE)),
                    tag_filter(&group.ami_tag.key, &group.ami_tag.value),
                    tag_filter(ENV_TAG_KEY, &input.env),
                ],
                "DescribeImages",
            )
            .await?;
            if let Some(image) = reusable_image(&made) {
                let status = match image.state.as_str() {
                    "available" => StepStatus::AlreadyDone,
                    _ => StepStatus::InProgress,
                };
                let instance = image.tag(SOURCE_INSTANCE_TAG_KEY).map(str::to_string);
                return Ok(output(status, image, instance));
            }
            let side = input.side.of_group(group);
            check_not_empty(
                &format!("group.{}.autoScalingGroupName", input.side.name()),
                &side.auto_scaling_group_name,
            )?;
            let autoscaling = clients.autoscaling.get(region)?;
            let instances =
                observe_group_instances(&autoscaling, &ec2, &side.auto_scaling_group_name, region)
                    .await?;
            let instance = choose_instance(&instances).ok_or_else(|| {
                let seen = if instances.is_empty() {
                    "no instances".to_string()
                } else {
                    instances
                        .iter()
                        .map(|i| {
                            format!(
                                "{} {}/{}/{}",
                                i.instance_id,
                                i.lifecycle_state,
                                i.health_status,
                                i.ec2_state.as_deref().unwrap_or("unknown")
                            )
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                PilotLightError::InvalidState {
                    resource: format!("Auto Scaling group {}", side.auto_scaling_group_name),
                    state: "no healthy InService instance".into(),
                    reason: format!("nothing to image: {seen}"),
                }
            })?;
            let created_at = Timestamp::now();
            let name = image_name(&input.env, &group.name, &name_stamp(&created_at));
            let tags = created_image_tags(
                &input.env,
                group,
                &input.execution_id,
                &instance.instance_id,
                &created_at,
            );
            let description = clip(
                &format!(
                    "pilot-light {} {}: image of {} by {}",
                    input.env, group.name, instance.instance_id, input.execution_id
                ),
                MAX_DESCRIPTION,
            );
            let image_id = create_image(
                &ec2,
                &instance.instance_id,
                &name,
                description,
                input.policy.no_reboot,
                &tags,
            )
            .await?;
            tracing::info!(
                group = %group.name,
                region,
                instance_id = %instance.instance_id,
                image_id = %image_id,
                no_reboot = input.policy.no_reboot,
                "copy-ami create (instance): CreateImage"
            );
            let image = ImageView {
                image_id,
                name: Some(name),
                state: "pending".into(),
                tags: tags.into_iter().collect(),
                ..ImageView::default()
            };
            Ok(output(
                StepStatus::Started,
                &image,
                Some(instance.instance_id.clone()),
            ))
        }
    }
}
