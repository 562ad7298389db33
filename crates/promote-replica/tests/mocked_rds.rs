//! The handler's error paths against mocked RDS responses (faults the emulator cannot produce:
//! throttling, odd states), with the real `aws_sdk_rds::Client`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test binary: failing loudly is its job

use aws_sdk_rds::operation::add_tags_to_resource::AddTagsToResourceOutput;
use aws_sdk_rds::operation::describe_db_instances::{
    DescribeDBInstancesError, DescribeDbInstancesOutput,
};
use aws_sdk_rds::operation::promote_read_replica::{
    PromoteReadReplicaError, PromoteReadReplicaOutput,
};
use aws_sdk_rds::types::error::{DbInstanceNotFoundFault, InvalidDbInstanceStateFault};
use aws_sdk_rds::types::DbInstance;
use aws_sdk_rds::Client;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use pilot_light_core::{PilotLightError, Regional};
use promote_replica::{handler, Clients, PromoteReplicaOutput};
use serde_json::{json, Value};

const STANDBY: &str = "us-west-2";
const SOURCE: &str = "arn:aws:rds:us-east-1:123456789012:db:orders";

fn event(action: &str) -> Value {
    json!({
        "action": action,
        "primaryRegion": "us-east-1",
        "standbyRegion": STANDBY,
        "database": {"name": "orders", "primaryInstanceId": "orders", "replicaInstanceId": "orders-dr"}
    })
}

fn replica(status: &str, source: Option<&str>) -> DbInstance {
    let mut builder = DbInstance::builder()
        .db_instance_identifier("orders-dr")
        .db_instance_arn("arn:aws:rds:us-west-2:123456789012:db:orders-dr")
        .db_instance_status(status);
    if let Some(source) = source {
        builder = builder.read_replica_source_db_instance_identifier(source);
    }
    builder.build()
}

fn describe_returns(instance: DbInstance) -> Rule {
    mock!(Client::describe_db_instances).then_output(move || {
        DescribeDbInstancesOutput::builder()
            .db_instances(instance.clone())
            .build()
    })
}

fn clients(rules: &[&Rule]) -> Clients {
    clients_with_metrics(rules, &[])
}

fn clients_with_metrics(rules: &[&Rule], metric_rules: &[&Rule]) -> Clients {
    let client = mock_client!(aws_sdk_rds, RuleMode::MatchAny, rules, |c| c.retry_config(
        aws_sdk_rds::config::retry::RetryConfig::standard().with_max_attempts(3)
    ));
    let cloudwatch = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, metric_rules);
    Clients {
        rds: Regional::fixed([(STANDBY.to_string(), client)]),
        cloudwatch: Regional::fixed([(STANDBY.to_string(), cloudwatch)]),
    }
}

async fn run(event: Value, rules: &[&Rule]) -> Result<PromoteReplicaOutput, PilotLightError> {
    handler(event, &clients(rules)).await
}

#[tokio::test]
async fn missing_instance_is_replica_not_found() {
    let rule = mock!(Client::describe_db_instances).then_error(|| {
        DescribeDBInstancesError::DbInstanceNotFoundFault(
            DbInstanceNotFoundFault::builder()
                .message("DBInstance orders-dr not found.")
                .build(),
        )
    });
    let err = run(event("promote"), &[&rule]).await.unwrap_err();
    assert_eq!(err.error_type(), "ReplicaNotFound");
    assert_eq!(
        err.to_string(),
        "replica `orders-dr` not found in us-west-2"
    );
}

#[tokio::test]
async fn standalone_instance_never_promoted_is_not_a_replica_and_nothing_is_changed() {
    let describe = describe_returns(replica("available", None));
    let tag = mock!(Client::add_tags_to_resource)
        .then_output(|| AddTagsToResourceOutput::builder().build());
    let promote = mock!(Client::promote_read_replica)
        .then_output(|| PromoteReadReplicaOutput::builder().build());
    let err = run(event("promote"), &[&describe, &tag, &promote])
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "NotAReplica");
    assert_eq!(tag.num_calls(), 0, "no tag may be written on refusal");
    assert_eq!(promote.num_calls(), 0);
}

