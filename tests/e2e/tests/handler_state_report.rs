//! `run-state` and `report` run directly (not through Lambda) against the emulator; the world is
//! asserted afterwards: the lock and state parameters, the messages an SQS queue subscribed to the
//! topic received, the report of a real execution of `promote-database`.

use pilot_light_core::config::lock_parameter_name;
use pilot_light_core::{PilotLightError, Regional, StepStatus};
use pilot_light_e2e::{World, STANDBY_REGION};
use report::ReportOutput;
use run_state::{ActionResult, BeginFailoverResult, FailoverDecision, RunStateOutput};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

const FIRST: &str = "arn:aws:states:us-west-2:123456789012:execution:failover:first";
const SECOND: &str = "arn:aws:states:us-west-2:123456789012:execution:failover:second";

fn run_state_clients(world: &World) -> run_state::Clients {
    run_state::Clients {
        ssm: Regional::new(world.config(STANDBY_REGION), aws_sdk_ssm::Client::new),
        autoscaling: Regional::new(
            world.config(STANDBY_REGION),
            aws_sdk_autoscaling::Client::new,
        ),
        home_region: Some(STANDBY_REGION.to_string()),
    }
}

fn report_clients(world: &World) -> report::Clients {
    report::Clients {
        sfn: Regional::new(world.config(STANDBY_REGION), aws_sdk_sfn::Client::new),
        sns: Regional::new(world.config(STANDBY_REGION), aws_sdk_sns::Client::new),
        rds: Regional::new(world.config(STANDBY_REGION), aws_sdk_rds::Client::new),
    }
}

async fn run_state(world: &World, event: Value) -> Result<RunStateOutput, PilotLightError> {
    run_state::handler(event, &run_state_clients(world)).await
}

async fn begin(world: &World, execution_id: &str) -> Result<RunStateOutput, PilotLightError> {
    run_state(
        world,
        json!({"action": "beginFailover", "env": world.env, "executionId": execution_id}),
    )
    .await
}

async fn release(world: &World, execution_id: &str) -> RunStateOutput {
    run_state(
        world,
        json!({"action": "release", "env": world.env, "executionId": execution_id}),
    )
    .await
    .expect("release")
}

async fn mark_standby_active(world: &World, execution_id: &str) -> RunStateOutput {
    run_state(
        world,
        json!({"action": "markActive", "env": world.env, "executionId": execution_id,
               "activeRegion": STANDBY_REGION}),
    )
    .await
    .expect("markActive")
}

fn begun(out: &RunStateOutput) -> &BeginFailoverResult {
    match &out.result {
        ActionResult::BeginFailover(result) => result,
        other => panic!("not a beginFailover answer: {other:?}"),
    }
}

