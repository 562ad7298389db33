//! Nothing lost, someone serving: the failure paths of failover and failback, each run with the
//! team's application writing through the front door (`pilot_light_e2e::application`) and the data
//! checks after every execution (`pilot_light_e2e::data_checks`: lost writes, split brain, someone
//! serving). Each test is a path that once lost acknowledged writes or left nobody serving; the
//! data checks in `World::wait` fail it if it does again, and the test asserts the world besides.

use pilot_light_e2e::pilot_light::SeededPilotLight;
use pilot_light_e2e::world::http;
use pilot_light_e2e::{Execution, World, PRIMARY_REGION, STANDBY_REGION};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::Duration;

struct Scenario {
    world: World,
    pilot: SeededPilotLight,
    failover: String,
    failback: String,
}

async fn scenario(label: &str) -> Scenario {
    let world = World::new(label).await;
    let pilot = world.seed_pilot_light(&["orders"], &["web"]).await;
    let failover = world.deploy_with("failover", &pilot.substitutions()).await;
    let failback = world.deploy_with("failback", &pilot.substitutions()).await;
    Scenario {
        world,
        pilot,
        failover,
        failback,
    }
}

impl Scenario {
    /// A failover; a graceful one waits for the replica itself (its lag gate).
    async fn fail_over(&self, name: &str, mode: &str) -> Execution {
        self.world
            .run(
                &self.failover,
                &self.world.name(name),
                &json!({"env": self.world.env, "mode": mode}),
            )
            .await
    }

    async fn fail_back(&self, name: &str, strategy: &str) -> Execution {
        self.world
            .run(
                &self.failback,
                &self.world.name(name),
                &json!({"env": self.world.env, "strategy": strategy}),
            )
            .await
    }

    /// Every write the application was told was committed to `database`, by id.
    fn acknowledged(&self, database: &str) -> BTreeSet<String> {
        self.world
            .application()
            .expect("the application writes")
            .acknowledged()
            .into_iter()
            .filter(|a| a.database == database)
            .map(|a| a.write_id)
            .collect()
    }

    /// The write ids the database `instance` in `region` holds.
    fn held(&self, region: &str, instance: &str) -> BTreeSet<String> {
        self.world
            .database_log(region, instance)
            .unwrap_or_else(|| panic!("{instance} in {region} has no data"))
            .iter()
            .filter_map(|w| w["writeId"].as_str().map(str::to_string))
            .collect()
    }

    /// Waits until the application got at least `count` more writes through after now.
    async fn let_the_application_write(&self, count: usize) {
        let application = self.world.application().expect("the application writes");
        let before = application.acknowledged().len();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while application.acknowledged().len() < before + count {
            assert!(
                std::time::Instant::now() < deadline,
                "the application could not write {count} times in 30 s: {:?}",
                application.attempts().last()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn group_desired(&self, region: &str) -> i32 {
        let group = &self.pilot.groups[0];
        let name = if region == PRIMARY_REGION {
            &group.primary.auto_scaling_group_name
        } else {
            &group.standby.auto_scaling_group_name
        };
        self.world
            .describe_group(region, name)
            .await
            .desired_capacity()
            .unwrap_or(-1)
    }

    async fn front_door_value(&self) -> String {
        let (name, _, _) = &self.pilot.records[0];
        self.world
            .record_set(
                &self.pilot.zone,
                name,
                aws_sdk_route53::types::RrType::Cname,
                None,
            )
            .await
            .expect("the front door record")
            .resource_records()[0]
            .value()
            .to_string()
    }

    /// Every `action` request of `service` about `mentions` fails with a 5xx from now on.
    fn fail_every(&self, service: &str, action: &str, mentions: Option<&str>) {
        let mut rule = json!({
            "service": service, "action": action, "kind": "unavailable", "count": 1_000_000,
            "label": self.world.env, "exceptUserAgent": pilot_light_e2e::world::HARNESS_APP_NAME,
        });
        if let Some(text) = mentions {
            rule["mentions"] = json!(text);
        }
        let (status, text) = http(
            &self.world.aws.moto_url,
            "POST",
            "/pilot-light/faults",
            Some(&rule.to_string()),
        );
        assert_eq!(status, 200, "fault rule: {text}");
    }
}

fn assert_succeeded(run: &Execution, what: &str) {
    assert_eq!(
        run.status, "SUCCEEDED",
        "{what}: error {:?}: {:?}",
        run.error, run.cause
    );
}

/// The alert of a failed run: the failure notification's output (and the execution's cause).
fn alert_text(run: &Execution) -> String {
    let mut text = run.cause.clone().unwrap_or_default();
    for entry in &run.history {
        if entry
            .state
            .as_deref()
            .is_some_and(|s| s.starts_with("Notify"))
        {
            if let Some(output) = &entry.output {
                text.push_str(&output.to_string());
            }
        }
    }
    text
}

/// Path 1: a failback that fails after its final snapshot un-fences the standby, which then takes
/// writes again. The re-run must restore those writes too, not the first run's snapshot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failback_rerun_after_the_standby_served_again_keeps_what_the_standby_took() {
    let s = scenario("ds-refb").await;
    let world = &s.world;
    assert_succeeded(&s.fail_over("fo", "graceful").await, "failover");

    // The copy to the primary region takes longer than the configured bound allows.
    world.set_duration("rds.copy_db_snapshot", 30.0);
    let mut config: Value = s.pilot.config.clone();
    config["poll"]["snapshot"] = json!({"intervalSeconds": 1, "maxAttempts": 2});
    world.write_config(&config).await;
    let failed = s.fail_back("fb-1", "snapshot").await;
    assert_eq!(failed.status, "FAILED", "{:?}", failed.cause);
    assert_eq!(failed.times_entered("UnfenceStandby"), 1);

    // The standby serves again and takes writes the first run's snapshot does not hold.
    s.let_the_application_write(10).await;

    world.set_duration("rds.copy_db_snapshot", 1.0);
    config["poll"]["snapshot"] = json!({"intervalSeconds": 1, "maxAttempts": 60});
    world.write_config(&config).await;
    let rerun = s.fail_back("fb-2", "snapshot").await;
    assert_succeeded(&rerun, "failback re-run");

    let db = &s.pilot.databases[0];
    let acknowledged = s.acknowledged("orders");
    let held = s.held(PRIMARY_REGION, &db.primary_id);
    let missing: Vec<&String> = acknowledged.difference(&held).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged writes are not in the restored primary: {:?}",
        missing.len(),
        missing.iter().take(5).collect::<Vec<_>>()
    );
}

/// Path 2: while a failback's re-protection is pending (traffic is back on the primary, the old
/// promoted standby still stands under the replica's identifier), a failover must be refused: the
/// standby database is stale, and switching to it would lose every write since the failback.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failover_while_reprotection_is_pending_is_refused_and_the_primary_keeps_serving() {
    let s = scenario("ds-rpp").await;
    let world = &s.world;
    assert_succeeded(&s.fail_over("fo-1", "graceful").await, "failover");

