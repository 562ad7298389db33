//! `make demo`: the promote-database state machine on the local two-region AWS, step by step.
//!
//! Starts the emulator and `cargo lambda watch`, seeds two databases (a primary in us-east-1 and its
//! cross-region read replica in us-west-2 each), gives promotion a few seconds in the emulator, runs
//! the state machine, prints every step with its time, checks the world, and runs it again to show
//! that a second run changes nothing.

use pilot_light_e2e::{World, PRIMARY_REGION, STANDBY_REGION};
use serde_json::json;
use std::time::SystemTime;

#[tokio::main]
async fn main() {
    println!("pilot-light demo: promote the pilot light's databases ({PRIMARY_REGION} → {STANDBY_REGION})");
    println!("starting the local AWS (moto + cargo lambda watch)…");
    let world = World::new("demo").await;
    println!(
        "  moto at {}, Lambda runtime at {}",
        world.aws.moto_url, world.aws.lambda_url
    );

    let orders = world.seed_database("orders").await;
    let accounts = world.seed_database("accounts").await;
    world
        .write_config(&world.config_document(&[&orders, &accounts]))
        .await;
    world.set_duration("rds.promote_read_replica", 4.0);
    println!(
        "seeded: {} → {}, {} → {} (promotion takes 4 s here)",
        orders.primary_id, orders.replica_id, accounts.primary_id, accounts.replica_id
    );

    let machine = world.deploy("promote-database").await;
    for run in ["first", "second"] {
        println!("\n== {run} run of promote-database");
        let execution = world
            .run(&machine, &world.name(run), &json!({"env": world.env}))
            .await;
        print_timeline(&execution);
        println!(
            "status {} in {:.1} s",
            execution.status,
            execution.elapsed.as_secs_f64()
        );
        if let Some(output) = &execution.output {
            for db in output["databases"].as_array().into_iter().flatten() {
                println!(
                    "  {}: promote said {}",
                    db["database"], db["promote"]["status"]
                );
            }
        }
        if execution.status != "SUCCEEDED" {
            eprintln!("failed: {:?} {:?}", execution.error, execution.cause);
            std::process::exit(1);
        }
    }

    println!("\n== the world afterwards ({STANDBY_REGION})");
    let mut ok = true;
    for db in [&orders, &accounts] {
        let instance = world.describe_db(STANDBY_REGION, &db.replica_id).await;
        let status = instance
            .as_ref()
            .and_then(|i| i.db_instance_status())
            .unwrap_or("missing");
        let source = instance
            .as_ref()
            .and_then(|i| i.read_replica_source_db_instance_identifier());
        let standalone = source.is_none();
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
    if !ok {
        std::process::exit(1);
    }
}

/// One line per state: when it was entered (seconds after the start), how long it took, and the
/// database it worked on.
fn print_timeline(execution: &pilot_light_e2e::Execution) {
    let spans = execution.spans();
    let Some(start) = execution.history.first().map(|e| e.timestamp) else { return };
    let secs = |t: SystemTime| t.duration_since(start).map(|d| d.as_secs_f64()).unwrap_or(0.0);
    for span in spans {
        let took = span.exited.duration_since(span.entered).map(|d| d.as_secs_f64()).unwrap_or(0.0);
        let item = span.item.map(|i| format!("[{i}]")).unwrap_or_default();
        println!("  {:>7.2} s  {:<12} {:<24} {:>6.2} s", secs(span.entered), item, span.state, took);
    }
}
