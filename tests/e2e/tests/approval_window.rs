//! Automatic failover, end to end, as a stack deployed with the defaults runs it: the stack's rules
//! make the failover input from real alarm and AWS Health events; the failover state machine judges
//! a Health event against the configuration, then waits in the **approval window** for a person
//! (`pilot-light approve|deny`), and without an answer ends as `automaticFailover.whenUnanswered`
//! says. Every refused, denied or abandoned start alerts; none changes anything before a yes.

mod rule_harness;

use pilot_light_e2e::cli::run_cli;
use pilot_light_e2e::notify::Notification;
use pilot_light_e2e::pilot_light::SeededPilotLight;
use pilot_light_e2e::{Execution, World, STANDBY_REGION};
use rule_harness::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// The request log is the emulator's, shared by the tests of this binary: each test asserts that
/// nothing changed while it ran, so they take turns.
static TURNS: Mutex<()> = Mutex::const_new(());

/// The calls that change the application's world (the approval and lock parameters aside).
const CHANGES: &[&str] = &[
    "PromoteReadReplica",
    "ModifyDBInstance",
    "CreateLaunchTemplateVersion",
    "SetDesiredCapacity",
    "UpdateAutoScalingGroup",
    "UpdateEventSourceMapping",
    "ChangeResourceRecordSets",
];

fn changes_since(world: &World, seq: u64) -> Vec<String> {
    let (requests, _) = world.requests_since(seq);
    requests
        .iter()
        .filter(|r| CHANGES.contains(&r.action.as_str()))
        .map(|r| format!("{} {}", r.service, r.action))
        .collect()
}

/// A seeded pilot light whose automatic failovers use `automatic_failover` (the defaults when
/// `null`), and its failover state machine.
async fn world_with(label: &str, automatic_failover: Value) -> (World, SeededPilotLight, String) {
    let world = World::new(label).await;
    let mut pilot = world.seed_pilot_light(&["orders"], &["web"]).await;
    if !automatic_failover.is_null() {
        pilot.config["automaticFailover"] = automatic_failover;
        world.write_config(&pilot.config).await;
    }
    let machine = world.deploy_with("failover", &pilot.substitutions()).await;
    (world, pilot, machine)
}