    // Re-protection cannot move the old standby aside: the failback ends with traffic on the
    // primary and re-protection pending.
    let db = &s.pilot.databases[0];
    s.fail_every("rds", "ModifyDBInstance", Some(&db.replica_id));
    let partial = s.fail_back("fb", "snapshot").await;
    assert_eq!(partial.status, "FAILED", "{:?}", partial.cause);
    world.clear_faults();
    let state = world.run_state_parameter().await.expect("run state");
    assert_eq!(state["activeRegion"], PRIMARY_REGION, "{state}");
    assert_eq!(state["reprotectPending"], true, "{state}");
    s.let_the_application_write(5).await;

    let refused = s.fail_over("fo-2", "graceful").await;
    assert_eq!(refused.status, "FAILED");
    assert_eq!(
        refused.error.as_deref(),
        Some("ReprotectPending"),
        "{:?}",
        refused.cause
    );
    assert!(
        alert_text(&refused).contains("pilot-light failback"),
        "the refusal says how to finish re-protection: {}",
        alert_text(&refused)
    );
    assert_eq!(
        s.front_door_value().await,
        s.pilot.records[0].1,
        "traffic stays on the primary"
    );
    assert!(
        refused.times_entered("PromoteReplica") == 0 && refused.times_entered("SwitchTraffic") == 0,
        "nothing was promoted or switched"
    );
}

/// Path 3, before any promotion: a graceful failover whose replica never catches up gives the
/// primary its compute back, so the primary serves again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_failover_whose_replica_never_catches_up_unfences_the_primary() {
    let s = scenario("ds-lag").await;
    let world = &s.world;
    let db = &s.pilot.databases[0];
    // The replica applies what the primary commits ten minutes late.
    world.set_replica_apply_lag(&db.replica_id, 600.0);
    s.let_the_application_write(5).await;
    let mut config: Value = s.pilot.config.clone();
    config["poll"]["promotion"] = json!({"intervalSeconds": 1, "maxAttempts": 4});
    world.write_config(&config).await;
    let since = world.last_request_seq();

    let failed = s.fail_over("fo", "graceful").await;
    assert_eq!(failed.status, "FAILED");
    assert_eq!(
        failed.error.as_deref(),
        Some("ReplicaLagTimedOut"),
        "{:?}",
        failed.cause
    );
    assert!(
        world
            .calls_on(since, "PromoteReadReplica", &db.replica_id)
            .is_empty(),
        "nothing was promoted"
    );
    assert_eq!(
        s.group_desired(PRIMARY_REGION).await,
        s.pilot.recorded_capacity["web"] as i32,
        "the primary's compute is back"
    );
    assert_eq!(s.front_door_value().await, s.pilot.records[0].1);
    s.let_the_application_write(5).await;
}