/// A world with a valid configuration whose run-state parameters are deleted at teardown.
async fn configured_world(label: &str) -> World {
    let world = World::new(label).await;
    world.delete_run_state_at_teardown();
    world.write_config(&world.config_document(&[])).await;
    world
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lock_is_taken_once_reentrant_for_its_holder_and_released_only_by_it() {
    let world = configured_world("lock").await;

    let first = begin(&world, FIRST).await.expect("first beginFailover");
    assert_eq!(first.status, StepStatus::Done);
    let result = begun(&first);
    assert_eq!(result.decision, FailoverDecision::Proceed);
    assert_eq!(result.config.env, world.env);
    assert!(result.recorded_capacities.is_empty());
    // No state was ever written: the first failover of the cycle writes one holding only its
    // identity (`failoverId`), no active region, no capacities.
    let state = result
        .state
        .as_ref()
        .expect("the cycle's identity is recorded");
    assert_eq!(state.failover_id.as_deref(), Some(FIRST));
    assert_eq!(state.active_region, None);
    assert_eq!(result.failover_id.as_deref(), Some(FIRST));
    assert!(!result.promotion_requested);
    let lock = world.lock_parameter().await.expect("the lock parameter");
    assert_eq!(lock["executionId"], FIRST);
    assert_eq!(lock["operation"], "failover");
    // The answer serializes as the contract says: `state` with the cycle only,
    // `recordedCapacities: {}`, the cycle's `failoverId`, `promotionRequested: false`.
    let answer = serde_json::to_value(&first).unwrap();
    assert_eq!(answer["decision"], "proceed");
    assert_eq!(answer["state"]["failoverId"], FIRST);
    assert_eq!(answer["state"].get("activeRegion"), None);
    assert_eq!(answer["failoverId"], FIRST);
    assert_eq!(answer["promotionRequested"], false);
    assert_eq!(answer["recordedCapacities"], json!({}));
    assert_eq!(answer["lock"]["executionId"], FIRST);
    assert_eq!(answer["config"]["regions"]["standby"], STANDBY_REGION);

    // Another execution: refused, naming the holder, and the lock is unchanged.
    let err = begin(&world, SECOND).await.unwrap_err();
    assert_eq!(err.error_type(), "FailoverInProgress");
    assert!(err.to_string().contains(FIRST), "{err}");
    assert_eq!(world.lock_parameter().await, Some(lock.clone()));

    // The holder again (a Retry): goes on, the lock is untouched.
    let again = begin(&world, FIRST)
        .await
        .expect("re-entrant beginFailover");
    assert_eq!(again.status, StepStatus::AlreadyDone);
    assert_eq!(begun(&again).decision, FailoverDecision::Proceed);
    assert_eq!(world.lock_parameter().await, Some(lock.clone()));

    // Another execution's release leaves the lock where it is.
    let foreign = release(&world, SECOND).await;
    assert_eq!(foreign.status, StepStatus::AlreadyDone);
    let foreign = serde_json::to_value(&foreign).unwrap();
    assert_eq!(foreign["released"], false);
    assert!(
        foreign["heldBy"].as_str().unwrap().contains(FIRST),
        "{foreign}"
    );
    assert_eq!(world.lock_parameter().await, Some(lock));

    // The holder's release deletes it; a second release has nothing to do.
    assert_eq!(release(&world, FIRST).await.status, StepStatus::Done);
    assert_eq!(world.lock_parameter().await, None);
    assert_eq!(release(&world, FIRST).await.status, StepStatus::AlreadyDone);

    // Free again: the second execution can take it now, in the same failover cycle.
    let second = begin(&world, SECOND)
        .await
        .expect("beginFailover after release");
    assert_eq!(begun(&second).decision, FailoverDecision::Proceed);
    assert_eq!(begun(&second).failover_id.as_deref(), Some(FIRST));
    assert_eq!(world.lock_parameter().await.unwrap()["executionId"], SECOND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_the_standby_is_active_begin_failover_is_already_active_and_leaves_no_lock() {
    let world = configured_world("active").await;
    begin(&world, FIRST).await.expect("beginFailover");

    let marked = mark_standby_active(&world, FIRST).await;
    assert_eq!(marked.status, StepStatus::Done);
    let state = world
        .run_state_parameter()
        .await
        .expect("the state parameter");
    assert_eq!(state["activeRegion"], STANDBY_REGION);
    assert_eq!(state["executionId"], FIRST);
    let since = state["since"].clone();
    assert!(since.is_string(), "{state}");

    // The holder itself, retried after markActive: already active, and its lock is released.
    let retried = begin(&world, FIRST).await.expect("beginFailover");
    assert_eq!(begun(&retried).decision, FailoverDecision::AlreadyActive);
    assert_eq!(retried.status, StepStatus::AlreadyDone);
    assert_eq!(world.lock_parameter().await, None);

    // A new trigger: already active, no lock is taken.
    let second = begin(&world, SECOND).await.expect("beginFailover");
    let answer = serde_json::to_value(&second).unwrap();
    assert_eq!(answer["decision"], "alreadyActive");
    assert_eq!(answer["lock"], Value::Null);
    assert_eq!(answer["state"]["activeRegion"], STANDBY_REGION);
    assert_eq!(
        world.lock_parameter().await,
        None,
        "alreadyActive took the lock"
    );

    // markActive again changes nothing (`since` stays).
    let again = mark_standby_active(&world, SECOND).await;
    assert_eq!(again.status, StepStatus::AlreadyDone);
    assert_eq!(world.run_state_parameter().await.unwrap()["since"], since);

    // A region that is not one of the configuration's is refused.
    let err = run_state(
        &world,
        json!({"action": "markActive", "env": world.env, "executionId": FIRST,
               "activeRegion": "eu-west-1"}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type(), "InvalidInput");
    assert!(err.to_string().contains("activeRegion"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_invalid_configuration_is_config_invalid_naming_the_field() {
    let world = World::new("badconfig").await;
    world.delete_run_state_at_teardown();

    let err = begin(&world, FIRST).await.unwrap_err();
    assert_eq!(err.error_type(), "ConfigInvalid");
    assert!(
        err.to_string()
            .contains(&format!("/pilot-light/{}/config", world.env)),
        "{err}"
    );
    assert_eq!(world.lock_parameter().await, None);

    let config_name = format!("/pilot-light/{}/config", world.env);
    let mut missing_field = world.config_document(&[]);
    missing_field["databases"] = json!([{"name": "orders", "primaryInstanceId": "orders"}]);
    let mut same_regions = world.config_document(&[]);
    same_regions["regions"]["primary"] = json!(STANDBY_REGION);
    let mut other_env = world.config_document(&[]);
    other_env["env"] = json!("someone-else");
    let cases = [
        ("{not json".to_string(), "."),
        (missing_field.to_string(), "databases[0].replicaInstanceId"),
        (same_regions.to_string(), "regions.standby"),
        (other_env.to_string(), "env"),
    ];
    for (document, field) in cases {
        world
            .put_parameter(STANDBY_REGION, &config_name, &document)
            .await;
        let err = begin(&world, FIRST).await.unwrap_err();
        let PilotLightError::ConfigInvalid { field: got, .. } = &err else {
            panic!("{document}: expected ConfigInvalid, got {err:?}");
        };
        assert_eq!(got, field, "{document}: {err}");
        assert_eq!(
            world.lock_parameter().await,
            None,
            "{document}: took the lock"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorded_capacity_persists_and_begin_failover_returns_it() {
    let world = configured_world("capacity").await;
    let record = json!({"action": "recordCapacity", "env": world.env,
                        "capacities": {"web": 6, "api": 2}});

    let recorded = run_state(&world, record.clone())
        .await
        .expect("recordCapacity");
    assert_eq!(recorded.status, StepStatus::Done);
    let state = world
        .run_state_parameter()
        .await
        .expect("the state parameter");
    assert_eq!(state["primaryCapacity"], json!({"web": 6, "api": 2}));
    assert!(state.get("activeRegion").is_none(), "{state}");
    let recorded_at = state["capacityRecordedAt"].clone();

    // The same capacities again: nothing written.
    let again = run_state(&world, record).await.expect("recordCapacity");
    assert_eq!(again.status, StepStatus::AlreadyDone);
    assert_eq!(
        world.run_state_parameter().await.unwrap()["capacityRecordedAt"],
        recorded_at
    );

    let begun_out = begin(&world, FIRST).await.expect("beginFailover");
    let result = begun(&begun_out);
    assert_eq!(result.decision, FailoverDecision::Proceed);
    assert_eq!(
        serde_json::to_value(&result.recorded_capacities).unwrap(),
        json!({"web": 6, "api": 2})
    );

    // markActive keeps the recorded capacity.
    mark_standby_active(&world, FIRST).await;
    let state = world.run_state_parameter().await.unwrap();
    assert_eq!(state["activeRegion"], STANDBY_REGION);
    assert_eq!(state["primaryCapacity"], json!({"web": 6, "api": 2}));
    assert_eq!(state["capacityRecordedAt"], recorded_at);
    release(&world, FIRST).await;
    assert!(world
        .parameter_value(STANDBY_REGION, &lock_parameter_name(&world.env))
        .await
        .is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_reports_a_real_execution_and_the_subscribed_queue_receives_it() {
    let world = World::new("report").await;
    let orders = world.seed_database("orders").await;
    let billing = world.seed_database("billing").await;
    world
        .write_config(&world.config_document(&[&orders, &billing]))
        .await;
    world.set_duration("rds.promote_read_replica", 2.0);
    let topic = world.seed_notification_topic(STANDBY_REGION).await;
    let machine = world.deploy("promote-database").await;
    let execution = world
        .run(&machine, &world.name("run"), &json!({"env": world.env}))
        .await;
    assert_eq!(
        execution.status, "SUCCEEDED",
        "{:?} {:?}",
        execution.error, execution.cause
    );

    let out = report::handler(
        json!({
            "action": "publish", "env": world.env, "kind": "failover", "outcome": "succeeded",
            "executionArn": execution.arn, "topicArn": topic.topic_arn,
            "results": execution.output.clone().unwrap_or_default(),
        }),
        &report_clients(&world),
    )
    .await
    .expect("publish");
    let ReportOutput::Publish(out) = out else {
        panic!("{out:?}")
    };
    assert_eq!(out.status, StepStatus::Done);
    let report = &out.report;
    assert_eq!(report.execution_status, "SUCCEEDED");

    // Every state of the run, each Map iteration labelled with its database, with durations.
    let states: BTreeSet<(&str, Option<&str>)> = report
        .steps
        .iter()
        .map(|s| (s.state.as_str(), s.item.as_deref()))
        .collect();
    for expected in [
        ("LoadConfig", None),
        ("PromoteDatabases", None),
        ("PromoteReplica", Some("orders")),
        ("PromoteReplica", Some("billing")),
        ("CheckPromotion", Some("orders")),
        ("CheckPromotion", Some("billing")),
        ("DatabasePromoted", Some("orders")),
        ("DatabasePromoted", Some("billing")),
    ] {
        assert!(
            states.contains(&expected),
            "{expected:?} missing from {states:?}"
        );
    }
    assert!(report.steps.iter().all(|s| s.duration_seconds >= 0.0));
    // The harness's own pairing of the same history agrees, step for step.
    let mine: Vec<(String, Option<String>)> = report
        .steps
        .iter()
        .map(|s| (s.state.clone(), s.item.clone()))
        .collect();
    let mut harness: Vec<(String, Option<String>)> = execution
        .spans()
        .into_iter()
        .map(|s| (s.state, s.item))
        .collect();
    let mut sorted_mine = mine.clone();
    sorted_mine.sort();
    harness.sort();
    assert_eq!(sorted_mine, harness);
    // Promotion takes 2 s: the Map ran at least that long, and the RTO covers the whole run.
    let map = report
        .steps
        .iter()
        .find(|s| s.state == "PromoteDatabases")
        .unwrap();
    assert!(map.duration_seconds >= 2.0, "{map:?}");
    assert!(report.rto_seconds >= map.duration_seconds, "{report:?}");
    let elapsed = execution.elapsed.as_secs_f64();
    assert!(
        (report.rto_seconds - elapsed).abs() < 1.0,
        "RTO {} vs execution {elapsed}",
        report.rto_seconds
    );
    // What changed: both promotions were started.
    let changed: BTreeSet<&str> = report
        .changes
        .iter()
        .flat_map(|c| c.resources.iter().map(String::as_str))
        .collect();
    assert_eq!(report.changes.len(), 2, "{:?}", report.changes);
    assert!(
        changed.iter().any(|r| r.ends_with(&orders.replica_id)),
        "{changed:?}"
    );

    // The queue received the report.
    let received = world
        .notifications(&topic, 1, Duration::from_secs(10))
        .await;
    assert_eq!(received.len(), 1, "{received:?}");
    let message = &received[0];
    let subject = message.subject.as_deref().unwrap_or_default();
    assert!(
        subject.starts_with(&format!("pilot-light {} failover succeeded in ", world.env)),
        "{subject}"
    );
    assert!(subject.len() < 100);
    assert_eq!(
        message
            .attributes
            .get("pilot-light.outcome")
            .map(String::as_str),
        Some("succeeded")
    );
    let document = message.document().expect("the message is the JSON report");
    assert_eq!(document["executionArn"], execution.arn);
    assert_eq!(document["rtoSeconds"], json!(report.rto_seconds));
    assert_eq!(
        document["steps"].as_array().map(Vec::len),
        Some(report.steps.len())
    );
    assert!(
        !message.message.contains("not-a-real-password"),
        "a secret reached the report"
    );
    assert_eq!(
        out.published.as_ref().map(|p| p.topic_arn.as_str()),
        Some(topic.topic_arn.as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_reads_the_history_of_an_execution_that_is_still_running() {
    let world = World::new("running").await;
    let orders = world.seed_database("orders").await;
    world.write_config(&world.config_document(&[&orders])).await;
    world.set_duration("rds.promote_read_replica", 8.0);
    let machine = world.deploy("promote-database").await;
    let arn = world
        .start(&machine, &world.name("run"), &json!({"env": world.env}))
        .await;

    // As the report step of the execution itself would: read it while it runs.
    let began = Instant::now();
    let report = loop {
        let out = report::handler(
            json!({"action": "publish", "env": world.env, "kind": "failover",
                   "outcome": "inProgress", "executionArn": arn}),
            &report_clients(&world),
        )
        .await
        .expect("publish while running");
        let ReportOutput::Publish(out) = out else {
            panic!("{out:?}")
        };
        if out.report.steps.iter().any(|s| s.state == "PromoteReplica")
            || began.elapsed() > Duration::from_secs(20)
        {
            break out.report;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(report.execution_status, "RUNNING", "{report:?}");
    assert!(
        report
            .steps
            .iter()
            .any(|s| s.state == "PromoteReplica" && s.item.as_deref() == Some("orders")),
        "{report:?}"
    );
    assert!(
        report.steps.iter().all(|s| s.state != "PromoteDatabases"),
        "the Map has not exited yet: {report:?}"
    );
    assert!(report.rto_seconds > 0.0);

    let finished = world.wait(&arn, Duration::from_secs(120)).await;
    assert_eq!(finished.status, "SUCCEEDED", "{:?}", finished.cause);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_failure_publishes_an_alert_for_a_failed_execution() {
    let world = World::new("alert").await;
    let mut orders = world.seed_database("orders").await;
    orders.replica_id = world.name("no-such-replica");
    world.write_config(&world.config_document(&[&orders])).await;
    let topic = world.seed_notification_topic(STANDBY_REGION).await;
    let machine = world.deploy("promote-database").await;
    let failed = world
        .run(&machine, &world.name("run"), &json!({"env": world.env}))
        .await;
    assert_eq!(failed.status, "FAILED");

    let out = report::handler(
        json!({
            "action": "notifyFailure", "env": world.env, "kind": "failover",
            "executionArn": failed.arn, "error": failed.error, "cause": failed.cause,
            "topicArn": topic.topic_arn,
        }),
        &report_clients(&world),
    )
    .await
    .expect("notifyFailure");
    let ReportOutput::NotifyFailure(out) = out else {
        panic!("{out:?}")
    };
    assert_eq!(out.status, StepStatus::Done);
    assert!(out.published.is_some());

    let received = world
        .notifications(&topic, 1, Duration::from_secs(10))
        .await;
    assert_eq!(received.len(), 1, "{received:?}");
    let alert = &received[0];
    assert_eq!(
        alert.subject.as_deref(),
        Some(format!("pilot-light {} failover FAILED: ReplicaNotFound", world.env).as_str())
    );
    assert_eq!(
        alert.attributes.get("pilot-light.type").map(String::as_str),
        Some("alert")
    );
    let document = alert.document().expect("the alert is JSON");
    assert_eq!(document["error"], "ReplicaNotFound");
    assert!(
        document["cause"]
            .as_str()
            .unwrap_or_default()
            .contains(&orders.replica_id),
        "{document}"
    );
    assert_eq!(document["executionArn"], failed.arn);
}
