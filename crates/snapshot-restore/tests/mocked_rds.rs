//! What the emulator cannot show: throttling and refusals against mocked RDS responses, with the real
//! `aws_sdk_rds::Client`. A refusal must change nothing (no mutating call reaches RDS).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test binary: failing loudly is its job

use aws_sdk_rds::operation::delete_db_instance::{DeleteDBInstanceError, DeleteDbInstanceOutput};
use aws_sdk_rds::operation::describe_db_instances::{
    DescribeDBInstancesError, DescribeDbInstancesOutput,
};
use aws_sdk_rds::operation::describe_db_snapshots::DescribeDBSnapshotsError;
use aws_sdk_rds::types::error::{DbInstanceNotFoundFault, DbSnapshotNotFoundFault};
use aws_sdk_rds::types::{DbInstance, Tag};
use aws_sdk_rds::Client;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use pilot_light_core::Regional;
use serde_json::{json, Value};
use snapshot_restore::{handler, Clients, RENAMED_BY_TAG};

const EXEC: &str = "arn:aws:states:us-west-2:123456789012:execution:failback:fb-1";

fn event(action: &str, side: Option<&str>) -> Value {
    let mut e = json!({
        "action": action, "env": "prod", "executionId": EXEC,
        "primaryRegion": "us-east-1", "standbyRegion": "us-west-2",
        "database": {"name": "orders", "primaryInstanceId": "orders-db", "replicaInstanceId": "orders-db-dr"}
    });
    if let Some(side) = side {
        e["side"] = json!(side);
    }
    e
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

fn instance(id: &str, status: &str, renamed_by: Option<&str>) -> DbInstance {
    let mut b = DbInstance::builder()
        .db_instance_identifier(id)
        .db_instance_arn(format!("arn:aws:rds:us-west-2:123456789012:db:{id}"))
        .db_instance_status(status);
    if let Some(exec) = renamed_by {
        b = b.tag_list(Tag::builder().key(RENAMED_BY_TAG).value(exec).build());
    }
    b.build()
}

/// What `retire` observes: this execution's renamed standby (available), its successor under the
/// standby identifier (`successor_status`), and no final snapshot yet.
fn renamed_standby_before_retire(successor_status: &'static str) -> (Rule, Rule, Rule) {
    let renamed_id = snapshot_restore::renamed_instance_id("orders-db-dr", EXEC);
    let (renamed_for_rule, renamed_id_for_rule) = (renamed_id.clone(), renamed_id);
    let describe = mock!(Client::describe_db_instances)
        .match_requests(move |r| r.db_instance_identifier() == Some(renamed_id_for_rule.as_str()))
        .then_output(move || {
            DescribeDbInstancesOutput::builder()
                .db_instances(instance(&renamed_for_rule, "available", Some(EXEC)))
                .build()
        });
    let successor = mock!(Client::describe_db_instances)
        .match_requests(|r| r.db_instance_identifier() == Some("orders-db-dr"))
        .then_output(move || {
            DescribeDbInstancesOutput::builder()
                .db_instances(instance("orders-db-dr", successor_status, None))
                .build()
        });
    let no_snapshot = mock!(Client::describe_db_snapshots).then_error(|| {
        DescribeDBSnapshotsError::DbSnapshotNotFoundFault(
            DbSnapshotNotFoundFault::builder().build(),
        )
    });
    (describe, successor, no_snapshot)
}

fn throttling_body() -> String {
    "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>".to_string()
}

#[tokio::test]
async fn throttling_outlasting_the_sdk_retries_is_throttled() {
    let throttled = mock!(Client::describe_db_snapshots)
        .sequence()
        .http_status(400, Some(throttling_body()))
        .times(3)
        .build();
    let err = handler(event("snapshot", None), &clients(&[&throttled]))
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "Throttled");
    assert_eq!(throttled.num_calls(), 3);
}

#[tokio::test]
async fn retire_refuses_while_the_successor_is_not_available_and_deletes_nothing() {
    let (describe, successor, no_snapshot) = renamed_standby_before_retire("creating");
    let delete =
        mock!(Client::delete_db_instance).then_output(|| DeleteDbInstanceOutput::builder().build());
    let err = handler(
        event("retire", Some("standby")),
        &clients(&[&describe, &successor, &no_snapshot, &delete]),
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type(), "UnsafeOperation", "{err}");
    assert_eq!(delete.num_calls(), 0, "nothing may be deleted");
}

