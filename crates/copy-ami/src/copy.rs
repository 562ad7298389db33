//! `copy`: the source image into the other region, once: a retried `copy` finds the copy by its
//! source tags or its deterministic name, and tags it explicitly.

use crate::aws::{
    copy_image, create_tags, describe_image, image_name_filter, tag_filter, CopyImageRequest,
};
use crate::decide::{
    check_action, check_group, check_not_empty, clip, copy_client_token, copy_tags, image_name,
    missing_tags, reusable_image, MAX_DESCRIPTION, SOURCE_IMAGE_TAG_KEY, SOURCE_REGION_TAG_KEY,
};
use crate::{Clients, CopyAmiAction, CopyInput, CopyOutput};
use pilot_light_core::images::{describe_own_images, ImageView};
use pilot_light_core::{PilotLightError, StepStatus, Timestamp, ENV_TAG_KEY};

/// `copy`: the source image into the target region, once.
pub async fn copy(input: CopyInput, clients: &Clients) -> Result<CopyOutput, PilotLightError> {
    let started_at = Timestamp::now();
    check_action(input.action, CopyAmiAction::Copy)?;
    check_not_empty("sourceImageId", &input.source_image_id)?;
    check_group(&input.group)?;
    if input.source_region == input.target_region {
        return Err(PilotLightError::UnsafeOperation {
            reason: format!(
                "a copy from {} into {} is no disaster recovery: the target must be the other region",
                input.source_region, input.target_region
            ),
        });
    }
    let group = &input.group;
    let target = clients.ec2.get(&input.target_region)?;
    let source = clients.ec2.get(&input.source_region)?;
    let kms_key_id = input.kms_key_id.clone().filter(|k| !k.trim().is_empty());
    let name = image_name(&input.env, &group.name, &input.source_image_id);

    // Observe: a copy of this source (by its tags, or by its deterministic name when an earlier
    // attempt stopped before tagging it).
    let by_tags = describe_own_images(
        &target,
        vec![
            tag_filter(SOURCE_IMAGE_TAG_KEY, &input.source_image_id),
            tag_filter(SOURCE_REGION_TAG_KEY, &input.source_region),
            tag_filter(ENV_TAG_KEY, &input.env),
        ],
        "DescribeImages",
    )
    .await?;
    let by_name =
        describe_own_images(&target, vec![image_name_filter(&name)], "DescribeImages").await?;
    let mut found: Vec<ImageView> = by_tags;
    for image in by_name {
        if let Some(other) = image.tag(SOURCE_IMAGE_TAG_KEY) {
            if other != input.source_image_id {
                return Err(PilotLightError::InvalidState {
                    resource: format!("image {} ({name})", image.image_id),
                    state: image.state.clone(),
                    reason: format!(
                        "it has this copy's name but was copied from {other}; rename or deregister it"
                    ),
                });
            }
        }
        if !found.iter().any(|f| f.image_id == image.image_id) {
            found.push(image);
        }
    }
    let created_at = Timestamp::now();
    let wanted = copy_tags(
        &input.env,
        group,
        &input.source_region,
        &input.source_image_id,
        input.execution_id.as_deref(),
        &created_at,
    );
    let output = |status, image_id: String, image_state: String| CopyOutput {
        action: input.action,
        status,
        group: group.name.clone(),
        source_region: input.source_region.clone(),
        source_image_id: input.source_image_id.clone(),
        target_region: input.target_region.clone(),
        image_id: image_id.clone(),
        image_name: name.clone(),
        image_state,
        kms_key_id: kms_key_id.clone(),
        started_at: started_at.clone(),
        finished_at: Timestamp::now(),
        resources: vec![input.source_image_id.clone(), image_id],
    };

    if let Some(existing) = reusable_image(&found) {
        let missing = missing_tags(&existing.tags, &wanted);
        if !missing.is_empty() {
            create_tags(&target, std::slice::from_ref(&existing.image_id), &missing).await?;
        }
        let status = match existing.state.as_str() {
            "available" => StepStatus::AlreadyDone,
            _ => StepStatus::InProgress,
        };
        return Ok(output(
            status,
            existing.image_id.clone(),
            existing.state.clone(),
        ));
    }

    let source_image =
        describe_image(&source, &input.source_image_id, &input.source_region).await?;
    if source_image.state != "available" {
        return Err(PilotLightError::InvalidState {
            resource: format!("image {}", source_image.image_id),
            state: source_image.state.clone(),
            reason: "only an available image can be copied".into(),
        });
    }
    let description = clip(
        &format!(
            "pilot-light {} {}: copy of {} from {}",
            input.env, group.name, input.source_image_id, input.source_region
        ),
        MAX_DESCRIPTION,
    );
    let image_id = copy_image(
        &target,
        CopyImageRequest {
            source_region: &input.source_region,
            source_image_id: &input.source_image_id,
            name: &name,
            description,
            client_token: copy_client_token(
                &input.source_region,
                &input.source_image_id,
                &input.target_region,
            ),
            kms_key_id: kms_key_id.as_deref(),
            tags: &wanted,
        },
    )
    .await?;
    // CopyImage does not carry tags over (and the emulator ignores CopyImageTags): tag explicitly.
    create_tags(&target, std::slice::from_ref(&image_id), &wanted).await?;
    tracing::info!(
        group = %group.name,
        source_region = %input.source_region,
        source_image_id = %input.source_image_id,
        target_region = %input.target_region,
        image_id = %image_id,
        encrypted = kms_key_id.is_some(),
        "copy-ami copy: CopyImage"
    );
    Ok(output(StepStatus::Started, image_id, "pending".into()))
}
