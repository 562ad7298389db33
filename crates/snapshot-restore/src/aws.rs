//! The RDS reads of `snapshot-restore` (an instance, its tags, a snapshot), with SDK errors mapped
//! to `PilotLightError`. No decisions here.

use crate::decide::{InstanceView, SnapshotView};
use pilot_light_core::db_instances::{describe_instance as describe_instance_of, instance_tags};
use pilot_light_core::PilotLightError;

/// True when `DeleteDBInstance` was refused because the instance is already being deleted, or is
/// gone, between this run's look and its call: another run of the same failback (same final
/// snapshot name) got there first.
pub(crate) fn deleted_by_another_run(
    error: Option<&aws_sdk_rds::operation::delete_db_instance::DeleteDBInstanceError>,
) -> bool {
    error.is_some_and(|e| {
        e.is_db_instance_not_found_fault() || e.is_invalid_db_instance_state_fault()
    })
}

pub(crate) async fn describe_instance(
    rds: &aws_sdk_rds::Client,
    instance_id: &str,
) -> Result<Option<InstanceView>, PilotLightError> {
    Ok(describe_instance_of(rds, instance_id)
        .await?
        .as_ref()
        .map(InstanceView::of))
}

/// The tags of `instance_id` (`None`: no such instance).
pub(crate) async fn describe_tags(
    rds: &aws_sdk_rds::Client,
    instance_id: &str,
) -> Result<Option<std::collections::BTreeMap<String, String>>, PilotLightError> {
    Ok(describe_instance_of(rds, instance_id)
        .await?
        .as_ref()
        .map(instance_tags))
}

pub(crate) async fn describe_snapshot(
    rds: &aws_sdk_rds::Client,
    snapshot_id: &str,
) -> Result<Option<SnapshotView>, PilotLightError> {
    match rds
        .describe_db_snapshots()
        .db_snapshot_identifier(snapshot_id)
        .send()
        .await
    {
        Ok(out) => Ok(out
            .db_snapshots()
            .iter()
            .find(|s| s.db_snapshot_identifier() == Some(snapshot_id))
            .map(SnapshotView::of)),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_db_snapshot_not_found_fault()) =>
        {
            Ok(None)
        }
        Err(err) => Err(PilotLightError::from_sdk("DescribeDBSnapshots", &err)),
    }
}