#[tokio::test]
async fn snapshot_of_a_missing_standby_is_resource_not_found_and_creates_nothing() {
    let no_snapshot = mock!(Client::describe_db_snapshots).then_error(|| {
        DescribeDBSnapshotsError::DbSnapshotNotFoundFault(
            DbSnapshotNotFoundFault::builder().build(),
        )
    });
    let no_instance = mock!(Client::describe_db_instances).then_error(|| {
        DescribeDBInstancesError::DbInstanceNotFoundFault(
            DbInstanceNotFoundFault::builder().build(),
        )
    });
    let create = mock!(Client::create_db_snapshot).then_output(|| {
        aws_sdk_rds::operation::create_db_snapshot::CreateDbSnapshotOutput::builder().build()
    });
    let err = handler(
        event("snapshot", None),
        &clients(&[&no_snapshot, &no_instance, &create]),
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type(), "ResourceNotFound");
    assert_eq!(create.num_calls(), 0);
}

#[tokio::test]
async fn clear_way_records_on_the_old_primary_which_promotion_cut_replication_from_it() {
    const FAILOVER: &str = "arn:aws:states:us-west-2:123456789012:execution:failover:fo-1";
    let renamed_id = snapshot_restore::renamed_instance_id("orders-db", EXEC);
    let old_primary = mock!(Client::describe_db_instances)
        .match_requests(|r| r.db_instance_identifier() == Some("orders-db"))
        .then_output(|| {
            DescribeDbInstancesOutput::builder()
                .db_instances(
                    DbInstance::builder()
                        .db_instance_identifier("orders-db")
                        .db_instance_arn("arn:aws:rds:us-east-1:123456789012:db:orders-db")
                        .db_instance_status("available")
                        .build(),
                )
                .build()
        });
    let rename_target = mock!(Client::describe_db_instances)
        .match_requests(move |r| r.db_instance_identifier() == Some(renamed_id.as_str()))
        .then_error(|| {
            DescribeDBInstancesError::DbInstanceNotFoundFault(
                DbInstanceNotFoundFault::builder().build(),
            )
        });
    let promoted_standby = mock!(Client::describe_db_instances)
        .match_requests(|r| r.db_instance_identifier() == Some("orders-db-dr"))
        .then_output(|| {
            DescribeDbInstancesOutput::builder()
                .db_instances(
                    DbInstance::builder()
                        .db_instance_identifier("orders-db-dr")
                        .db_instance_arn("arn:aws:rds:us-west-2:123456789012:db:orders-db-dr")
                        .db_instance_status("available")
                        .tag_list(
                            Tag::builder()
                                .key("pilot-light:promoted-from")
                                .value("arn:aws:rds:us-east-1:123456789012:db:orders-db")
                                .build(),
                        )
                        .tag_list(
                            Tag::builder()
                                .key("pilot-light:promoted-by")
                                .value(FAILOVER)
                                .build(),
                        )
                        .build(),
                )
                .build()
        });
    let tagged = mock!(Client::add_tags_to_resource)
        .match_requests(|r| {
            let has = |key: &str, value: &str| {
                r.tags()
                    .iter()
                    .any(|t| t.key() == Some(key) && t.value() == Some(value))
            };
            has("pilot-light:replication-cut-by", FAILOVER)
                && has("pilot-light:renamed-from", "orders-db")
                && has("pilot-light:env", "prod")
                && r.tags()
                    .iter()
                    .any(|t| t.key() == Some("pilot-light:renamed-at"))
        })
        .then_output(|| {
            aws_sdk_rds::operation::add_tags_to_resource::AddTagsToResourceOutput::builder().build()
        });
    let renamed = mock!(Client::modify_db_instance).then_output(|| {
        aws_sdk_rds::operation::modify_db_instance::ModifyDbInstanceOutput::builder().build()
    });
    let out = handler(
        event("clearWay", Some("primary")),
        &clients(&[
            &old_primary,
            &rename_target,
            &promoted_standby,
            &tagged,
            &renamed,
        ]),
    )
    .await
    .expect("clearWay");
    assert_eq!(out.status, pilot_light_core::StepStatus::Started);
    assert_eq!(
        tagged.num_calls(),
        1,
        "tagged with the cut before the rename"
    );
    assert_eq!(renamed.num_calls(), 1);
}

