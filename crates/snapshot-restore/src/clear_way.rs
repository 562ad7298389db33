//! `clearWay`: frees a side's identifier by renaming what holds it (never deleting it), tagged so
//! that the failback report and `pilot-light status` can name it while it is kept.

use crate::aws::{describe_instance, describe_tags};
use crate::decide::{decide_clear_way, rename_tags, renamed_instance_id, ClearWayDecision};
use crate::{
    decided, required_side, side_instance, Clients, SnapshotRestoreInput, SnapshotRestoreOutput,
};
use aws_sdk_rds::types::Tag;
use pilot_light_core::config::Side;
use pilot_light_core::kept::replication_cut_by;
use pilot_light_core::{PilotLightError, StepStatus, Timestamp};

/// `clearWay`: free a side's identifier by renaming what holds it.
pub(crate) async fn clear_way(
    input: &SnapshotRestoreInput,
    clients: &Clients,
    out: &mut SnapshotRestoreOutput,
) -> Result<(), PilotLightError> {
    let side = required_side(input)?;
    let (instance_id, region) = side_instance(input, side);
    let rds = clients.rds.get(region)?;
    let renamed_id = renamed_instance_id(instance_id, &input.execution_id);
    let current = describe_instance(&rds, instance_id).await?;
    let renamed = describe_instance(&rds, &renamed_id).await?;
    out.region = region.to_string();
    out.instance_id = Some(instance_id.to_string());
    out.shape = Some(None);
    match decide_clear_way(current.as_ref(), renamed.as_ref(), &input.execution_id)? {
        ClearWayDecision::Clear => {
            out.status = StepStatus::AlreadyDone;
        }
        ClearWayDecision::OursAlready => {
            out.status = StepStatus::AlreadyDone;
            out.db_instance_status = current.as_ref().map(|c| c.status.clone());
        }
        ClearWayDecision::Renamed => {
            let renamed = decided(renamed, &renamed_id)?;
            out.status = if renamed.status == "available" {
                StepStatus::Done
            } else {
                StepStatus::InProgress
            };
            out.renamed_to = Some(renamed_id);
            out.db_instance_status = Some(renamed.status.clone());
            out.shape = Some(Some(renamed.shape.clone()));
            out.resources = vec![renamed.arn];
        }
        ClearWayDecision::Renaming => {
            let current = decided(current, instance_id)?;
            out.status = StepStatus::InProgress;
            out.renamed_to = Some(renamed_id);
            out.db_instance_status = Some(current.status.clone());
            out.shape = Some(Some(current.shape.clone()));
            out.resources = vec![current.arn];
        }
        ClearWayDecision::Rename => {
            let current = decided(current, instance_id)?;
            // An old primary in the way: record which promotion cut replication from it (the
            // standby still serves and carries `promote-replica`'s tags), so whoever finds it kept
            // later knows since when its writes never reached the standby.
            let cut_by = match side {
                Side::Primary => {
                    let standby = clients.rds.get(&input.standby_region)?;
                    describe_tags(&standby, &input.database.replica_instance_id)
                        .await?
                        .and_then(|tags| {
                            replication_cut_by(&tags, instance_id, &input.primary_region)
                        })
                }
                Side::Standby => None,
            };
            let tags = rename_tags(
                &input.env,
                &input.execution_id,
                instance_id,
                &Timestamp::now(),
                cut_by.as_deref(),
            );
            rds.add_tags_to_resource()
                .resource_name(&current.arn)
                .set_tags(Some(
                    tags.into_iter()
                        .map(|(key, value)| Tag::builder().key(key).value(value).build())
                        .collect(),
                ))
                .send()
                .await
                .map_err(|err| PilotLightError::from_sdk("AddTagsToResource", &err))?;
            tracing::info!(
                instance_id,
                renamed_to = %renamed_id,
                replication_cut_by = ?cut_by,
                "renaming the instance in the way; it is kept"
            );
            let renaming = rds
                .modify_db_instance()
                .db_instance_identifier(instance_id)
                .new_db_instance_identifier(&renamed_id)
                .apply_immediately(true)
                .send()
                .await;
            out.status = match renaming {
                Ok(_) => StepStatus::Started,
                // A rename asked for again while RDS begins the first one: the poll follows it.
                Err(err)
                    if err
                        .as_service_error()
                        .is_some_and(|e| e.is_invalid_db_instance_state_fault()) =>
                {
                    StepStatus::InProgress
                }
                Err(err) => return Err(PilotLightError::from_sdk("ModifyDBInstance", &err)),
            };
            out.renamed_to = Some(renamed_id);
            out.db_instance_status = Some("renaming".into());
            out.shape = Some(Some(current.shape.clone()));
            out.resources = vec![current.arn];
        }
    }
    Ok(())
}
