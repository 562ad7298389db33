//! `switch-replication` against the local AWS (moto's S3, path-style): the handler is called
//! directly with clients on the emulator, and the world is asserted afterwards with S3's own
//! describe calls (GetBucketReplication, ListObjectsV2, GetObject) and the emulator's request log.

mod s3_buckets;

use pilot_light_core::StepStatus;
use pilot_light_e2e::{World, PRIMARY_REGION, STANDBY_REGION};
use s3_buckets::{body, keys, put, replication_of, seed_bucket_pair, BucketPair};
use serde_json::{json, Value};
use std::time::Duration;
use switch_replication::{handler, Clients, SwitchReplicationOutput};

fn clients(world: &World) -> Clients {
    Clients::from_sdk_config(world.config(STANDBY_REGION))
}

async fn call(
    world: &World,
    pair: &BucketPair,
    action: &str,
    extra: Value,
) -> SwitchReplicationOutput {
    let mut event = json!({
        "action": action,
        "primaryRegion": PRIMARY_REGION,
        "standbyRegion": STANDBY_REGION,
        "replication": pair.config(),
    });
    for (k, v) in extra.as_object().into_iter().flatten() {
        event[k] = v.clone();
    }
    handler(event, &clients(world))
        .await
        .unwrap_or_else(|e| panic!("{action}: {e}"))
}

#[tokio::test]
async fn graceful_failover_reverses_replication_with_the_reverse_role_and_is_idempotent() {
    let world = World::new("s3fo").await;
    let pair = seed_bucket_pair(&world, "a").await;

    let start = world.last_request_seq();
    let first = call(&world, &pair, "failover", json!({"mode": "graceful"})).await;
    assert_eq!(first.status, StepStatus::Done, "{first:?}");
    let (requests, _) = world.requests_since(start);
    let puts: Vec<(&str, Option<&str>)> = requests
        .iter()
        .filter(|r| r.service == "s3" && r.action == "PutBucketReplication")
        .filter(|r| r.mentions(&pair.primary) || r.mentions(&pair.standby))
        .map(|r| (r.action.as_str(), r.region.as_deref()))
        .collect();
    assert_eq!(
        puts,
        [
            ("PutBucketReplication", Some(STANDBY_REGION)),
            ("PutBucketReplication", Some(PRIMARY_REGION))
        ],
        "the log names S3 writes (so the idempotence check below can fail)"
    );

    let (role, rules) = replication_of(&world, STANDBY_REGION, &pair.standby)
        .await
        .expect("the standby replicates");
    assert_eq!(role, pair.reverse_role, "never the primary's one-way role");
    assert_eq!(rules.len(), 1, "{rules:?}");
    assert!(rules[0].1, "enabled");
    assert_eq!(rules[0].2, format!("arn:aws:s3:::{}", pair.primary));
    assert!(
        rules[0].0.starts_with("pilot-light-reverse-assets-"),
        "{rules:?}"
    );

    // Graceful: the primary's rule is disabled, not deleted (failback enables it again).
    let (role, rules) = replication_of(&world, PRIMARY_REGION, &pair.primary)
        .await
        .expect("the primary keeps its configuration");
    assert_eq!(role, pair.forward_role);
    assert_eq!(
        rules,
        vec![(
            "app-team-replication".to_string(),
            false,
            format!("arn:aws:s3:::{}", pair.standby)
        )]
    );

    let before = world.last_request_seq();
    let second = call(&world, &pair, "failover", json!({"mode": "graceful"})).await;
    assert_eq!(second.status, StepStatus::AlreadyDone, "{second:?}");
    let (requests, _) = world.requests_since(before);
    let writes: Vec<_> = requests
        .iter()
        .filter(|r| r.service == "s3" && r.action.starts_with("Put"))
        .filter(|r| r.mentions(&pair.primary) || r.mentions(&pair.standby))
        .collect();
    assert!(
        writes.is_empty(),
        "a second failover changes nothing: {writes:?}"
    );
    assert_eq!(
        replication_of(&world, STANDBY_REGION, &pair.standby)
            .await
            .unwrap()
            .1,
        rules_after_first(&pair, &first)
    );
}

fn rules_after_first(
    pair: &BucketPair,
    first: &SwitchReplicationOutput,
) -> Vec<(String, bool, String)> {
    let id = first.replication_rule.as_ref().unwrap().rule_ids[0].clone();
    vec![(id, true, format!("arn:aws:s3:::{}", pair.primary))]
}