#[tokio::test]
async fn retire_racing_an_aborted_run_that_deletes_the_same_instance_polls_instead_of_failing() {
    let (describe, successor, no_snapshot) = renamed_standby_before_retire("available");
    // The aborted run's in-flight retire deleted it between this run's look and its call.
    let gone = mock!(Client::delete_db_instance).then_error(|| {
        DeleteDBInstanceError::DbInstanceNotFoundFault(DbInstanceNotFoundFault::builder().build())
    });
    let out = handler(
        event("retire", Some("standby")),
        &clients(&[&describe, &successor, &no_snapshot, &gone]),
    )
    .await
    .expect("a concurrent deletion is not a failure");
    let out = serde_json::to_value(&out).unwrap();
    assert_eq!(out["status"], "inProgress", "{out}");
    assert_eq!(out["dbInstanceStatus"], "deleting", "{out}");
    assert_eq!(gone.num_calls(), 1);
}

/// `clearWay` on the standby side where this execution tagged `orders-db-dr` for renaming but the
/// rename never reached RDS (the run stopped in between): what it observes, and the rename call
/// answering with `rename`.
async fn clear_way_after_a_lost_rename(rename: Rule) -> (serde_json::Value, Rule, Rule) {
    let renamed_id = snapshot_restore::renamed_instance_id("orders-db-dr", EXEC);
    let in_the_way = mock!(Client::describe_db_instances)
        .match_requests(|r| r.db_instance_identifier() == Some("orders-db-dr"))
        .then_output(|| {
            DescribeDbInstancesOutput::builder()
                .db_instances(instance("orders-db-dr", "available", Some(EXEC)))
                .build()
        });
    let nothing_renamed = mock!(Client::describe_db_instances)
        .match_requests(move |r| r.db_instance_identifier() == Some(renamed_id.as_str()))
        .then_error(|| {
            DescribeDBInstancesError::DbInstanceNotFoundFault(
                DbInstanceNotFoundFault::builder().build(),
            )
        });
    let tagged = mock!(Client::add_tags_to_resource).then_output(|| {
        aws_sdk_rds::operation::add_tags_to_resource::AddTagsToResourceOutput::builder().build()
    });
    let out = handler(
        event("clearWay", Some("standby")),
        &clients(&[&in_the_way, &nothing_renamed, &tagged, &rename]),
    )
    .await
    .expect("clearWay after a lost rename");
    (serde_json::to_value(&out).unwrap(), tagged, rename)
}

#[tokio::test]
async fn a_rename_tagged_but_never_asked_for_is_asked_for_again_not_waited_on_forever() {
    let rename = mock!(Client::modify_db_instance)
        .match_requests(|r| {
            r.db_instance_identifier() == Some("orders-db-dr")
                && r.new_db_instance_identifier()
                    == Some(snapshot_restore::renamed_instance_id("orders-db-dr", EXEC).as_str())
        })
        .then_output(|| {
            aws_sdk_rds::operation::modify_db_instance::ModifyDbInstanceOutput::builder().build()
        });
    let (out, tagged, rename) = clear_way_after_a_lost_rename(rename).await;
    assert_eq!(out["status"], "started", "{out}");
    assert_eq!(tagged.num_calls(), 1);
    assert_eq!(rename.num_calls(), 1, "the rename is asked for again");
}

#[tokio::test]
async fn a_rename_asked_for_again_while_rds_begins_the_first_is_followed() {
    let busy = mock!(Client::modify_db_instance).then_error(|| {
        aws_sdk_rds::operation::modify_db_instance::ModifyDBInstanceError::InvalidDbInstanceStateFault(
            aws_sdk_rds::types::error::InvalidDbInstanceStateFault::builder().build(),
        )
    });
    let (out, _, busy) = clear_way_after_a_lost_rename(busy).await;
    assert_eq!(out["status"], "inProgress", "{out}");
    assert_eq!(out["dbInstanceStatus"], "renaming", "{out}");
    assert_eq!(busy.num_calls(), 1);
}
