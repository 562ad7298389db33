//! The handler against mocked Step Functions and SNS responses, with the real clients: the call shapes
//! (history read with execution data, structured SNS message, subject) and the faults the emulator
//! cannot produce (SNS 5xx, throttling).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test binary: failing loudly is its job

use aws_sdk_sfn::operation::describe_execution::{DescribeExecutionError, DescribeExecutionOutput};
use aws_sdk_sfn::operation::get_execution_history::GetExecutionHistoryOutput;
use aws_sdk_sfn::types::error::ExecutionDoesNotExist;
use aws_sdk_sfn::types::{
    ExecutionStatus, HistoryEvent, HistoryEventType, StateEnteredEventDetails,
    StateExitedEventDetails,
};
use aws_sdk_sns::operation::publish::PublishOutput as SnsPublishOutput;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use aws_smithy_types::DateTime;
use pilot_light_core::{PilotLightError, Regional, StepStatus};
use report::{handler, Clients, ReportOutput};
use serde_json::{json, Value};

const REGION: &str = "us-west-2";
const EXECUTION: &str =
    "arn:aws:states:us-west-2:123456789012:execution:pilot-light-prod-failover:failover-prod-1";
const TOPIC: &str = "arn:aws:sns:us-west-2:123456789012:pilot-light-prod";
/// 2025-11-22T03:00:00Z
const START: i64 = 1_763_780_400_000;

fn describe(status: ExecutionStatus, stop: Option<i64>) -> Rule {
    mock!(aws_sdk_sfn::Client::describe_execution).then_output(move || {
        let mut builder = DescribeExecutionOutput::builder()
            .execution_arn(EXECUTION)
            .state_machine_arn(
                "arn:aws:states:us-west-2:123456789012:stateMachine:pilot-light-prod-failover",
            )
            .status(status.clone())
            .start_date(DateTime::from_millis(START));
        if let Some(stop) = stop {
            builder = builder.stop_date(DateTime::from_millis(START + stop));
        }
        builder.build().unwrap()
    })
}

fn event(
    id: i64,
    prev: i64,
    kind: HistoryEventType,
    state: &str,
    input: Option<Value>,
    at: i64,
) -> HistoryEvent {
    let mut builder = HistoryEvent::builder()
        .id(id)
        .previous_event_id(prev)
        .r#type(kind.clone())
        .timestamp(DateTime::from_millis(START + at));
    if kind.as_str().ends_with("StateEntered") {
        let mut details = StateEnteredEventDetails::builder().name(state);
        if let Some(input) = input {
            details = details.input(input.to_string());
        }
        builder = builder.state_entered_event_details(details.build().unwrap());
    } else if kind.as_str().ends_with("StateExited") {
        builder = builder.state_exited_event_details(
            StateExitedEventDetails::builder()
                .name(state)
                .build()
                .unwrap(),
        );
    }
    builder.build().unwrap()
}

/// Sets the history's `includeExecutionData` expectation: the labels need the inputs.
fn history() -> Rule {
    use HistoryEventType as T;
    mock!(aws_sdk_sfn::Client::get_execution_history)
        .match_requests(|r| r.include_execution_data() == Some(true))
        .then_output(|| {
            let secret = json!({"database": {"name": "orders"}, "password": "hunter2"});
            GetExecutionHistoryOutput::builder()
                .events(event(1, 0, T::ExecutionStarted, "", None, 0))
                .events(event(
                    2,
                    1,
                    T::TaskStateEntered,
                    "Guard",
                    Some(json!({"env": "prod"})),
                    100,
                ))
                .events(event(3, 2, T::TaskStateExited, "Guard", None, 600))
                .events(event(
                    4,
                    3,
                    T::TaskStateEntered,
                    "PromoteReplica",
                    Some(secret),
                    600,
                ))
                .events(event(
                    5,
                    4,
                    T::TaskStateExited,
                    "PromoteReplica",
                    None,
                    370_600,
                ))
                .events(event(6, 5, T::TaskStateEntered, "Report", None, 371_000))
                .build()
                .unwrap()
        })
}

