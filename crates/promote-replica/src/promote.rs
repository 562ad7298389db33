//! `promote`: decides from the observation and, when due, tags the instance as ours and asks RDS
//! to promote it.

use crate::aws::observe;
use crate::decide::{decide_promotion, PromoteDecision, ReplicaObservation};
use crate::{PromoteReplicaInput, PROMOTED_BY_TAG, PROMOTED_FROM_TAG};
use aws_sdk_rds::types::Tag;
use pilot_light_core::{PilotLightError, StepStatus};

/// Decides and, when due, asks RDS to promote: the status and what was seen last.
pub(crate) async fn promote_once(
    rds: &aws_sdk_rds::Client,
    input: &PromoteReplicaInput,
    obs: ReplicaObservation,
    cycle_id: Option<&str>,
) -> Result<(StepStatus, ReplicaObservation), PilotLightError> {
    let instance_id = input.database.replica_instance_id.as_str();
    match decide_promotion(
        &obs,
        instance_id,
        &input.primary_region,
        &input.standby_region,
        cycle_id,
    )? {
        PromoteDecision::AlreadyDone => Ok((StepStatus::AlreadyDone, obs)),
        PromoteDecision::InProgress => Ok((StepStatus::InProgress, obs)),
        PromoteDecision::Promote => {
            request_promotion(
                rds,
                &obs,
                instance_id,
                &input.standby_region,
                cycle_id.or(input.execution_id.as_deref()),
            )
            .await?;
            let after = observe(rds, instance_id, &input.standby_region).await?;
            Ok((StepStatus::Started, after))
        }
    }
}

/// Marks the instance as ours (and as this cycle's), then asks RDS to promote it.
async fn request_promotion(
    rds: &aws_sdk_rds::Client,
    obs: &ReplicaObservation,
    instance_id: &str,
    region: &str,
    promoted_by: Option<&str>,
) -> Result<(), PilotLightError> {
    let source = obs.replication_source.clone().unwrap_or_default();
    rds.add_tags_to_resource()
        .resource_name(&obs.arn)
        .tags(Tag::builder().key(PROMOTED_FROM_TAG).value(source).build())
        .tags(
            Tag::builder()
                .key(PROMOTED_BY_TAG)
                .value(promoted_by.unwrap_or("manual"))
                .build(),
        )
        .send()
        .await
        .map_err(|err| PilotLightError::from_sdk("AddTagsToResource", &err))?;
    rds.promote_read_replica()
        .db_instance_identifier(instance_id)
        .send()
        .await
        .map_err(|err| match err.as_service_error() {
            // After a lost answer this is the retry meeting the promotion: an AWS error that
            // `observe_again_if_landed` looks at again (twice refused: `InvalidState`).
            Some(e) if e.is_invalid_db_instance_state_fault() => PilotLightError::AwsServiceError {
                operation: "PromoteReadReplica".into(),
                code: "InvalidDBInstanceState".into(),
                message: format!("RDS refused the promotion of {instance_id}: {e}"),
            },
            Some(e) if e.is_db_instance_not_found_fault() => PilotLightError::ReplicaNotFound {
                instance_id: instance_id.to_string(),
                region: region.to_string(),
            },
            _ => PilotLightError::from_sdk("PromoteReadReplica", &err),
        })?;
    Ok(())
}
