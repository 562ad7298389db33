//! The drill, end to end on the local two-region AWS: `state-machines/drill.asl.json` on moto's Step
//! Functions engine, the real handlers in `cargo lambda watch`. Each test seeds a whole pilot light,
//! takes a snapshot of its world, runs drills, and compares the world afterwards; the emulator's
//! request log shows which calls the drill made.

use pilot_light_core::config::{config_parameter_name, state_parameter_name};
use pilot_light_core::execution_token;
use pilot_light_e2e::pilot_light::SeededPilotLight;
use pilot_light_e2e::{
    Execution, LoggedRequest, World, ACCOUNT_ID, PRIMARY_REGION, STANDBY_REGION,
};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

/// A database's status, replication source and replicas.
type DatabaseState = (String, Option<String>, Vec<String>);

/// What must be the same before and after a drill: every database, group, launch template, record,
/// drill instance and snapshot of this world, and the run state.
#[derive(Debug, Clone, PartialEq)]
struct WorldSnapshot {
    /// `(region, id)` → `(status, replication source, replicas)`.
    databases: BTreeMap<(String, String), DatabaseState>,
    /// `(region, name)` → `(min, max, desired, instances)`.
    groups: BTreeMap<(String, String), (i32, i32, i32, usize)>,
    /// `(region, name)` → `(default version, latest version)`.
    launch_templates: BTreeMap<(String, String), (i64, i64)>,
    /// `(name, type)` → values.
    records: BTreeMap<(String, String), Vec<String>>,
    /// Instances carrying the drill tag that are not terminated, by region.
    drill_instances: BTreeMap<String, Vec<String>>,
    /// DB snapshots of this world's instances, by region.
    snapshots: BTreeMap<String, Vec<String>>,
    run_state: Option<String>,
}

async fn snapshot_world(world: &World, pilot: &SeededPilotLight) -> WorldSnapshot {
    let mut databases = BTreeMap::new();
    let mut groups = BTreeMap::new();
    let mut launch_templates = BTreeMap::new();
    let mut drill_instances = BTreeMap::new();
    let mut snapshots = BTreeMap::new();
    for region in [PRIMARY_REGION, STANDBY_REGION] {
        let rds = world.rds(region);
        for instance in rds
            .describe_db_instances()
            .send()
            .await
            .expect("describe DB instances")
            .db_instances()
        {
            let id = instance.db_instance_identifier().unwrap_or_default();
            if !id.starts_with(world.env.as_str()) {
                continue;
            }
            let mut replicas = instance.read_replica_db_instance_identifiers().to_vec();
            replicas.sort();
            databases.insert(
                (region.to_string(), id.to_string()),
                (
                    instance
                        .db_instance_status()
                        .unwrap_or_default()
                        .to_string(),
                    instance
                        .read_replica_source_db_instance_identifier()
                        .map(str::to_string),
                    replicas,
                ),
            );
        }
        let mut ids: Vec<String> = rds
            .describe_db_snapshots()
            .send()
            .await
            .expect("describe DB snapshots")
            .db_snapshots()
            .iter()
            .filter(|s| {
                s.db_instance_identifier()
                    .is_some_and(|i| i.starts_with(world.env.as_str()))
            })
            .filter_map(|s| s.db_snapshot_identifier().map(str::to_string))
            .collect();
        ids.sort();
        snapshots.insert(region.to_string(), ids);

        for group in world
            .autoscaling(region)
            .describe_auto_scaling_groups()
            .send()
            .await
            .expect("describe groups")
            .auto_scaling_groups()
        {
            let name = group.auto_scaling_group_name().unwrap_or_default();
            if !name.starts_with(world.env.as_str()) {
                continue;
            }
            groups.insert(
                (region.to_string(), name.to_string()),
                (
                    group.min_size().unwrap_or_default(),
                    group.max_size().unwrap_or_default(),
                    group.desired_capacity().unwrap_or_default(),
                    group.instances().len(),
                ),
            );
        }
        let mut running: Vec<String> = world
            .ec2(region)
            .describe_instances()
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name("tag:pilot-light:env")
                    .values(&world.env)
                    .build(),
            )
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name("tag-key")
                    .values("pilot-light:drill")
                    .build(),
            )
            .send()
            .await
            .expect("describe instances")
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .filter(|i| i.state().and_then(|s| s.name()).map(|n| n.as_str()) != Some("terminated"))
            .filter_map(|i| i.instance_id().map(str::to_string))
            .collect();
        running.sort();
        drill_instances.insert(region.to_string(), running);
    }
    for group in &pilot.groups {
        for side in [&group.primary, &group.standby] {
            let template = world
                .describe_launch_template(&side.region, &side.launch_template_name)
                .await;
            launch_templates.insert(
                (side.region.clone(), side.launch_template_name.clone()),
                (
                    template.default_version_number().unwrap_or_default(),
                    template.latest_version_number().unwrap_or_default(),
                ),
            );
        }
    }
    let records = world
        .record_sets(&pilot.zone)
        .await
        .iter()
        .map(|r| {
            (
                (r.name().to_string(), r.r#type().as_str().to_string()),
                r.resource_records()
                    .iter()
                    .map(|v| v.value().to_string())
                    .collect(),
            )
        })
        .collect();
    WorldSnapshot {
        databases,
        groups,
        launch_templates,
        records,
        drill_instances,
        snapshots,
        run_state: world
            .parameter_value(STANDBY_REGION, &state_parameter_name(&world.env))
            .await,
    }
}