fn sns_ok() -> Rule {
    mock!(aws_sdk_sns::Client::publish)
        .then_output(|| SnsPublishOutput::builder().message_id("m-1").build())
}

fn clients(sfn_rules: &[&Rule], sns_rules: &[&Rule]) -> Clients {
    let sfn = mock_client!(aws_sdk_sfn, RuleMode::MatchAny, sfn_rules, |c| c
        .retry_config(
            aws_sdk_sfn::config::retry::RetryConfig::standard().with_max_attempts(3)
        ));
    let sns = mock_client!(aws_sdk_sns, RuleMode::MatchAny, sns_rules, |c| c
        .retry_config(
            aws_sdk_sns::config::retry::RetryConfig::standard().with_max_attempts(3)
        ));
    Clients {
        sfn: Regional::fixed([(REGION.to_string(), sfn)]),
        sns: Regional::fixed([(REGION.to_string(), sns)]),
        rds: Regional::fixed([]),
    }
}

fn publish_event(topic: Option<&str>) -> Value {
    let mut event = json!({
        "action": "publish", "env": "prod", "kind": "failover", "outcome": "succeeded",
        "executionArn": EXECUTION,
        "results": {"databases": [{"action": "promote", "status": "started",
                                   "resources": ["arn:aws:rds:us-west-2:123456789012:db:orders-dr"]}]}
    });
    if let Some(topic) = topic {
        event["topicArn"] = json!(topic);
    }
    event
}

async fn run(event: Value, sfn: &[&Rule], sns: &[&Rule]) -> Result<ReportOutput, PilotLightError> {
    handler(event, &clients(sfn, sns)).await
}

#[tokio::test]
async fn publish_builds_the_report_and_sends_one_structured_message() {
    let describe = describe(ExecutionStatus::Running, None);
    let history = history();
    let expected_subject = "pilot-light prod failover succeeded in ";
    let publish = mock!(aws_sdk_sns::Client::publish)
        .match_requests(move |r| {
            r.topic_arn() == Some(TOPIC)
                && r.message_structure() == Some("json")
                && r.subject()
                    .is_some_and(|s| s.starts_with(expected_subject) && s.len() < 100)
                && r.message_attributes()
                    .and_then(|a| a.get("pilot-light.outcome"))
                    .and_then(|v| v.string_value())
                    == Some("succeeded")
        })
        .then_output(|| SnsPublishOutput::builder().message_id("m-1").build());
    let out = run(
        publish_event(Some(TOPIC)),
        &[&describe, &history],
        &[&publish],
    )
    .await
    .unwrap();
    let ReportOutput::Publish(out) = out else {
        panic!("{out:?}")
    };
    assert_eq!(out.status, StepStatus::Done);
    assert_eq!(publish.num_calls(), 1);
    assert_eq!(out.published.as_ref().unwrap().message_id, "m-1");
    let report = &out.report;
    assert_eq!(report.execution_status, "RUNNING");
    assert_eq!(report.started_at.0, "2025-11-22T03:00:00Z");
    // Running: the RTO runs to now, which is long after the mocked start.
    assert!(report.rto_seconds > 370.0, "{}", report.rto_seconds);
    let steps: Vec<(&str, Option<&str>, f64)> = report
        .steps
        .iter()
        .map(|s| (s.state.as_str(), s.item.as_deref(), s.duration_seconds))
        .collect();
    assert_eq!(
        steps,
        vec![
            ("Guard", None, 0.5),
            ("PromoteReplica", Some("orders"), 370.0)
        ]
    );
    assert_eq!(report.changes.len(), 1);
    let text = serde_json::to_string(&out).unwrap();
    assert!(
        !text.contains("hunter2"),
        "a state input leaked into the report: {text}"
    );
}

