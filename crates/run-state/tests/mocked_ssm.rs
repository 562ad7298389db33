//! The handler against mocked SSM responses, with the real `aws_sdk_ssm::Client`: faults the emulator
//! cannot produce (throttling, concurrent updates, a lock race) and the calls that must not be made.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test binary: failing loudly is its job

use aws_sdk_ssm::operation::delete_parameter::DeleteParameterOutput;
use aws_sdk_ssm::operation::get_parameter::{GetParameterError, GetParameterOutput};
use aws_sdk_ssm::operation::put_parameter::{PutParameterError, PutParameterOutput};
use aws_sdk_ssm::types::error::{ParameterAlreadyExists, ParameterNotFound};
use aws_sdk_ssm::types::Parameter;
use aws_sdk_ssm::Client;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use pilot_light_core::{PilotLightError, Regional, StepStatus};
use run_state::{handler, ActionResult, Clients, FailoverDecision, RunStateOutput};
use serde_json::{json, Value};

const REGION: &str = "us-west-2";
const CONFIG: &str = "/pilot-light/prod/config";
const STATE: &str = "/pilot-light/prod/state";
const LOCK: &str = "/pilot-light/prod/lock";
const CAPACITY: &str = "/pilot-light/prod/capacity";
const ME: &str = "arn:aws:states:us-west-2:123456789012:execution:failover:me";
const OTHER: &str = "arn:aws:states:us-west-2:123456789012:execution:failover:other";

fn config_document() -> String {
    json!({
        "env": "prod",
        "regions": {"primary": "us-east-1", "standby": REGION},
        "computeGroups": [{
            "name": "web",
            "primary": {"autoScalingGroupName": "web-use1", "launchTemplateName": "web-use1"},
            "standby": {"autoScalingGroupName": "web-usw2", "launchTemplateName": "web-usw2"},
            "amiTag": {"key": "pilot-light:group", "value": "web"}
        }]
    })
    .to_string()
}

fn lock_of(execution_id: &str) -> String {
    json!({"executionId": execution_id, "operation": "failover", "acquiredAt": "2026-11-22T02:00:00Z"})
        .to_string()
}

fn parameter(name: &'static str, value: String) -> Rule {
    mock!(Client::get_parameter)
        .match_requests(move |r| r.name() == Some(name))
        .then_output(move || {
            GetParameterOutput::builder()
                .parameter(Parameter::builder().name(name).value(value.clone()).build())
                .build()
        })
}

fn missing(name: &'static str) -> Rule {
    mock!(Client::get_parameter)
        .match_requests(move |r| r.name() == Some(name))
        .then_error(|| GetParameterError::ParameterNotFound(ParameterNotFound::builder().build()))
}

/// The lock as a run that takes it reads it: missing at first, then held by `holder` (its own
/// `PutParameter` took it, or another run won the race); held `repeatedly` for every later read,
/// else read at most twice.
fn lock_missing_then_held_by(holder: &'static str, repeatedly: bool) -> Rule {
    let reads = mock!(Client::get_parameter)
        .match_requests(|r| r.name() == Some(LOCK))
        .sequence()
        .error(|| GetParameterError::ParameterNotFound(ParameterNotFound::builder().build()))
        .output(move || {
            GetParameterOutput::builder()
                .parameter(
                    Parameter::builder()
                        .name(LOCK)
                        .value(lock_of(holder))
                        .build(),
                )
                .build()
        });
    if repeatedly {
        reads.repeatedly().build()
    } else {
        reads.build()
    }
}

fn put_ok() -> Rule {
    mock!(Client::put_parameter).then_output(|| PutParameterOutput::builder().version(1).build())
}

fn delete_ok() -> Rule {
    mock!(Client::delete_parameter).then_output(|| DeleteParameterOutput::builder().build())
}

/// No capacity record (`beginFailover` and `beginFailback` read it), however often it is read.
fn no_capacity_record() -> Rule {
    mock!(Client::get_parameter)
        .match_requests(|r| r.name() == Some(CAPACITY))
        .sequence()
        .error(|| GetParameterError::ParameterNotFound(ParameterNotFound::builder().build()))
        .repeatedly()
        .build()
}

fn clients(rules: &[&Rule]) -> Clients {
    let capacity = no_capacity_record();
    let mut rules = rules.to_vec();
    rules.push(&capacity);
    let rules = rules.as_slice();
    let client = mock_client!(aws_sdk_ssm, RuleMode::MatchAny, rules, |c| c.retry_config(
        aws_sdk_ssm::config::retry::RetryConfig::standard().with_max_attempts(3)
    ));
    Clients {
        ssm: Regional::fixed([(REGION.to_string(), client)]),
        autoscaling: Regional::fixed([]),
        home_region: Some(REGION.to_string()),
    }
}

