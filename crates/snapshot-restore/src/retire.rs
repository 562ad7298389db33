//! `retire`: deletes the instance this execution renamed on a side, only with a final snapshot,
//! only when its successor is available and nothing replicates from it.

use crate::aws::{deleted_by_another_run, describe_instance, describe_snapshot};
use crate::decide::{decide_retire, final_snapshot_id, renamed_instance_id, RetireDecision};
use crate::{
    decided, required_side, side_instance, Clients, SnapshotRestoreInput, SnapshotRestoreOutput,
};
use pilot_light_core::{PilotLightError, StepStatus};

/// `retire`: the instance this execution renamed on `side`, with a final snapshot.
pub(crate) async fn retire(
    input: &SnapshotRestoreInput,
    clients: &Clients,
    out: &mut SnapshotRestoreOutput,
) -> Result<(), PilotLightError> {
    let side = required_side(input)?;
    let (successor_id, region) = side_instance(input, side);
    let rds = clients.rds.get(region)?;
    let renamed_id = renamed_instance_id(successor_id, &input.execution_id);
    let final_id = final_snapshot_id(&renamed_id, &input.execution_id);
    out.region = region.to_string();
    out.instance_id = Some(renamed_id.clone());
    out.final_snapshot_id = Some(final_id.clone());
    let renamed = describe_instance(&rds, &renamed_id).await?;
    let successor = describe_instance(&rds, successor_id).await?;
    let final_snapshot = describe_snapshot(&rds, &final_id).await?;
    match decide_retire(
        renamed.as_ref(),
        successor.as_ref(),
        final_snapshot.is_some(),
        &input.execution_id,
    )? {
        RetireDecision::Gone { final_snapshot: _ } => {
            out.status = if final_snapshot.is_some() {
                StepStatus::Done
            } else {
                StepStatus::AlreadyDone
            };
            out.final_snapshot_id = final_snapshot.as_ref().map(|s| s.id.clone());
            out.snapshot_status = final_snapshot.as_ref().map(|s| s.status.clone());
            out.resources = final_snapshot.map(|s| vec![s.arn]).unwrap_or_default();
        }
        RetireDecision::Deleting => {
            out.status = StepStatus::InProgress;
            out.db_instance_status = Some("deleting".into());
        }
        RetireDecision::Delete => {
            let renamed = decided(renamed, &renamed_id)?;
            let deleted = rds
                .delete_db_instance()
                .db_instance_identifier(&renamed_id)
                .skip_final_snapshot(false)
                .final_db_snapshot_identifier(&final_id)
                .delete_automated_backups(false)
                .send()
                .await;
            match deleted {
                Ok(_) => {
                    out.status = StepStatus::Started;
                    out.resources = vec![renamed.arn];
                }
                Err(err) if deleted_by_another_run(err.as_service_error()) => {
                    // An aborted run of this failback, whose retire was still in flight, deletes
                    // it with the same final snapshot: the state machine polls until it is gone.
                    out.status = StepStatus::InProgress;
                }
                Err(err) => return Err(PilotLightError::from_sdk("DeleteDBInstance", &err)),
            }
            out.db_instance_status = Some("deleting".into());
        }
    }
    Ok(())
}