#[tokio::test]
async fn a_stopped_execution_is_measured_to_its_stop() {
    let describe = describe(ExecutionStatus::Succeeded, Some(372_100));
    let history = history();
    let sns = sns_ok();
    let out = run(publish_event(None), &[&describe, &history], &[&sns])
        .await
        .unwrap();
    let ReportOutput::Publish(out) = out else {
        panic!("{out:?}")
    };
    assert_eq!(out.report.rto_seconds, 372.1);
    assert_eq!(out.report.finished_at.0, "2025-11-22T03:06:12.1Z");
    assert!(out.published.is_none());
    assert_eq!(sns.num_calls(), 0, "no topic, no message");
    let value = serde_json::to_value(&out).unwrap();
    assert!(value.get("published").is_none());
    assert_eq!(value["rtoSeconds"], json!(372.1));
    assert_eq!(value["steps"][1]["durationSeconds"], json!(370.0));
}

#[tokio::test]
async fn sns_server_errors_are_retried_then_aws_unavailable() {
    let describe = describe(ExecutionStatus::Running, None);
    let history = history();
    let broken = mock!(aws_sdk_sns::Client::publish)
        .sequence()
        .http_status(500, Some(query_error("InternalError", "try again")))
        .times(3)
        .build();
    let err = run(
        publish_event(Some(TOPIC)),
        &[&describe, &history],
        &[&broken],
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type(), "AwsUnavailable", "{err}");
    assert_eq!(broken.num_calls(), 3);

    let broken = mock!(aws_sdk_sns::Client::publish)
        .sequence()
        .http_status(503, None)
        .times(3)
        .build();
    let alert = json!({"action": "notifyFailure", "env": "prod", "kind": "failover",
                       "executionArn": EXECUTION, "error": "X", "cause": "y", "topicArn": TOPIC});
    let err = run(alert, &[], &[&broken]).await.unwrap_err();
    assert_eq!(err.error_type(), "AwsUnavailable", "{err}");
}

#[tokio::test]
async fn sns_throttling_is_throttled() {
    let throttled = mock!(aws_sdk_sns::Client::publish)
        .sequence()
        .http_status(400, Some(query_error("Throttling", "Rate exceeded")))
        .times(3)
        .build();
    let alert = json!({"action": "notifyFailure", "env": "prod", "kind": "failover",
                       "executionArn": EXECUTION, "error": "X", "topicArn": TOPIC});
    let err = run(alert, &[], &[&throttled]).await.unwrap_err();
    assert_eq!(err.error_type(), "Throttled", "{err}");
}

#[tokio::test]
async fn a_missing_execution_is_resource_not_found() {
    let missing = mock!(aws_sdk_sfn::Client::describe_execution).then_error(|| {
        DescribeExecutionError::ExecutionDoesNotExist(ExecutionDoesNotExist::builder().build())
    });
    let err = run(publish_event(None), &[&missing], &[])
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "ResourceNotFound");
    assert!(err.to_string().contains("Execution"), "{err}");
}

#[tokio::test]
async fn notify_failure_publishes_an_alert_with_the_error_in_the_subject() {
    let publish = mock!(aws_sdk_sns::Client::publish)
        .match_requests(|r| {
            r.subject() == Some("pilot-light prod failover FAILED: ReplicaNotFound")
                && r.message().is_some_and(|m| {
                    let outer: Value = serde_json::from_str(m).unwrap_or_default();
                    let doc: Value = outer["default"]
                        .as_str()
                        .and_then(|d| serde_json::from_str(d).ok())
                        .unwrap_or_default();
                    doc["cause"] == "replica `orders-dr` not found in us-west-2"
                        && doc["type"] == "alert"
                })
        })
        .then_output(|| SnsPublishOutput::builder().message_id("m-2").build());
    let alert = json!({
        "action": "notifyFailure", "env": "prod", "kind": "failover", "executionArn": EXECUTION,
        "error": "ReplicaNotFound",
        "cause": "{\"errorType\":\"ReplicaNotFound\",\"errorMessage\":\"replica `orders-dr` not found in us-west-2\"}",
        "topicArn": TOPIC
    });
    let out = run(alert.clone(), &[], &[&publish]).await.unwrap();
    let ReportOutput::NotifyFailure(out) = out else {
        panic!("{out:?}")
    };
    assert_eq!(out.status, StepStatus::Done);
    assert_eq!(out.published.unwrap().message_id, "m-2");

    // No topic: nothing to send.
    let mut quiet = alert;
    quiet["topicArn"] = Value::Null;
    let sns = sns_ok();
    let out = run(quiet, &[], &[&sns]).await.unwrap();
    let ReportOutput::NotifyFailure(out) = out else {
        panic!("{out:?}")
    };
    assert_eq!(out.status, StepStatus::AlreadyDone);
    assert_eq!(sns.num_calls(), 0);
}

