//! Failback, end to end on the local two-region AWS: `state-machines/failback.asl.json` (and
//! `failover.asl.json` before it) on moto's Step Functions engine, every handler in `cargo lambda
//! watch`. Each test seeds a whole pilot light, fails over, fails back, and asserts the world with
//! describe calls: the primary serves under its original identifier with its original settings, the
//! standby is a replica again, nothing was deleted without a final snapshot, and a surviving old
//! primary was renamed, not deleted.

use pilot_light_e2e::pilot_light::SeededPilotLight;
use pilot_light_e2e::{Execution, World, PRIMARY_REGION, STANDBY_REGION};
use serde_json::{json, Value};
use std::time::{Duration, SystemTime};

/// The settings the primary is given before the disaster; failback must restore them.
const PRIMARY_CLASS: &str = "db.m5.large";

struct FailbackWorld {
    world: World,
    pilot: SeededPilotLight,
    failover: String,
    failback: String,
    parameter_group: String,
}

/// A pilot light whose primary database has a production shape (class, Multi-AZ, a parameter
/// group), and both state machines deployed.
async fn failback_world(label: &str) -> FailbackWorld {
    let world = World::new(label).await;
    let pilot = world.seed_pilot_light(&["orders"], &["web"]).await;
    let parameter_group = world.name("mysql");
    let rds = world.rds(PRIMARY_REGION);
    rds.create_db_parameter_group()
        .db_parameter_group_name(&parameter_group)
        .db_parameter_group_family("mysql8.0")
        .description("orders production settings")
        .send()
        .await
        .expect("create parameter group");
    rds.modify_db_instance()
        .db_instance_identifier(&pilot.databases[0].primary_id)
        .db_instance_class(PRIMARY_CLASS)
        .multi_az(true)
        .db_parameter_group_name(&parameter_group)
        .apply_immediately(true)
        .send()
        .await
        .expect("give the primary its production shape");
    let failover = world.deploy_with("failover", &pilot.substitutions()).await;
    let failback = world.deploy_with("failback", &pilot.substitutions()).await;
    FailbackWorld {
        world,
        pilot,
        failover,
        failback,
        parameter_group,
    }
}

fn assert_succeeded(run: &Execution) {
    assert_eq!(
        run.status, "SUCCEEDED",
        "error {:?}: {:?}",
        run.error, run.cause
    );
}

/// A graceful (planned) failover; the primary's groups end at 0, the standby serves.
async fn fail_over(fw: &FailbackWorld, name: &str) {
    let db = &fw.pilot.databases[0];
    fw.world
        .replica_caught_up(STANDBY_REGION, &db.replica_id)
        .await;
    let run = fw
        .world
        .run(
            &fw.failover,
            &fw.world.name(name),
            &json!({"env": fw.world.env, "mode": "graceful"}),
        )
        .await;
    assert_succeeded(&run);
    let state = fw.world.run_state_parameter().await.expect("run state");
    assert_eq!(state["activeRegion"], STANDBY_REGION, "{state}");
}

async fn fail_back(fw: &FailbackWorld, name: &str, strategy: &str) -> Execution {
    if strategy == "replica" {
        // The reverse replica will be created under the primary's identifier in the primary region.
        fw.world
            .replica_caught_up(PRIMARY_REGION, &fw.pilot.databases[0].primary_id)
            .await;
    }
    fw.world
        .run(
            &fw.failback,
            &fw.world.name(name),
            &json!({"env": fw.world.env, "strategy": strategy}),
        )
        .await
}

fn tag<'a>(instance: &'a aws_sdk_rds::types::DbInstance, key: &str) -> Option<&'a str> {
    instance
        .tag_list()
        .iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
}