#[tokio::test]
async fn ungraceful_failover_never_calls_the_primary_region() {
    let world = World::new("s3un").await;
    let pair = seed_bucket_pair(&world, "b").await;
    let before = world.last_request_seq();
    let out = call(&world, &pair, "failover", json!({"mode": "ungraceful"})).await;
    assert_eq!(out.status, StepStatus::Done);
    assert_eq!(out.old_rule.as_ref().unwrap().change, "skipped");
    let (requests, _) = world.requests_since(before);
    let into_primary: Vec<_> = requests
        .iter()
        .filter(|r| r.service == "s3" && r.region.as_deref() == Some(PRIMARY_REGION))
        .filter(|r| r.mentions(&pair.primary) || r.mentions(&pair.standby))
        .collect();
    assert!(into_primary.is_empty(), "{into_primary:?}");
    assert!(requests.iter().any(|r| r.service == "s3"
        && r.region.as_deref() == Some(STANDBY_REGION)
        && r.mentions(&pair.standby)));
    // The primary's rule is as it was.
    let (_, rules) = replication_of(&world, PRIMARY_REGION, &pair.primary)
        .await
        .unwrap();
    assert!(rules[0].1);
    let (role, _) = replication_of(&world, STANDBY_REGION, &pair.standby)
        .await
        .unwrap();
    assert_eq!(role, pair.reverse_role);
}

#[tokio::test]
async fn failback_restores_the_rule_lists_what_the_standby_wrote_and_copies_it_back() {
    let world = World::new("s3fb").await;
    let pair = seed_bucket_pair(&world, "c").await;
    // Before the disaster: replicated objects (in both), one the primary will later change.
    put(&world, PRIMARY_REGION, &pair.primary, "before.txt", "v1").await;
    put(&world, STANDBY_REGION, &pair.standby, "before.txt", "v1").await;
    put(&world, PRIMARY_REGION, &pair.primary, "changed.txt", "old").await;
    put(&world, STANDBY_REGION, &pair.standby, "changed.txt", "old").await;
    put(
        &world,
        STANDBY_REGION,
        &pair.standby,
        "stale-replica.txt",
        "x",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1100)).await;

    call(&world, &pair, "failover", json!({"mode": "ungraceful"})).await;
    // While the standby serves: new objects, one changed, one that did replicate back.
    put(
        &world,
        STANDBY_REGION,
        &pair.standby,
        "orders/new 1.txt",
        "new",
    )
    .await;
    put(
        &world,
        STANDBY_REGION,
        &pair.standby,
        "changed.txt",
        "changed in DR",
    )
    .await;
    put(
        &world,
        STANDBY_REGION,
        &pair.standby,
        "replicated.txt",
        "same",
    )
    .await;
    put(
        &world,
        PRIMARY_REGION,
        &pair.primary,
        "replicated.txt",
        "same",
    )
    .await;
    put(
        &world,
        STANDBY_REGION,
        &pair.standby,
        "newer-in-primary.txt",
        "dr",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    put(
        &world,
        PRIMARY_REGION,
        &pair.primary,
        "newer-in-primary.txt",
        "primary",
    )
    .await;

    let first = call(&world, &pair, "failback", json!({})).await;
    assert_eq!(first.status, StepStatus::Done, "{first:?}");
    // The original rule is back (enabled, the app team's own rule and role), the reverse one gone.
    let (role, rules) = replication_of(&world, PRIMARY_REGION, &pair.primary)
        .await
        .unwrap();
    assert_eq!(role, pair.forward_role);
    assert_eq!(
        rules,
        vec![(
            "app-team-replication".to_string(),
            true,
            format!("arn:aws:s3:::{}", pair.standby)
        )]
    );
    assert_eq!(
        replication_of(&world, STANDBY_REGION, &pair.standby).await,
        None
    );

    let listing = first.unreplicated.as_ref().unwrap();
    let listed: Vec<(&str, String)> = listing
        .objects
        .iter()
        .map(|o| (o.key.as_str(), format!("{:?}", o.replication)))
        .collect();
    assert_eq!(
        listed,
        vec![
            ("changed.txt", "Differs".into()),
            ("orders/new 1.txt", "Missing".into())
        ],
        "the window starts at the failover (from the reverse rule): {listing:?}"
    );
    assert_eq!(listing.status, StepStatus::Done);
    assert_eq!(format!("{:?}", listing.since_source), "ReverseRule");
    assert_eq!(listing.skipped.len(), 1);
    assert_eq!(listing.skipped[0].key, "newer-in-primary.txt");

    // Failback again: nothing changes; the window is still known from the input `since`.
    let since = listing.since.clone().unwrap();
    let before = world.last_request_seq();
    let second = call(&world, &pair, "failback", json!({"since": since})).await;
    assert_eq!(second.status, StepStatus::AlreadyDone, "{second:?}");
    assert_eq!(
        second.unreplicated.as_ref().unwrap().objects,
        listing.objects
    );
    let (requests, _) = world.requests_since(before);
    assert!(
        !requests.iter().any(|r| r.service == "s3"
            && (r.mentions(&pair.primary) || r.mentions(&pair.standby))
            && (r.action.starts_with("Put") || r.action.starts_with("Delete"))),
        "{requests:?}"
    );

    // Copy back, then the primary has them (asserted by listing and reading).
    let copied = call(&world, &pair, "copyBack", json!({"since": since})).await;
    assert_eq!(copied.status, StepStatus::Done, "{copied:?}");
    assert_eq!(
        copied.copied.as_deref().unwrap(),
        ["changed.txt".to_string(), "orders/new 1.txt".to_string()]
    );
    let in_primary = keys(&world, PRIMARY_REGION, &pair.primary).await;
    assert!(
        in_primary.contains(&"orders/new 1.txt".to_string()),
        "{in_primary:?}"
    );
    assert_eq!(
        body(&world, PRIMARY_REGION, &pair.primary, "orders/new 1.txt").await,
        "new"
    );
    assert_eq!(
        body(&world, PRIMARY_REGION, &pair.primary, "changed.txt").await,
        "changed in DR"
    );
    assert_eq!(
        body(
            &world,
            PRIMARY_REGION,
            &pair.primary,
            "newer-in-primary.txt"
        )
        .await,
        "primary",
        "a newer primary object is never overwritten"
    );
    assert!(
        !in_primary.contains(&"stale-replica.txt".to_string()),
        "outside the window"
    );

    let again = call(&world, &pair, "copyBack", json!({"since": since})).await;
    assert_eq!(again.status, StepStatus::AlreadyDone, "{again:?}");
    assert!(again.copied.as_deref().unwrap().is_empty());
    let listed = call(&world, &pair, "listUnreplicated", json!({"since": since})).await;
    assert_eq!(listed.unreplicated.unwrap().count, 0);
}