#[tokio::test]
async fn bad_input_gives_typed_errors_and_makes_no_call() {
    let describe = describe(ExecutionStatus::Running, None);
    let sns = sns_ok();
    let with = |key: &str, value: Value| {
        let mut e = publish_event(Some(TOPIC));
        e[key] = value;
        e
    };
    let cases: Vec<(Value, &str, &str)> = vec![
        (json!(42), "InvalidInput", "invalid type"),
        (json!({"action": "shout"}), "UnknownAction", "shout"),
        (
            with("executionArn", json!("arn:aws:sns:us-west-2:1:x")),
            "InvalidInput",
            "executionArn",
        ),
        (
            with("executionArn", json!("failover-prod-1")),
            "InvalidInput",
            "executionArn",
        ),
        (
            with("topicArn", json!("arn:aws:states:us-west-2:1:x:y")),
            "InvalidInput",
            "topicArn",
        ),
        (with("env", json!("Prod Env")), "InvalidInput", "env"),
        (with("kind", json!("")), "InvalidInput", "kind"),
        (
            with("outcome", json!("ok\nSubject: spoofed")),
            "InvalidInput",
            "outcome",
        ),
        (with("surprise", json!(1)), "InvalidInput", "surprise"),
        (
            json!({"action": "notifyFailure", "env": "prod", "kind": "failover", "executionArn": EXECUTION}),
            "InvalidInput",
            "error",
        ),
    ];
    for (input, error_type, mentions) in cases {
        let err = run(input.clone(), &[&describe], &[&sns]).await.unwrap_err();
        assert_eq!(err.error_type(), error_type, "{input}: {err}");
        assert!(
            err.to_string().contains(mentions),
            "{input}: `{err}` should mention `{mentions}`"
        );
    }
    assert_eq!(describe.num_calls() + sns.num_calls(), 0);
}

fn query_error(code: &str, message: &str) -> String {
    format!(
        "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>1</RequestId></ErrorResponse>"
    )
}

