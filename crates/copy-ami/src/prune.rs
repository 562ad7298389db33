//! `prune`: keeps the newest copies of a group in a region, deregisters older ones (never one a
//! launch template uses, never a pending one) and deletes their snapshots and orphaned ones.

use crate::aws::{
    delete_snapshot, deregister_image, launch_template_images, orphaned_snapshots, tag_filter,
};
use crate::decide::{
    check_action, check_group, plan_prune, CREATED_BY_AMI_PIPELINE, CREATED_BY_TAG_KEY,
};
use crate::{Clients, CopyAmiAction, PruneInput, PruneOutput};
use pilot_light_core::images::describe_own_images;
use pilot_light_core::{PilotLightError, StepStatus, Timestamp, ENV_TAG_KEY};

/// `prune`: keep the newest copies of a group in a region, deregister older ones and delete their
/// snapshots (and any snapshot of an image pilot-light deregistered earlier).
pub async fn prune(input: PruneInput, clients: &Clients) -> Result<PruneOutput, PilotLightError> {
    let started_at = Timestamp::now();
    check_action(input.action, CopyAmiAction::Prune)?;
    check_group(&input.group)?;
    if input.keep_copies == 0 {
        return Err(PilotLightError::InvalidInput {
            field: "keepCopies".into(),
            reason: "must be at least 1: pruning never removes every image".into(),
        });
    }
    let ec2 = clients.ec2.get(&input.region)?;
    let group = &input.group;
    let images = describe_own_images(
        &ec2,
        vec![
            tag_filter(ENV_TAG_KEY, &input.env),
            tag_filter(CREATED_BY_TAG_KEY, CREATED_BY_AMI_PIPELINE),
            tag_filter(&group.ami_tag.key, &group.ami_tag.value),
        ],
        "DescribeImages",
    )
    .await?;
    let referenced = launch_template_images(&ec2).await?;
    let plan = plan_prune(&images, input.keep_copies as usize, &referenced);

    let mut deregistered = Vec::new();
    let mut deleted_snapshots = Vec::new();
    for image_id in &plan.deregister {
        let Some(image) = images.iter().find(|i| &i.image_id == image_id) else {
            continue;
        };
        if deregister_image(&ec2, image_id).await? {
            deregistered.push(image_id.clone());
        }
        for snapshot_id in &image.snapshot_ids {
            if delete_snapshot(&ec2, snapshot_id).await? {
                deleted_snapshots.push(snapshot_id.clone());
            }
        }
    }
    // Snapshots an earlier prune left behind (it stopped between deregistering and deleting).
    for snapshot_id in orphaned_snapshots(&ec2, &input.env).await? {
        if !deleted_snapshots.contains(&snapshot_id) && delete_snapshot(&ec2, &snapshot_id).await? {
            deleted_snapshots.push(snapshot_id);
        }
    }
    let status = if deregistered.is_empty() && deleted_snapshots.is_empty() {
        StepStatus::AlreadyDone
    } else {
        StepStatus::Done
    };
    tracing::info!(
        group = %group.name,
        region = %input.region,
        kept = ?plan.keep,
        kept_referenced = ?plan.keep_referenced,
        deregistered = ?deregistered,
        deleted_snapshots = ?deleted_snapshots,
        "copy-ami prune"
    );
    let mut resources: Vec<String> = plan.keep.clone();
    resources.extend(plan.keep_referenced.iter().cloned());
    resources.extend(deregistered.iter().cloned());
    resources.extend(deleted_snapshots.iter().cloned());
    Ok(PruneOutput {
        action: input.action,
        status,
        group: group.name.clone(),
        region: input.region.clone(),
        keep_copies: input.keep_copies,
        kept: plan.keep,
        kept_referenced: plan.keep_referenced,
        kept_pending: plan.keep_pending,
        deregistered,
        deleted_snapshots,
        started_at,
        finished_at: Timestamp::now(),
        resources,
    })
}
