//! The `copyBack` action: copies the unreplicated standby objects into the primary bucket, a
//! bounded number per call, never over a newer primary object.

use crate::aws::{copy_object, read_replication};
use crate::decide::{object_arn, reverse_rule_since, ReplicationView};
use crate::unreplicated::list_unreplicated;
use crate::{
    base_output, Clients, SkippedObject, SwitchReplicationInput, SwitchReplicationOutput,
    MAX_COPY_BYTES,
};
use pilot_light_core::{PilotLightError, StepStatus};

pub(crate) async fn copy_back(
    input: &SwitchReplicationInput,
    clients: &Clients,
) -> Result<SwitchReplicationOutput, PilotLightError> {
    let pair = &input.replication;
    let standby = clients.s3.get(&input.standby_region)?;
    let primary = clients.s3.get(&input.primary_region)?;
    let config = read_replication(&standby, &pair.standby_bucket, &input.standby_region).await?;
    let rule_since = reverse_rule_since(
        config.as_ref().map(ReplicationView::from_sdk).as_ref(),
        pair,
    );
    let mut listing = list_unreplicated(input, &standby, &primary, rule_since).await?;
    listing.action = None;

    let mut copied = Vec::new();
    for object in &listing.objects {
        if object.size > MAX_COPY_BYTES {
            listing.skipped.push(SkippedObject {
                key: object.key.clone(),
                reason: "tooLarge: over 5 GiB, copy it with a multipart copy (aws s3 cp)".into(),
            });
            continue;
        }
        match copy_object(&standby, &primary, input, object).await? {
            true => copied.push(object.key.clone()),
            false => listing.skipped.push(SkippedObject {
                key: object.key.clone(),
                reason: "changed: the standby object changed while copying; run copyBack again"
                    .into(),
            }),
        }
    }
    let mut out = base_output(input);
    out.status = if listing.truncated {
        StepStatus::InProgress
    } else if copied.is_empty() {
        StepStatus::AlreadyDone
    } else {
        StepStatus::Done
    };
    out.resources.extend(
        copied
            .iter()
            .map(|key| object_arn(&input.primary_region, &pair.primary_bucket, key)),
    );
    out.since = listing.since.clone();
    out.copied = Some(copied);
    out.unreplicated = Some(listing);
    Ok(out)
}