#[tokio::test]
async fn copy_back_goes_on_after_the_key_a_truncated_call_stopped_at() {
    let world = World::new("s3pg").await;
    let pair = seed_bucket_pair(&world, "d").await;
    call(&world, &pair, "failover", json!({"mode": "ungraceful"})).await;
    for i in 0..5 {
        put(
            &world,
            STANDBY_REGION,
            &pair.standby,
            &format!("k{i}"),
            "dr",
        )
        .await;
    }
    let first = call(&world, &pair, "copyBack", json!({"maxObjects": 2})).await;
    assert_eq!(first.status, StepStatus::InProgress, "{first:?}");
    assert_eq!(first.copied.as_deref().unwrap(), ["k0", "k1"]);
    let next = first
        .unreplicated
        .as_ref()
        .unwrap()
        .next_start_after
        .clone();
    assert_eq!(next.as_deref(), Some("k1"));
    let second = call(
        &world,
        &pair,
        "copyBack",
        json!({"maxObjects": 2, "startAfter": next}),
    )
    .await;
    assert_eq!(second.copied.as_deref().unwrap(), ["k2", "k3"]);
    let third = call(
        &world,
        &pair,
        "copyBack",
        json!({"maxObjects": 2, "startAfter": second.unreplicated.unwrap().next_start_after}),
    )
    .await;
    assert_eq!(third.status, StepStatus::Done, "{third:?}");
    assert_eq!(third.copied.as_deref().unwrap(), ["k4"]);
    let mut in_primary = keys(&world, PRIMARY_REGION, &pair.primary).await;
    in_primary.sort();
    assert_eq!(in_primary, ["k0", "k1", "k2", "k3", "k4"]);
}