#[tokio::test]
async fn throttling_is_retried_by_the_sdk_then_surfaced_as_throttled() {
    let throttled = mock!(Client::describe_db_instances)
        .sequence()
        .http_status(400, Some(throttling_body()))
        .times(3)
        .build();
    let err = run(event("status"), &[&throttled]).await.unwrap_err();
    assert_eq!(err.error_type(), "Throttled");
    assert_eq!(
        throttled.num_calls(),
        3,
        "the SDK retries throttling before we see it"
    );
}

#[tokio::test]
async fn throttling_that_clears_within_the_sdk_retries_succeeds() {
    let instance = replica("available", Some(SOURCE));
    let flaky = mock!(Client::describe_db_instances)
        .sequence()
        .http_status(400, Some(throttling_body()))
        .output(move || {
            DescribeDbInstancesOutput::builder()
                .db_instances(instance.clone())
                .build()
        })
        .build();
    let tag = mock!(Client::add_tags_to_resource)
        .then_output(|| AddTagsToResourceOutput::builder().build());
    let promote = mock!(Client::promote_read_replica)
        .then_output(|| PromoteReadReplicaOutput::builder().build());
    // After the promote call the describe rule is exhausted; answer from a second rule.
    let after = describe_returns(replica("modifying", Some(SOURCE)));
    let out = run(event("promote"), &[&flaky, &tag, &promote, &after])
        .await
        .unwrap();
    assert_eq!(out.status, pilot_light_core::StepStatus::Started);
    assert_eq!(out.db_instance_status, "modifying");
    assert_eq!(promote.num_calls(), 1);
}

#[tokio::test]
async fn rds_refusing_the_promotion_is_invalid_state() {
    let describe = describe_returns(replica("available", Some(SOURCE)));
    let tag = mock!(Client::add_tags_to_resource)
        .then_output(|| AddTagsToResourceOutput::builder().build());
    let promote = mock!(Client::promote_read_replica).then_error(|| {
        PromoteReadReplicaError::InvalidDbInstanceStateFault(
            InvalidDbInstanceStateFault::builder()
                .message("Instance is not in available state")
                .build(),
        )
    });
    let err = run(event("promote"), &[&describe, &tag, &promote])
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "InvalidState");
    assert!(err.to_string().contains("not in available state"), "{err}");
    // Refused once could be a lost answer: it looked again, and was refused again.
    assert_eq!(promote.num_calls(), 2);
}

/// A promotion that reached RDS but whose answer was lost: the SDK's retry is refused (no replica
/// any more). The handler looks again and finds the promotion it asked for, in progress.
#[tokio::test]
async fn a_promotion_whose_answer_was_lost_is_found_in_progress() {
    let cycle_tags = |builder: aws_sdk_rds::types::builders::DbInstanceBuilder| {
        builder
            .tag_list(
                aws_sdk_rds::types::Tag::builder()
                    .key(promote_replica::PROMOTED_FROM_TAG)
                    .value(SOURCE)
                    .build(),
            )
            .tag_list(
                aws_sdk_rds::types::Tag::builder()
                    .key(promote_replica::PROMOTED_BY_TAG)
                    .value(CYCLE)
                    .build(),
            )
    };
    let before = replica("available", Some(SOURCE));
    let promoting = cycle_tags(
        DbInstance::builder()
            .db_instance_identifier("orders-dr")
            .db_instance_arn("arn:aws:rds:us-west-2:123456789012:db:orders-dr")
            .db_instance_status("modifying"),
    )
    .build();
    let describe = mock!(Client::describe_db_instances)
        .sequence()
        .output(move || {
            DescribeDbInstancesOutput::builder()
                .db_instances(before.clone())
                .build()
        })
        .output(move || {
            DescribeDbInstancesOutput::builder()
                .db_instances(promoting.clone())
                .build()
        })
        .build();
    let tag = mock!(Client::add_tags_to_resource)
        .then_output(|| AddTagsToResourceOutput::builder().build());
    let promote = mock!(Client::promote_read_replica).then_error(|| {
        PromoteReadReplicaError::InvalidDbInstanceStateFault(
            InvalidDbInstanceStateFault::builder()
                .message("DB Instance is not a read replica.")
                .build(),
        )
    });
    let mut input = event("promote");
    input["cycleId"] = json!(CYCLE);
    let out = run(input, &[&describe, &tag, &promote]).await.unwrap();
    assert_eq!(out.status, pilot_light_core::StepStatus::InProgress);
    assert_eq!(out.db_instance_status, "modifying");
    assert_eq!(out.replication_source, None);
    assert_eq!(promote.num_calls(), 1, "never asked twice once it was seen");
    assert_eq!(describe.num_calls(), 2);
}

