//! Pilot light to full flame, end to end on the local two-region AWS: the promoted replica is resized
//! to its production shape (before traffic, or in the background after it), and the team's hooks run
//! at their points with the documented input. The world is asserted with describe calls, the request
//! log, the timeline and the report.

use pilot_light_core::config::state_parameter_name;
use pilot_light_e2e::pilot_light::SeededPilotLight;
use pilot_light_e2e::{Execution, World, PRIMARY_REGION, STANDBY_REGION};
use serde_json::{json, Value};
use std::time::{Duration, SystemTime};

/// The test hook: a workspace binary (`tests/hook-fixture`) that `cargo lambda watch` serves.
const HOOK_FUNCTION: &str = "pilot-light-test-hook";

fn assert_succeeded(run: &Execution) {
    assert_eq!(
        run.status, "SUCCEEDED",
        "error {:?}: {:?}",
        run.error, run.cause
    );
}

/// Makes the seeded replica what a pilot light keeps: small, single-AZ, one day of backups.
async fn shrink_replica(world: &World, replica_id: &str) {
    world
        .rds(STANDBY_REGION)
        .modify_db_instance()
        .db_instance_identifier(replica_id)
        .db_instance_class("db.t3.small")
        .multi_az(false)
        .backup_retention_period(1)
        .apply_immediately(true)
        .send()
        .await
        .expect("shrink the replica");
}

fn production_shape(resize: &str) -> Value {
    json!({
        "instanceClass": "db.r6g.large",
        "multiAz": true,
        "backupRetentionDays": 7,
        "resize": resize
    })
}

async fn resize_world(
    label: &str,
    groups: &[&str],
    resize: &str,
) -> (World, SeededPilotLight, String) {
    let world = World::new(label).await;
    let mut pilot = world.seed_pilot_light(&["orders"], groups).await;
    shrink_replica(&world, &pilot.databases[0].replica_id).await;
    pilot.config["databases"][0]["productionShape"] = production_shape(resize);
    pilot.config["poll"]["resize"] = json!({"intervalSeconds": 1, "maxAttempts": 60});
    world.write_config(&pilot.config).await;
    let machine = world.deploy_with("failover", &pilot.substitutions()).await;
    (world, pilot, machine)
}

async fn assert_production_shape(
    world: &World,
    replica_id: &str,
) -> aws_sdk_rds::types::DbInstance {
    let db = world
        .describe_db(STANDBY_REGION, replica_id)
        .await
        .expect("the promoted instance exists");
    assert_eq!(db.db_instance_status(), Some("available"));
    assert_eq!(db.read_replica_source_db_instance_identifier(), None);
    assert_eq!(db.db_instance_class(), Some("db.r6g.large"));
    assert_eq!(db.multi_az(), Some(true));
    assert_eq!(db.backup_retention_period(), Some(7));
    db
}

