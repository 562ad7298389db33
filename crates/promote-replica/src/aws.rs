//! The reads of `promote-replica` (the standby instance, its `ReplicaLag` datapoints), with SDK
//! errors mapped to `PilotLightError`. No decisions here.

use crate::decide::{lag_window, LagDatapoint, ReplicaObservation};
use pilot_light_core::PilotLightError;

/// The `ReplicaLag` datapoints (Minimum and Maximum per minute) of the window [`lag_window`] gives.
pub(crate) async fn replica_lag_datapoints(
    cloudwatch: &aws_sdk_cloudwatch::Client,
    instance_id: &str,
    fenced_at: Option<f64>,
) -> Result<Vec<LagDatapoint>, PilotLightError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default();
    let (start, end) = lag_window(now, fenced_at);
    pilot_light_core::replica_lag::replica_lag_datapoints(cloudwatch, instance_id, start, end).await
}

/// Describes the standby instance. Not found is `ReplicaNotFound`.
pub(crate) async fn observe(
    rds: &aws_sdk_rds::Client,
    instance_id: &str,
    region: &str,
) -> Result<ReplicaObservation, PilotLightError> {
    pilot_light_core::db_instances::describe_instance(rds, instance_id)
        .await?
        .as_ref()
        .map(ReplicaObservation::from_instance)
        .ok_or_else(|| PilotLightError::ReplicaNotFound {
            instance_id: instance_id.to_string(),
            region: region.to_string(),
        })
}