async fn run(event: Value, rules: &[&Rule]) -> Result<RunStateOutput, PilotLightError> {
    handler(event, &clients(rules)).await
}

fn begin(execution_id: &str) -> Value {
    json!({"action": "beginFailover", "env": "prod", "executionId": execution_id})
}

/// A capacity record that cannot be read never stops a failover: it counts as none, and the run
/// state's capacities are what the failover asks for.
#[tokio::test]
async fn an_unreadable_capacity_record_does_not_stop_a_failover() {
    let config = parameter(CONFIG, config_document());
    let state = parameter(STATE, json!({"primaryCapacity": {"web": 3}}).to_string());
    let capacity = parameter(CAPACITY, "{not a record".to_string());
    let lock = lock_missing_then_held_by(ME, true);
    let answer = run(begin(ME), &[&config, &state, &capacity, &lock, &put_ok()])
        .await
        .expect("beginFailover proceeds");
    let ActionResult::BeginFailover(result) = &answer.result else {
        panic!("not a beginFailover answer: {answer:?}");
    };
    assert_eq!(result.decision, FailoverDecision::Proceed);
    assert_eq!(result.recorded_capacities.get("web"), Some(&3));
    assert_eq!(result.capacity_recorded_at, None);
    assert!(capacity.num_calls() >= 1, "the record was read");
}

#[tokio::test]
async fn throttled_put_parameter_is_retried_by_the_sdk_then_surfaced_as_throttled() {
    let config = parameter(CONFIG, config_document());
    let state = missing(STATE);
    let lock = missing(LOCK);
    let throttled = mock!(Client::put_parameter)
        .sequence()
        .http_status(
            400,
            Some(json_error("ThrottlingException", "Rate exceeded")),
        )
        .times(3)
        .build();
    let err = run(begin(ME), &[&config, &state, &lock, &throttled])
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "Throttled", "{err}");
    assert_eq!(throttled.num_calls(), 3, "the SDK retries throttling first");
}

#[tokio::test]
async fn concurrent_updates_are_throttled_too() {
    let state = missing(STATE);
    let too_many = mock!(Client::put_parameter)
        .sequence()
        .http_status(
            400,
            Some(json_error("TooManyUpdates", "concurrent updates")),
        )
        .times(3)
        .build();
    let event = json!({"action": "recordCapacity", "env": "prod", "capacities": {"web": 4}});
    let err = run(event, &[&state, &too_many]).await.unwrap_err();
    assert_eq!(err.error_type(), "Throttled", "{err}");
}

#[tokio::test]
async fn server_errors_are_aws_unavailable() {
    let broken = mock!(Client::get_parameter)
        .sequence()
        .http_status(500, Some(json_error("InternalServerError", "oops")))
        .times(3)
        .build();
    let err = run(begin(ME), &[&broken]).await.unwrap_err();
    assert_eq!(err.error_type(), "AwsUnavailable", "{err}");
}

#[tokio::test]
async fn a_lock_held_by_another_execution_is_failover_in_progress_and_nothing_is_written() {
    let config = parameter(CONFIG, config_document());
    let state = missing(STATE);
    let lock = parameter(LOCK, lock_of(OTHER));
    let put = put_ok();
    let delete = delete_ok();
    let err = run(begin(ME), &[&config, &state, &lock, &put, &delete])
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "FailoverInProgress");
    assert!(err.to_string().contains(OTHER), "{err}");
    assert_eq!(put.num_calls() + delete.num_calls(), 0);
}

#[tokio::test]
async fn losing_the_race_for_the_lock_is_failover_in_progress() {
    let config = parameter(CONFIG, config_document());
    let state = missing(STATE);
    let lock = lock_missing_then_held_by(OTHER, false);
    let exists = mock!(Client::put_parameter).then_error(|| {
        PutParameterError::ParameterAlreadyExists(ParameterAlreadyExists::builder().build())
    });
    let delete = delete_ok();
    let err = run(begin(ME), &[&config, &state, &lock, &exists, &delete])
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "FailoverInProgress");
    assert!(err.to_string().contains(OTHER), "{err}");
    assert_eq!(delete.num_calls(), 0, "another run's lock is never deleted");
}