/// Waits (bounded) until the execution `arn` has written its approval request; returns it.
async fn approval_request_of(world: &World, arn: &str) -> Value {
    let began = Instant::now();
    loop {
        if let Some(request) = world.approval_parameter().await {
            if request["executionId"] == arn {
                return request;
            }
        }
        assert!(
            began.elapsed() < Duration::from_secs(120),
            "{arn} never asked for approval"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn execution_name(arn: &str) -> &str {
    arn.rsplit(':').next().unwrap()
}

fn from_the_stage(told: &[Notification], stage: &str) -> Vec<Value> {
    told.iter()
        .filter(|n| n.attributes.get("pilot-light.type").map(String::as_str) == Some("approval"))
        .filter(|n| n.attributes.get("pilot-light.stage").map(String::as_str) == Some(stage))
        .filter_map(|n| serde_json::from_str(&n.message).ok())
        .collect()
}

fn alerts_saying<'a>(told: &'a [Notification], error: &str) -> Vec<&'a Notification> {
    told.iter()
        .filter(|n| n.attributes.get("pilot-light.type").map(String::as_str) == Some("alert"))
        .filter(|n| n.message.contains(error))
        .collect()
}

fn assert_primary_serves_untouched(world: &World, run: &Execution, seq: u64) {
    assert_eq!(run.times_entered("Recover"), 0, "it never recovered");
    assert_eq!(run.times_entered("RunBeforeFailoverHooks"), 0);
    let changes = changes_since(world, seq);
    assert!(changes.is_empty(), "it changed: {changes:?}");
}

async fn assert_primary_still_active(world: &World) {
    let state = world.run_state_parameter().await;
    assert!(
        state
            .as_ref()
            .is_none_or(|s| s["activeRegion"] != STANDBY_REGION),
        "the primary still serves: {state:?}"
    );
    assert!(world.lock_parameter().await.is_none(), "no lock is left");
}

/// The rule fires on an AWS Health operational issue of ELASTICLOADBALANCING (in the stack's
/// default HealthEventServices), but this configuration has no target group: the failover refuses
/// it before the lock, changes nothing and tells the on-call why. An RDS issue (the configuration
/// has a database) goes on to wait for approval; `pilot-light approve` lets it fail over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_health_event_of_an_unused_service_is_refused_and_one_of_a_used_service_fails_over_once_approved(
) {
    let _turn = TURNS.lock().await;
    let (world, pilot, machine) = world_with(
        "approve",
        json!({"approvalWindowSeconds": 300, "approvalPollSeconds": 1}),
    )
    .await;
    let rule = InstalledRule::new(&world, "HealthIssueRule").await;

    // 1. An event of a service the configuration does not use.
    let unused = rule
        .input_for(&world, &sample("failover-health-unused-service.json"))
        .await;
    let seq = world.last_request_seq();
    let refused = world.run(&machine, &world.name("elb-1"), &unused).await;
    assert_eq!(refused.status, "FAILED", "{:?}", refused.output);
    assert_eq!(refused.error.as_deref(), Some("TriggerNotRelevant"));
    let cause = refused.cause.clone().unwrap_or_default();
    assert!(
        cause.contains("ELASTICLOADBALANCING") && cause.contains("does not use"),
        "{cause}"
    );
    assert_eq!(refused.times_entered("NotifyTriggerNotRelevant"), 1);
    assert_primary_serves_untouched(&world, &refused, seq);
    assert_primary_still_active(&world).await;
    assert!(world.approval_parameter().await.is_none(), "nothing waited");
    let told = world
        .notifications(&pilot.topic, 1, Duration::from_secs(20))
        .await;
    assert_eq!(
        alerts_saying(&told, "TriggerNotRelevant").len(),
        1,
        "{told:?}"
    );

    // 2. An RDS issue in the primary region: it waits for a person, changing nothing meanwhile.
    let used = rule
        .input_for(&world, &sample("failover-health.json"))
        .await;
    let seq = world.last_request_seq();
    let arn = world.start(&machine, &world.name("rds-1"), &used).await;
    let request = approval_request_of(&world, &arn).await;
    assert_eq!(request["trigger"], "health");
    assert_eq!(request["triggerEvent"]["service"], "RDS");
    assert_eq!(request["whenUnanswered"], "abandon");
    let told = world
        .notifications(&pilot.topic, 1, Duration::from_secs(20))
        .await;
    let asked = from_the_stage(&told, "requested");
    assert_eq!(asked.len(), 1, "{told:?}");
    let approve = asked[0]["commands"]["approve"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        approve.starts_with(&format!(
            "pilot-light approve {} --env {}",
            execution_name(&arn),
            world.env
        )),
        "{approve}"
    );
    assert_eq!(
        asked[0]["triggerEvent"]["eventTypeCode"],
        "AWS_RDS_OPERATIONAL_ISSUE"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        changes_since(&world, seq).is_empty(),
        "nothing changes before an answer"
    );
    assert_eq!(world.lock_parameter().await.unwrap()["executionId"], arn);

    // A second delivery of the same event meanwhile is refused by the lock, and says so.
    let duplicate = world.run(&machine, &world.name("rds-dup"), &used).await;
    assert_eq!(duplicate.error.as_deref(), Some("FailoverInProgress"));
    assert_eq!(duplicate.times_entered("NotifyAutomaticStartRefused"), 1);
    let told = world
        .notifications(&pilot.topic, 1, Duration::from_secs(20))
        .await;
    assert_eq!(
        alerts_saying(&told, "FailoverInProgress").len(),
        1,
        "{told:?}"
    );

    // 3. A person approves, with the command the message gave.
    let args: Vec<&str> = approve.split_whitespace().skip(1).collect();
    let mut args = args.clone();
    args.extend(["--by", "alice"]);
    let answered = run_cli(&world, &args, &[]).await;
    assert_eq!(answered.code, 0, "{answered:?}");
    assert!(answered.stdout.contains("approved"), "{answered:?}");
    let run = world.wait(&arn, Duration::from_secs(240)).await;
    assert_eq!(run.status, "SUCCEEDED", "{:?} {:?}", run.error, run.cause);
    assert!(run.times_entered("CheckApproval") >= 1);
    assert_eq!(run.times_entered("Recover"), 1);
    let state = world.run_state_parameter().await.expect("run state");
    assert_eq!(state["activeRegion"], STANDBY_REGION, "{state}");
    let request = world.approval_parameter().await.unwrap();
    assert_eq!(request["answer"]["decision"], "approved");
    assert_eq!(request["answer"]["by"], "alice");
    // Approving again is harmless; denying now is refused, naming who approved.
    let again = run_cli(&world, &args, &[]).await;
    assert_eq!(again.code, 0, "{again:?}");
    let late = run_cli(
        &world,
        &["deny", execution_name(&arn), "--env", &world.env],
        &[],
    )
    .await;
    assert_eq!(late.code, 1, "{late:?}");
    assert!(
        late.stderr.contains("already approved by alice"),
        "{late:?}"
    );
}

