//! The automatic failover triggers, tested with a real pattern matcher: the rules of `template.yaml`
//! and `forwarder.yaml` are put on the emulator's EventBridge, the samples in `events/state-machines/`
//! are sent with PutEvents, and the test looks at what reached the target. The real alarm and Health
//! events fire the rule with the input the failover state machine expects; the near misses (`OK`
//! state, another alarm, `closed` status, another region, a scheduled change) do not.

mod rule_harness;

use pilot_light_e2e::{World, ACCOUNT_ID, PRIMARY_REGION, STANDBY_REGION};
use rule_harness::*;
use serde_json::{json, Value};

const ALARM: &str = "prod-primary-application-health";

fn template_params(world: &World) -> std::collections::BTreeMap<String, Value> {
    parameters(
        &load("template.yaml"),
        &[
            ("EnvName", Value::from(world.env.as_str())),
            ("HealthAlarmNames", json!([ALARM])),
            ("PrimaryRegion", Value::from(PRIMARY_REGION)),
        ],
    )
}

/// The forwarder's parameters for this world, forwarding to `standby_bus_arn`.
fn forwarder_params(
    world: &World,
    forwarder: &serde_yaml::Value,
    standby_bus_arn: &str,
) -> std::collections::BTreeMap<String, Value> {
    parameters(
        forwarder,
        &[
            ("EnvName", Value::from(world.env.as_str())),
            ("PrimaryRegion", Value::from(PRIMARY_REGION)),
            ("StandbyEventBusArn", Value::from(standby_bus_arn)),
            ("HealthAlarmNames", json!([ALARM])),
        ],
    )
}

