//! The sweep's safety and the handler's faults against mocked AWS answers (shapes the emulator
//! cannot produce: a live resource wrongly tagged, another env's drill, throttling, a busy group),
//! with the real SDK clients.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test binary: failing loudly is its job

use aws_sdk_autoscaling::operation::delete_auto_scaling_group::DeleteAutoScalingGroupOutput;
use aws_sdk_autoscaling::operation::describe_auto_scaling_groups::DescribeAutoScalingGroupsOutput;
use aws_sdk_autoscaling::types::{AutoScalingGroup, TagDescription};
use aws_sdk_ec2::operation::describe_instances::DescribeInstancesOutput;
use aws_sdk_rds::operation::delete_db_instance::DeleteDbInstanceOutput;
use aws_sdk_rds::operation::describe_db_instances::DescribeDbInstancesOutput;
use aws_sdk_rds::types::{DbInstance, Tag};
use aws_sdk_sfn::operation::describe_execution::{DescribeExecutionError, DescribeExecutionOutput};
use aws_sdk_sfn::types::error::ExecutionDoesNotExist;
use aws_sdk_sfn::types::ExecutionStatus;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use drill_resources::{handler, Clients, DRILL_TAG_KEY};
use pilot_light_core::{Regional, ENV_TAG_KEY};
use serde_json::{json, Value};

const REGION: &str = "us-west-2";
const ME: &str = "arn:aws:states:us-west-2:1:execution:pilot-light-prod-drill:now";
const FINISHED: &str = "arn:aws:states:us-west-2:1:execution:pilot-light-prod-drill:crashed";
const RUNNING: &str = "arn:aws:states:us-west-2:1:execution:pilot-light-prod-drill:other";
const GONE: &str = "arn:aws:states:us-west-2:1:execution:pilot-light-prod-drill:gone";

fn db(id: &str, status: &str, tags: &[(&str, &str)]) -> DbInstance {
    let mut b = DbInstance::builder()
        .db_instance_identifier(id)
        .db_instance_arn(format!("arn:aws:rds:us-west-2:1:db:{id}"))
        .db_instance_status(status);
    for (k, v) in tags {
        b = b.tag_list(Tag::builder().key(*k).value(*v).build());
    }
    b.build()
}

fn clients(rds: &[&Rule], asg: &[&Rule], ec2: &[&Rule], sfn: &[&Rule]) -> Clients {
    let retry = || aws_sdk_rds::config::retry::RetryConfig::standard().with_max_attempts(2);
    Clients {
        rds: Regional::fixed([(
            REGION.to_string(),
            mock_client!(aws_sdk_rds, RuleMode::MatchAny, rds, |c| c
                .retry_config(retry())),
        )]),
        autoscaling: Regional::fixed([(
            REGION.to_string(),
            mock_client!(aws_sdk_autoscaling, RuleMode::MatchAny, asg),
        )]),
        ec2: Regional::fixed([(
            REGION.to_string(),
            mock_client!(aws_sdk_ec2, RuleMode::MatchAny, ec2),
        )]),
        ssm: Regional::fixed([]),
        sfn: Regional::fixed([(
            REGION.to_string(),
            mock_client!(aws_sdk_sfn, RuleMode::MatchAny, sfn),
        )]),
        home_region: Some(REGION.to_string()),
    }
}

fn sweep_event(include_current: bool) -> Value {
    json!({"action": "sweep", "env": "prod", "executionId": ME, "region": REGION,
           "includeCurrent": include_current, "keepFinalSnapshot": false,
           "protected": ["orders-dr", "web-usw2"]})
}

fn no_groups() -> Rule {
    mock!(aws_sdk_autoscaling::Client::describe_auto_scaling_groups)
        .then_output(|| DescribeAutoScalingGroupsOutput::builder().build())
}

fn no_instances() -> Rule {
    mock!(aws_sdk_ec2::Client::describe_instances)
        .then_output(|| DescribeInstancesOutput::builder().build())
}

fn executions() -> Rule {
    mock!(aws_sdk_sfn::Client::describe_execution)
        .match_requests(|r| r.execution_arn() != Some(GONE))
        .then_output(|| {
            DescribeExecutionOutput::builder()
                .execution_arn("x")
                .state_machine_arn("y")
                .status(ExecutionStatus::Succeeded)
                .start_date(aws_smithy_types_date())
                .build()
                .unwrap()
        })
}

fn aws_smithy_types_date() -> aws_sdk_sfn::primitives::DateTime {
    aws_sdk_sfn::primitives::DateTime::from_secs(0)
}

