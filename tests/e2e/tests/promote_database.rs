//! The promote-database state machine, end to end: moto's Step Functions engine runs
//! `state-machines/promote-database.asl.json`, which invokes the real `promote-replica` handler in
//! `cargo lambda watch`, which calls the emulated RDS. The world is asserted afterwards with describe
//! calls, the execution history and the emulator's request log.

use pilot_light_e2e::{World, PRIMARY_REGION, STANDBY_REGION};
use promote_replica::PROMOTED_FROM_TAG;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promotes_the_replica_polling_until_standalone_then_a_rerun_is_already_done() {
    let world = World::new("promote").await;
    let orders = world.seed_database("orders").await;
    world.write_config(&world.config_document(&[&orders])).await;
    // Promotion takes 3 s in the emulator: the state machine must really poll.
    world.set_duration("rds.promote_read_replica", 3.0);
    let machine = world.deploy("promote-database").await;

    let before_first = world.last_request_seq();
    let first = world
        .run(&machine, &world.name("run-1"), &json!({"env": world.env}))
        .await;
    assert_eq!(
        first.status, "SUCCEEDED",
        "{:?} {:?}",
        first.error, first.cause
    );

    // The world: the DR instance is standalone and available, marked as promoted from the primary.
    let replica = world
        .describe_db(STANDBY_REGION, &orders.replica_id)
        .await
        .expect("the DR instance exists");
    assert_eq!(replica.db_instance_status(), Some("available"));
    assert_eq!(
        replica.read_replica_source_db_instance_identifier(),
        None,
        "still attached to its source"
    );
    let marker = replica
        .tag_list()
        .iter()
        .find(|t| t.key() == Some(PROMOTED_FROM_TAG));
    assert_eq!(
        marker.and_then(|t| t.value()),
        Some(orders.primary_arn.as_str())
    );
    // The primary no longer lists it as a replica.
    let primary = world
        .describe_db(PRIMARY_REGION, &orders.primary_id)
        .await
        .expect("the primary exists");
    assert!(
        primary.read_replica_db_instance_identifiers().is_empty(),
        "{:?}",
        primary.read_replica_db_instance_identifiers()
    );

    // It polled: at least two status checks while the promotion was under way.
    let polls = first.times_entered("CheckPromotion");
    assert!(
        polls >= 2,
        "expected at least two polls, the history shows {polls}"
    );
    let output = first.output.as_ref().expect("execution output");
    assert_eq!(output["databases"][0]["database"], "orders");
    assert_eq!(output["databases"][0]["promote"]["status"], "started");
    assert_eq!(
        world
            .calls_on(before_first, "PromoteReadReplica", &orders.replica_id)
            .len(),
        1
    );

    // The same input again: observe, find it done, change nothing.
    let before_second = world.last_request_seq();
    let second = world
        .run(&machine, &world.name("run-2"), &json!({"env": world.env}))
        .await;
    assert_eq!(
        second.status, "SUCCEEDED",
        "{:?} {:?}",
        second.error, second.cause
    );
    let output = second.output.as_ref().expect("execution output");
    assert_eq!(output["databases"][0]["promote"]["status"], "alreadyDone");
    assert_eq!(
        second.times_entered("CheckPromotion"),
        0,
        "nothing to poll when already done"
    );
    assert!(
        world
            .calls_on(before_second, "PromoteReadReplica", &orders.replica_id)
            .is_empty(),
        "a second promotion call was made"
    );
    assert!(
        !world
            .calls_on(before_second, "DescribeDBInstances", &orders.replica_id)
            .is_empty(),
        "the re-run must observe the instance"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_replica_fails_the_execution_with_replica_not_found() {
    let world = World::new("missing").await;
    let mut orders = world.seed_database("orders").await;
    orders.replica_id = world.name("no-such-replica");
    world.write_config(&world.config_document(&[&orders])).await;
    let machine = world.deploy("promote-database").await;

    let run = world
        .run(&machine, &world.name("run"), &json!({"env": world.env}))
        .await;
    assert_eq!(run.status, "FAILED");
    assert_eq!(
        run.error.as_deref(),
        Some("ReplicaNotFound"),
        "cause: {:?}",
        run.cause
    );
    assert!(run.cause.unwrap_or_default().contains(&orders.replica_id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standalone_instance_named_as_replica_is_refused_and_left_untouched() {
    let world = World::new("standalone").await;
    let mut orders = world.seed_database("orders").await;
    // A standalone instance in the standby region that never was a replica.
    orders.replica_id = world.name("lonely");
    world
        .create_standalone_instance(STANDBY_REGION, &orders.replica_id)
        .await;
    world.write_config(&world.config_document(&[&orders])).await;
    let machine = world.deploy("promote-database").await;

    let before = world.last_request_seq();
    let run = world
        .run(&machine, &world.name("run"), &json!({"env": world.env}))
        .await;
    assert_eq!(run.status, "FAILED");
    assert_eq!(
        run.error.as_deref(),
        Some("NotAReplica"),
        "cause: {:?}",
        run.cause
    );
    assert!(world
        .calls_on(before, "PromoteReadReplica", &orders.replica_id)
        .is_empty());
    assert!(world
        .calls_on(before, "AddTagsToResource", &orders.replica_id)
        .is_empty());
    let lonely = world
        .describe_db(STANDBY_REGION, &orders.replica_id)
        .await
        .expect("still there");
    assert!(lonely
        .tag_list()
        .iter()
        .all(|t| t.key() != Some(PROMOTED_FROM_TAG)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promotion_that_never_finishes_stops_at_the_poll_bound() {
    let world = World::new("bound").await;
    let orders = world.seed_database("orders").await;
    let mut config = world.config_document(&[&orders]);
    config["poll"]["promotion"] = json!({"intervalSeconds": 0, "maxAttempts": 3});
    world.write_config(&config).await;
    world.set_duration("rds.promote_read_replica", 600.0);
    let machine = world.deploy("promote-database").await;

    let run = world
        .run(&machine, &world.name("run"), &json!({"env": world.env}))
        .await;
    assert_eq!(run.status, "FAILED");
    assert_eq!(
        run.error.as_deref(),
        Some("PromotionTimedOut"),
        "cause: {:?}",
        run.cause
    );
    assert_eq!(
        run.times_entered("CheckPromotion"),
        3,
        "exactly maxAttempts polls"
    );
}

/// While a failover or failback holds the lock, the databases are theirs: promote-database reads the
/// lock when it acts and promotes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promotion_while_a_run_holds_the_lock_is_refused_and_promotes_nothing() {
    let world = World::new("promote-locked").await;
    let orders = world.seed_database("orders").await;
    world.write_config(&world.config_document(&[&orders])).await;
    world.delete_run_state_at_teardown();
    let machine = world.deploy("promote-database").await;
    let holder = format!(
        "arn:aws:states:{STANDBY_REGION}:123456789012:execution:{}-failover:running",
        world.env
    );
    let lock = pilot_light_core::config::lock_parameter_name(&world.env);
    world
        .put_parameter(
            STANDBY_REGION,
            &lock,
            &json!({"executionId": holder, "operation": "failover", "acquiredAt": "2026-12-07T03:00:00Z"})
                .to_string(),
        )
        .await;

    let since = world.last_request_seq();
    let run = world
        .run(&machine, &world.name("run"), &json!({"env": world.env}))
        .await;
    assert_eq!(run.status, "FAILED");
    assert_eq!(
        run.error.as_deref(),
        Some("FailoverInProgress"),
        "{:?}",
        run.cause
    );
    assert_eq!(run.times_entered("PromoteDatabases"), 0);
    assert!(world
        .calls_on(since, "PromoteReadReplica", &orders.replica_id)
        .is_empty());
    let replica = world
        .describe_db(STANDBY_REGION, &orders.replica_id)
        .await
        .expect("the replica exists");
    assert!(
        replica
            .read_replica_source_db_instance_identifier()
            .is_some(),
        "still a replica"
    );

    // The lock gone, the same promotion goes ahead.
    world
        .ssm(STANDBY_REGION)
        .delete_parameter()
        .name(&lock)
        .send()
        .await
        .expect("unlock");
    let run = world
        .run(&machine, &world.name("run-2"), &json!({"env": world.env}))
        .await;
    assert_eq!(run.status, "SUCCEEDED", "{:?} {:?}", run.error, run.cause);
}