/// A seeded pilot light, the drill deployed, and polls and durations short enough for a test.
async fn drill_world(label: &str) -> (World, SeededPilotLight, String) {
    let world = World::new(label).await;
    let pilot = world.seed_pilot_light(&["orders"], &["web"]).await;
    let machine = world.deploy_with("drill", &pilot.substitutions()).await;
    // The drill runs the readiness check, which keeps its result in a parameter of this env.
    let readiness_parameter = format!("/pilot-light/{}/readiness", world.env);
    world.defer_cleanup(Box::new(move |config| {
        Box::pin(async move {
            let _ = aws_sdk_ssm::Client::new(&config)
                .delete_parameter()
                .name(readiness_parameter)
                .send()
                .await;
        })
    }));
    (world, pilot, machine)
}

fn set_durations(world: &World, seconds: f64) {
    for operation in [
        "rds.create_db_instance_read_replica",
        "rds.restore_db_instance_from_db_snapshot",
        "rds.promote_read_replica",
        "autoscaling.launch_instance",
    ] {
        world.set_duration(operation, seconds);
    }
}

fn execution_arn(world: &World, name: &str) -> String {
    format!(
        "arn:aws:states:{STANDBY_REGION}:{ACCOUNT_ID}:execution:{}:{name}",
        world.name("drill")
    )
}

fn drill_database_id(pilot: &SeededPilotLight, execution: &str) -> String {
    format!(
        "{}-drill-{}",
        pilot.databases[0].replica_id,
        execution_token(execution)
    )
}

fn drill_group_name(pilot: &SeededPilotLight, execution: &str) -> String {
    format!(
        "{}-drill-{}",
        pilot.groups[0].standby.auto_scaling_group_name,
        execution_token(execution)
    )
}

const READ_PREFIXES: &[&str] = &["Describe", "List", "Get"];