/// The original topology: the primary serves under its identifier with its production shape, the DR
/// replica under its identifier replicates from it, primary groups at the recorded capacity and
/// standby groups at 0, consumers and records back on the primary, the run state says primary.
async fn assert_original_topology(fw: &FailbackWorld) {
    let world = &fw.world;
    let db = &fw.pilot.databases[0];
    let primary = world
        .describe_db(PRIMARY_REGION, &db.primary_id)
        .await
        .expect("the primary exists under its original identifier");
    assert_eq!(primary.db_instance_status(), Some("available"));
    assert_eq!(
        primary.read_replica_source_db_instance_identifier(),
        None,
        "the primary is writable"
    );
    assert_eq!(primary.db_instance_class(), Some(PRIMARY_CLASS));
    assert_eq!(primary.multi_az(), Some(true));
    let groups: Vec<&str> = primary
        .db_parameter_groups()
        .iter()
        .filter_map(|g| g.db_parameter_group_name())
        .collect();
    assert_eq!(groups, vec![fw.parameter_group.as_str()]);
    assert!(
        primary
            .db_instance_arn()
            .is_some_and(|a| a.contains(PRIMARY_REGION)),
        "{:?}",
        primary.db_instance_arn()
    );

    let replica = world
        .describe_db(STANDBY_REGION, &db.replica_id)
        .await
        .expect("the DR replica exists under its original identifier");
    assert_eq!(replica.db_instance_status(), Some("available"));
    assert_eq!(
        replica.read_replica_source_db_instance_identifier(),
        primary.db_instance_arn(),
        "the DR replica replicates from the restored primary"
    );
    assert_eq!(
        replica.db_instance_class(),
        Some("db.t3.micro"),
        "the pilot light stays small"
    );

    for group in &fw.pilot.groups {
        let primary_group = world
            .describe_group(PRIMARY_REGION, &group.primary.auto_scaling_group_name)
            .await;
        let recorded = fw.pilot.recorded_capacity[&group.name] as i32;
        assert_eq!(
            primary_group.desired_capacity(),
            Some(recorded),
            "{}",
            group.name
        );
        let in_service = primary_group
            .instances()
            .iter()
            .filter(|i| i.lifecycle_state().map(|s| s.as_str()) == Some("InService"))
            .count();
        assert_eq!(in_service, recorded as usize, "{}", group.name);
        assert_eq!(
            primary_group.min_size(),
            Some(1),
            "{}: the min the fence took is back",
            group.name
        );
        assert!(
            !primary_group
                .tags()
                .iter()
                .any(|t| t.key() == Some("pilot-light:fenced-min-size")),
            "{}: the fence tag is gone",
            group.name
        );
        let standby_group = world
            .describe_group(STANDBY_REGION, &group.standby.auto_scaling_group_name)
            .await;
        assert_eq!(standby_group.desired_capacity(), Some(0), "{}", group.name);
        assert_eq!(standby_group.min_size(), Some(0), "{}", group.name);
    }
    for function in &fw.pilot.standby_functions {
        assert_eq!(
            world
                .mapping_state(STANDBY_REGION, &function.mapping_uuid)
                .await,
            "Disabled"
        );
        assert_eq!(
            world.rule_state(STANDBY_REGION, &function.rule_name).await,
            "DISABLED"
        );
    }
    for function in &fw.pilot.primary_functions {
        assert_eq!(
            world
                .mapping_state(PRIMARY_REGION, &function.mapping_uuid)
                .await,
            "Enabled"
        );
        assert_eq!(
            world.rule_state(PRIMARY_REGION, &function.rule_name).await,
            "ENABLED"
        );
    }
    for (name, primary_value, _) in &fw.pilot.records {
        let record = world
            .record_set(
                &fw.pilot.zone,
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
        assert_eq!(values, vec![primary_value.as_str()], "{name}");
    }
    let state = world.run_state_parameter().await.expect("run state");
    assert_eq!(state["activeRegion"], PRIMARY_REGION, "{state}");
    assert!(state.get("reprotectPending").is_none(), "{state}");
    assert!(
        world.lock_parameter().await.is_none(),
        "the lock is released"
    );
}

/// Every DB instance of this world in a region, by identifier.
async fn instances(world: &World, region: &str) -> Vec<aws_sdk_rds::types::DbInstance> {
    world
        .rds(region)
        .describe_db_instances()
        .send()
        .await
        .expect("describe instances")
        .db_instances()
        .iter()
        .filter(|i| {
            i.db_instance_identifier()
                .is_some_and(|id| id.starts_with(world.env.as_str()))
        })
        .cloned()
        .collect()
}

async fn snapshot_ids(world: &World, region: &str) -> Vec<String> {
    world
        .rds(region)
        .describe_db_snapshots()
        .snapshot_type("manual")
        .send()
        .await
        .expect("describe snapshots")
        .db_snapshots()
        .iter()
        .filter_map(|s| s.db_snapshot_identifier())
        .filter(|id| id.starts_with(world.env.as_str()))
        .map(str::to_string)
        .collect()
}

/// The safety rail, on the emulator's request log: every `DeleteDBInstance` on this world's
/// instances since `since` named a final snapshot and did not skip it. Returns how many there were.
fn assert_every_delete_kept_a_final_snapshot(world: &World, since: u64) -> usize {
    let (requests, _) = world.requests_since(since);
    let deletes: Vec<_> = requests
        .iter()
        .filter(|r| r.action == "DeleteDBInstance" && r.mentions(&world.env))
        .collect();
    for delete in &deletes {
        let final_snapshot = delete
            .params
            .get("FinalDBSnapshotIdentifier")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let skipped = delete
            .params
            .get("SkipFinalSnapshot")
            .and_then(Value::as_str)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        assert!(
            !final_snapshot.is_empty() && !skipped,
            "a DB instance was deleted without a final snapshot: {:?}",
            delete.params
        );
    }
    deletes.len()
}

/// How long writes were fenced: from entering `fence` to leaving `until` (the database step that
/// makes the primary writable).
fn fenced_window(run: &Execution, fence: &str, until: &str) -> Duration {
    let spans = run.spans();
    let start = spans
        .iter()
        .find(|s| s.state == fence)
        .unwrap_or_else(|| panic!("no {fence} span"))
        .entered;
    let end: SystemTime = spans
        .iter()
        .filter(|s| s.state == until)
        .map(|s| s.exited)
        .max()
        .unwrap_or_else(|| panic!("no {until} span"));
    end.duration_since(start).expect("ordered")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_full_cycles_by_snapshot_then_by_replica_end_in_the_original_topology_with_nothing_lost(
) {
    let fw = failback_world("fb-cycle").await;
    let world = &fw.world;
    let db = fw.pilot.databases[0].clone();
    let since = world.last_request_seq();
    // The same durations for both strategies: each long RDS operation takes 2 s.
    for operation in [
        "rds.create_db_snapshot",
        "rds.copy_db_snapshot",
        "rds.restore_db_instance_from_db_snapshot",
        "rds.promote_read_replica",
        "rds.create_db_instance_read_replica",
        "rds.delete_db_instance",
    ] {
        world.set_duration(operation, 2.0);
    }
    // The AMI pipeline copied a newer image back to the primary while the standby served.
    let group = &fw.pilot.groups[0];

    // ---- cycle 1: failover, failback by snapshot
    fail_over(&fw, "fo-1").await;
    let newer_primary_image = world
        .create_group_image(group, PRIMARY_REGION, "copied-back-1")
        .await;
    let by_snapshot = fail_back(&fw, "fb-1", "snapshot").await;
    assert_succeeded(&by_snapshot);
    assert_original_topology(&fw).await;
    let template = world
        .launch_template_version(
            PRIMARY_REGION,
            &group.primary.launch_template_id,
            "$Default",
        )
        .await;
    assert_eq!(
        template.launch_template_data().and_then(|d| d.image_id()),
        Some(newer_primary_image.as_str()),
        "the primary launch template uses the newest image in the primary region"
    );

    // Nothing lost: the surviving old primary was renamed and kept; the promoted standby was
    // deleted only with a final snapshot.
    let primary_side = instances(world, PRIMARY_REGION).await;
    let renamed: Vec<&aws_sdk_rds::types::DbInstance> = primary_side
        .iter()
        .filter(|i| tag(i, "pilot-light:renamed-from") == Some(db.primary_id.as_str()))
        .collect();
    assert_eq!(
        renamed.len(),
        1,
        "the old primary, renamed: {primary_side:?}"
    );
    assert!(renamed[0]
        .db_instance_identifier()
        .is_some_and(|id| id.starts_with(&format!("{}-old-", db.primary_id))));
    let standby_side = instances(world, STANDBY_REGION).await;
    assert_eq!(
        standby_side.len(),
        1,
        "only the new DR replica is left in the standby: {standby_side:?}"
    );
    let standby_snapshots = snapshot_ids(world, STANDBY_REGION).await;
    let finals: Vec<&String> = standby_snapshots
        .iter()
        .filter(|id| id.starts_with(&format!("{}-old-", db.replica_id)) && id.contains("-final-"))
        .collect();
    assert_eq!(
        finals.len(),
        1,
        "a final snapshot of the retired standby: {standby_snapshots:?}"
    );
    let report = by_snapshot.output.clone().expect("report");
    assert_eq!(report["kind"], "failback");
    assert_eq!(report["outcome"], "succeeded");
    assert!(
        report["rtoSeconds"].as_f64().is_some_and(|r| r > 0.0),
        "{report}"
    );
    // The old primary it renamed and kept is in the report (found by its tags), with since when
    // its writes never reached the standby (fo-1's promotion request), and `pilot-light status`
    // warns about it until someone reconciles and retires it.
    let kept_id = renamed[0].db_instance_identifier().unwrap();
    let kept = report["keptOldPrimaries"]
        .as_array()
        .unwrap_or_else(|| panic!("the report lists keptOldPrimaries: {report}"));
    assert_eq!(kept.len(), 1, "{report}");
    assert_eq!(kept[0]["instanceId"], kept_id, "{report}");
    assert_eq!(kept[0]["database"], db.name.as_str());
    assert_eq!(kept[0]["renamedFrom"], db.primary_id.as_str());
    assert_eq!(kept[0]["region"], PRIMARY_REGION);
    for field in ["keptSince", "unreplicatedWritesSince"] {
        assert!(kept[0][field].is_string(), "{field}: {}", kept[0]);
    }
    assert!(
        kept[0]["mayHoldUnreplicatedWrites"].is_boolean(),
        "{}",
        kept[0]
    );
    assert!(
        kept[0]["reconcile"]
            .as_str()
            .is_some_and(|r| r.contains("--final-db-snapshot-identifier")),
        "{}",
        kept[0]
    );
    let status = pilot_light_domain::readiness::run_checks(
        &pilot_light_domain::readiness::Clients::from_config(world.config(STANDBY_REGION)),
        &world.env,
        STANDBY_REGION,
    )
    .await
    .expect("readiness checks");
    let warning = status
        .checks
        .iter()
        .find(|c| c.name == format!("kept-old-primary:{kept_id}"))
        .unwrap_or_else(|| panic!("status names the kept old primary: {:#?}", status.checks));
    assert_eq!(
        warning.status,
        pilot_light_domain::readiness::CheckStatus::Warn,
        "{warning:?}"
    );
    let snapshot_window = fenced_window(&by_snapshot, "FenceStandbyForSnapshot", "RestorePrimary");

    // ---- cycle 2: failover again (the re-created replica is promoted), failback by replica
    fail_over(&fw, "fo-2").await;
    let by_replica = fail_back(&fw, "fb-2", "replica").await;
    assert_succeeded(&by_replica);
    assert_original_topology(&fw).await;
    assert!(
        by_replica.times_entered("TakeFinalSnapshot") == 0,
        "the replica strategy takes no snapshot to copy"
    );
    let renamed_primaries = instances(world, PRIMARY_REGION)
        .await
        .into_iter()
        .filter(|i| tag(i, "pilot-light:renamed-from") == Some(db.primary_id.as_str()))
        .count();
    assert_eq!(
        renamed_primaries, 2,
        "both earlier primaries are kept, renamed"
    );
    let report = by_replica.output.clone().expect("report");
    assert_eq!(
        report["keptOldPrimaries"].as_array().map(Vec::len),
        Some(2),
        "a re-run of the search finds the earlier failback's kept primary too: {report}"
    );
    assert_eq!(instances(world, STANDBY_REGION).await.len(), 1);
    let finals = snapshot_ids(world, STANDBY_REGION)
        .await
        .into_iter()
        .filter(|id| id.contains("-final-"))
        .count();
    assert_eq!(finals, 2, "one final snapshot per retired standby");

    // With the same durations, the replica strategy fences writes for less time.
    let replica_window = fenced_window(
        &by_replica,
        "FenceStandbyForReplica",
        "CheckReversePromotion",
    );
    assert!(
        replica_window < snapshot_window,
        "replica strategy fenced {replica_window:?}, snapshot strategy {snapshot_window:?}"
    );
    eprintln!("write-fenced window: snapshot {snapshot_window:?}, replica {replica_window:?}");
    assert_eq!(
        assert_every_delete_kept_a_final_snapshot(world, since),
        2,
        "each failback retired one standby"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failback_while_the_primary_is_active_is_already_active_and_changes_nothing() {
    let fw = failback_world("fb-noop").await;
    let world = &fw.world;
    let before_state = world.run_state_parameter().await;
    let since = world.last_request_seq();
    let run = fail_back(&fw, "fb", "snapshot").await;
    assert_succeeded(&run);
    let output = run.output.clone().expect("output");
    assert_eq!(output["outcome"], "alreadyActive", "{output}");
    let (requests, _) = world.requests_since(since);
    // The request log is shared by the tests of this binary: look at this world's resources only.
    // The state machine's own Lambda invokes are how it runs, not changes.
    let mutating: Vec<String> = requests
        .iter()
        .filter(|r| r.mentions(&world.env))
        .filter(|r| {
            !["Describe", "Get", "List", "Invoke", "StartExecution"]
                .iter()
                .any(|p| r.action.starts_with(p))
        })
        .map(|r| format!("{} {}", r.service, r.action))
        .collect();
    assert!(mutating.is_empty(), "changes: {mutating:?}");
    assert_eq!(world.run_state_parameter().await, before_state);
    assert!(world.lock_parameter().await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failback_that_fails_midway_leaves_the_standby_serving_and_a_rerun_finishes_it() {
    let fw = failback_world("fb-resume").await;
    let world = &fw.world;
    fail_over(&fw, "fo").await;

    // The copy to the primary region takes longer than the configured bound allows.
    world.set_duration("rds.copy_db_snapshot", 30.0);
    let mut config: Value = fw.pilot.config.clone();
    config["poll"]["snapshot"] = json!({"intervalSeconds": 1, "maxAttempts": 2});
    world.write_config(&config).await;
    let failed = fail_back(&fw, "fb-1", "snapshot").await;
    assert_eq!(failed.status, "FAILED");
    assert_eq!(
        failed.error.as_deref(),
        Some("CopyTimedOut"),
        "{:?}",
        failed.cause
    );
    assert!(failed.times_entered("UnfenceStandby") == 1);

    // The standby still serves: its groups are back up, its consumers on, traffic and state unchanged.
    for group in &fw.pilot.groups {
        let standby = world
            .describe_group(STANDBY_REGION, &group.standby.auto_scaling_group_name)
            .await;
        assert_eq!(
            standby.desired_capacity(),
            Some(fw.pilot.recorded_capacity[&group.name] as i32),
            "{}",
            group.name
        );
    }
    for function in &fw.pilot.standby_functions {
        assert_eq!(
            world
                .mapping_state(STANDBY_REGION, &function.mapping_uuid)
                .await,
            "Enabled"
        );
    }
    for (name, _, standby_value) in &fw.pilot.records {
        let record = world
            .record_set(
                &fw.pilot.zone,
                name,
                aws_sdk_route53::types::RrType::Cname,
                None,
            )
            .await
            .expect("record");
        assert_eq!(record.resource_records()[0].value(), standby_value.as_str());
    }
    let db = &fw.pilot.databases[0];
    let standby_db = world
        .describe_db(STANDBY_REGION, &db.replica_id)
        .await
        .expect("the serving standby database is untouched");
    assert_eq!(standby_db.db_instance_status(), Some("available"));
    assert_eq!(
        standby_db.read_replica_source_db_instance_identifier(),
        None
    );
    let state = world.run_state_parameter().await.expect("state");
    assert_eq!(state["activeRegion"], STANDBY_REGION);
    assert!(
        world.lock_parameter().await.is_none(),
        "the lock is released"
    );

    // A re-run with a workable bound finishes the job.
    world.set_duration("rds.copy_db_snapshot", 1.0);
    config["poll"]["snapshot"] = json!({"intervalSeconds": 1, "maxAttempts": 60});
    world.write_config(&config).await;
    let rerun = fail_back(&fw, "fb-2", "snapshot").await;
    assert_succeeded(&rerun);
    assert_original_topology(&fw).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_primary_lost_with_its_region_is_restored_with_the_settings_recorded_at_failover() {
    let fw = failback_world("fb-lost").await;
    let world = &fw.world;
    let db = &fw.pilot.databases[0];
    fail_over(&fw, "fo").await;
    let state = world.run_state_parameter().await.expect("state");
    assert_eq!(
        state["databaseShapes"][&db.name]["instanceClass"], PRIMARY_CLASS,
        "a graceful failover records the primary's settings: {state}"
    );

    // The disaster took the old primary with it.
    world
        .rds(PRIMARY_REGION)
        .delete_db_instance()
        .db_instance_identifier(&db.primary_id)
        .skip_final_snapshot(true)
        .send()
        .await
        .expect("the region loses the old primary");

    let since = world.last_request_seq();
    let run = fail_back(&fw, "fb", "snapshot").await;
    assert_succeeded(&run);
    assert_original_topology(&fw).await;
    assert_eq!(assert_every_delete_kept_a_final_snapshot(world, since), 1);
    let restore = run
        .history
        .iter()
        .filter_map(|e| e.input.as_ref())
        .find_map(|i| i.pointer("/restore/shapeSource").cloned());
    assert_eq!(
        restore,
        Some(json!("recorded")),
        "the restore used the recorded settings"
    );
    let renamed = instances(world, PRIMARY_REGION)
        .await
        .into_iter()
        .filter(|i| tag(i, "pilot-light:renamed-from").is_some())
        .count();
    assert_eq!(renamed, 0, "nothing was in the way");
    let report = run.output.clone().expect("report");
    assert_eq!(
        report["keptOldPrimaries"],
        json!([]),
        "always present in a failback report, empty when nothing was kept: {report}"
    );
}
