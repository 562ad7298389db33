//! Failover, end to end on the local two-region AWS: `state-machines/failover.asl.json` on moto's Step
//! Functions engine, every handler in `cargo lambda watch`. Each test seeds a whole pilot light and
//! asserts the world afterwards with describe calls, the run state, the request log and the report.

use pilot_light_e2e::cli::run_cli;
use pilot_light_e2e::pilot_light::SeededPilotLight;
use pilot_light_e2e::{Execution, World, PRIMARY_REGION, STANDBY_REGION};
use serde_json::{json, Value};
use std::time::Duration;
use tokio::sync::RwLock;

/// Tests share one emulator. The test that asserts "no call into the primary region" runs alone
/// (the others' set-up, graceful fencing and teardown do call the primary); the rest run together.
static PRIMARY_REGION_QUIET: RwLock<()> = RwLock::const_new(());

async fn failover_world(
    label: &str,
    databases: &[&str],
    groups: &[&str],
) -> (World, SeededPilotLight, String) {
    let world = World::new(label).await;
    let pilot = world.seed_pilot_light(databases, groups).await;
    let machine = world.deploy_with("failover", &pilot.substitutions()).await;
    (world, pilot, machine)
}

fn assert_succeeded(run: &Execution) {
    assert_eq!(
        run.status, "SUCCEEDED",
        "error {:?}: {:?}",
        run.error, run.cause
    );
}