#[tokio::test]
async fn replica_that_is_still_creating_is_invalid_state_without_a_promote_call() {
    let describe = describe_returns(replica("creating", Some(SOURCE)));
    let promote = mock!(Client::promote_read_replica)
        .then_output(|| PromoteReadReplicaOutput::builder().build());
    let err = run(event("promote"), &[&describe, &promote])
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "InvalidState");
    assert_eq!(promote.num_calls(), 0);
}

#[tokio::test]
async fn server_errors_become_aws_unavailable_after_retries() {
    let broken = mock!(Client::describe_db_instances)
        .sequence()
        .http_status(503, None)
        .times(3)
        .build();
    let err = run(event("status"), &[&broken]).await.unwrap_err();
    assert_eq!(
        err.error_type(),
        "AwsUnavailable",
        "5xx is retryable unavailability: {err:?}"
    );
    assert_eq!(broken.num_calls(), 3);
}

#[tokio::test]
async fn bad_input_gives_typed_errors_and_makes_no_call() {
    let describe = describe_returns(replica("available", Some(SOURCE)));
    let cases: Vec<(Value, &str, &str)> = vec![
        (json!("not an object"), "InvalidInput", "invalid type"),
        (json!({"action": "explode"}), "UnknownAction", "explode"),
        (json!({"action": 3}), "InvalidInput", "action"),
        (
            json!({"action": "promote", "primaryRegion": "us-east-1", "standbyRegion": STANDBY}),
            "InvalidInput",
            "database",
        ),
        (
            {
                let mut e = event("promote");
                e["database"]
                    .as_object_mut()
                    .unwrap()
                    .remove("replicaInstanceId");
                e
            },
            "InvalidInput",
            "database.replicaInstanceId",
        ),
        (
            {
                let mut e = event("promote");
                e["database"]["replicaInstanceId"] = json!("not valid!");
                e
            },
            "InvalidInput",
            "database.replicaInstanceId",
        ),
        (
            {
                let mut e = event("promote");
                e["standbyRegion"] = json!("us-east-1");
                e
            },
            "UnsafeOperation",
            "same-region",
        ),
        (
            {
                let mut e = event("promote");
                e["standbyRegion"] = json!("nowhere");
                e
            },
            "InvalidInput",
            "region",
        ),
        (
            {
                let mut e = event("promote");
                e["surprise"] = json!(true);
                e
            },
            "InvalidInput",
            "surprise",
        ),
    ];
    for (input, error_type, mentions) in cases {
        let err = run(input.clone(), &[&describe]).await.unwrap_err();
        assert_eq!(err.error_type(), error_type, "{input}: {err}");
        assert!(
            err.to_string().contains(mentions),
            "{input}: `{err}` should mention `{mentions}`"
        );
    }
    assert_eq!(describe.num_calls(), 0, "bad input must not reach AWS");
}

fn throttling_body() -> String {
    r#"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>1</RequestId></ErrorResponse>"#
        .to_string()
}

fn lag_datapoints(points: &[(i64, f64)]) -> Rule {
    use aws_sdk_cloudwatch::operation::get_metric_statistics::GetMetricStatisticsOutput;
    use aws_sdk_cloudwatch::primitives::DateTime;
    use aws_sdk_cloudwatch::types::Datapoint;
    let points = points.to_vec();
    mock!(aws_sdk_cloudwatch::Client::get_metric_statistics)
        .match_requests(|req| {
            req.metric_name() == Some("ReplicaLag")
                && req.namespace() == Some("AWS/RDS")
                && req
                    .dimensions()
                    .iter()
                    .any(|d| d.value() == Some("orders-dr"))
        })
        .then_output(move || {
            let mut out = GetMetricStatisticsOutput::builder();
            for (secs, lag) in &points {
                out = out.datapoints(
                    Datapoint::builder()
                        .timestamp(DateTime::from_secs(*secs))
                        .maximum(*lag)
                        .build(),
                );
            }
            out.build()
        })
}