fn span_of<'a>(
    spans: &'a [pilot_light_e2e::StepSpan],
    state: &str,
) -> &'a pilot_light_e2e::StepSpan {
    spans
        .iter()
        .find(|s| s.state == state)
        .unwrap_or_else(|| panic!("no {state} in the timeline"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_resizes_the_small_replica_to_its_production_shape_once_before_traffic() {
    let (world, pilot, machine) = resize_world("rz-before", &[], "beforeTraffic").await;
    let replica_id = pilot.databases[0].replica_id.clone();
    let before = world
        .describe_db(STANDBY_REGION, &replica_id)
        .await
        .unwrap();
    assert_eq!(
        (
            before.db_instance_class(),
            before.multi_az(),
            before.backup_retention_period()
        ),
        (Some("db.t3.small"), Some(false), Some(1)),
        "the pilot light starts small"
    );
    world.set_duration("rds.promote_read_replica", 1.0);
    world.set_duration("rds.modify_db_instance", 2.0);

    let since = world.last_request_seq();
    let run = world
        .run(&machine, &world.name("run-1"), &json!({"env": world.env}))
        .await;
    assert_succeeded(&run);
    let db = assert_production_shape(&world, &replica_id).await;
    let resized_by = db
        .tag_list()
        .iter()
        .find(|t| t.key() == Some("pilot-light:resized-by"))
        .and_then(|t| t.value());
    assert_eq!(resized_by, Some(run.arn.as_str()));
    let modifies = world.calls_on(since, "ModifyDBInstance", &replica_id);
    assert_eq!(modifies.len(), 1, "one ModifyDBInstance: {modifies:?}");
    assert_eq!(
        world.run_state_parameter().await.unwrap()["activeRegion"],
        STANDBY_REGION
    );

    // The resize is its own step, polled until the instance is available again, before traffic.
    let spans = run.spans();
    let resized = span_of(&spans, "DatabaseResized");
    let traffic = span_of(&spans, "SwitchTraffic");
    assert!(
        resized.exited <= traffic.entered,
        "the resize ended before traffic moved"
    );
    assert!(
        run.times_entered("PromotedResize") >= 2,
        "polled while modifying"
    );
    let report = run.output.clone().expect("report");
    let steps = report["steps"].as_array().unwrap();
    assert!(
        steps
            .iter()
            .any(|s| s["state"] == "PromotedResize" && s["item"] == "orders"),
        "the report shows the resize: {report}"
    );
    assert!(
        report["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["action"] == "resize" && c["item"] == "orders"),
        "the report lists the resize among the changes: {report}"
    );

    // A second run over the same world (the state says the primary is active again, in the same
    // failover cycle: its `failoverId` is kept, and only a promotion of the current cycle counts
    // as done) promotes nothing and resizes nothing: every step observes and finds its work done.
    let mut state = world.run_state_parameter().await.expect("the run state");
    assert!(state["failoverId"].is_string(), "{state}");
    state["activeRegion"] = json!(PRIMARY_REGION);
    state["primaryCapacity"] = json!({});
    world
        .put_parameter(
            STANDBY_REGION,
            &state_parameter_name(&world.env),
            &state.to_string(),
        )
        .await;
    let since = world.last_request_seq();
    let again = world
        .run(&machine, &world.name("run-2"), &json!({"env": world.env}))
        .await;
    assert_succeeded(&again);
    assert!(world
        .calls_on(since, "ModifyDBInstance", &replica_id)
        .is_empty());
    assert!(world
        .calls_on(since, "PromoteReadReplica", &replica_id)
        .is_empty());
    assert_production_shape(&world, &replica_id).await;
    let output = again.output.unwrap();
    assert!(
        !output["changes"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["action"] == "resize"),
        "the second run reports no resize change: {output}"
    );
}

/// `PromoteReadReplica` and the resize's `ModifyDBInstance` reach RDS and their answers are lost:
/// the SDK's retry meets the first attempt (the promotion is refused: no replica any more), the
/// handlers look again and find their work, and the run ends as an unfaulted one: promoted once,
/// in production shape, serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promotion_and_a_resize_whose_answers_were_lost_end_as_an_unfaulted_run() {
    use pilot_light_e2e::faults::{FaultKind, Operation};
    let (world, pilot, machine) = resize_world("rz-lost", &[], "beforeTraffic").await;
    let replica_id = pilot.databases[0].replica_id.clone();
    world.set_duration("rds.promote_read_replica", 1.0);
    world.set_duration("rds.modify_db_instance", 2.0);
    let lost = [
        Operation::new("rds", "PromoteReadReplica"),
        Operation::new("rds", "ModifyDBInstance"),
    ];
    world.inject_faults_into_this_world(&lost, FaultKind::Lost, 1);
    let since = world.last_request_seq();
    let run = world
        .run(&machine, &world.name("run"), &json!({"env": world.env}))
        .await;
    let served: Vec<u32> = world.faults().iter().map(|f| f.served).collect();
    world.clear_faults();
    assert_succeeded(&run);
    assert_eq!(served, vec![1, 1], "both answers were lost once");
    assert_production_shape(&world, &replica_id).await;
    // The lost promotion and the SDK's refused retry; never a third ask.
    assert_eq!(
        world
            .calls_on(since, "PromoteReadReplica", &replica_id)
            .len(),
        2
    );
    assert_eq!(
        world.run_state_parameter().await.unwrap()["activeRegion"],
        STANDBY_REGION
    );
    let report = run.output.expect("report");
    assert!(
        report["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["action"] == "resize" && c["item"] == "orders"),
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_resize_switches_traffic_first_and_the_report_has_the_resize_end() {
    let (world, pilot, machine) = resize_world("rz-bg", &["web"], "background").await;
    let replica_id = pilot.databases[0].replica_id.clone();
    world.set_duration("rds.promote_read_replica", 1.0);
    world.set_duration("rds.modify_db_instance", 3.0);

    let since = world.last_request_seq();
    let run = world
        .run(&machine, &world.name("run-1"), &json!({"env": world.env}))
        .await;
    assert_succeeded(&run);
    assert_production_shape(&world, &replica_id).await;

    // The records moved before the resize was even asked for…
    let (requests, _) = world.requests_since(since);
    let switched = requests
        .iter()
        .find(|r| r.action == "ChangeResourceRecordSets")
        .expect("traffic switched")
        .seq;
    let modified = requests
        .iter()
        .find(|r| r.action == "ModifyDBInstance" && r.mentions(&replica_id))
        .expect("resized")
        .seq;
    assert!(switched < modified, "traffic first, then the resize");
    // …and the timeline agrees: marked active, then the resize polled to its end.
    let spans = run.spans();
    let active = span_of(&spans, "MarkStandbyActive");
    let finished = span_of(&spans, "BackgroundResizeFinished");
    assert!(active.exited <= finished.entered);
    assert!(
        spans
            .iter()
            .filter(|s| s.state == "DatabasePromoted")
            .all(|s| s.exited <= active.entered),
        "the promotion did not wait for the resize"
    );
    assert!(
        run.times_entered("BackgroundResize") >= 2,
        "polled while modifying"
    );

    let report = run.output.clone().expect("report");
    let end = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["state"] == "BackgroundResizeFinished")
        .unwrap_or_else(|| panic!("the report lacks the resize's end: {report}"));
    assert_eq!(end["item"], "orders");
    assert!(report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["action"] == "resize" && c["status"] == "done"));
    assert!(
        world.lock_parameter().await.is_none(),
        "the lock is released after the resize"
    );
}

fn hook(name: &str, on_failure: &str) -> Value {
    json!({"name": name, "functionName": HOOK_FUNCTION, "timeoutSeconds": 30, "onFailure": on_failure})
}

async fn hook_world(label: &str, hooks: Value) -> (World, SeededPilotLight, String) {
    let world = World::new(label).await;
    let mut pilot = world.seed_pilot_light(&["orders"], &[]).await;
    pilot.config["hooks"] = hooks;
    world.write_config(&pilot.config).await;
    let machine = world.deploy_with("failover", &pilot.substitutions()).await;
    (world, pilot, machine)
}

fn entered_at(run: &Execution, state: &str) -> Vec<SystemTime> {
    run.spans()
        .iter()
        .filter(|s| s.state == state)
        .map(|s| s.entered)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hooks_run_in_order_with_the_documented_input_and_a_report_only_failure_carries_on() {
    let (world, pilot, machine) = hook_world(
        "hooks-ok",
        json!({"failover": {
            "beforeFailover": [hook("drain-writers", "abort")],
            "afterDatabases": [hook("check-schema", "abort")],
            "afterCompute": [hook("fail-warm-cache", "report"), hook("warm-search", "report")],
            "afterTraffic": [hook("tell-partner", "report")]
        }}),
    )
    .await;
    let run = world
        .run(&machine, &world.name("run-1"), &json!({"env": world.env}))
        .await;
    assert_succeeded(&run);
    let replica = world
        .describe_db(STANDBY_REGION, &pilot.databases[0].replica_id)
        .await
        .unwrap();
    assert_eq!(replica.read_replica_source_db_instance_identifier(), None);

    // In order: each point after the one before, and the two afterCompute hooks one after the other.
    let before = entered_at(&run, "RunBeforeFailoverHook");
    let after_db = entered_at(&run, "RunAfterDatabasesHook");
    let after_compute = entered_at(&run, "RunAfterComputeHook");
    let after_traffic = entered_at(&run, "RunAfterTrafficHook");
    assert_eq!(
        (
            before.len(),
            after_db.len(),
            after_compute.len(),
            after_traffic.len()
        ),
        (1, 1, 2, 1)
    );
    let promoted = span_of(&run.spans(), "PromoteReplica").entered;
    assert!(
        before[0] < promoted,
        "beforeFailover runs before any change"
    );
    assert!(after_db[0] > promoted);
    assert!(after_db[0] <= after_compute[0] && after_compute[0] <= after_compute[1]);
    let traffic = span_of(&run.spans(), "MarkStandbyActive").exited;
    assert!(after_compute[1] < traffic && traffic <= after_traffic[0]);

    // The report has every hook, its status and its output; the hook saw the documented input.
    let report = run.output.clone().expect("report");
    let hooks = report["hooks"].as_array().expect("hooks in the report");
    let seen: Vec<(&str, &str, &str)> = hooks
        .iter()
        .map(|h| {
            (
                h["point"].as_str().unwrap(),
                h["name"].as_str().unwrap(),
                h["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("beforeFailover", "drain-writers", "succeeded"),
            ("afterDatabases", "check-schema", "succeeded"),
            ("afterCompute", "fail-warm-cache", "failed"),
            ("afterCompute", "warm-search", "succeeded"),
            ("afterTraffic", "tell-partner", "succeeded"),
        ]
    );
    let failed = &hooks[2];
    assert_eq!(failed["error"], "HookRefused", "{failed}");
    for h in hooks.iter().filter(|h| h["status"] == "succeeded") {
        let received = &h["output"]["received"];
        assert_eq!(received["kind"], "failover");
        assert_eq!(received["point"], h["point"]);
        assert_eq!(received["hook"], h["name"]);
        assert_eq!(received["env"], world.env.as_str());
        assert_eq!(received["executionId"], run.arn.as_str());
        assert_eq!(received["regions"]["primary"], PRIMARY_REGION);
        assert_eq!(received["regions"]["standby"], STANDBY_REGION);
    }
    let touched = |point: &str| -> Vec<String> {
        let h = hooks
            .iter()
            .find(|h| h["point"] == point && h["status"] == "succeeded")
            .unwrap();
        let mut keys: Vec<String> = h["output"]["received"]["touched"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        keys.sort();
        keys
    };
    assert!(touched("beforeFailover").is_empty());
    assert_eq!(touched("afterDatabases"), ["databases"]);
    assert_eq!(
        touched("afterTraffic"),
        ["buckets", "compute", "databases", "functions", "traffic"]
    );
    let databases = &hooks[1]["output"]["received"]["touched"]["databases"];
    assert_eq!(databases[0]["database"], "orders", "{databases}");
    assert!(
        world.lock_parameter().await.is_none(),
        "the lock is released"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_abort_hook_stops_the_run_on_the_failure_path() {
    let (world, pilot, machine) = hook_world(
        "hooks-abort",
        json!({"failover": {
            "afterDatabases": [hook("fail-migrate", "abort")],
            "afterTraffic": [hook("tell-partner", "report")]
        }}),
    )
    .await;
    let run = world
        .run(&machine, &world.name("run-1"), &json!({"env": world.env}))
        .await;
    assert_eq!(run.status, "FAILED");
    assert_eq!(run.error.as_deref(), Some("HookFailed"), "{:?}", run.cause);
    let cause = run.cause.clone().unwrap_or_default();
    assert!(
        cause.contains("fail-migrate") && cause.contains("afterDatabases"),
        "{cause}"
    );
    assert_eq!(run.times_entered("SwitchTraffic"), 0, "traffic never moved");
    assert_eq!(run.times_entered("RunAfterTrafficHook"), 0);
    assert_eq!(run.times_entered("NotifyFailure"), 1);
    assert!(
        world.lock_parameter().await.is_none(),
        "the lock is released"
    );
    assert_eq!(
        world.run_state_parameter().await.unwrap()["activeRegion"],
        PRIMARY_REGION,
        "the run never claimed the standby active"
    );
    let alerts = world
        .notifications(&pilot.topic, 1, Duration::from_secs(20))
        .await;
    assert!(
        alerts
            .iter()
            .any(|m| m.message.contains("HookFailed") && m.message.contains("fail-migrate")),
        "the alert names the hook: {alerts:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failback_resizes_the_restored_primary_and_runs_the_failback_hooks() {
    let (world, mut pilot, failover) = resize_world("rz-back", &[], "beforeTraffic").await;
    pilot.config["hooks"] = json!({"failback": {
        "beforeFailback": [hook("check-primary-region", "abort")],
        "afterTraffic": [hook("tell-partner", "report")]
    }});
    world.write_config(&pilot.config).await;
    let failback = world.deploy_with("failback", &pilot.substitutions()).await;
    let primary_id = pilot.databases[0].primary_id.clone();

    let run = world
        .run(&failover, &world.name("over"), &json!({"env": world.env}))
        .await;
    assert_succeeded(&run);
    assert_production_shape(&world, &pilot.databases[0].replica_id).await;
    let back = world
        .run(
            &failback,
            &world.name("back"),
            &json!({"env": world.env, "strategy": "snapshot"}),
        )
        .await;
    assert_succeeded(&back);

    // The restored primary took the old primary's small shape, then its production shape.
    let primary = world
        .describe_db(PRIMARY_REGION, &primary_id)
        .await
        .expect("the restored primary");
    assert_eq!(primary.db_instance_status(), Some("available"));
    assert_eq!(primary.db_instance_class(), Some("db.r6g.large"));
    assert_eq!(primary.multi_az(), Some(true));
    assert_eq!(primary.backup_retention_period(), Some(7));
    let resized_by = primary
        .tag_list()
        .iter()
        .find(|t| t.key() == Some("pilot-light:resized-by"))
        .and_then(|t| t.value());
    assert_eq!(resized_by, Some(back.arn.as_str()));
    let spans = back.spans();
    assert!(
        span_of(&spans, "PrimaryResizeFinished").exited
            <= span_of(&spans, "SwitchTrafficBack").entered,
        "the primary is resized before traffic moves back"
    );
    assert_eq!(
        world.run_state_parameter().await.unwrap()["activeRegion"],
        PRIMARY_REGION
    );
    // The DR replica re-created in the standby is small again: the pilot light's own shape, which
    // the failover's resize recorded on the standby before it grew it.
    let replica = world
        .describe_db(STANDBY_REGION, &pilot.databases[0].replica_id)
        .await
        .expect("the new DR replica");
    assert!(replica
        .read_replica_source_db_instance_identifier()
        .is_some_and(|s| s.ends_with(&format!(":db:{primary_id}"))));
    assert_eq!(replica.db_instance_class(), Some("db.t3.small"));
    assert_eq!(replica.multi_az(), Some(false));

    let report = back.output.clone().expect("report");
    let hooks: Vec<(String, String, String)> = report["hooks"]
        .as_array()
        .expect("hooks in the failback report")
        .iter()
        .map(|h| {
            assert_eq!(h["output"]["received"]["kind"], "failback", "{h}");
            (
                h["point"].as_str().unwrap().to_string(),
                h["name"].as_str().unwrap().to_string(),
                h["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        hooks,
        [
            ("beforeFailback", "check-primary-region", "succeeded"),
            ("afterTraffic", "tell-partner", "succeeded"),
        ]
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    );
    let before = span_of(&spans, "RunBeforeFailbackHook").entered;
    assert!(
        spans
            .iter()
            .filter(|s| s.state.starts_with("FenceStandby"))
            .all(|s| s.entered > before),
        "beforeFailback runs before the standby is fenced"
    );
}