/// What the rule delivered must be a failover input: the env, ungraceful, the trigger kind, and
/// where it came from (ids filled in by EventBridge, no placeholder left).
fn assert_failover_input(delivered: &Value, env: &str, trigger: &str, event: &[(&str, &str)]) {
    assert_eq!(delivered["env"], env, "{delivered}");
    assert_eq!(delivered["mode"], "ungraceful", "{delivered}");
    assert_eq!(delivered["trigger"], trigger, "{delivered}");
    for (field, value) in event {
        assert_eq!(
            delivered["triggerEvent"][field], *value,
            "{field}: {delivered}"
        );
    }
    for field in ["id", "time"] {
        let v = delivered["triggerEvent"][field]
            .as_str()
            .unwrap_or_default();
        assert!(
            !v.is_empty() && !v.contains('<'),
            "{field} not filled in: {delivered}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_alarm_rule_fires_when_the_health_alarm_goes_to_alarm_and_on_nothing_else() {
    let world = World::new("rule-alarm").await;
    let doc = load("template.yaml");
    let params = template_params(&world);
    let (bus, _) = event_bus(&world, STANDBY_REGION, "bus").await;
    let (queue, queue_arn) = target_queue(&world, STANDBY_REGION, "failover").await;
    install_rule(
        &world,
        &doc,
        "HealthAlarmRule",
        &params,
        STANDBY_REGION,
        &bus,
        &queue_arn,
    )
    .await;

    for near_miss in [
        "failover-alarm-near-miss-ok.json",
        "failover-alarm-near-miss-other-alarm.json",
        // Another source with the right words in it.
        "failover-health.json",
    ] {
        put_sample(&world, STANDBY_REGION, &bus, &sample(near_miss)).await;
        let got = delivered(&world, STANDBY_REGION, &queue).await;
        assert!(got.is_empty(), "{near_miss} fired the alarm rule: {got:?}");
    }

    put_sample(&world, STANDBY_REGION, &bus, &sample("failover-alarm.json")).await;
    let got = delivered(&world, STANDBY_REGION, &queue).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_failover_input(
        &got[0],
        &world.env,
        "alarm",
        &[
            ("source", "aws.cloudwatch"),
            ("alarmName", ALARM),
            (
                "alarmArn",
                &format!("arn:aws:cloudwatch:us-west-2:{ACCOUNT_ID}:alarm:{ALARM}"),
            ),
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_health_rule_fires_on_an_open_issue_in_the_primary_region_and_on_nothing_else() {
    let world = World::new("rule-health").await;
    let doc = load("template.yaml");
    let params = template_params(&world);
    let (bus, _) = event_bus(&world, STANDBY_REGION, "bus").await;
    let (queue, queue_arn) = target_queue(&world, STANDBY_REGION, "failover").await;
    let pattern = install_rule(
        &world,
        &doc,
        "HealthIssueRule",
        &params,
        STANDBY_REGION,
        &bus,
        &queue_arn,
    )
    .await;
    // The pattern filters on the affected region, never on where the event was delivered.
    assert_eq!(pattern["detail"]["eventRegion"], json!([PRIMARY_REGION]));
    assert!(pattern.get("region").is_none(), "{pattern}");

    for near_miss in [
        "failover-health-near-miss-closed.json",
        "failover-health-near-miss-other-region.json",
        "failover-health-near-miss-scheduled-change.json",
        // An operational issue in one Availability Zone: for the application's Multi-AZ design.
        "failover-health-near-miss-one-zone.json",
        // An account-specific notice about one database, not the region.
        "failover-health-near-miss-account-specific.json",
        "failover-alarm.json",
    ] {
        put_sample(&world, STANDBY_REGION, &bus, &sample(near_miss)).await;
        let got = delivered(&world, STANDBY_REGION, &queue).await;
        assert!(got.is_empty(), "{near_miss} fired the Health rule: {got:?}");
    }
    // A service not in HealthEventServices.
    let mut other_service = sample("failover-health.json");
    other_service["detail"]["service"] = json!("CLOUDFRONT");
    put_sample(&world, STANDBY_REGION, &bus, &other_service).await;
    assert!(delivered(&world, STANDBY_REGION, &queue).await.is_empty());

    // The pattern asks for a public operational issue of the configured services.
    assert_eq!(
        pattern["detail"]["eventTypeCode"],
        json!([{"suffix": "_OPERATIONAL_ISSUE"}])
    );
    assert_eq!(pattern["detail"]["eventScopeCode"], json!(["PUBLIC"]));
    // A service in HealthEventServices that a configuration may not use still fires the rule: the
    // failover itself refuses it then (TriggerNotRelevant, tests/approval_window.rs).
    let got = delivered_after(
        &world,
        &bus,
        &queue,
        &sample("failover-health-unused-service.json"),
    )
    .await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["triggerEvent"]["service"], "ELASTICLOADBALANCING");
    assert_eq!(got[0]["triggerEvent"]["eventScopeCode"], "PUBLIC");

    let real = sample("failover-health.json");
    put_sample(&world, STANDBY_REGION, &bus, &real).await;
    let got = delivered(&world, STANDBY_REGION, &queue).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_failover_input(
        &got[0],
        &world.env,
        "health",
        &[
            ("source", "aws.health"),
            ("service", "RDS"),
            ("eventTypeCode", "AWS_RDS_OPERATIONAL_ISSUE"),
            ("eventRegion", PRIMARY_REGION),
            ("eventArn", real["detail"]["eventArn"].as_str().unwrap()),
        ],
    );
}

/// Health events about the primary are delivered in the primary region (and the backup region): the
/// forwarder there routes them to the standby's bus, where the stack's rule starts the failover.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_forwarder_routes_primary_region_events_to_the_standby_rules() {
    let world = World::new("rule-fwd").await;
    let stack = load("template.yaml");
    let forwarder = load("forwarder.yaml");
    let (standby_bus, standby_bus_arn) = event_bus(&world, STANDBY_REGION, "standby-bus").await;
    let (primary_bus, _) = event_bus(&world, PRIMARY_REGION, "primary-bus").await;
    let (queue, queue_arn) = target_queue(&world, STANDBY_REGION, "failover").await;
    let params = template_params(&world);
    for rule in ["HealthIssueRule", "HealthAlarmRule"] {
        install_rule(
            &world,
            &stack,
            rule,
            &params,
            STANDBY_REGION,
            &standby_bus,
            &queue_arn,
        )
        .await;
    }
    let forwarder_params = forwarder_params(&world, &forwarder, &standby_bus_arn);
    for rule in ["ForwardHealthIssuesRule", "ForwardHealthAlarmsRule"] {
        let target = forwarder["Resources"][rule]["Properties"]["Targets"][0]["Arn"].clone();
        assert_eq!(resolve(&target, &forwarder_params), json!(standby_bus_arn));
        install_rule(
            &world,
            &forwarder,
            rule,
            &forwarder_params,
            PRIMARY_REGION,
            &primary_bus,
            &standby_bus_arn,
        )
        .await;
    }

    for near_miss in [
        "failover-health-near-miss-closed.json",
        "failover-alarm-near-miss-ok.json",
    ] {
        put_sample(&world, PRIMARY_REGION, &primary_bus, &sample(near_miss)).await;
        assert!(
            delivered(&world, STANDBY_REGION, &queue).await.is_empty(),
            "{near_miss} was forwarded and fired"
        );
    }
    put_sample(
        &world,
        PRIMARY_REGION,
        &primary_bus,
        &sample("failover-health.json"),
    )
    .await;
    let got = delivered(&world, STANDBY_REGION, &queue).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_failover_input(
        &got[0],
        &world.env,
        "health",
        &[("eventRegion", PRIMARY_REGION)],
    );

    put_sample(
        &world,
        PRIMARY_REGION,
        &primary_bus,
        &sample("failover-alarm.json"),
    )
    .await;
    let got = delivered(&world, STANDBY_REGION, &queue).await;
    assert_eq!(got.len(), 1, "{got:?}");
    // (moto's cross-region forwarding drops the envelope's `resources`, so alarmArn is not checked
    // here; AWS forwards the event unchanged.)
    assert_failover_input(&got[0], &world.env, "alarm", &[("alarmName", ALARM)]);
}

/// What the template wires up around the rules: they start the failover state machine with the
/// trigger role, are switched by AutomaticFailover, and have a dead-letter queue.
#[test]
fn the_rules_start_the_failover_state_machine_with_the_trigger_role() {
    let doc = load("template.yaml");
    for rule in ["HealthAlarmRule", "HealthIssueRule"] {
        let props = &doc["Resources"][rule]["Properties"];
        let target = &props["Targets"][0];
        let text = serde_yaml::to_string(target).unwrap();
        assert!(text.contains("!Ref FailoverStateMachine"), "{rule}: {text}");
        assert!(
            text.contains("!GetAtt FailoverTriggerRole.Arn"),
            "{rule}: {text}"
        );
        assert!(
            text.contains("FailoverTriggerDeadLetterQueue.Arn"),
            "{rule}: {text}"
        );
        let state = serde_yaml::to_string(&props["State"]).unwrap();
        assert!(
            state.contains("AutomaticFailoverEnabled"),
            "{rule}: {state}"
        );
    }
}

async fn delivered_after(world: &World, bus: &str, queue: &str, event: &Value) -> Vec<Value> {
    put_sample(world, STANDBY_REGION, bus, event).await;
    delivered(world, STANDBY_REGION, queue).await
}

/// The capacity record follows the primary groups' changes: an Auto Scaling launch (or
/// termination) in the primary region is forwarded to the standby's bus, where the stack's rule
/// invokes run-state with the input of the capacity schedule; a failed launch is not forwarded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_changes_in_the_primary_are_forwarded_and_record_the_primary_capacity() {
    let world = World::new("rule-capacity").await;
    let stack = load("template.yaml");
    let forwarder = load("forwarder.yaml");
    let (standby_bus, standby_bus_arn) = event_bus(&world, STANDBY_REGION, "standby-bus").await;
    let (primary_bus, _) = event_bus(&world, PRIMARY_REGION, "primary-bus").await;
    let (queue, queue_arn) = target_queue(&world, STANDBY_REGION, "run-state").await;
    install_rule(
        &world,
        &stack,
        "PrimaryCapacityChangeRule",
        &template_params(&world),
        STANDBY_REGION,
        &standby_bus,
        &queue_arn,
    )
    .await;
    let forwarder_params = forwarder_params(&world, &forwarder, &standby_bus_arn);
    install_rule(
        &world,
        &forwarder,
        "ForwardCapacityChangesRule",
        &forwarder_params,
        PRIMARY_REGION,
        &primary_bus,
        &standby_bus_arn,
    )
    .await;

    put_sample(
        &world,
        PRIMARY_REGION,
        &primary_bus,
        &sample("capacity-near-miss-launch-unsuccessful.json"),
    )
    .await;
    assert!(delivered(&world, STANDBY_REGION, &queue).await.is_empty());

    let launched = sample("capacity-launch-successful.json");
    let mut terminated = launched.clone();
    terminated["detail-type"] = json!("EC2 Instance Terminate Successful");
    for event in [launched, terminated] {
        put_sample(&world, PRIMARY_REGION, &primary_bus, &event).await;
        let got = delivered(&world, STANDBY_REGION, &queue).await;
        assert_eq!(
            got,
            vec![json!({"action": "recordPrimaryCapacity", "env": world.env})],
            "{}",
            event["detail-type"]
        );
    }
    // The target is the run-state function, as the capacity schedule's.
    let target = &stack["Resources"]["PrimaryCapacityChangeRule"]["Properties"]["Targets"][0];
    let arn = format!("{:?}", target["Arn"]);
    assert!(
        arn.contains("GetAtt") && arn.contains("RunStateFunction.Arn"),
        "{arn}"
    );
}