/// Everything a successful failover must leave behind.
async fn assert_standby_serves(world: &World, pilot: &SeededPilotLight) {
    for db in &pilot.databases {
        let replica = world
            .describe_db(STANDBY_REGION, &db.replica_id)
            .await
            .expect("DR instance exists");
        assert_eq!(
            replica.db_instance_status(),
            Some("available"),
            "{}",
            db.replica_id
        );
        assert_eq!(
            replica.read_replica_source_db_instance_identifier(),
            None,
            "{} still a replica",
            db.replica_id
        );
    }
    for group in &pilot.groups {
        let standby = &group.standby;
        let version = world
            .launch_template_version(STANDBY_REGION, &standby.launch_template_id, "$Default")
            .await;
        let data = version
            .launch_template_data()
            .expect("launch template data");
        assert_eq!(
            data.image_id(),
            Some(pilot.newest_standby_images[&group.name].as_str()),
            "{}: newest tagged AMI",
            group.name
        );
        assert_eq!(
            data.instance_type().map(|t| t.as_str()),
            Some("t3.micro"),
            "{}: instance type kept",
            group.name
        );
        assert!(
            data.user_data().is_some_and(|u| !u.is_empty()),
            "{}: user data kept",
            group.name
        );
        assert!(
            !data.tag_specifications().is_empty(),
            "{}: tag specifications kept",
            group.name
        );

        let asg = world
            .describe_group(STANDBY_REGION, &standby.auto_scaling_group_name)
            .await;
        let target = pilot.recorded_capacity[&group.name] as i32;
        assert_eq!(
            asg.desired_capacity(),
            Some(target),
            "{}: desired = recorded primary capacity",
            group.name
        );
        let in_service = asg
            .instances()
            .iter()
            .filter(|i| i.lifecycle_state().map(|s| s.as_str()) == Some("InService"))
            .count();
        assert_eq!(
            in_service, target as usize,
            "{}: InService instances",
            group.name
        );
    }
    for function in &pilot.standby_functions {
        assert_eq!(
            world
                .mapping_state(STANDBY_REGION, &function.mapping_uuid)
                .await,
            "Enabled"
        );
        assert_eq!(
            world
                .reserved_concurrency_of(STANDBY_REGION, &function.function_name)
                .await,
            Some(5)
        );
        assert_eq!(
            world.rule_state(STANDBY_REGION, &function.rule_name).await,
            "ENABLED"
        );
    }
    for (name, _, standby_value) in &pilot.records {
        let record = world
            .record_set(
                &pilot.zone,
                name,
                aws_sdk_route53::types::RrType::Cname,
                None,
            )
            .await
            .expect("record exists");
        let values: Vec<&str> = record
            .resource_records()
            .iter()
            .map(|r| r.value())
            .collect();
        assert_eq!(
            values,
            vec![standby_value.as_str()],
            "{name} points at the standby"
        );
    }
    let state = world.run_state_parameter().await.expect("run state");
    assert_eq!(state["activeRegion"], STANDBY_REGION, "{state}");
    assert!(
        world.lock_parameter().await.is_none(),
        "the lock is released"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_of_two_databases_and_two_groups_leaves_the_standby_serving_and_reports_it() {
    let _shared = PRIMARY_REGION_QUIET.read().await;
    let (world, pilot, machine) =
        failover_world("fo-happy", &["orders", "accounts"], &["web", "api"]).await;
    let run = world
        .run(&machine, &world.name("run-1"), &json!({"env": world.env}))
        .await;
    assert_succeeded(&run);
    assert_standby_serves(&world, &pilot).await;

    // The report is the execution output, lists every step with durations, and has an RTO.
    let report = run.output.clone().expect("report");
    assert_eq!(report["kind"], "failover");
    assert_eq!(report["outcome"], "succeeded");
    let rto = report["rtoSeconds"].as_f64().expect("rtoSeconds");
    assert!(rto > 0.0 && rto < 600.0, "{rto}");
    let steps = report["steps"].as_array().expect("steps");
    for state in [
        "BeginFailover",
        "PromoteReplica",
        "CheckPromotion",
        "UpdateLaunchTemplate",
        "ScaleGroup",
        "CheckCompute",
        "EnableStandbyFunctions",
        "SwitchTraffic",
        "MarkStandbyActive",
        "ReleaseLock",
    ] {
        let found: Vec<&Value> = steps.iter().filter(|s| s["state"] == state).collect();
        assert!(!found.is_empty(), "the report lacks {state}: {report}");
        assert!(
            found
                .iter()
                .all(|s| s["durationSeconds"].as_f64().is_some()),
            "{state} without duration"
        );
    }
    let promoted_items: std::collections::BTreeSet<&str> = steps
        .iter()
        .filter(|s| s["state"] == "PromoteReplica")
        .filter_map(|s| s["item"].as_str())
        .collect();
    assert_eq!(promoted_items, ["accounts", "orders"].into_iter().collect());
    // …and it reached the on-call through SNS.
    let messages = world
        .notifications(&pilot.topic, 1, Duration::from_secs(20))
        .await;
    assert!(
        messages.iter().any(|m| m
            .subject
            .as_deref()
            .is_some_and(|s| s.contains("failover") && s.contains("succeeded"))),
        "no success report on the topic: {messages:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_failover_is_a_no_op_that_ends_already_active() {
    let _shared = PRIMARY_REGION_QUIET.read().await;
    let (world, pilot, machine) = failover_world("fo-again", &["orders"], &["web"]).await;
    assert_succeeded(
        &world
            .run(&machine, &world.name("run-1"), &json!({"env": world.env}))
            .await,
    );
    let template = &pilot.groups[0].standby.launch_template_name;
    let versions_before = world
        .describe_launch_template(STANDBY_REGION, template)
        .await
        .latest_version_number();

    let before = world.last_request_seq();
    let again = world
        .run(&machine, &world.name("run-2"), &json!({"env": world.env}))
        .await;
    assert_succeeded(&again);
    assert_eq!(again.output.as_ref().unwrap()["outcome"], "alreadyActive");
    assert!(
        world
            .calls_on(before, "PromoteReadReplica", &pilot.databases[0].replica_id)
            .is_empty(),
        "second promotion"
    );
    let versions_after = world
        .describe_launch_template(STANDBY_REGION, template)
        .await
        .latest_version_number();
    assert_eq!(
        versions_before, versions_after,
        "a new launch template version was made"
    );
    let (requests, _) = world.requests_since(before);
    let changes: Vec<String> = requests
        .iter()
        .filter(|r| {
            (r.mentions(&world.env) || r.mentions(&pilot.zone.id))
                && !r.action.starts_with("Describe")
                && !r.action.starts_with("Get")
                && !r.action.starts_with("List")
        })
        .map(|r| format!("{} {}", r.service, r.action))
        .collect();
    // Reading and writing the run state and the lock is all a no-op run may do.
    assert!(
        changes.iter().all(|c| c.starts_with("ssm ")
            || c.starts_with("states ")
            || c.starts_with("sns ")
            || c.starts_with("lambda Invoke")),
        "the no-op run changed something: {changes:?}"
    );
    assert_standby_serves(&world, &pilot).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_time_is_the_longest_branch_not_the_sum() {
    let _shared = PRIMARY_REGION_QUIET.read().await;
    let (world, _pilot, machine) = failover_world("fo-par", &["orders"], &["web"]).await;
    world.set_duration("rds.promote_read_replica", 6.0);
    world.set_duration("autoscaling.launch_instance", 4.0);
    let run = world
        .run(&machine, &world.name("run"), &json!({"env": world.env}))
        .await;
    assert_succeeded(&run);
    let spans = run.spans();
    let took = |state: &str| {
        spans
            .iter()
            .filter(|s| s.state == state)
            .map(|s| {
                s.exited
                    .duration_since(s.entered)
                    .unwrap_or_default()
                    .as_secs_f64()
            })
            .fold(0.0, f64::max)
    };
    let (databases, compute, functions, recover) = (
        took("PromoteDatabases"),
        took("RecoverCompute"),
        took("EnableStandbyFunctions"),
        took("Recover"),
    );
    let sum = databases + compute + functions;
    let longest = databases.max(compute).max(functions);
    assert!(
        databases >= 6.0 && compute >= 4.0,
        "durations were not applied: db {databases:.1} s, compute {compute:.1} s"
    );
    assert!(
        recover < sum - 3.0,
        "Recover took {recover:.1} s; the branches add up to {sum:.1} s"
    );
    assert!(
        recover < longest + 2.0,
        "Recover took {recover:.1} s; the longest branch {longest:.1} s"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_failovers_started_at_the_same_moment_fail_over_once() {
    let _shared = PRIMARY_REGION_QUIET.read().await;
    let (world, pilot, machine) = failover_world("fo-race", &["orders"], &["web"]).await;
    world.set_duration("rds.promote_read_replica", 2.0);
    let before = world.last_request_seq();
    let input = json!({"env": world.env});
    // Five starts released together (a pager storm: alarms, Health, two operators and a retry).
    let gate = std::sync::Arc::new(tokio::sync::Barrier::new(5));
    let mut starts = tokio::task::JoinSet::new();
    for n in 0..5 {
        let (gate, machine, input) = (gate.clone(), machine.clone(), input.clone());
        let name = world.name(&format!("race-{n}"));
        let sfn = world.sfn();
        starts.spawn(async move {
            gate.wait().await;
            sfn.start_execution()
                .state_machine_arn(machine)
                .name(name)
                .input(input.to_string())
                .send()
                .await
                .expect("start execution")
                .execution_arn()
                .to_string()
        });
    }
    let mut arns = Vec::new();
    while let Some(arn) = starts.join_next().await {
        arns.push(arn.expect("start task"));
    }
    let mut runs = Vec::new();
    for arn in &arns {
        runs.push(world.wait(arn, Duration::from_secs(240)).await);
    }
    let winners: Vec<&Execution> = runs.iter().filter(|r| r.status == "SUCCEEDED").collect();
    assert_eq!(
        winners.len(),
        1,
        "{:?}",
        runs.iter()
            .map(|r| (&r.status, &r.error, &r.cause))
            .collect::<Vec<_>>()
    );
    assert_eq!(winners[0].output.as_ref().unwrap()["outcome"], "succeeded");
    for loser in runs.iter().filter(|r| r.status != "SUCCEEDED") {
        assert_eq!(loser.status, "FAILED", "{:?}", loser.output);
        assert_eq!(
            loser.error.as_deref(),
            Some("FailoverInProgress"),
            "{:?}",
            loser.cause
        );
        for step in [
            "PromoteReplica",
            "UpdateLaunchTemplate",
            "ScaleGroup",
            "SwitchTraffic",
        ] {
            assert_eq!(loser.times_entered(step), 0, "a loser ran {step}");
        }
    }
    assert_eq!(
        world
            .calls_on(before, "PromoteReadReplica", &pilot.databases[0].replica_id)
            .len(),
        1,
        "exactly one promotion"
    );
    assert_eq!(
        world
            .requests_since(before)
            .0
            .iter()
            .filter(|r| r.action == "ChangeResourceRecordSets" && r.mentions(&pilot.zone.id))
            .count(),
        1,
        "exactly one traffic switch"
    );
    assert_standby_serves(&world, &pilot).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_replica_fails_notifies_releases_the_lock_and_a_rerun_after_repair_completes() {
    let _shared = PRIMARY_REGION_QUIET.read().await;
    let world = World::new("fo-missing").await;
    let pilot = world.seed_pilot_light(&["orders"], &["web"]).await;
    // The replica is gone: point the configuration at an identifier that does not exist yet.
    let replica_id = world.name("orders-dr2");
    let mut config = pilot.config.clone();
    config["databases"][0]["replicaInstanceId"] = json!(replica_id);
    world.write_config(&config).await;
    let machine = world.deploy_with("failover", &pilot.substitutions()).await;

    let run = world
        .run(&machine, &world.name("run-1"), &json!({"env": world.env}))
        .await;
    assert_eq!(run.status, "FAILED");
    assert_eq!(
        run.error.as_deref(),
        Some("ReplicaNotFound"),
        "{:?}",
        run.cause
    );
    assert!(run
        .cause
        .as_deref()
        .unwrap_or_default()
        .contains(&replica_id));
    assert!(
        world.lock_parameter().await.is_none(),
        "the lock must be released after a failure"
    );
    assert_eq!(
        world.run_state_parameter().await.unwrap()["activeRegion"],
        PRIMARY_REGION
    );
    let alerts = world
        .notifications(&pilot.topic, 1, Duration::from_secs(20))
        .await;
    let alert = alerts
        .iter()
        .find(|m| {
            m.message.contains("ReplicaNotFound")
                || m.subject
                    .as_deref()
                    .is_some_and(|s| s.contains("FAILED") || s.contains("failed"))
        })
        .unwrap_or_else(|| panic!("no failure alert: {alerts:?}"));
    assert!(alert.message.contains("ReplicaNotFound"), "{alert:?}");

    // The team restores the replica; the same failover now completes.
    world
        .create_replica(&pilot.databases[0].primary_arn, &replica_id)
        .await;
    // The team's application uses the repaired replica too once traffic moves there.
    let mut target = pilot.application_target().expect("a front door");
    target.databases[0].replica_id = replica_id.clone();
    world.start_application(target);
    let rerun = world
        .run(&machine, &world.name("run-2"), &json!({"env": world.env}))
        .await;
    assert_succeeded(&rerun);
    let replica = world
        .describe_db(STANDBY_REGION, &replica_id)
        .await
        .unwrap();
    assert_eq!(replica.read_replica_source_db_instance_identifier(), None);
    assert_eq!(
        world.run_state_parameter().await.unwrap()["activeRegion"],
        STANDBY_REGION
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ungraceful_failover_makes_no_call_into_the_primary_region() {
    let _alone = PRIMARY_REGION_QUIET.write().await;
    let (world, pilot, machine) = failover_world("fo-dark", &["orders"], &["web"]).await;
    let before = world.last_request_seq();
    let run = world
        .run(
            &machine,
            &world.name("run"),
            &json!({"env": world.env, "mode": "ungraceful"}),
        )
        .await;
    assert_succeeded(&run);
    let (requests, _) = world.requests_since(before);
    // Route 53 is global and signs in us-east-1: its calls are not the primary region's services.
    let into_primary: Vec<String> = requests
        .iter()
        .filter(|r| r.region.as_deref() == Some(PRIMARY_REGION) && r.service != "route53")
        .map(|r| format!("{} {}", r.service, r.action))
        .collect();
    assert!(
        into_primary.is_empty(),
        "calls into {PRIMARY_REGION}: {into_primary:?}"
    );
    assert!(
        requests
            .iter()
            .any(|r| r.region.as_deref() == Some(STANDBY_REGION)),
        "the request log saw nothing"
    );
    assert_standby_serves(&world, &pilot).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_failover_fences_the_primary_and_waits_for_the_replica_to_catch_up() {
    let _shared = PRIMARY_REGION_QUIET.read().await;
    let (world, pilot, machine) = failover_world("fo-plan", &["orders"], &["web"]).await;
    // RDS publishes ReplicaLag; here the test does, as the replica catches up.
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&world.config(STANDBY_REGION));
    let replica_id = pilot.databases[0].replica_id.clone();
    cloudwatch
        .put_metric_data()
        .namespace("AWS/RDS")
        .metric_data(
            aws_sdk_cloudwatch::types::MetricDatum::builder()
                .metric_name("ReplicaLag")
                .dimensions(
                    aws_sdk_cloudwatch::types::Dimension::builder()
                        .name("DBInstanceIdentifier")
                        .value(&replica_id)
                        .build(),
                )
                .value(0.0)
                .build(),
        )
        .send()
        .await
        .expect("put ReplicaLag");

    let run = world
        .run(
            &machine,
            &world.name("run"),
            &json!({"env": world.env, "mode": "graceful"}),
        )
        .await;
    assert_succeeded(&run);
    assert!(
        run.times_entered("CheckReplicaLag") >= 1,
        "graceful mode must check replica lag"
    );
    let primary_group = world
        .describe_group(
            PRIMARY_REGION,
            &pilot.groups[0].primary.auto_scaling_group_name,
        )
        .await;
    assert_eq!(
        primary_group.desired_capacity(),
        Some(0),
        "the primary group is fenced"
    );
    for function in &pilot.primary_functions {
        assert_eq!(
            world
                .mapping_state(PRIMARY_REGION, &function.mapping_uuid)
                .await,
            "Disabled"
        );
        assert_eq!(
            world
                .reserved_concurrency_of(PRIMARY_REGION, &function.function_name)
                .await,
            Some(0)
        );
        assert_eq!(
            world.rule_state(PRIMARY_REGION, &function.rule_name).await,
            "DISABLED"
        );
    }
    // Fencing happened before any promotion.
    let fence_end = run
        .spans()
        .iter()
        .filter(|s| s.state == "FencePrimary")
        .map(|s| s.exited)
        .max()
        .expect("fenced");
    let first_promotion = run
        .spans()
        .iter()
        .filter(|s| s.state == "PromoteReplica")
        .map(|s| s.entered)
        .min()
        .expect("promoted");
    assert!(fence_end <= first_promotion);
    assert_standby_serves(&world, &pilot).await;
}

/// The primary's capacity is recorded by the stack's schedule, never by hand: the primary groups
/// are scaled up and down between recordings, and the failover asks each standby group for what the
/// last recording saw (not the earlier sizes, not `capacity.minimum`). While the standby serves, a
/// recording changes nothing: the fenced primary groups say nothing about production.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failover_brings_each_standby_group_to_the_primarys_latest_recorded_capacity() {
    let _shared = PRIMARY_REGION_QUIET.read().await;
    let (world, pilot, machine) = failover_world("fo-cap", &["orders"], &["web", "api"]).await;
    let primary_group = |name: &str| {
        pilot
            .groups
            .iter()
            .find(|g| g.name == name)
            .expect("seeded group")
            .primary
            .auto_scaling_group_name
            .clone()
    };
    let record_now = || world.fire_schedule("RunStateFunction", "CapacityRecord");
    let desired_in_record =
        |answer: &Value, name: &str| answer["record"]["groups"][name]["desired"].clone();

    // Peak: both groups scaled up, recorded.
    world
        .set_group_capacity(PRIMARY_REGION, &primary_group("web"), (1, 4, 4))
        .await;
    world
        .set_group_capacity(PRIMARY_REGION, &primary_group("api"), (1, 4, 3))
        .await;
    let peak = record_now().await;
    assert_eq!(peak["status"], "done", "{peak}");
    assert_eq!(desired_in_record(&peak, "web"), 4, "{peak}");
    assert_eq!(desired_in_record(&peak, "api"), 3, "{peak}");

    // Later: scaled down, recorded again; the record follows.
    world
        .set_group_capacity(PRIMARY_REGION, &primary_group("web"), (1, 4, 3))
        .await;
    world
        .set_group_capacity(PRIMARY_REGION, &primary_group("api"), (1, 4, 2))
        .await;
    let latest = record_now().await;
    assert_eq!(desired_in_record(&latest, "web"), 3, "{latest}");
    assert_eq!(desired_in_record(&latest, "api"), 2, "{latest}");
    let unchanged = record_now().await;
    assert_eq!(
        unchanged["status"], "alreadyDone",
        "same sizes: {unchanged}"
    );

    let run = world
        .run(
            &machine,
            &world.name("run-1"),
            &json!({"env": world.env, "mode": "graceful"}),
        )
        .await;
    assert_succeeded(&run);
    for (name, wanted) in [("web", 3), ("api", 2)] {
        let standby = &pilot
            .groups
            .iter()
            .find(|g| g.name == name)
            .expect("seeded group")
            .standby
            .auto_scaling_group_name;
        let asg = world.describe_group(STANDBY_REGION, standby).await;
        assert_eq!(
            asg.desired_capacity(),
            Some(wanted),
            "{name}: the standby runs what the primary last ran"
        );
    }

    // The report says what each group was asked for, and from which recording.
    let report = run.output.clone().expect("report");
    assert_eq!(
        report["capacity"]["recordedAt"], unchanged["record"]["recordedAt"],
        "{report}"
    );
    let asked: Vec<(String, i64)> = report["capacity"]["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|g| {
            (
                g["group"].as_str().unwrap_or_default().to_string(),
                g["asked"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    assert_eq!(
        asked,
        [("api".to_string(), 2), ("web".to_string(), 3)],
        "{report}"
    );

    // The graceful failover fenced the primary groups to 0: the schedule keeps the record as it was.
    let during = record_now().await;
    assert!(
        during["skipped"]
            .as_str()
            .is_some_and(|why| why.contains(STANDBY_REGION)),
        "{during}"
    );
    assert_eq!(desired_in_record(&during, "web"), 3, "{during}");
    assert_eq!(desired_in_record(&during, "api"), 2, "{during}");
}

/// Scheduled work stands aside while a failover holds the lock (an automatic failover waiting for
/// its approval, so the test decides how long it holds it). Meanwhile the SSM sync (its
/// function invoked under its role, as a person or its schedule would), the AMI pipeline, a drill
/// and readiness are started: each reads the lock at that moment, changes nothing (the request log
/// has no write of theirs) and says why (the drill is refused before it builds anything; readiness
/// warns that the failover runs). After the failover, the sync copies the other way: standby →
/// primary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_copies_a_drill_and_readiness_stand_aside_while_a_failover_holds_the_lock() {
    let _shared = PRIMARY_REGION_QUIET.read().await;
    let (world, mut pilot, machine) = failover_world("fo-aside", &["orders"], &["web"]).await;
    let synced = format!("/{}/app/url", world.env);
    for region in [PRIMARY_REGION, STANDBY_REGION] {
        world
            .put_parameter(region, &synced, "https://orders.example.com")
            .await;
    }
    pilot.config["ssmSync"] = json!({"paths": [format!("/{}/app", world.env)]});
    // The failover is an automatic one that waits for its approval while it holds the lock: the
    // test decides how long the run holds it, whatever the machine's load.
    pilot.config["automaticFailover"] =
        json!({"approvalWindowSeconds": 600, "approvalPollSeconds": 1});
    world.write_config(&pilot.config).await;
    let pipeline = world
        .deploy_with("ami-pipeline", &pilot.substitutions())
        .await;
    let drill = world.deploy_with("drill", &pilot.substitutions()).await;
    let arn = world
        .start(
            &machine,
            &world.name("run"),
            &json!({"env": world.env, "mode": "ungraceful", "trigger": "alarm",
                    "triggerEvent": {"source": "aws.cloudwatch", "alarmName": "primary-health"}}),
        )
        .await;
    let mut held = None;
    for _ in 0..100 {
        held = world.lock_parameter().await;
        if held.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let held = held.expect("the failover took the lock");
    assert_eq!(held["executionId"], arn.as_str());
    // Someone changes the value in the (still active) primary: a sync now would copy it.
    world
        .put_parameter(
            PRIMARY_REGION,
            &synced,
            "https://orders-mid-failover.example.com",
        )
        .await;

    let since = world.last_request_seq();
    let sync = world
        .invoke_function("sync-ssm", &json!({"env": world.env}))
        .await;
    let ignored = sync["ignored"].as_str().unwrap_or_default();
    assert!(ignored.contains("holds the lock"), "{sync}");
    assert!(ignored.contains(arn.as_str()), "{sync}");
    assert_eq!(sync["created"], 0, "{sync}");
    assert_eq!(sync["updated"], 0, "{sync}");
    // Mid-failover the world is between two states: the pipeline's run is checked by what it did
    // (below), the world's invariants by the failover's end.
    let started = world
        .start(&pipeline, &world.name("ami"), &json!({"env": world.env}))
        .await;
    let images = world
        .wait_without_checks(&started, Duration::from_secs(120))
        .await;
    assert_succeeded(&images);
    let output = images.output.clone().expect("pipeline output");
    assert!(
        output["skipped"]
            .as_str()
            .unwrap_or_default()
            .contains("holds the lock"),
        "{output}"
    );
    assert_eq!(output["groups"], json!([]), "{output}");
    assert!(world.calls_on(since, "PutParameter", &synced).is_empty());
    assert_eq!(
        world
            .parameter_value(STANDBY_REGION, &synced)
            .await
            .as_deref(),
        Some("https://orders.example.com"),
        "the standby's copy is untouched"
    );

    // A drill started now is refused before it builds anything, and says which run it waits for.
    let drill_started = world
        .start(&drill, &world.name("drill"), &json!({"env": world.env}))
        .await;
    let drilled = world
        .wait_without_checks(&drill_started, Duration::from_secs(120))
        .await;
    assert_eq!(drilled.status, "FAILED", "{:?}", drilled.output);
    assert_eq!(drilled.error.as_deref(), Some("FailoverInProgress"));
    let cause = drilled.cause.clone().unwrap_or_default();
    assert!(
        cause.contains(arn.as_str()) && cause.contains("a drill waits"),
        "{cause}"
    );
    assert_eq!(drilled.times_entered("CreateDrillDatabases"), 0);
    // Readiness, asked now, says a failover runs (a warning: it holds the lock, and is running).
    let readiness = world
        .invoke_function("readiness", &json!({"env": world.env}))
        .await;
    let checks = readiness["checks"].as_array().cloned().unwrap_or_default();
    let run_lock = checks
        .iter()
        .find(|c| c["name"] == "run-lock")
        .unwrap_or_else(|| panic!("no run-lock check: {readiness}"));
    assert_eq!(run_lock["status"], "warn", "{run_lock}");
    assert!(run_lock.to_string().contains(arn.as_str()), "{run_lock}");
    // None of them changed anything of the application's.
    for action in [
        "CreateDBInstanceReadReplica",
        "RestoreDBInstanceFromDBSnapshot",
        "CreateAutoScalingGroup",
        "CreateImage",
        "CopyImage",
    ] {
        let made: Vec<_> = world
            .requests_since(since)
            .0
            .into_iter()
            .filter(|r| r.action == action)
            .collect();
        assert!(made.is_empty(), "{action}: {made:?}");
    }

    // The on-call approves: the failover goes on.
    let approved = run_cli(
        &world,
        &[
            "approve",
            arn.rsplit(':').next().unwrap(),
            "--env",
            &world.env,
        ],
        &[],
    )
    .await;
    assert_eq!(approved.code, 0, "{approved:?}");
    let run = world.wait(&arn, Duration::from_secs(240)).await;
    assert_succeeded(&run);
    assert!(world.lock_parameter().await.is_none());
    // Now the standby serves: the sync copies standby → primary.
    let after = world
        .invoke_function("sync-ssm", &json!({"env": world.env}))
        .await;
    assert_eq!(after["sourceRegion"], STANDBY_REGION, "{after}");
    assert_eq!(after["targetRegion"], PRIMARY_REGION, "{after}");
    assert_eq!(
        world
            .parameter_value(PRIMARY_REGION, &synced)
            .await
            .as_deref(),
        Some("https://orders.example.com"),
        "{after}"
    );
}