#[tokio::test]
async fn lag_is_done_only_when_the_newest_datapoint_is_zero() {
    let describe = describe_returns(replica("available", Some(SOURCE)));
    // Datapoints arrive unordered: the newest (t=300) decides.
    let caught_up = lag_datapoints(&[(300, 0.0), (100, 12.0), (200, 4.0)]);
    let out = handler(
        event("lag"),
        &clients_with_metrics(&[&describe], &[&caught_up]),
    )
    .await
    .unwrap();
    assert_eq!(out.status, pilot_light_core::StepStatus::Done);
    assert_eq!(out.replica_lag_seconds, Some(0.0));

    let behind = lag_datapoints(&[(100, 0.0), (300, 7.0)]);
    let out = handler(
        event("lag"),
        &clients_with_metrics(&[&describe], &[&behind]),
    )
    .await
    .unwrap();
    assert_eq!(out.status, pilot_light_core::StepStatus::InProgress);
    assert_eq!(out.replica_lag_seconds, Some(7.0));

    let nothing_yet = lag_datapoints(&[]);
    let out = handler(
        event("lag"),
        &clients_with_metrics(&[&describe], &[&nothing_yet]),
    )
    .await
    .unwrap();
    assert_eq!(out.status, pilot_light_core::StepStatus::InProgress);
    assert_eq!(out.replica_lag_seconds, None);
}

#[tokio::test]
async fn lag_of_a_standalone_instance_is_not_a_replica() {
    let describe = describe_returns(replica("available", None));
    let metrics = lag_datapoints(&[(300, 0.0)]);
    let err = handler(
        event("lag"),
        &clients_with_metrics(&[&describe], &[&metrics]),
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type(), "NotAReplica");
    assert_eq!(metrics.num_calls(), 0);
}

fn replica_promoted_by(by: &str) -> DbInstance {
    use aws_sdk_rds::types::Tag;
    DbInstance::builder()
        .db_instance_identifier("orders-dr")
        .db_instance_arn("arn:aws:rds:us-west-2:123456789012:db:orders-dr")
        .db_instance_status("available")
        .tag_list(
            Tag::builder()
                .key(promote_replica::PROMOTED_FROM_TAG)
                .value(SOURCE)
                .build(),
        )
        .tag_list(
            Tag::builder()
                .key(promote_replica::PROMOTED_BY_TAG)
                .value(by)
                .build(),
        )
        .build()
}

const CYCLE: &str = "arn:aws:states:us-west-2:123456789012:execution:failover:fo-2";
const OLD_CYCLE: &str = "arn:aws:states:us-west-2:123456789012:execution:failover:fo-1";

#[tokio::test]
async fn a_standalone_instance_promoted_in_another_cycle_is_stale_for_every_action() {
    let describe = describe_returns(replica_promoted_by(OLD_CYCLE));
    let tag = mock!(Client::add_tags_to_resource)
        .then_output(|| AddTagsToResourceOutput::builder().build());
    let promote = mock!(Client::promote_read_replica)
        .then_output(|| PromoteReadReplicaOutput::builder().build());
    let metrics = lag_datapoints(&[(300, 0.0)]);
    for action in ["promote", "status", "lag"] {
        let mut input = event(action);
        input["cycleId"] = json!(CYCLE);
        let err = handler(
            input,
            &clients_with_metrics(&[&describe, &tag, &promote], &[&metrics]),
        )
        .await
        .unwrap_err();
        assert_eq!(err.error_type(), "StalePromotion", "{action}: {err}");
        assert!(err.to_string().contains(OLD_CYCLE), "{action}: {err}");
    }
    assert_eq!(tag.num_calls(), 0, "nothing is changed on a stale database");
    assert_eq!(promote.num_calls(), 0);
    assert_eq!(metrics.num_calls(), 0);

    // The same instance in its own cycle is done.
    let mut input = event("promote");
    input["cycleId"] = json!(OLD_CYCLE);
    let out = run(input, &[&describe, &tag, &promote]).await.unwrap();
    assert_eq!(out.status, pilot_light_core::StepStatus::AlreadyDone);
}

