//! `make demo`: a failover of a whole pilot light on the local two-region AWS, step by step.
//!
//! Starts the emulator and `cargo lambda watch`, seeds a pilot light (two databases with their
//! cross-region read replicas, two compute groups at 0 in the standby with a newer AMI copied over,
//! switched-off consumers, DNS at the primary, the configuration and the recorded capacity), gives
//! promotion and instance launch a few seconds in the emulator, runs the failover state machine, prints
//! its timeline and report, checks the world, and runs failover again to show it changes nothing.

use pilot_light_e2e::{Execution, World, PRIMARY_REGION, STANDBY_REGION};
use serde_json::json;
use std::time::SystemTime;

#[tokio::main]
async fn main() {
    println!("pilot-light demo: fail over from {PRIMARY_REGION} to {STANDBY_REGION}");
    println!("starting the local AWS (moto + cargo lambda watch)…");
    let world = World::new("demo").await;
    println!(
        "  moto at {}, Lambda runtime at {}",
        world.aws.moto_url, world.aws.lambda_url
    );

    let pilot = world
        .seed_pilot_light(&["orders", "accounts"], &["web", "api"])
        .await;
    world.set_duration("rds.promote_read_replica", 5.0);
    world.set_duration("autoscaling.launch_instance", 3.0);
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
    println!("  (promotion takes 5 s and an instance launch 3 s in the emulator)");

    let machine = world.deploy_with("failover", &pilot.substitutions()).await;
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
    if let Some(report) = &run.output {
        println!(
            "report: {} {} — RTO {:.1} s, {} steps, published to {}",
            report["kind"].as_str().unwrap_or("?"),
            report["outcome"].as_str().unwrap_or("?"),
            report["rtoSeconds"].as_f64().unwrap_or(0.0),
            report["steps"].as_array().map(|s| s.len()).unwrap_or(0),
            report["published"]["topicArn"]
                .as_str()
                .unwrap_or("(no topic)")
        );
    }

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
        ok &= status == "available" && standalone;
        println!(
            "  {}: {status}, {}",
            db.replica_id,
            if standalone {
                "standalone (writable)"
            } else {
                "still a replica"
            }
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
    println!("\ndemo passed: the standby serves, and a second failover changed nothing");
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
    let Some(start) = execution.history.first().map(|e| e.timestamp) else {
        return;
    };
    let secs = |t: SystemTime| {
        t.duration_since(start)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0)
    };
    for span in execution.spans() {
        let took = span
            .exited
            .duration_since(span.entered)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        let item = span.item.map(|i| format!("[{i}]")).unwrap_or_default();
        println!(
            "  {:>7.2} s  {:<11} {:<26} {:>6.2} s",
            secs(span.entered),
            item,
            span.state,
            took
        );
    }
    println!(
        "  {} in {:.1} s",
        execution.status,
        execution.elapsed.as_secs_f64()
    );
}