#[tokio::test]
async fn an_earlier_attempt_of_the_same_execution_holding_the_lock_proceeds() {
    // The first PutParameter succeeded but its answer was lost; the retry finds the lock is ours.
    let config = parameter(CONFIG, config_document());
    let state = parameter(
        STATE,
        json!({"activeRegion": "us-east-1", "primaryCapacity": {"web": 6}}).to_string(),
    );
    let lock = lock_missing_then_held_by(ME, true);
    let exists = mock!(Client::put_parameter)
        .match_requests(|r| r.name() == Some(LOCK))
        .then_error(|| {
            PutParameterError::ParameterAlreadyExists(ParameterAlreadyExists::builder().build())
        });
    // The first failover of the cycle records its identity in the state.
    let record = mock!(Client::put_parameter)
        .match_requests(|r| {
            r.name() == Some(STATE)
                && r.overwrite() == Some(true)
                && r.value()
                    .is_some_and(|v| v.contains(&format!("\"failoverId\":\"{ME}\"")))
        })
        .then_output(|| PutParameterOutput::builder().version(2).build());
    let out = run(begin(ME), &[&config, &state, &lock, &exists, &record])
        .await
        .unwrap();
    assert_eq!(out.status, StepStatus::AlreadyDone);
    let ActionResult::BeginFailover(result) = &out.result else {
        panic!("{out:?}")
    };
    assert_eq!(result.decision, FailoverDecision::Proceed);
    assert_eq!(result.recorded_capacities.get("web"), Some(&6));
    assert_eq!(result.lock.as_ref().unwrap().execution_id, ME);
    assert_eq!(result.failover_id.as_deref(), Some(ME));
    assert!(!result.promotion_requested);
    assert_eq!(record.num_calls(), 1);
}

#[tokio::test]
async fn a_failover_while_reprotection_is_pending_is_refused_and_nothing_is_written() {
    let config = parameter(CONFIG, config_document());
    let state = parameter(
        STATE,
        json!({"activeRegion": "us-east-1", "primaryCapacity": {"web": 6}, "reprotectPending": true})
            .to_string(),
    );
    let lock = missing(LOCK);
    let put = put_ok();
    let delete = delete_ok();
    let err = run(begin(ME), &[&config, &state, &lock, &put, &delete])
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "ReprotectPending");
    assert!(
        err.to_string().contains("pilot-light failback --env prod"),
        "{err}"
    );
    assert_eq!(put.num_calls() + delete.num_calls(), 0);
}

#[tokio::test]
async fn a_rerun_of_the_cycle_keeps_its_identity_and_says_a_promotion_was_requested() {
    let config = parameter(CONFIG, config_document());
    let state = parameter(
        STATE,
        json!({"activeRegion": "us-east-1", "primaryCapacity": {"web": 6},
               "failoverId": OTHER, "promotionRequestedAt": "2026-11-22T02:00:00Z"})
        .to_string(),
    );
    let lock = lock_missing_then_held_by(ME, true);
    let put_lock = mock!(Client::put_parameter)
        .match_requests(|r| r.name() == Some(LOCK))
        .then_output(|| PutParameterOutput::builder().version(1).build());
    let put_state = mock!(Client::put_parameter)
        .match_requests(|r| r.name() == Some(STATE))
        .then_output(|| PutParameterOutput::builder().version(1).build());
    let out = run(begin(ME), &[&config, &state, &lock, &put_lock, &put_state])
        .await
        .unwrap();
    let ActionResult::BeginFailover(result) = &out.result else {
        panic!("{out:?}")
    };
    assert_eq!(result.decision, FailoverDecision::Proceed);
    assert_eq!(result.failover_id.as_deref(), Some(OTHER));
    assert!(result.promotion_requested);
    assert_eq!(
        put_state.num_calls(),
        0,
        "the cycle's identity is kept as it is"
    );
}

#[tokio::test]
async fn unfencing_the_standby_forgets_the_failback_identity_in_the_stored_state() {
    let state = parameter(
        STATE,
        json!({"activeRegion": REGION, "primaryCapacity": {"web": 6}, "failbackId": OTHER,
               "failoverId": OTHER})
        .to_string(),
    );
    let lock = parameter(LOCK, lock_of(ME));
    let write = mock!(Client::put_parameter)
        .match_requests(|r| {
            r.name() == Some(STATE)
                && r.value().is_some_and(|v| {
                    !v.contains("failbackId")
                        && v.contains("standbyUnfencedAt")
                        && v.contains("failoverId")
                })
        })
        .then_output(|| PutParameterOutput::builder().version(2).build());
    let event = json!({"action": "standbyUnfenced", "env": "prod", "executionId": ME});
    let out = run(event, &[&state, &lock, &write]).await.unwrap();
    assert_eq!(out.status, StepStatus::Done);
    assert_eq!(write.num_calls(), 1);

    let other_lock = parameter(LOCK, lock_of(OTHER));
    let put = put_ok();
    let event = json!({"action": "standbyUnfenced", "env": "prod", "executionId": ME});
    let err = run(event, &[&state, &other_lock, &put]).await.unwrap_err();
    assert_eq!(err.error_type(), "FailoverInProgress");
    assert_eq!(put.num_calls(), 0);
}

