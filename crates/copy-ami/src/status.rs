//! `status`: whether an image is `available` yet; the snapshots of images pilot-light made get
//! tagged once it is.

use crate::aws::{describe_image, tag_snapshots};
use crate::decide::{
    check_action, check_not_empty, image_progress, CREATED_BY_AMI_PIPELINE, CREATED_BY_TAG_KEY,
    IMAGE_TAG_KEY,
};
use crate::{Clients, CopyAmiAction, StatusInput, StatusOutput};
use pilot_light_core::{PilotLightError, StepStatus, Timestamp, ENV_TAG_KEY};

/// `status`: `done` once the image is available. Images pilot-light made get their snapshots
/// tagged (environment, image, created-by), so `prune` may delete them and finds any left behind.
pub async fn status(
    input: StatusInput,
    clients: &Clients,
) -> Result<StatusOutput, PilotLightError> {
    let started_at = Timestamp::now();
    check_action(input.action, CopyAmiAction::Status)?;
    check_not_empty("imageId", &input.image_id)?;
    let ec2 = clients.ec2.get(&input.region)?;
    let image = describe_image(&ec2, &input.image_id, &input.region).await?;
    let status = image_progress(&image)?;
    if status == StepStatus::Done && image.tag(CREATED_BY_TAG_KEY) == Some(CREATED_BY_AMI_PIPELINE)
    {
        let wanted = vec![
            (ENV_TAG_KEY.to_string(), input.env.to_string()),
            (
                CREATED_BY_TAG_KEY.to_string(),
                CREATED_BY_AMI_PIPELINE.to_string(),
            ),
            (IMAGE_TAG_KEY.to_string(), image.image_id.clone()),
        ];
        tag_snapshots(&ec2, &image.snapshot_ids, &wanted).await?;
    }
    Ok(StatusOutput {
        action: input.action,
        status,
        region: input.region.clone(),
        image_id: image.image_id.clone(),
        image_state: image.state.clone(),
        snapshot_ids: image.snapshot_ids.clone(),
        started_at,
        finished_at: Timestamp::now(),
        resources: vec![image.image_id.clone()],
    })
}