/// Path 3, after the promotion: a graceful failover whose DNS switch fails never un-fences the
/// primary (the promoted standby is writable too: that would be two writable databases); its alert
/// names the command that completes the failover, and that command does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_failover_that_fails_after_promotion_keeps_the_primary_fenced_and_says_how_to_finish(
) {
    let s = scenario("ds-dns").await;
    let world = &s.world;
    s.fail_every(
        "route53",
        "ChangeResourceRecordSets",
        Some(&s.pilot.zone.id),
    );
    let failed = s.fail_over("fo-1", "graceful").await;
    assert_eq!(failed.status, "FAILED", "{:?}", failed.cause);
    world.clear_faults();
    assert_eq!(
        s.group_desired(PRIMARY_REGION).await,
        0,
        "the primary stays fenced"
    );
    let db = &s.pilot.databases[0];
    let promoted = world
        .describe_db(STANDBY_REGION, &db.replica_id)
        .await
        .expect("the standby database");
    assert_eq!(promoted.read_replica_source_db_instance_identifier(), None);
    let alert = alert_text(&failed);
    assert!(
        alert.contains("pilot-light failover") && alert.contains("ungraceful"),
        "the alert names the command that completes the failover: {alert}"
    );

    let finished = s.fail_over("fo-2", "ungraceful").await;
    assert_succeeded(&finished, "the failover the alert asked for");
    assert_eq!(s.front_door_value().await, s.pilot.records[0].2);
    s.let_the_application_write(5).await;
    let acknowledged = s.acknowledged("orders");
    let held = s.held(STANDBY_REGION, &db.replica_id);
    assert!(
        acknowledged.is_subset(&held),
        "a graceful failover loses nothing, also when finished by hand"
    );
}

/// Path 3 in failback: a failback whose switch back fails gives the standby its compute back, so
/// the standby, where traffic still goes, serves again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failback_whose_dns_switch_fails_unfences_the_standby() {
    let s = scenario("ds-fbdns").await;
    let world = &s.world;
    assert_succeeded(&s.fail_over("fo", "graceful").await, "failover");
    s.fail_every(
        "route53",
        "ChangeResourceRecordSets",
        Some(&s.pilot.zone.id),
    );
    let failed = s.fail_back("fb", "snapshot").await;
    assert_eq!(failed.status, "FAILED", "{:?}", failed.cause);
    world.clear_faults();
    assert_eq!(failed.times_entered("UnfenceStandby"), 1);
    assert_eq!(s.front_door_value().await, s.pilot.records[0].2);
    assert!(
        s.group_desired(STANDBY_REGION).await > 0,
        "the standby's compute is back"
    );
    s.let_the_application_write(5).await;
}

/// An ungraceful failover after the primary region is lost loses at most what replication had not
/// shipped; a failback after the region came back keeps the old primary (renamed aside) and its
/// report names it with the writes it holds that the new primary lacks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_lost_region_the_failback_report_names_the_kept_old_primary_and_its_writes() {
    let s = scenario("ds-lost").await;
    let world = &s.world;
    let db = &s.pilot.databases[0];
    // Replication ships two seconds late: losing the region loses what it had not shipped.
    world.set_replica_apply_lag(&db.replica_id, 2.0);
    s.let_the_application_write(15).await;
    world.lose_region(PRIMARY_REGION);
    let failover = s.fail_over("fo", "ungraceful").await;
    assert_succeeded(&failover, "failover");
    s.let_the_application_write(5).await;

    let acknowledged = s.acknowledged("orders");
    let held = s.held(STANDBY_REGION, &db.replica_id);
    let lost: BTreeSet<String> = acknowledged.difference(&held).cloned().collect();
    assert!(
        !lost.is_empty(),
        "writes within the lag were lost with the region"
    );
    assert_eq!(world.accepted_losses(), lost, "each within the bound");

    world.restore_region(PRIMARY_REGION);
    let failback = s.fail_back("fb", "snapshot").await;
    assert_succeeded(&failback, "failback");
    let report = failback.output.clone().expect("the failback's report");
    let kept = report["keptOldPrimaries"]
        .as_array()
        .unwrap_or_else(|| panic!("the report lists kept old primaries: {report}"));
    assert_eq!(kept.len(), 1, "{report}");
    let kept_id = kept[0]["instanceId"].as_str().expect("kept instance id");
    assert_ne!(kept_id, db.primary_id);
    // The kept instance holds exactly the writes the new primary lacks.
    let old = s.held(PRIMARY_REGION, kept_id);
    let new = s.held(PRIMARY_REGION, &db.primary_id);
    let only_in_old: BTreeSet<String> = old.difference(&new).cloned().collect();
    assert_eq!(
        only_in_old, lost,
        "the kept old primary holds the lost writes"
    );
    // The report bounds them by time: every lost write is after the time it names.
    let since = kept[0]["unreplicatedWritesSince"]
        .as_str()
        .unwrap_or_else(|| panic!("the report says since when: {}", kept[0]));
    assert!(!since.is_empty());
}