/// Mutating calls (anything but Describe/List/Get) since `since` that name one of `names` as a
/// parameter. Not counted: tag values (the drill's own `pilot-light:drill-of` tag names the live
/// resource it stands in for) and the launch template a drill group is made from (the seeded
/// template has the standby group's name; it is read, never changed).
fn mutating_calls_on(world: &World, since: u64, names: &[String]) -> Vec<LoggedRequest> {
    world
        .requests_since(since)
        .0
        .into_iter()
        .filter(|r| !r.action.is_empty() && !READ_PREFIXES.iter().any(|p| r.action.starts_with(p)))
        .filter(|r| {
            r.params.iter().any(|(key, value)| {
                !key.starts_with("Tags")
                    && !key.starts_with("LaunchTemplate.")
                    && value.as_str().is_some_and(|v| {
                        names.iter().any(|n| {
                            v == n
                                || v.ends_with(&format!(":{n}"))
                                || v.ends_with(&format!("/{n}"))
                                || v.contains(&format!("\"{n}\""))
                        })
                    })
            })
        })
        .collect()
}

/// The live resources a drill must never change: replicas, standby groups, records, state.
fn live_names(world: &World, pilot: &SeededPilotLight) -> Vec<String> {
    let mut names: Vec<String> = pilot
        .databases
        .iter()
        .map(|d| d.replica_id.clone())
        .collect();
    names.extend(
        pilot
            .groups
            .iter()
            .map(|g| g.standby.auto_scaling_group_name.clone()),
    );
    names.extend(pilot.records.iter().map(|(name, _, _)| name.clone()));
    names.push(pilot.zone.id.clone());
    names.push(state_parameter_name(&world.env));
    names.push(config_parameter_name(&world.env));
    names
}

fn calls(world: &World, since: u64, action: &str, id: &str) -> usize {
    world
        .requests_since(since)
        .0
        .iter()
        .filter(|r| r.action == action && r.params.values().any(|v| v.as_str() == Some(id)))
        .count()
}

