//! The flap guard, end to end: the failover state machine on the emulator, started with exactly the
//! input the stack's EventBridge rules make from the real alarm and Health events. An automatic
//! failover soon after the active region changed is refused (`FailoverTooSoon`, nothing touched, the
//! on-call told); a failover started by a person at the same moment goes ahead.

mod rule_harness;

use pilot_light_e2e::{Execution, World, PRIMARY_REGION, STANDBY_REGION};
use rule_harness::*;
use serde_json::{json, Value};
use std::time::Duration;

/// The failover input the rule `logical_id` makes of a sample event.
async fn rule_input(world: &World, logical_id: &str, sample_name: &str) -> Value {
    InstalledRule::new(world, logical_id)
        .await
        .input_for(world, &sample(sample_name))
        .await
}

fn assert_succeeded(run: &Execution) {
    assert_eq!(
        run.status, "SUCCEEDED",
        "error {:?}: {:?}",
        run.error, run.cause
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_automatic_failover_soon_after_a_switch_is_refused_and_a_manual_one_is_not() {
    let world = World::new("flap").await;
    let mut pilot = world.seed_pilot_light(&["orders"], &["web"]).await;
    // This test is about the flap guard alone: automatic starts go ahead without an approval.
    pilot.config["automaticFailover"] = json!({"approval": "none"});
    world.write_config(&pilot.config).await;
    let machine = world.deploy_with("failover", &pilot.substitutions()).await;
    let alarm_input = rule_input(&world, "HealthAlarmRule", "failover-alarm.json").await;
    let health_input = rule_input(&world, "HealthIssueRule", "failover-health.json").await;
    assert_eq!(alarm_input["trigger"], "alarm");
    assert_eq!(health_input["trigger"], "health");

    // 1. The health alarm fires: the first automatic failover goes ahead (no switch recorded yet).
    let first = world
        .run(&machine, &world.name("alarm-1"), &alarm_input)
        .await;
    assert_succeeded(&first);
    let state = world.run_state_parameter().await.expect("run state");
    assert_eq!(state["activeRegion"], STANDBY_REGION, "{state}");
    world
        .notifications(&pilot.topic, 1, Duration::from_secs(20))
        .await;

    // 2. People fail back, with the failback state machine: the primary is restored from the
    //    standby, traffic goes back, the standby is protected again (a new DR replica; its compute
    //    fenced) and the primary is marked active. (A run state merely set back to the primary
    //    would leave the old promoted standby under the replica's identifier: a failover would
    //    then be refused as a stale promotion.)
    let failback = world.deploy_with("failback", &pilot.substitutions()).await;
    let back = world
        .run(
            &failback,
            &world.name("fb-1"),
            &json!({"env": world.env, "strategy": "snapshot"}),
        )
        .await;
    assert_succeeded(&back);
    let after_failback = world.run_state_parameter().await.expect("run state");
    assert_eq!(after_failback["activeRegion"], PRIMARY_REGION);

    // 3. The AWS Health issue is still open and fires again minutes later: refused by the flap
    //    guard (default window: one hour), before anything is touched.
    let seq = world.last_request_seq();
    let second = world
        .run(&machine, &world.name("health-2"), &health_input)
        .await;
    assert_eq!(second.status, "FAILED", "{:?}", second.output);
    assert_eq!(second.error.as_deref(), Some("FailoverTooSoon"));
    let cause = second.cause.clone().unwrap_or_default();
    assert!(
        cause.contains("flap guard") && cause.contains("fb-1"),
        "{cause}"
    );
    assert_eq!(second.times_entered("NotifyFailoverSuppressed"), 1);
    assert_eq!(second.times_entered("SuppressedByFlapGuard"), 1);
    assert_eq!(second.times_entered("Recover"), 0);
    assert_eq!(
        world.run_state_parameter().await.expect("run state"),
        after_failback,
        "the run state is unchanged"
    );
    assert!(world.lock_parameter().await.is_none(), "no lock was taken");
    let (requests, _) = world.requests_since(seq);
    let changes: Vec<String> = requests
        .iter()
        .filter(|r| {
            matches!(
                r.action.as_str(),
                "PromoteReadReplica"
                    | "CreateLaunchTemplateVersion"
                    | "SetDesiredCapacity"
                    | "UpdateAutoScalingGroup"
                    | "UpdateEventSourceMapping"
                    | "ChangeResourceRecordSets"
                    | "PutParameter"
                    | "DeleteParameter"
            )
        })
        .map(|r| format!("{} {}", r.service, r.action))
        .collect();
    assert!(
        changes.is_empty(),
        "a refused failover changed: {changes:?}"
    );
    let told = world
        .notifications(&pilot.topic, 1, Duration::from_secs(20))
        .await;
    assert!(
        told.iter().any(|n| n
            .subject
            .as_deref()
            .unwrap_or_default()
            .contains("FailoverTooSoon")
            || n.message.contains("FailoverTooSoon")),
        "the on-call is told: {told:?}"
    );

    // 4. A person decides to fail over anyway: a manual failover is never held back.
    let third = world
        .run(
            &machine,
            &world.name("manual-3"),
            &json!({"env": world.env}),
        )
        .await;
    assert_succeeded(&third);
    assert_eq!(third.times_entered("SuppressedByFlapGuard"), 0);
    let state = world.run_state_parameter().await.expect("run state");
    assert_eq!(state["activeRegion"], STANDBY_REGION, "{state}");
    assert!(world.lock_parameter().await.is_none());
}
