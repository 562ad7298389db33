//! `describe`: a side's instance and its shape, read for the run state to record; nothing is
//! changed.

use crate::aws::describe_instance;
use crate::{required_side, side_instance, Clients, SnapshotRestoreInput, SnapshotRestoreOutput};
use pilot_light_core::{PilotLightError, StepStatus};

/// `describe`: a side's instance and its shape; nothing is changed.
pub(crate) async fn describe(
    input: &SnapshotRestoreInput,
    clients: &Clients,
    out: &mut SnapshotRestoreOutput,
) -> Result<(), PilotLightError> {
    let side = required_side(input)?;
    let (instance_id, region) = side_instance(input, side);
    let rds = clients.rds.get(region)?;
    let instance = describe_instance(&rds, instance_id).await?.ok_or_else(|| {
        PilotLightError::ResourceNotFound {
            kind: "DBInstance".into(),
            id: instance_id.to_string(),
            region: region.to_string(),
        }
    })?;
    out.status = StepStatus::AlreadyDone;
    out.region = region.to_string();
    out.instance_id = Some(instance_id.to_string());
    out.db_instance_status = Some(instance.status.clone());
    out.shape = Some(Some(instance.shape.clone()));
    out.resources = vec![instance.arn];
    Ok(())
}