/// A failback's report lists the old primary a failback renamed aside and keeps (found by its tags
/// in the primary region, not by anything of this execution), with the time the failover that cut
/// replication from it asked for the promotion (read from that failover's history).
#[tokio::test]
async fn a_failback_report_lists_the_kept_old_primary_with_the_promotion_time_of_its_failover() {
    use aws_sdk_rds::operation::describe_db_instances::DescribeDbInstancesOutput;
    use aws_sdk_rds::types::{DbInstance, Tag};
    use aws_sdk_sfn::types::LambdaFunctionSucceededEventDetails;
    const FAILOVER: &str =
        "arn:aws:states:us-west-2:123456789012:execution:pilot-light-prod-failover:failover-prod-0";
    let failover_history = mock!(aws_sdk_sfn::Client::get_execution_history)
        .match_requests(|r| r.execution_arn() == Some(FAILOVER))
        .then_output(|| {
            let answer = json!({"action": "promote", "status": "started", "database": "orders",
                                "startedAt": "2025-11-20T01:00:04.000Z", "resources": []});
            GetExecutionHistoryOutput::builder()
                .events(event(1, 0, HistoryEventType::ExecutionStarted, "", None, 0))
                .events(
                    HistoryEvent::builder()
                        .id(2)
                        .previous_event_id(1)
                        .r#type(HistoryEventType::LambdaFunctionSucceeded)
                        .timestamp(DateTime::from_millis(START))
                        .lambda_function_succeeded_event_details(
                            LambdaFunctionSucceededEventDetails::builder()
                                .output(answer.to_string())
                                .build(),
                        )
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap()
        });
    let instance = |id: &str, tags: &[(&str, &str)]| {
        let mut b = DbInstance::builder()
            .db_instance_identifier(id)
            .db_instance_status("available")
            .latest_restorable_time(DateTime::from_millis(START));
        for (k, v) in tags {
            b = b.tag_list(Tag::builder().key(*k).value(*v).build());
        }
        b.build()
    };
    let listed = mock!(aws_sdk_rds::Client::describe_db_instances).then_output(move || {
        DescribeDbInstancesOutput::builder()
            .db_instances(instance("orders-db", &[("pilot-light:env", "prod")]))
            .db_instances(instance(
                "orders-db-old-1a2b3c4d",
                &[
                    ("pilot-light:env", "prod"),
                    ("pilot-light:renamed-from", "orders-db"),
                    ("pilot-light:renamed-at", "2025-11-22T02:50:00.000Z"),
                    ("pilot-light:replication-cut-by", FAILOVER),
                ],
            ))
            .db_instances(instance(
                "orders-db-old-99999999",
                &[
                    ("pilot-light:env", "staging"),
                    ("pilot-light:renamed-from", "orders-db"),
                ],
            ))
            .build()
    });
    let rds = mock_client!(aws_sdk_rds, RuleMode::MatchAny, &[&listed]);
    let sfn_rules = [
        &failover_history,
        &describe(ExecutionStatus::Running, None),
        &history(),
    ];
    let sfn = mock_client!(aws_sdk_sfn, RuleMode::MatchAny, &sfn_rules);
    let sns = mock_client!(aws_sdk_sns, RuleMode::MatchAny, &[&sns_ok()]);
    let clients = Clients {
        sfn: Regional::fixed([(REGION.to_string(), sfn)]),
        sns: Regional::fixed([(REGION.to_string(), sns)]),
        rds: Regional::fixed([("us-east-1".to_string(), rds)]),
    };
    let mut input = publish_event(Some(TOPIC));
    input["kind"] = json!("failback");
    input["config"] = json!({"env": "prod", "regions": {"primary": "us-east-1", "standby": "us-west-2"},
                             "databases": [{"name": "orders", "primaryInstanceId": "orders-db",
                                            "replicaInstanceId": "orders-db-dr"}]});
    let ReportOutput::Publish(out) = handler(input, &clients).await.expect("publish") else {
        panic!("not a publish answer")
    };
    let document = serde_json::to_value(&out).unwrap();
    let kept = document["keptOldPrimaries"]
        .as_array()
        .expect("keptOldPrimaries");
    assert_eq!(kept.len(), 1, "{document:#}");
    assert_eq!(
        kept[0],
        json!({
            "database": "orders",
            "instanceId": "orders-db-old-1a2b3c4d",
            "region": "us-east-1",
            "renamedFrom": "orders-db",
            "keptSince": "2025-11-22T02:50:00.000Z",
            "latestRestorableTime": "2025-11-22T03:00:00Z",
            "unreplicatedWritesSince": "2025-11-20T01:00:04.000Z",
            "mayHoldUnreplicatedWrites": true,
            "reconcile": kept[0]["reconcile"].clone(),
        })
    );
    assert!(kept[0]["reconcile"]
        .as_str()
        .unwrap()
        .contains("aws rds delete-db-instance --region us-east-1 --db-instance-identifier orders-db-old-1a2b3c4d --final-db-snapshot-identifier orders-db-old-1a2b3c4d-final"));
    assert_eq!(failover_history.num_calls(), 1);
}
