//! What the emulator cannot show: throttling, 5xx and odd states against mocked RDS responses, with
//! the real `aws_sdk_rds::Client`. A refusal changes nothing (no mutating call reaches RDS).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test binary: failing loudly is its job

use aws_sdk_rds::operation::add_tags_to_resource::AddTagsToResourceOutput;
use aws_sdk_rds::operation::describe_db_instances::DescribeDbInstancesOutput;
use aws_sdk_rds::operation::modify_db_instance::ModifyDbInstanceOutput;
use aws_sdk_rds::types::DbInstance;
use aws_sdk_rds::Client;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use pilot_light_core::Regional;
use resize_database::{handler, Clients};
use serde_json::{json, Value};

fn event() -> Value {
    json!({
        "action": "resize", "side": "standby", "executionId": "arn:aws:states:us-west-2:123456789012:execution:failover:f-1",
        "primaryRegion": "us-east-1", "standbyRegion": "us-west-2",
        "database": {"name": "orders", "primaryInstanceId": "orders-db", "replicaInstanceId": "orders-db-dr",
                     "productionShape": {"instanceClass": "db.r6g.large", "multiAz": true, "backupRetentionDays": 7}}
    })
}

fn clients(rules: &[&Rule]) -> Clients {
    let client = |rules: &[&Rule]| {
        mock_client!(aws_sdk_rds, RuleMode::MatchAny, rules, |c| c.retry_config(
            aws_sdk_rds::config::retry::RetryConfig::standard().with_max_attempts(3)
        ))
    };
    Clients {
        rds: Regional::fixed([
            ("us-east-1".to_string(), client(rules)),
            ("us-west-2".to_string(), client(rules)),
        ]),
    }
}

fn instance(status: &str, class: &str, replica_of: Option<&str>) -> DbInstance {
    DbInstance::builder()
        .db_instance_identifier("orders-db-dr")
        .db_instance_arn("arn:aws:rds:us-west-2:123456789012:db:orders-db-dr")
        .db_instance_status(status)
        .db_instance_class(class)
        .multi_az(class != "db.t3.small")
        .backup_retention_period(if class == "db.t3.small" { 1 } else { 7 })
        .set_read_replica_source_db_instance_identifier(replica_of.map(str::to_string))
        .build()
}

fn describe(status: &'static str, class: &'static str, replica_of: Option<&'static str>) -> Rule {
    mock!(Client::describe_db_instances).then_output(move || {
        DescribeDbInstancesOutput::builder()
            .db_instances(instance(status, class, replica_of))
            .build()
    })
}

fn throttling_body() -> String {
    "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>".to_string()
}

#[tokio::test]
async fn a_small_instance_is_modified_with_exactly_the_changed_fields_applied_immediately() {
    let describe = describe("available", "db.t3.small", None);
    // The standby's own small shape is recorded with the execution, before it grows.
    let tag = mock!(Client::add_tags_to_resource)
        .match_requests(|r| {
            let value = |key: &str| {
                r.tags()
                    .iter()
                    .find(|t| t.key() == Some(key))
                    .and_then(|t| t.value())
                    .map(str::to_string)
            };
            value("pilot-light:pilot-light-shape").as_deref()
                == Some("instanceClass=db.t3.small multiAz=false")
                && value("pilot-light:resized-by").is_some()
        })
        .then_output(|| AddTagsToResourceOutput::builder().build());
    let modify = mock!(Client::modify_db_instance)
        .match_requests(|r| {
            r.db_instance_class() == Some("db.r6g.large")
                && r.multi_az() == Some(true)
                && r.backup_retention_period() == Some(7)
                && r.apply_immediately() == Some(true)
                && r.allocated_storage().is_none()
                && r.db_parameter_group_name().is_none()
        })
        .then_output(|| ModifyDbInstanceOutput::builder().build());
    let out = handler(event(), &clients(&[&describe, &tag, &modify]))
        .await
        .unwrap();
    assert_eq!(modify.num_calls(), 1);
    assert_eq!(tag.num_calls(), 1);
    let out = serde_json::to_value(out).unwrap();
    assert_eq!(out["status"], "started");
    assert_eq!(out["changes"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn throttled_modify_outlasting_the_sdk_retries_is_throttled() {
    let describe = describe("available", "db.t3.small", None);
    let tag = mock!(Client::add_tags_to_resource)
        .then_output(|| AddTagsToResourceOutput::builder().build());
    let modify = mock!(Client::modify_db_instance)
        .sequence()
        .http_status(400, Some(throttling_body()))
        .times(3)
        .build();
    let err = handler(event(), &clients(&[&describe, &tag, &modify]))
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "Throttled");
    assert_eq!(modify.num_calls(), 3);
}

#[tokio::test]
async fn a_5xx_on_describe_is_aws_unavailable_and_nothing_is_asked() {
    let describe = mock!(Client::describe_db_instances)
        .sequence()
        .http_status(503, None)
        .times(3)
        .build();
    let modify =
        mock!(Client::modify_db_instance).then_output(|| ModifyDbInstanceOutput::builder().build());
    let err = handler(event(), &clients(&[&describe, &modify]))
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "AwsUnavailable");
    assert_eq!(modify.num_calls(), 0);
}

#[tokio::test]
async fn a_replica_that_was_never_promoted_is_refused_unchanged() {
    let describe = describe(
        "available",
        "db.t3.small",
        Some("arn:aws:rds:us-east-1:123456789012:db:orders-db"),
    );
    let tag = mock!(Client::add_tags_to_resource)
        .then_output(|| AddTagsToResourceOutput::builder().build());
    let modify =
        mock!(Client::modify_db_instance).then_output(|| ModifyDbInstanceOutput::builder().build());
    let err = handler(event(), &clients(&[&describe, &tag, &modify]))
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "InvalidState");
    assert_eq!(modify.num_calls() + tag.num_calls(), 0);
}

#[tokio::test]
async fn a_busy_instance_is_waited_for_not_modified() {
    let describe = describe("backing-up", "db.t3.small", None);
    let modify =
        mock!(Client::modify_db_instance).then_output(|| ModifyDbInstanceOutput::builder().build());
    let out = handler(event(), &clients(&[&describe, &modify]))
        .await
        .unwrap();
    assert_eq!(modify.num_calls(), 0);
    let out = serde_json::to_value(out).unwrap();
    assert_eq!(out["status"], "inProgress");
    assert_eq!(out["outstanding"].as_array().unwrap().len(), 3);
}