fn assert_succeeded(run: &Execution) {
    assert_eq!(
        run.status, "SUCCEEDED",
        "error {:?}: {:?}",
        run.error, run.cause
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_drill_leaves_the_world_as_it_was_and_reports_every_phase() {
    let (world, pilot, machine) = drill_world("drill").await;
    set_durations(&world, 1.5);
    let before = snapshot_world(&world, &pilot).await;
    let since = world.last_request_seq();

    let name = "monthly";
    let run = world.run(&machine, name, &json!({"env": world.env})).await;
    assert_succeeded(&run);
    let execution = execution_arn(&world, name);
    let drill_db = drill_database_id(&pilot, &execution);
    let drill_group = drill_group_name(&pilot, &execution);

    // It really built, promoted, launched and removed its own resources.
    assert_eq!(
        calls(&world, since, "CreateDBInstanceReadReplica", &drill_db),
        1
    );
    assert_eq!(calls(&world, since, "PromoteReadReplica", &drill_db), 1);
    assert_eq!(calls(&world, since, "DeleteDBInstance", &drill_db), 1);
    assert_eq!(
        calls(&world, since, "CreateAutoScalingGroup", &drill_group),
        1
    );
    assert_eq!(
        calls(&world, since, "DeleteAutoScalingGroup", &drill_group),
        1
    );

    // ... and left the world exactly as it was.
    let after = snapshot_world(&world, &pilot).await;
    assert_eq!(after, before);
    let touched = mutating_calls_on(&world, since, &live_names(&world, &pilot));
    assert!(
        touched.is_empty(),
        "mutating calls on live resources: {touched:#?}"
    );

    // The report: the timeline, every phase with its duration, the drill RTO against the target.
    let report = run.output.expect("the report is the output");
    assert_eq!(report["kind"], "drill");
    assert_eq!(report["outcome"], "succeeded");
    assert!(report["rtoSeconds"].as_f64().unwrap() > 0.0);
    let states: Vec<&str> = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["state"].as_str())
        .collect();
    for state in [
        "Plan",
        "CreateDrillDatabase",
        "CheckDrillPromotion",
        "CheckDrillGroup",
        "Teardown",
    ] {
        assert!(states.contains(&state), "{state} missing from {states:?}");
    }
    let drill = &report["drill"];
    let phases: BTreeMap<&str, f64> = drill["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["phase"].as_str().unwrap(),
                p["durationSeconds"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        phases.keys().copied().collect::<Vec<_>>(),
        vec!["createDatabase", "launchGroup", "promoteDatabase"]
    );
    // Each phase took at least the emulator's duration of its operation.
    for (phase, seconds) in &phases {
        assert!(*seconds >= 1.0, "{phase}: {seconds} s");
    }
    let rto = drill["drillRtoSeconds"].as_f64().unwrap();
    assert_eq!(rto, phases["promoteDatabase"].max(phases["launchGroup"]));
    assert_eq!(drill["rtoTargetSeconds"], 3600);
    assert_eq!(drill["meetsTarget"], true);
    assert!(
        drill["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["name"] == "replica:orders"),
        "readiness findings: {drill}"
    );
    assert!(drill["readiness"].is_string());

    // Published to the topic as well.
    let notes = world
        .notifications(&pilot.topic, 1, Duration::from_secs(20))
        .await;
    let published = notes
        .iter()
        .find(|n| n.attributes.get("pilot-light.kind").map(String::as_str) == Some("drill"))
        .expect("the drill report on the topic");
    assert_eq!(
        published.document().unwrap()["drill"]["drillRtoSeconds"].as_f64(),
        Some(rto)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_drill_that_fails_at_the_group_step_still_tears_down_what_it_made() {
    let (world, pilot, machine) = drill_world("drillfail").await;
    set_durations(&world, 2.0);
    // Inject the failure: the standby launch template the drill group is made from does not exist.
    let mut config = pilot.config.clone();
    config["computeGroups"][0]["standby"]["launchTemplateName"] = json!(world.name("missing"));
    world.write_config(&config).await;
    let before = snapshot_world(&world, &pilot).await;
    let since = world.last_request_seq();

    let name = "group-fails";
    let run = world.run(&machine, name, &json!({"env": world.env})).await;
    assert_eq!(run.status, "FAILED", "{:?}", run.output);
    assert_eq!(
        run.error.as_deref(),
        Some("ResourceNotFound"),
        "{:?}",
        run.cause
    );
    let execution = execution_arn(&world, name);
    let drill_db = drill_database_id(&pilot, &execution);

    // The drill database had been asked for (and was still being created) when the group failed:
    // the teardown waited for it and deleted it.
    assert_eq!(
        calls(&world, since, "CreateDBInstanceReadReplica", &drill_db),
        1
    );
    assert_eq!(calls(&world, since, "DeleteDBInstance", &drill_db), 1);
    assert_eq!(calls(&world, since, "PromoteReadReplica", &drill_db), 0);
    assert!(run.times_entered("Teardown") >= 2, "teardown polled");
    assert!(world.describe_db(STANDBY_REGION, &drill_db).await.is_none());
    assert_eq!(snapshot_world(&world, &pilot).await, before);
    let touched = mutating_calls_on(&world, since, &live_names(&world, &pilot));
    assert!(touched.is_empty(), "{touched:#?}");
    // The on-call heard about it.
    let notes = world
        .notifications(&pilot.topic, 1, Duration::from_secs(20))
        .await;
    assert!(
        notes.iter().any(|n| n
            .subject
            .as_deref()
            .is_some_and(|s| s.contains("drill FAILED: ResourceNotFound"))),
        "{notes:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn leftovers_of_a_crashed_drill_are_removed_by_the_next_drill() {
    let (world, pilot, machine) = drill_world("drillcrash").await;
    set_durations(&world, 3.0);
    let before = snapshot_world(&world, &pilot).await;

    // The first drill stops half way (its execution is aborted after it built its resources).
    let crashed = "crashed";
    let crashed_arn = world
        .start(&machine, crashed, &json!({"env": world.env}))
        .await;
    let leftover_db = drill_database_id(&pilot, &crashed_arn);
    let leftover_group = drill_group_name(&pilot, &crashed_arn);
    let mut built = false;
    for _ in 0..100 {
        let group_exists = !world
            .autoscaling(STANDBY_REGION)
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(&leftover_group)
            .send()
            .await
            .expect("describe")
            .auto_scaling_groups()
            .is_empty();
        if group_exists
            && world
                .describe_db(STANDBY_REGION, &leftover_db)
                .await
                .is_some()
        {
            built = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(built, "the first drill never built its resources");
    // A stopped run is ABORTED at once and winds down once the task in flight returns; on a loaded
    // machine the emulator may also drop a `StopExecution`, so the stop is asked again.
    let status = world
        .stop_and_wait(&crashed_arn, Duration::from_secs(240))
        .await;
    assert_eq!(
        status, "ABORTED",
        "the first drill is {status} after 240 s of asking it to stop"
    );
    let stopped = world.wait(&crashed_arn, Duration::from_secs(60)).await;
    assert_eq!(
        stopped.times_entered("Teardown"),
        0,
        "it crashed before its teardown"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        world
            .describe_db(STANDBY_REGION, &leftover_db)
            .await
            .is_some(),
        "a leftover database to find"
    );

    // The next drill finds and removes them, and cleans up after itself.
    let since = world.last_request_seq();
    let run = world
        .run(&machine, "next", &json!({"env": world.env}))
        .await;
    assert_succeeded(&run);
    assert_eq!(calls(&world, since, "DeleteDBInstance", &leftover_db), 1);
    assert_eq!(
        calls(&world, since, "DeleteAutoScalingGroup", &leftover_group),
        1
    );
    assert!(world
        .describe_db(STANDBY_REGION, &leftover_db)
        .await
        .is_none());
    assert_eq!(snapshot_world(&world, &pilot).await, before);
    let touched = mutating_calls_on(&world, since, &live_names(&world, &pilot));
    assert!(touched.is_empty(), "{touched:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_snapshot_drill_restores_the_replicas_newest_snapshot_and_removes_it_again() {
    let (world, pilot, machine) = drill_world("drillsnap").await;
    set_durations(&world, 1.0);
    let replica = &pilot.databases[0].replica_id;
    let snapshot_id = world.name("orders-dr-nightly");
    world
        .rds(STANDBY_REGION)
        .create_db_snapshot()
        .db_instance_identifier(replica)
        .db_snapshot_identifier(&snapshot_id)
        .send()
        .await
        .expect("a snapshot of the replica");
    let cleanup_id = snapshot_id.clone();
    world.defer_cleanup(Box::new(move |config| {
        Box::pin(async move {
            let config = config
                .to_builder()
                .region(aws_config::Region::new(STANDBY_REGION))
                .build();
            let _ = aws_sdk_rds::Client::new(&config)
                .delete_db_snapshot()
                .db_snapshot_identifier(cleanup_id)
                .send()
                .await;
        })
    }));
    let mut config = pilot.config.clone();
    config["drill"] = json!({"databaseSource": "snapshot", "rtoTargetSeconds": 1});
    world.write_config(&config).await;
    let before = snapshot_world(&world, &pilot).await;
    let since = world.last_request_seq();

    let run = world
        .run(&machine, "from-snapshot", &json!({"env": world.env}))
        .await;
    assert_succeeded(&run);
    let execution = execution_arn(&world, "from-snapshot");
    let drill_db = drill_database_id(&pilot, &execution);
    assert_eq!(
        calls(&world, since, "RestoreDBInstanceFromDBSnapshot", &drill_db),
        1
    );
    assert_eq!(
        calls(&world, since, "CreateDBInstanceReadReplica", &drill_db),
        0
    );
    assert_eq!(calls(&world, since, "PromoteReadReplica", &drill_db), 0);
    assert_eq!(snapshot_world(&world, &pilot).await, before);
    let drill = &run.output.expect("report")["drill"];
    let phases: Vec<&str> = drill["phases"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["phase"].as_str())
        .collect();
    assert_eq!(phases, vec!["restoreDatabase", "launchGroup"]);
    // A one-second target is missed, and the report says so.
    assert_eq!(drill["meetsTarget"], false);
}