#[tokio::test]
async fn the_sweep_deletes_only_finished_drills_of_this_env_and_never_a_live_resource() {
    let describe = mock!(aws_sdk_rds::Client::describe_db_instances).then_output(|| {
        DescribeDbInstancesOutput::builder()
            // The live replica: never, even tagged as a drill resource by mistake.
            .db_instances(db(
                "orders-dr",
                "available",
                &[(ENV_TAG_KEY, "prod"), (DRILL_TAG_KEY, FINISHED)],
            ))
            // Untagged, and another env's drill.
            .db_instances(db("someone-elses", "available", &[]))
            .db_instances(db(
                "staging-drill",
                "available",
                &[(ENV_TAG_KEY, "staging"), (DRILL_TAG_KEY, FINISHED)],
            ))
            // This drill's own, before the drill (kept).
            .db_instances(db(
                "orders-dr-drill-me",
                "available",
                &[(ENV_TAG_KEY, "prod"), (DRILL_TAG_KEY, ME)],
            ))
            // Leftovers: a finished drill's, and one whose execution no longer exists.
            .db_instances(db(
                "orders-dr-drill-old",
                "available",
                &[(ENV_TAG_KEY, "prod"), (DRILL_TAG_KEY, FINISHED)],
            ))
            .db_instances(db(
                "orders-dr-drill-gone",
                "creating",
                &[(ENV_TAG_KEY, "prod"), (DRILL_TAG_KEY, GONE)],
            ))
            .build()
    });
    let delete = mock!(aws_sdk_rds::Client::delete_db_instance)
        .then_output(|| DeleteDbInstanceOutput::builder().build());
    let gone = mock!(aws_sdk_sfn::Client::describe_execution)
        .match_requests(|r| r.execution_arn() == Some(GONE))
        .then_error(|| {
            DescribeExecutionError::ExecutionDoesNotExist(ExecutionDoesNotExist::builder().build())
        });
    let clients = clients(
        &[&describe, &delete],
        &[&no_groups()],
        &[&no_instances()],
        &[&executions(), &gone],
    );
    let out = handler(sweep_event(false), &clients).await.unwrap();
    let out = serde_json::to_value(out).unwrap();
    assert_eq!(delete.num_calls(), 1, "{out:#}");
    let swept = out["swept"].as_array().unwrap();
    let outcomes: Vec<(&str, &str)> = swept
        .iter()
        .map(|s| (s["id"].as_str().unwrap(), s["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(
        outcomes,
        vec![
            ("orders-dr-drill-old", "delete requested"),
            ("orders-dr-drill-gone", "waiting (creating)"),
        ]
    );
    assert_eq!(out["kept"][0]["id"], "orders-dr-drill-me");
    assert_eq!(out["status"], "started");
    assert_eq!(out["remaining"], 2);
}

#[tokio::test]
async fn a_running_drills_group_is_kept_and_a_busy_group_is_waited_for() {
    let groups =
        mock!(aws_sdk_autoscaling::Client::describe_auto_scaling_groups).then_output(|| {
            let group = |name: &str, owner: &str| {
                AutoScalingGroup::builder()
                    .auto_scaling_group_name(name)
                    .tags(
                        TagDescription::builder()
                            .key(ENV_TAG_KEY)
                            .value("prod")
                            .build(),
                    )
                    .tags(
                        TagDescription::builder()
                            .key(DRILL_TAG_KEY)
                            .value(owner)
                            .build(),
                    )
                    .build()
            };
            DescribeAutoScalingGroupsOutput::builder()
                .auto_scaling_groups(group("web-usw2-drill-other", RUNNING))
                .auto_scaling_groups(group("web-usw2-drill-me", ME))
                .build()
        });
    let running = mock!(aws_sdk_sfn::Client::describe_execution).then_output(|| {
        DescribeExecutionOutput::builder()
            .execution_arn("x")
            .state_machine_arn("y")
            .status(ExecutionStatus::Running)
            .start_date(aws_smithy_types_date())
            .build()
            .unwrap()
    });
    let busy = mock!(aws_sdk_autoscaling::Client::delete_auto_scaling_group)
        .sequence()
        .http_status(400, Some(error_body("ScalingActivityInProgress")))
        .build();
    let databases = mock!(aws_sdk_rds::Client::describe_db_instances)
        .then_output(|| DescribeDbInstancesOutput::builder().build());
    let clients = clients(
        &[&databases],
        &[&groups, &busy],
        &[&no_instances()],
        &[&running],
    );
    let out = serde_json::to_value(handler(sweep_event(true), &clients).await.unwrap()).unwrap();
    assert_eq!(busy.num_calls(), 1, "only this drill's group: {out:#}");
    assert_eq!(out["kept"][0]["id"], "web-usw2-drill-other");
    assert_eq!(out["swept"][0]["outcome"], "waiting (busy)");
    assert_eq!(out["status"], "inProgress");
    let _ = DeleteAutoScalingGroupOutput::builder().build();
}

fn error_body(code: &str) -> String {
    format!(
        "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>busy</Message></Error><RequestId>1</RequestId></ErrorResponse>"
    )
}

#[tokio::test]
async fn throttling_that_outlasts_the_sdk_retries_is_throttled() {
    let throttled = mock!(aws_sdk_rds::Client::describe_db_instances)
        .sequence()
        .http_status(400, Some(error_body("Throttling")))
        .times(2)
        .build();
    let event = json!({"action": "databaseStatus", "env": "prod", "executionId": ME,
        "primaryRegion": "us-east-1", "standbyRegion": REGION,
        "database": {"name": "orders", "primaryInstanceId": "orders", "replicaInstanceId": "orders-dr"}});
    let err = handler(event, &clients(&[&throttled], &[], &[], &[]))
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "Throttled");
}

#[tokio::test]
async fn a_foreign_instance_under_the_drill_name_is_never_adopted() {
    let token = pilot_light_core::execution_token(ME);
    let id = format!("orders-dr-drill-{token}");
    let foreign = mock!(aws_sdk_rds::Client::describe_db_instances).then_output(move || {
        DescribeDbInstancesOutput::builder()
            .db_instances(db(&id, "available", &[(ENV_TAG_KEY, "prod")]))
            .build()
    });
    let create = mock!(aws_sdk_rds::Client::create_db_instance_read_replica).then_output(|| {
        aws_sdk_rds::operation::create_db_instance_read_replica::CreateDbInstanceReadReplicaOutput::builder().build()
    });
    let event = json!({"action": "createDatabase", "env": "prod", "executionId": ME,
        "primaryRegion": "us-east-1", "standbyRegion": REGION,
        "database": {"name": "orders", "primaryInstanceId": "orders", "replicaInstanceId": "orders-dr"}});
    let err = handler(event, &clients(&[&foreign, &create], &[], &[], &[]))
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "UnsafeOperation");
    assert_eq!(create.num_calls(), 0);
}
