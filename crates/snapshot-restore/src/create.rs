//! `restore` and `replicate`: the instances made under an original identifier (the primary restored
//! from the copied snapshot; a cross-region replica on either side), with the shape of what was there.

use crate::aws::{describe_instance, describe_snapshot};
use crate::decide::{
    choose_shape, creation_status, decide_replicate, decide_restore, failback_snapshot_id,
    replica_status, CreateDecision, InstanceView,
};
use crate::{
    decided, other_side, required_side, side_instance, tags, Clients, SnapshotRestoreInput,
    SnapshotRestoreOutput,
};
use pilot_light_core::config::Side;
use pilot_light_core::{PilotLightError, StepStatus};

/// `restore`: the copied snapshot under the original primary identifier.
pub(crate) async fn restore(
    input: &SnapshotRestoreInput,
    clients: &Clients,
    out: &mut SnapshotRestoreOutput,
) -> Result<(), PilotLightError> {
    let (instance_id, region) = side_instance(input, Side::Primary);
    let rds = clients.rds.get(region)?;
    let snapshot_id =
        failback_snapshot_id(&input.database.replica_instance_id, &input.execution_id);
    out.region = region.to_string();
    out.instance_id = Some(instance_id.to_string());
    out.snapshot_id = Some(snapshot_id.clone());
    let existing = describe_instance(&rds, instance_id).await?;
    match decide_restore(existing.as_ref(), &input.execution_id)? {
        CreateDecision::Follow {
            made_by_this_execution,
        } => {
            let existing = decided(existing, instance_id)?;
            out.status = creation_status(
                &format!("DB instance {instance_id}"),
                &existing.status,
                made_by_this_execution,
            )?;
            out.db_instance_status = Some(existing.status);
            out.resources = vec![existing.arn];
        }
        CreateDecision::Create => {
            let snapshot = describe_snapshot(&rds, &snapshot_id)
                .await?
                .ok_or_else(|| PilotLightError::ResourceNotFound {
                    kind: "DBSnapshot".into(),
                    id: snapshot_id.clone(),
                    region: region.to_string(),
                })?;
            if snapshot.status != "available" {
                return Err(PilotLightError::InvalidState {
                    resource: format!("DB snapshot {snapshot_id}"),
                    state: snapshot.status,
                    reason: "restore only from an `available` snapshot: poll `copy` until done"
                        .into(),
                });
            }
            let (shape, source) = choose_shape(
                input.shape.as_ref(),
                input.recorded_shapes.get(&input.database.name),
            );
            out.shape_source = Some(source);
            let restored = rds
                .restore_db_instance_from_db_snapshot()
                .db_instance_identifier(instance_id)
                .db_snapshot_identifier(&snapshot_id)
                .set_db_instance_class(shape.instance_class)
                .set_db_subnet_group_name(shape.db_subnet_group_name)
                .set_vpc_security_group_ids(
                    (!shape.vpc_security_group_ids.is_empty())
                        .then_some(shape.vpc_security_group_ids),
                )
                .set_multi_az(shape.multi_az)
                .set_db_parameter_group_name(shape.db_parameter_group_name)
                .set_tags(Some(tags(input)))
                .send()
                .await
                .map_err(|err| {
                    PilotLightError::from_sdk("RestoreDBInstanceFromDBSnapshot", &err)
                })?;
            let view = restored.db_instance().map(InstanceView::of);
            out.status = StepStatus::Started;
            out.db_instance_status = Some(
                view.as_ref()
                    .map(|v| v.status.clone())
                    .unwrap_or_else(|| "creating".into()),
            );
            out.resources = vec![snapshot.arn, view.map(|v| v.arn).unwrap_or_default()];
        }
    }
    Ok(())
}

/// `replicate`: a cross-region read replica on `side`, of the other side's instance.
pub(crate) async fn replicate(
    input: &SnapshotRestoreInput,
    clients: &Clients,
    out: &mut SnapshotRestoreOutput,
) -> Result<(), PilotLightError> {
    let side = required_side(input)?;
    let (target_id, target_region) = side_instance(input, side);
    let (source_id, source_region) = side_instance(input, other_side(side));
    let target = clients.rds.get(target_region)?;
    let source_rds = clients.rds.get(source_region)?;
    out.region = target_region.to_string();
    out.instance_id = Some(target_id.to_string());
    let source = describe_instance(&source_rds, source_id)
        .await?
        .ok_or_else(|| PilotLightError::ResourceNotFound {
            kind: "DBInstance".into(),
            id: source_id.to_string(),
            region: source_region.to_string(),
        })?;
    let existing = describe_instance(&target, target_id).await?;
    match decide_replicate(
        existing.as_ref(),
        &source,
        source_region,
        target_region,
        &input.execution_id,
    )? {
        CreateDecision::Follow {
            made_by_this_execution,
        } => {
            let existing = decided(existing, target_id)?;
            let status = replica_status(
                &format!("DB instance {target_id}"),
                &existing,
                &source.arn,
                made_by_this_execution,
            )?;
            out.status = status;
            out.db_instance_status = Some(existing.status);
            out.resources = vec![source.arn, existing.arn];
        }
        CreateDecision::Create => {
            let kms_key = match (source.encrypted, side) {
                (false, _) => None,
                (true, Side::Primary) => input.database.primary_kms_key_id.clone(),
                (true, Side::Standby) => input.database.standby_kms_key_id.clone(),
            };
            if source.encrypted && kms_key.is_none() {
                return Err(PilotLightError::ConfigInvalid {
                    field: format!(
                        "databases[{}].{}KmsKeyId",
                        input.database.name,
                        side.name()
                    ),
                    reason: "the source is encrypted: a cross-region replica needs the target region's KMS key".into(),
                });
            }
            // A reverse replica (side primary) becomes the primary: the primary's shape. A new DR
            // replica (side standby) keeps the old standby's (small) shape; nothing is recorded
            // for it.
            let recorded = match side {
                Side::Primary => input.recorded_shapes.get(&input.database.name),
                Side::Standby => None,
            };
            let (shape, shape_source) = choose_shape(input.shape.as_ref(), recorded);
            out.shape_source = Some(shape_source);
            let created = target
                .create_db_instance_read_replica()
                .db_instance_identifier(target_id)
                .source_db_instance_identifier(&source.arn)
                .set_kms_key_id(kms_key)
                .set_db_instance_class(shape.instance_class)
                .set_db_subnet_group_name(shape.db_subnet_group_name)
                .set_vpc_security_group_ids(
                    (!shape.vpc_security_group_ids.is_empty())
                        .then_some(shape.vpc_security_group_ids),
                )
                .set_multi_az(shape.multi_az)
                .set_db_parameter_group_name(shape.db_parameter_group_name)
                .set_tags(Some(tags(input)))
                .send()
                .await
                .map_err(|err| PilotLightError::from_sdk("CreateDBInstanceReadReplica", &err))?;
            let view = created.db_instance().map(InstanceView::of);
            out.status = StepStatus::Started;
            out.db_instance_status = Some(
                view.as_ref()
                    .map(|v| v.status.clone())
                    .unwrap_or_else(|| "creating".into()),
            );
            out.resources = vec![source.arn, view.map(|v| v.arn).unwrap_or_default()];
        }
    }
    Ok(())
}