/// A health alarm starts a failover; the on-call denies it: it ends `FailoverDenied`, releases the
/// lock, changes nothing, and the alert says who denied and why, and names the manual failover.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_automatic_failover_changes_nothing_and_says_who_denied_it() {
    let _turn = TURNS.lock().await;
    let (world, pilot, machine) = world_with(
        "deny",
        json!({"approvalWindowSeconds": 300, "approvalPollSeconds": 1}),
    )
    .await;
    let rule = InstalledRule::new(&world, "HealthAlarmRule").await;
    let input = rule.input_for(&world, &sample("failover-alarm.json")).await;
    let seq = world.last_request_seq();
    let arn = world.start(&machine, &world.name("alarm-1"), &input).await;
    approval_request_of(&world, &arn).await;

    let denied = run_cli(
        &world,
        &[
            "deny",
            execution_name(&arn),
            "--env",
            &world.env,
            "--by",
            "bob",
            "--reason",
            "canary flapping, primary healthy",
        ],
        &[],
    )
    .await;
    assert_eq!(denied.code, 0, "{denied:?}");
    let run = world.wait(&arn, Duration::from_secs(120)).await;
    assert_eq!(run.status, "FAILED");
    assert_eq!(run.error.as_deref(), Some("FailoverDenied"));
    let cause = run.cause.clone().unwrap_or_default();
    assert!(
        cause.contains("denied by bob") && cause.contains("canary flapping"),
        "{cause}"
    );
    assert_primary_serves_untouched(&world, &run, seq);
    assert_primary_still_active(&world).await;
    let told = world
        .notifications(&pilot.topic, 2, Duration::from_secs(20))
        .await;
    assert_eq!(from_the_stage(&told, "requested").len(), 1, "{told:?}");
    let alerts = alerts_saying(&told, "FailoverDenied");
    assert_eq!(alerts.len(), 1, "{told:?}");
    assert!(
        alerts[0]
            .message
            .contains(&format!("pilot-light failover --env {}", world.env)),
        "the alert names the manual failover: {}",
        alerts[0].message
    );
}

/// Nobody answers. With the default `whenUnanswered: abandon` the failover ends
/// `ApprovalUnanswered`, changing nothing, and the alert names the manual failover; with `proceed`
/// the next automatic start fails over once its window closed, and says it goes ahead unanswered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_automatic_failover_ends_as_configured_and_alerts_either_way() {
    let _turn = TURNS.lock().await;
    let (world, mut pilot, machine) = world_with(
        "unanswered",
        json!({"approvalWindowSeconds": 3, "approvalPollSeconds": 1}),
    )
    .await;
    let rule = InstalledRule::new(&world, "HealthAlarmRule").await;
    let input = rule.input_for(&world, &sample("failover-alarm.json")).await;

    let seq = world.last_request_seq();
    let abandoned = world.run(&machine, &world.name("alarm-1"), &input).await;
    assert_eq!(abandoned.status, "FAILED");
    assert_eq!(abandoned.error.as_deref(), Some("ApprovalUnanswered"));
    assert!(
        abandoned
            .cause
            .as_deref()
            .unwrap_or_default()
            .contains("whenUnanswered is abandon"),
        "{:?}",
        abandoned.cause
    );
    assert!(
        abandoned.times_entered("CheckApproval") >= 2,
        "it looked more than once"
    );
    assert_primary_serves_untouched(&world, &abandoned, seq);
    assert_primary_still_active(&world).await;
    let told = world
        .notifications(&pilot.topic, 2, Duration::from_secs(20))
        .await;
    let alerts = alerts_saying(&told, "ApprovalUnanswered");
    assert_eq!(alerts.len(), 1, "{told:?}");
    assert!(
        alerts[0]
            .message
            .contains(&format!("pilot-light failover --env {}", world.env)),
        "{}",
        alerts[0].message
    );
    // A late answer is refused: the window closed.
    let late = run_cli(
        &world,
        &[
            "approve",
            execution_name(&abandoned.arn),
            "--env",
            &world.env,
        ],
        &[],
    )
    .await;
    assert_eq!(late.code, 1, "{late:?}");
    assert!(late.stderr.contains("window closed"), "{late:?}");

    // The team chooses to fail over unattended.
    pilot.config["automaticFailover"]["whenUnanswered"] = json!("proceed");
    world.write_config(&pilot.config).await;
    let proceeded = world.run(&machine, &world.name("alarm-2"), &input).await;
    assert_eq!(
        proceeded.status, "SUCCEEDED",
        "{:?} {:?}",
        proceeded.error, proceeded.cause
    );
    assert_eq!(proceeded.times_entered("NotifyProceedingUnanswered"), 1);
    let state = world.run_state_parameter().await.expect("run state");
    assert_eq!(state["activeRegion"], STANDBY_REGION, "{state}");
    let told = world
        .notifications(&pilot.topic, 2, Duration::from_secs(20))
        .await;
    assert_eq!(
        from_the_stage(&told, "proceedingUnanswered").len(),
        1,
        "{told:?}"
    );
}
