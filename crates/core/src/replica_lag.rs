//! A read replica's `ReplicaLag` as CloudWatch gives it (feature `cloudwatch`): the datapoints
//! (`Minimum` and `Maximum` per minute) of a window. `promote-replica` decides from them whether a
//! graceful promotion may go on; readiness shows the newest.

use crate::PilotLightError;

/// One `ReplicaLag` datapoint: its timestamp (epoch seconds; with a period, the start of its
/// period) and its `Minimum` and `Maximum` over the period.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LagDatapoint {
    pub timestamp: f64,
    pub minimum: Option<f64>,
    pub maximum: Option<f64>,
}

/// The `ReplicaLag` datapoints of `instance_id` (per minute) from `start` to `end` (epoch seconds).
pub async fn replica_lag_datapoints(
    cloudwatch: &aws_sdk_cloudwatch::Client,
    instance_id: &str,
    start: f64,
    end: f64,
) -> Result<Vec<LagDatapoint>, PilotLightError> {
    use aws_sdk_cloudwatch::primitives::DateTime;
    use aws_sdk_cloudwatch::types::{Dimension, Statistic};
    let out = cloudwatch
        .get_metric_statistics()
        .namespace("AWS/RDS")
        .metric_name("ReplicaLag")
        .dimensions(
            Dimension::builder()
                .name("DBInstanceIdentifier")
                .value(instance_id)
                .build(),
        )
        .start_time(DateTime::from_secs_f64(start))
        .end_time(DateTime::from_secs_f64(end))
        .period(60)
        .statistics(Statistic::Minimum)
        .statistics(Statistic::Maximum)
        .send()
        .await
        .map_err(|err| PilotLightError::from_sdk("GetMetricStatistics", &err))?;
    Ok(out
        .datapoints()
        .iter()
        .filter_map(|d| {
            Some(LagDatapoint {
                timestamp: d.timestamp()?.as_secs_f64(),
                minimum: d.minimum(),
                maximum: d.maximum(),
            })
        })
        .collect())
}

/// The newest datapoint's `Maximum` (`None`: no datapoint has one).
pub fn newest_maximum(datapoints: &[LagDatapoint]) -> Option<f64> {
    datapoints
        .iter()
        .filter_map(|d| Some((d.timestamp, d.maximum?)))
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, lag)| lag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_maximum_is_the_latest_datapoint_that_has_one() {
        let point = |timestamp, maximum| LagDatapoint {
            timestamp,
            minimum: None,
            maximum,
        };
        assert_eq!(newest_maximum(&[]), None);
        assert_eq!(
            newest_maximum(&[
                point(60.0, Some(3.0)),
                point(120.0, Some(1.0)),
                point(180.0, None)
            ]),
            Some(1.0)
        );
    }
}
