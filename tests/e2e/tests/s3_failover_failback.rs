//! S3 replication through the real state machines (`failover.asl.json`, `failback.asl.json`) on the
//! local two-region AWS, every handler in `cargo lambda watch`: a pilot light with a replicated
//! bucket pair fails over (replication turns round, under the reverse role), the standby takes
//! writes, and failback turns replication back, lists in its report what the standby wrote that the
//! primary lacks, and copies it back when asked. The world is asserted with S3's describe calls and
//! the emulator's request log.

mod s3_buckets;

use pilot_light_e2e::pilot_light::SeededPilotLight;
use pilot_light_e2e::{Execution, World, PRIMARY_REGION, STANDBY_REGION};
use s3_buckets::{body, keys, put, replication_of, seed_bucket_pair, BucketPair};
use serde_json::{json, Value};
use std::time::Duration;

struct S3World {
    world: World,
    pilot: SeededPilotLight,
    pair: BucketPair,
    failover: String,
    failback: String,
}

/// A pilot light (one database, one group) with a replicated bucket pair in its configuration.
async fn s3_world(label: &str) -> S3World {
    let world = World::new(label).await;
    let pilot = world.seed_pilot_light(&["orders"], &["web"]).await;
    let pair = seed_bucket_pair(&world, "assets").await;
    let mut config = pilot.config.clone();
    config["s3Replication"] = json!([pair.config()]);
    world.write_config(&config).await;
    let failover = world.deploy_with("failover", &pilot.substitutions()).await;
    let failback = world.deploy_with("failback", &pilot.substitutions()).await;
    S3World {
        world,
        pilot,
        pair,
        failover,
        failback,
    }
}

fn assert_succeeded(run: &Execution) {
    assert_eq!(
        run.status, "SUCCEEDED",
        "error {:?}: {:?}",
        run.error, run.cause
    );
}

/// S3 writes (Put*/Delete*/Copy*) on the pair's buckets logged after `since`, as `(action, region)`
/// (other tests share the emulator: only this world's buckets count).
fn s3_writes(world: &World, pair: &BucketPair, since: u64) -> Vec<(String, Option<String>)> {
    world
        .requests_since(since)
        .0
        .into_iter()
        .filter(|r| r.service == "s3" && (r.mentions(&pair.primary) || r.mentions(&pair.standby)))
        .filter(|r| {
            ["Put", "Delete", "Copy"]
                .iter()
                .any(|p| r.action.starts_with(p))
        })
        .map(|r| (r.action, r.region))
        .collect()
}

/// The standby's reverse rule: role and destination.
async fn assert_reversed(sw: &S3World) {
    let (role, rules) = replication_of(&sw.world, STANDBY_REGION, &sw.pair.standby)
        .await
        .expect("the standby bucket replicates back");
    assert_eq!(
        role, sw.pair.reverse_role,
        "the reverse role, never the one-way role"
    );
    assert_eq!(rules.len(), 1, "{rules:?}");
    assert!(rules[0].1, "enabled: {rules:?}");
    assert_eq!(rules[0].2, format!("arn:aws:s3:::{}", sw.pair.primary));
}

/// The original rule is back and the reverse rule gone.
async fn assert_restored(sw: &S3World) {
    let (role, rules) = replication_of(&sw.world, PRIMARY_REGION, &sw.pair.primary)
        .await
        .expect("the primary bucket replicates");
    assert_eq!(role, sw.pair.forward_role);
    assert_eq!(
        rules,
        vec![(
            "app-team-replication".to_string(),
            true,
            format!("arn:aws:s3:::{}", sw.pair.standby)
        )]
    );
    assert_eq!(
        replication_of(&sw.world, STANDBY_REGION, &sw.pair.standby).await,
        None,
        "the reverse rule is gone"
    );
}