#[tokio::test]
async fn release_leaves_another_executions_lock_alone() {
    let lock = parameter(LOCK, lock_of(OTHER));
    let delete = delete_ok();
    let out = run(
        json!({"action": "release", "env": "prod", "executionId": ME}),
        &[&lock, &delete],
    )
    .await
    .unwrap();
    assert_eq!(out.status, StepStatus::AlreadyDone);
    let value = serde_json::to_value(&out).unwrap();
    assert_eq!(value["released"], false);
    assert!(value["heldBy"].as_str().unwrap().contains(OTHER), "{value}");
    assert_eq!(delete.num_calls(), 0);
}

#[tokio::test]
async fn an_unreadable_state_is_invalid_state_not_a_guess() {
    let config = parameter(CONFIG, config_document());
    let state = parameter(STATE, "{not json".to_string());
    let lock = missing(LOCK);
    let put = put_ok();
    let err = run(begin(ME), &[&config, &state, &lock, &put])
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "InvalidState");
    assert!(err.to_string().contains(STATE), "{err}");
    assert_eq!(put.num_calls(), 0);
}

#[tokio::test]
async fn a_configuration_for_another_region_is_config_invalid() {
    let mut doc: Value = serde_json::from_str(&config_document()).unwrap();
    doc["regions"] = json!({"primary": "us-west-2", "standby": "us-east-1"});
    let config = parameter(CONFIG, doc.to_string());
    let put = put_ok();
    let err = run(begin(ME), &[&config, &put]).await.unwrap_err();
    assert_eq!(err.error_type(), "ConfigInvalid");
    assert!(err.to_string().contains("regions.standby"), "{err}");
    assert_eq!(put.num_calls(), 0);
}

#[tokio::test]
async fn bad_input_gives_typed_errors_and_makes_no_call() {
    let get = parameter(CONFIG, config_document());
    let put = put_ok();
    let cases: Vec<(Value, &str, &str)> = vec![
        (json!("nope"), "InvalidInput", "invalid type"),
        (json!({"action": "explode"}), "UnknownAction", "explode"),
        (json!({"env": "prod"}), "InvalidInput", "action"),
        (
            json!({"action": "beginFailover", "env": "prod"}),
            "InvalidInput",
            "executionId",
        ),
        (
            json!({"action": "beginFailover", "env": "../x", "executionId": ME}),
            "InvalidInput",
            "env",
        ),
        (
            json!({"action": "beginFailover", "env": "prod", "executionId": " "}),
            "InvalidInput",
            "executionId",
        ),
        (
            json!({"action": "beginFailover", "env": "prod", "executionId": ME, "mode": "reckless"}),
            "InvalidInput",
            "mode",
        ),
        (
            json!({"action": "beginFailover", "env": "prod", "executionId": ME, "region": "mars"}),
            "InvalidInput",
            "region",
        ),
        (
            json!({"action": "beginFailover", "env": "prod", "executionId": ME, "extra": 1}),
            "InvalidInput",
            "extra",
        ),
        (
            json!({"action": "markActive", "env": "prod", "executionId": ME}),
            "InvalidInput",
            "activeRegion",
        ),
        (
            json!({"action": "recordCapacity", "env": "prod", "capacities": {"web": -1}}),
            "InvalidInput",
            "capacities.web",
        ),
        (
            json!({"action": "recordCapacity", "env": "prod", "capacities": {"no good": 1}}),
            "InvalidInput",
            "capacities.no good",
        ),
    ];
    for (input, error_type, mentions) in cases {
        let err = run(input.clone(), &[&get, &put]).await.unwrap_err();
        assert_eq!(err.error_type(), error_type, "{input}: {err}");
        assert!(
            err.to_string().contains(mentions),
            "{input}: `{err}` should mention `{mentions}`"
        );
    }
    assert_eq!(
        get.num_calls() + put.num_calls(),
        0,
        "bad input must not reach AWS"
    );
}

#[tokio::test]
async fn without_a_home_region_the_input_must_name_one() {
    let mut clients = clients(&[]);
    clients.home_region = None;
    let err = handler(begin(ME), &clients).await.unwrap_err();
    assert_eq!(err.error_type(), "InvalidInput");
    assert!(err.to_string().contains("region"), "{err}");
}

fn json_error(code: &str, message: &str) -> String {
    json!({"__type": code, "message": message}).to_string()
}