#[tokio::test]
async fn a_promotion_is_tagged_with_its_cycle() {
    let describe = describe_returns(replica("available", Some(SOURCE)));
    let tag = mock!(Client::add_tags_to_resource)
        .match_requests(|req| {
            req.tags().iter().any(|t| {
                t.key() == Some(promote_replica::PROMOTED_BY_TAG) && t.value() == Some(CYCLE)
            })
        })
        .then_output(|| AddTagsToResourceOutput::builder().build());
    let promote = mock!(Client::promote_read_replica)
        .then_output(|| PromoteReadReplicaOutput::builder().build());
    let mut input = event("promote");
    input["cycleId"] = json!(CYCLE);
    input["executionId"] = json!("arn:aws:states:us-west-2:123456789012:execution:failover:fo-3");
    let out = run(input, &[&describe, &tag, &promote]).await.unwrap();
    assert_eq!(out.status, pilot_light_core::StepStatus::Started);
    assert_eq!(
        tag.num_calls(),
        1,
        "tagged with the cycle, not the execution"
    );
    assert_eq!(promote.num_calls(), 1);
}

/// Datapoints as CloudWatch answers a request whose start time is after `fence`: the rule matches
/// only such requests (a request reaching back before the fence gets no answer and fails).
fn lag_datapoints_after(fence: i64, points: &[(i64, f64, f64)]) -> Rule {
    use aws_sdk_cloudwatch::operation::get_metric_statistics::GetMetricStatisticsOutput;
    use aws_sdk_cloudwatch::primitives::DateTime;
    use aws_sdk_cloudwatch::types::{Datapoint, Statistic};
    let points = points.to_vec();
    mock!(aws_sdk_cloudwatch::Client::get_metric_statistics)
        .match_requests(move |req| {
            req.start_time().is_some_and(|t| t.secs() > fence)
                && req.statistics().contains(&Statistic::Minimum)
        })
        .then_output(move || {
            let mut out = GetMetricStatisticsOutput::builder();
            for (secs, minimum, maximum) in &points {
                out = out.datapoints(
                    Datapoint::builder()
                        .timestamp(DateTime::from_secs(*secs))
                        .minimum(*minimum)
                        .maximum(*maximum)
                        .build(),
                );
            }
            out.build()
        })
}

#[tokio::test]
async fn after_a_fence_a_datapoint_from_before_it_is_not_caught_up() {
    let describe = describe_returns(replica("available", Some(SOURCE)));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let fence = now - 30;
    let fenced_at = aws_smithy_types::DateTime::from_secs(fence)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap();
    let mut input = event("lag");
    input["fencedAt"] = json!(fenced_at);

    // CloudWatch rounds the start down to the minute: a zero from before the fence comes back too.
    let stale_zero = lag_datapoints_after(fence, &[(fence - 20, 0.0, 0.0)]);
    let out = handler(
        input.clone(),
        &clients_with_metrics(&[&describe], &[&stale_zero]),
    )
    .await
    .unwrap();
    assert_eq!(out.status, pilot_light_core::StepStatus::InProgress);
    assert_eq!(out.replica_lag_seconds, None, "lag unknown after the fence");

    let fresh = lag_datapoints_after(fence, &[(fence - 20, 0.0, 0.0), (fence + 10, 0.0, 2.0)]);
    let out = handler(
        input.clone(),
        &clients_with_metrics(&[&describe], &[&fresh]),
    )
    .await
    .unwrap();
    assert_eq!(out.status, pilot_light_core::StepStatus::Done);
    assert_eq!(out.replica_lag_seconds, Some(0.0));

    let behind = lag_datapoints_after(fence, &[(fence + 10, 3.0, 5.0)]);
    let out = handler(input, &clients_with_metrics(&[&describe], &[&behind]))
        .await
        .unwrap();
    assert_eq!(out.status, pilot_light_core::StepStatus::InProgress);
    assert_eq!(out.replica_lag_seconds, Some(3.0));
}

#[tokio::test]
async fn a_fence_time_that_is_not_a_date_is_invalid_input() {
    let describe = describe_returns(replica("available", Some(SOURCE)));
    let mut input = event("lag");
    input["fencedAt"] = json!("after lunch");
    let err = run(input, &[&describe]).await.unwrap_err();
    assert_eq!(err.error_type(), "InvalidInput");
    assert!(err.to_string().contains("fencedAt"), "{err}");
    assert_eq!(describe.num_calls(), 0);
}