/// The objects the failback's report names as not replicated back (keys).
fn reported_unreplicated(run: &Execution, standby_bucket: &str) -> Vec<String> {
    let report = run.output.as_ref().expect("the report is the output");
    let prefix = format!("arn:aws:s3:::{standby_bucket}/");
    let mut keys: Vec<String> = report["changes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["action"] == "listUnreplicated")
        .flat_map(|c| c["resources"].as_array().cloned().unwrap_or_default())
        .filter_map(|r| {
            r.as_str()
                .and_then(|r| r.strip_prefix(&prefix))
                .map(str::to_string)
        })
        .collect();
    keys.sort();
    keys
}

/// Objects the standby takes while it serves (one also written to the primary: it did replicate).
async fn write_during_failover(sw: &S3World) {
    put(
        &sw.world,
        STANDBY_REGION,
        &sw.pair.standby,
        "orders/1001.json",
        "{}",
    )
    .await;
    put(
        &sw.world,
        STANDBY_REGION,
        &sw.pair.standby,
        "orders/1002.json",
        "{}",
    )
    .await;
    put(
        &sw.world,
        STANDBY_REGION,
        &sw.pair.standby,
        "replicated.txt",
        "same",
    )
    .await;
    put(
        &sw.world,
        PRIMARY_REGION,
        &sw.pair.primary,
        "replicated.txt",
        "same",
    )
    .await;
}

#[tokio::test]
async fn ungraceful_failover_turns_replication_round_without_the_primary_and_failback_lists_what_to_copy(
) {
    let sw = s3_world("s3sm").await;
    put(
        &sw.world,
        PRIMARY_REGION,
        &sw.pair.primary,
        "before.txt",
        "v1",
    )
    .await;
    put(
        &sw.world,
        STANDBY_REGION,
        &sw.pair.standby,
        "before.txt",
        "v1",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let before = sw.world.last_request_seq();
    let run = sw
        .world
        .run(
            &sw.failover,
            &sw.world.name("failover"),
            &json!({"env": sw.world.env, "mode": "ungraceful"}),
        )
        .await;
    assert_succeeded(&run);
    assert_reversed(&sw).await;
    let into_primary: Vec<_> = sw
        .world
        .requests_since(before)
        .0
        .into_iter()
        .filter(|r| r.service == "s3" && r.region.as_deref() == Some(PRIMARY_REGION))
        .filter(|r| r.mentions(&sw.pair.primary) || r.mentions(&sw.pair.standby))
        .collect();
    assert!(
        into_primary.is_empty(),
        "ungraceful: no S3 call into the primary region: {into_primary:?}"
    );
    // The primary's own rule was not touched (nothing could reach it).
    let (_, rules) = replication_of(&sw.world, PRIMARY_REGION, &sw.pair.primary)
        .await
        .unwrap();
    assert!(rules[0].1);

    // A second failover finds the standby active and changes nothing in S3.
    let before = sw.world.last_request_seq();
    let again = sw
        .world
        .run(
            &sw.failover,
            &sw.world.name("failover-again"),
            &json!({"env": sw.world.env, "mode": "ungraceful"}),
        )
        .await;
    assert_succeeded(&again);
    assert_eq!(s3_writes(&sw.world, &sw.pair, before), vec![]);
    assert_reversed(&sw).await;

    write_during_failover(&sw).await;

    let run = sw
        .world
        .run(
            &sw.failback,
            &sw.world.name("failback"),
            &json!({"env": sw.world.env}),
        )
        .await;
    assert_succeeded(&run);
    assert_restored(&sw).await;
    assert_eq!(
        reported_unreplicated(&run, &sw.pair.standby),
        ["orders/1001.json", "orders/1002.json"],
        "{:?}",
        run.output
    );
    // Not asked to copy: the primary still lacks them.
    let in_primary = keys(&sw.world, PRIMARY_REGION, &sw.pair.primary).await;
    assert!(
        !in_primary.contains(&"orders/1001.json".to_string()),
        "{in_primary:?}"
    );

    // A second failback finds the primary active and changes nothing in S3.
    let before = sw.world.last_request_seq();
    let again = sw
        .world
        .run(
            &sw.failback,
            &sw.world.name("failback-again"),
            &json!({"env": sw.world.env}),
        )
        .await;
    assert_succeeded(&again);
    assert_eq!(s3_writes(&sw.world, &sw.pair, before), vec![]);
    assert_restored(&sw).await;
    let _ = &sw.pilot;
}

#[tokio::test]
async fn graceful_failover_and_a_failback_that_copies_the_standbys_writes_back() {
    let sw = s3_world("s3cp").await;
    sw.world
        .replica_caught_up(STANDBY_REGION, &sw.pilot.databases[0].replica_id)
        .await;
    let run = sw
        .world
        .run(
            &sw.failover,
            &sw.world.name("failover"),
            &json!({"env": sw.world.env, "mode": "graceful"}),
        )
        .await;
    assert_succeeded(&run);
    assert_reversed(&sw).await;
    // Graceful: the primary's rule was disabled (kept for failback), as the report's results say.
    let (_, rules) = replication_of(&sw.world, PRIMARY_REGION, &sw.pair.primary)
        .await
        .unwrap();
    assert!(!rules[0].1, "{rules:?}");

    write_during_failover(&sw).await;

    let run = sw
        .world
        .run(
            &sw.failback,
            &sw.world.name("failback"),
            &json!({"env": sw.world.env, "copyUnreplicated": true}),
        )
        .await;
    assert_succeeded(&run);
    assert_restored(&sw).await;
    assert_eq!(
        reported_unreplicated(&run, &sw.pair.standby),
        ["orders/1001.json", "orders/1002.json"]
    );
    let mut in_primary = keys(&sw.world, PRIMARY_REGION, &sw.pair.primary).await;
    in_primary.sort();
    assert_eq!(
        in_primary,
        ["orders/1001.json", "orders/1002.json", "replicated.txt"],
        "copied back into the primary bucket"
    );
    assert_eq!(
        body(
            &sw.world,
            PRIMARY_REGION,
            &sw.pair.primary,
            "orders/1001.json"
        )
        .await,
        "{}"
    );
    let copied: Vec<Value> = run.output.as_ref().unwrap()["changes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["action"] == "copyBack")
        .cloned()
        .collect();
    assert_eq!(copied.len(), 1, "{:?}", run.output);
}
