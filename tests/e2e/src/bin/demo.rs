//! `make demo`: the local demo — a failover and a failback of a whole pilot light on the local two-region
//! AWS, step by step.
//!
//! Starts the emulator and `cargo lambda watch`, seeds a pilot light (two databases with their
//! cross-region read replicas, two compute groups at 0 in the standby with a newer AMI copied over,
//! switched-off consumers, DNS at the primary, the configuration and the recorded capacity), gives
//! the long AWS operations a few seconds in the emulator, runs the failover state machine, prints its
//! timeline and report, checks the world, runs failover again to show it changes nothing; then fails
//! back by snapshot (final snapshot, copy, restore under the original identifier, re-protect), prints
//! that timeline and report, checks the original topology is back with nothing deleted without a
//! final snapshot, and fails back again to show that changes nothing either.

use pilot_light_core::execution_history::{build_timeline, steps_to_show, HistoryEvent};
use pilot_light_e2e::{Execution, World, PRIMARY_REGION, STANDBY_REGION};
use serde_json::json;
use std::time::SystemTime;

/// The class `orders` is resized to when its replica becomes production.
const PRODUCTION_CLASS: &str = "db.r6g.large";

#[tokio::main]
async fn main() {
    println!("pilot-light demo: fail over from {PRIMARY_REGION} to {STANDBY_REGION}");
    println!("starting the local AWS (moto + cargo lambda watch)…");
    let world = World::new("demo").await;
    println!(
        "  moto at {}, Lambda runtime at {}",
        world.aws.moto_url, world.aws.lambda_url
    );

    let mut pilot = world
        .seed_pilot_light(&["orders", "accounts"], &["web", "api"])
        .await;
    // From pilot light to full flame: `orders` runs small in the standby and is resized to its
    // production shape once promoted, before traffic moves.
    pilot.config["databases"][0]["productionShape"] = json!({
        "instanceClass": PRODUCTION_CLASS, "multiAz": true, "backupRetentionDays": 7
    });
    pilot.config["poll"]["resize"] = json!({"intervalSeconds": 1, "maxAttempts": 60});
    world.write_config(&pilot.config).await;
    world.set_duration("rds.modify_db_instance", 3.0);
    world.set_duration("rds.promote_read_replica", 5.0);
    world.set_duration("autoscaling.launch_instance", 3.0);
    for operation in [
        "rds.create_db_snapshot",
        "rds.copy_db_snapshot",
        "rds.restore_db_instance_from_db_snapshot",
        "rds.create_db_instance_read_replica",
        "rds.delete_db_instance",
    ] {
        world.set_duration(operation, 3.0);
    }
    println!("seeded the pilot light of env `{}`:", world.env);
    for db in &pilot.databases {
        println!(
            "  database {:<9} {} ({PRIMARY_REGION}) → replica {} ({STANDBY_REGION})",
            db.name, db.primary_id, db.replica_id
        );
    }
    for group in &pilot.groups {
        println!(
            "  group    {:<9} {} at 0, newest AMI {}",
            group.name,
            group.standby.auto_scaling_group_name,
            pilot.newest_standby_images[&group.name]
        );
    }
    println!("  orders has a production shape: {PRODUCTION_CLASS}, Multi-AZ, 7 days of backups");
    println!("  (promotion takes 5 s, an instance launch 3 s, a resize, snapshot, copy, restore,");
    println!("   replica creation or deletion 3 s in the emulator)");

    let machine = world.deploy_with("failover", &pilot.substitutions()).await;
    println!(
        "\nthe team's application writes through {} every {} ms",
        pilot.records[0].0,
        pilot_light_e2e::application::WRITE_INTERVAL.as_millis()
    );
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    println!(
        "\n== {PRIMARY_REGION} is lost: its databases take no writes and replicate nothing more"
    );
    world.lose_region(PRIMARY_REGION);
    println!("\n== failover (ungraceful: no call into {PRIMARY_REGION})");
    let run = world
        .run(
            &machine,
            &world.name("failover-1"),
            &json!({"env": world.env}),
        )
        .await;
    print_timeline(&run);
    check(&run);
    print_report(&run);
    print_data_figures(&world, &run);

    println!("\n== the world afterwards");
    let mut ok = true;
    for db in &pilot.databases {
        let instance = world.describe_db(STANDBY_REGION, &db.replica_id).await;
        let status = instance
            .as_ref()
            .and_then(|i| i.db_instance_status())
            .unwrap_or("missing")
            .to_string();
        let standalone = instance
            .as_ref()
            .is_some_and(|i| i.read_replica_source_db_instance_identifier().is_none());
        let class = instance
            .as_ref()
            .and_then(|i| i.db_instance_class())
            .unwrap_or("?");
        let multi_az = instance.as_ref().and_then(|i| i.multi_az()) == Some(true);
        ok &= status == "available" && standalone;
        if db.name == "orders" {
            ok &= class == PRODUCTION_CLASS && multi_az;
        }
        println!(
            "  {}: {status}, {}, {class}{}",
            db.replica_id,
            if standalone {
                "standalone (writable)"
            } else {
                "still a replica"
            },
            if multi_az { ", Multi-AZ" } else { "" }
        );
    }
    for group in &pilot.groups {
        let asg = world
            .describe_group(STANDBY_REGION, &group.standby.auto_scaling_group_name)
            .await;
        let in_service = asg
            .instances()
            .iter()
            .filter(|i| i.lifecycle_state().map(|s| s.as_str()) == Some("InService"))
            .count();
        ok &= in_service as i32 == asg.desired_capacity().unwrap_or(-1) && in_service > 0;
        println!(
            "  {}: desired {}, {in_service} InService",
            group.standby.auto_scaling_group_name,
            asg.desired_capacity().unwrap_or(0)
        );
    }
    for (name, _, standby) in &pilot.records {
        println!("  {name} → {standby}");
    }
    let state = world.run_state_parameter().await.unwrap_or_default();
    ok &= state["activeRegion"] == STANDBY_REGION;
    println!("  active region: {}", state["activeRegion"]);

    println!("\n== failover again (a double click)");
    let again = world
        .run(
            &machine,
            &world.name("failover-2"),
            &json!({"env": world.env}),
        )
        .await;
    check(&again);
    println!(
        "  {} in {:.1} s: {}",
        again.status,
        again.elapsed.as_secs_f64(),
        again
            .output
            .as_ref()
            .map(|o| o["outcome"].to_string())
            .unwrap_or_default()
    );
    ok &= again
        .output
        .as_ref()
        .is_some_and(|o| o["outcome"] == "alreadyActive");

    if !ok {
        eprintln!("the world is not what failover should leave behind");
        std::process::exit(1);
    }
    println!("failover passed: the standby serves, and a second failover changed nothing");

    let failback = world.deploy_with("failback", &pilot.substitutions()).await;
    println!("\n== {PRIMARY_REGION} is back");
    world.restore_region(PRIMARY_REGION);
    println!("\n== failback (snapshot strategy: fence the standby, final snapshot, copy, restore, re-protect)");
    let back = world
        .run(
            &failback,
            &world.name("failback-1"),
            &json!({"env": world.env, "strategy": "snapshot"}),
        )
        .await;
    print_timeline(&back);
    check(&back);
    print_report(&back);
    print_data_figures(&world, &back);

    println!("\n== the world afterwards");
    let mut ok = true;
    for db in &pilot.databases {
        let primary = world.describe_db(PRIMARY_REGION, &db.primary_id).await;
        let primary_arn = primary
            .as_ref()
            .and_then(|i| i.db_instance_arn())
            .map(str::to_string);
        let writable = primary.as_ref().is_some_and(|i| {
            i.db_instance_status() == Some("available")
                && i.read_replica_source_db_instance_identifier().is_none()
        });
        let replica = world.describe_db(STANDBY_REGION, &db.replica_id).await;
        let protected = replica.as_ref().is_some_and(|r| {
            r.db_instance_status() == Some("available")
                && r.read_replica_source_db_instance_identifier() == primary_arn.as_deref()
        });
        ok &= writable && protected;
        let replica_class = replica
            .as_ref()
            .and_then(|r| r.db_instance_class())
            .unwrap_or("?");
        // The pilot light is small again: the re-created replica has the standby's own class.
        ok &= replica_class != PRODUCTION_CLASS;
        println!(
            "  {} ({PRIMARY_REGION}): {}; {} ({STANDBY_REGION}, {replica_class}): {}",
            db.primary_id,
            if writable {
                "available, writable"
            } else {
                "NOT SERVING"
            },
            db.replica_id,
            if protected {
                "its read replica again"
            } else {
                "NOT A REPLICA OF IT"
            }
        );
    }
    let kept = world
        .rds(PRIMARY_REGION)
        .describe_db_instances()
        .send()
        .await
        .map(|o| {
            o.db_instances()
                .iter()
                .filter(|i| {
                    i.tag_list()
                        .iter()
                        .any(|t| t.key() == Some("pilot-light:renamed-from"))
                })
                .filter_map(|i| i.db_instance_identifier().map(str::to_string))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    println!(
        "  old primaries kept (renamed, never deleted): {}",
        kept.join(", ")
    );
    let finals = world
        .rds(STANDBY_REGION)
        .describe_db_snapshots()
        .snapshot_type("manual")
        .send()
        .await
        .map(|o| {
            o.db_snapshots()
                .iter()
                .filter_map(|s| s.db_snapshot_identifier())
                .filter(|id| id.starts_with(world.env.as_str()) && id.contains("-final-"))
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    ok &= finals.len() == pilot.databases.len() && kept.len() == pilot.databases.len();
    println!(
        "  final snapshots of the retired standbys: {}",
        finals.join(", ")
    );
    for group in &pilot.groups {
        let primary = world
            .describe_group(PRIMARY_REGION, &group.primary.auto_scaling_group_name)
            .await;
        let standby = world
            .describe_group(STANDBY_REGION, &group.standby.auto_scaling_group_name)
            .await;
        let recorded = pilot.recorded_capacity[&group.name] as i32;
        ok &= primary.desired_capacity() == Some(recorded) && standby.desired_capacity() == Some(0);
        println!(
            "  {}: desired {}; {}: desired {}",
            group.primary.auto_scaling_group_name,
            primary.desired_capacity().unwrap_or(-1),
            group.standby.auto_scaling_group_name,
            standby.desired_capacity().unwrap_or(-1)
        );
    }
    for (name, primary, _) in &pilot.records {
        println!("  {name} → {primary}");
    }
    let state = world.run_state_parameter().await.unwrap_or_default();
    ok &= state["activeRegion"] == PRIMARY_REGION;
    println!("  active region: {}", state["activeRegion"]);

    println!("\n== failback again (a double click)");
    let again = world
        .run(
            &failback,
            &world.name("failback-2"),
            &json!({"env": world.env, "strategy": "snapshot"}),
        )
        .await;
    check(&again);
    let outcome = again
        .output
        .as_ref()
        .map(|o| o["outcome"].to_string())
        .unwrap_or_default();
    println!(
        "  {} in {:.1} s: {outcome}",
        again.status,
        again.elapsed.as_secs_f64()
    );
    ok &= outcome == "\"alreadyActive\"";
    if !ok {
        eprintln!("the world is not what failback should leave behind");
        std::process::exit(1);
    }
    println!(
        "\ndemo passed: failover in {:.1} s and failback in {:.1} s, the original topology is back, nothing was deleted without a final snapshot",
        run.elapsed.as_secs_f64(),
        back.elapsed.as_secs_f64()
    );
}

fn print_report(run: &Execution) {
    if let Some(report) = &run.output {
        println!(
            "report: {} {} — RTO {:.1} s (traffic on the recovered region after {}), {} steps, published to {}",
            report["kind"].as_str().unwrap_or("?"),
            report["outcome"].as_str().unwrap_or("?"),
            report["rtoSeconds"].as_f64().unwrap_or(0.0),
            report["trafficSwitchedSeconds"]
                .as_f64()
                .map_or("-".to_string(), |s| format!("{s:.1} s")),
            report["steps"].as_array().map(|s| s.len()).unwrap_or(0),
            report["published"]["topicArn"]
                .as_str()
                .unwrap_or("(no topic)")
        );
    }
}

/// What the application writing through the front door saw during the run (the data checks).
fn print_data_figures(world: &World, run: &Execution) {
    match world.data_figures(&run.arn) {
        Some(f) => println!(
            "data:   {} writes acknowledged during the run, lost {}, RPO {:.2} s, writes unavailable for {:.2} s, split-brain windows {}; now serving from {}",
            f.acknowledged,
            f.lost,
            f.rpo_seconds,
            f.write_unavailable_seconds,
            f.split_brain_windows,
            f.serving_region.as_deref().unwrap_or("nobody")
        ),
        None => println!("data:   (no application writing)"),
    }
}

fn check(run: &Execution) {
    if run.status != "SUCCEEDED" {
        eprintln!("execution {}: {:?} {:?}", run.status, run.error, run.cause);
        std::process::exit(1);
    }
}

/// One line per state: when it was entered (seconds after the start), how long it took, and the
/// database or group it worked on.
fn print_timeline(execution: &Execution) {
    let millis = |t: SystemTime| {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    };
    let events: Vec<HistoryEvent> = execution
        .history
        .iter()
        .map(|e| HistoryEvent {
            id: e.id,
            previous_event_id: e.previous_id,
            event_type: e.kind.clone(),
            state_name: e.state.clone(),
            input: e.input.clone(),
            timestamp_millis: millis(e.timestamp),
        })
        .collect();
    let Some(start) = events.first().map(|e| e.timestamp_millis) else {
        return;
    };
    // The work steps with each poll loop folded, or every state (`make demo VERBOSE=1`).
    for row in steps_to_show(&build_timeline(&events), verbose()) {
        let item = row.item.map(|i| format!("[{i}]")).unwrap_or_default();
        let runs = if row.runs > 1 {
            format!("  {} runs", row.runs)
        } else {
            String::new()
        };
        println!(
            "  {:>7.2} s  {:<11} {:<40} {:>6.2} s{runs}",
            (row.entered_millis - start) as f64 / 1000.0,
            item,
            row.state,
            row.duration_seconds
        );
    }
    println!(
        "  {} in {:.1} s",
        execution.status,
        execution.elapsed.as_secs_f64()
    );
}

/// `--verbose`: every state of each timeline, not only the work steps.
fn verbose() -> bool {
    std::env::args().any(|a| a == "--verbose")
}
