//! `snapshot` and `copy`: the failback snapshot of the serving standby, and its copy in the
//! primary region (with that region's KMS key when encrypted), each found again by name on a retry.

use crate::aws::{describe_instance, describe_snapshot};
use crate::decide::{creation_status, failback_snapshot_id, SnapshotView};
use crate::{side_instance, tags, Clients, SnapshotRestoreInput, SnapshotRestoreOutput};
use pilot_light_core::config::Side;
use pilot_light_core::{PilotLightError, StepStatus};

/// `snapshot`: of the serving standby instance.
pub(crate) async fn snapshot(
    input: &SnapshotRestoreInput,
    clients: &Clients,
    out: &mut SnapshotRestoreOutput,
) -> Result<(), PilotLightError> {
    let (instance_id, region) = side_instance(input, Side::Standby);
    let rds = clients.rds.get(region)?;
    let snapshot_id = failback_snapshot_id(instance_id, &input.execution_id);
    out.region = region.to_string();
    out.instance_id = Some(instance_id.to_string());
    out.snapshot_id = Some(snapshot_id.clone());
    if let Some(found) = describe_snapshot(&rds, &snapshot_id).await? {
        return follow_snapshot(input, &found, out);
    }
    let instance = describe_instance(&rds, instance_id).await?.ok_or_else(|| {
        PilotLightError::ResourceNotFound {
            kind: "DBInstance".into(),
            id: instance_id.to_string(),
            region: region.to_string(),
        }
    })?;
    if instance.replication_source.is_some() {
        return Err(PilotLightError::InvalidState {
            resource: format!("DB instance {instance_id}"),
            state: "replica".into(),
            reason: "the standby is still a read replica: it is not serving, so there is nothing to fail back".into(),
        });
    }
    if instance.status != "available" {
        return Err(PilotLightError::InvalidState {
            resource: format!("DB instance {instance_id}"),
            state: instance.status,
            reason: "a snapshot is taken only of an `available` instance".into(),
        });
    }
    let created = rds
        .create_db_snapshot()
        .db_instance_identifier(instance_id)
        .db_snapshot_identifier(&snapshot_id)
        .set_tags(Some(tags(input)))
        .send()
        .await
        .map_err(|err| PilotLightError::from_sdk("CreateDBSnapshot", &err))?;
    let view = created
        .db_snapshot()
        .map(SnapshotView::of)
        .unwrap_or_else(|| SnapshotView {
            id: snapshot_id.clone(),
            arn: String::new(),
            status: "creating".into(),
            encrypted: instance.encrypted,
            created_by: Some(input.execution_id.clone()),
        });
    out.status = StepStatus::Started;
    out.snapshot_status = Some(view.status);
    out.encrypted = Some(view.encrypted);
    out.resources = vec![instance.arn, view.arn];
    Ok(())
}

pub(crate) fn follow_snapshot(
    input: &SnapshotRestoreInput,
    found: &SnapshotView,
    out: &mut SnapshotRestoreOutput,
) -> Result<(), PilotLightError> {
    if found.created_by.as_deref() != Some(input.execution_id.as_str()) {
        return Err(PilotLightError::UnsafeOperation {
            reason: format!(
                "snapshot {} exists and was not made by this execution",
                found.id
            ),
        });
    }
    out.status = creation_status(&format!("DB snapshot {}", found.id), &found.status, true)?;
    out.snapshot_status = Some(found.status.clone());
    out.encrypted = Some(found.encrypted);
    out.resources = vec![found.arn.clone()];
    Ok(())
}

/// `copy`: the failback snapshot to the primary region.
pub(crate) async fn copy(
    input: &SnapshotRestoreInput,
    clients: &Clients,
    out: &mut SnapshotRestoreOutput,
) -> Result<(), PilotLightError> {
    let snapshot_id =
        failback_snapshot_id(&input.database.replica_instance_id, &input.execution_id);
    let target = clients.rds.get(&input.primary_region)?;
    out.region = input.primary_region.clone();
    out.snapshot_id = Some(snapshot_id.clone());
    if let Some(found) = describe_snapshot(&target, &snapshot_id).await? {
        return follow_snapshot(input, &found, out);
    }
    let source_rds = clients.rds.get(&input.standby_region)?;
    let source = describe_snapshot(&source_rds, &snapshot_id)
        .await?
        .ok_or_else(|| PilotLightError::ResourceNotFound {
            kind: "DBSnapshot".into(),
            id: snapshot_id.clone(),
            region: input.standby_region.clone(),
        })?;
    if source.status != "available" {
        return Err(PilotLightError::InvalidState {
            resource: format!("DB snapshot {snapshot_id}"),
            state: source.status,
            reason: "copy only an `available` snapshot: poll `snapshot` until done".into(),
        });
    }
    let kms_key = match (source.encrypted, &input.database.primary_kms_key_id) {
        (false, _) => None,
        (true, Some(key)) => Some(key.clone()),
        (true, None) => return Err(PilotLightError::ConfigInvalid {
            field: format!("databases[{}].primaryKmsKeyId", input.database.name),
            reason:
                "the snapshot is encrypted: a cross-region copy needs the primary region's KMS key"
                    .into(),
        }),
    };
    let copied = target
        .copy_db_snapshot()
        .source_db_snapshot_identifier(&source.arn)
        .target_db_snapshot_identifier(&snapshot_id)
        .set_kms_key_id(kms_key)
        .set_tags(Some(tags(input)))
        .send()
        .await
        .map_err(|err| PilotLightError::from_sdk("CopyDBSnapshot", &err))?;
    let view = copied.db_snapshot().map(SnapshotView::of);
    out.status = StepStatus::Started;
    out.snapshot_status = Some(
        view.as_ref()
            .map(|v| v.status.clone())
            .unwrap_or_else(|| "creating".into()),
    );
    out.encrypted = Some(source.encrypted);
    out.resources = vec![source.arn, view.map(|v| v.arn).unwrap_or_default()];
    Ok(())
}
