//! `toggle-functions` and `switch-traffic` run directly (not through Lambda) against the emulated
//! Lambda, EventBridge and Route 53. The world is asserted afterwards with describe calls and the
//! emulator's request log ("a second run makes no update call").
//!
//! The tests of this binary take turns (one lock): the request log is shared, and Lambda's and
//! Route 53's REST calls carry the resource in the path, where the log does not look.

use aws_sdk_route53::types::{ResourceRecordSetFailover, RrType};
use pilot_light_core::{Regional, StepStatus};
use pilot_light_e2e::dns::ROUTE53_REGION;
use pilot_light_e2e::{World, STANDBY_REGION};
use serde_json::{json, Value};
use tokio::sync::Mutex;

static TURNS: Mutex<()> = Mutex::const_new(());

/// The operations that change a function's side or a record.
const UPDATES: &[&str] = &[
    "UpdateEventSourceMapping",
    "PutFunctionConcurrency",
    "DeleteFunctionConcurrency",
    "EnableRule",
    "DisableRule",
    "ChangeResourceRecordSets",
];

/// Update calls logged after `since`.
fn updates_since(world: &World, since: u64) -> Vec<String> {
    world
        .requests_since(since)
        .0
        .into_iter()
        .filter(|r| UPDATES.contains(&r.action.as_str()))
        .map(|r| r.action)
        .collect()
}

fn toggle_clients(world: &World) -> toggle_functions::Clients {
    toggle_functions::Clients {
        lambda: Regional::new(world.config(STANDBY_REGION), aws_sdk_lambda::Client::new),
        events: Regional::new(
            world.config(STANDBY_REGION),
            aws_sdk_eventbridge::Client::new,
        ),
    }
}

fn switch_clients(world: &World) -> switch_traffic::Clients {
    switch_traffic::Clients {
        route53: aws_sdk_route53::Client::new(&world.config(ROUTE53_REGION)),
    }
}

fn toggle_event(action: &str, functions: Vec<Value>) -> Value {
    json!({"action": action, "region": STANDBY_REGION, "side": "standby", "functions": functions})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enable_then_disable_a_dr_consumer_and_every_second_run_changes_nothing() {
    let _turn = TURNS.lock().await;
    let world = World::new("toggle").await;
    let consumer = world.seed_dr_function(STANDBY_REGION, "consumer").await;
    let clients = toggle_clients(&world);
    let functions = vec![world.function_config_entry("consumer", &consumer, Some(5))];

    // The pilot light as seeded.
    assert_eq!(
        world
            .mapping_state(STANDBY_REGION, &consumer.mapping_uuid)
            .await,
        "Disabled"
    );
    assert_eq!(
        world
            .reserved_concurrency_of(STANDBY_REGION, &consumer.function_name)
            .await,
        Some(0)
    );

    // enable: everything switched on, each change reported with from/to.
    let before = world.last_request_seq();
    let enabled = toggle_functions::handler(toggle_event("enable", functions.clone()), &clients)
        .await
        .unwrap();
    assert_eq!(enabled.status, StepStatus::Done);
    // The log sees each update (so "no update call" below means something).
    assert_eq!(
        updates_since(&world, before),
        vec![
            "PutFunctionConcurrency",
            "EnableRule",
            "UpdateEventSourceMapping"
        ]
    );
    let changes: Vec<(String, String, String)> = enabled
        .changes
        .iter()
        .map(|c| (format!("{:?}", c.kind), c.from.clone(), c.to.clone()))
        .collect();
    assert_eq!(
        changes,
        vec![
            ("Concurrency".into(), "0".into(), "5".into()),
            ("Rule".into(), "DISABLED".into(), "ENABLED".into()),
            (
                "EventSourceMapping".into(),
                "Disabled".into(),
                "Enabled".into()
            ),
        ]
    );
    assert!(enabled.resources.contains(&consumer.function_arn));
    assert_eq!(
        world
            .mapping_state(STANDBY_REGION, &consumer.mapping_uuid)
            .await,
        "Enabled"
    );
    assert_eq!(
        world
            .reserved_concurrency_of(STANDBY_REGION, &consumer.function_name)
            .await,
        Some(5)
    );
    assert_eq!(
        world.rule_state(STANDBY_REGION, &consumer.rule_name).await,
        "ENABLED"
    );

    // enable again: observed, nothing to change, no update call.
    let before = world.last_request_seq();
    let again = toggle_functions::handler(toggle_event("enable", functions.clone()), &clients)
        .await
        .unwrap();
    assert_eq!(again.status, StepStatus::AlreadyDone);
    assert!(again.changes.is_empty());
    assert_eq!(updates_since(&world, before), Vec::<String>::new());
    assert!(
        !world
            .calls_on(before, "DescribeRule", &consumer.rule_name)
            .is_empty(),
        "the re-run must observe the rule"
    );

    // status: settled and on.
    let status = toggle_functions::handler(toggle_event("status", functions.clone()), &clients)
        .await
        .unwrap();
    assert_eq!(status.status, StepStatus::Done);
    assert_eq!(
        status.functions[0].state,
        toggle_functions::FunctionState::Enabled
    );

    // disable: the reverse.
    let disabled = toggle_functions::handler(toggle_event("disable", functions.clone()), &clients)
        .await
        .unwrap();
    assert_eq!(disabled.status, StepStatus::Done);
    assert_eq!(disabled.changes.len(), 3);
    assert_eq!(
        world
            .mapping_state(STANDBY_REGION, &consumer.mapping_uuid)
            .await,
        "Disabled"
    );
    assert_eq!(
        world
            .reserved_concurrency_of(STANDBY_REGION, &consumer.function_name)
            .await,
        Some(0)
    );
    assert_eq!(
        world.rule_state(STANDBY_REGION, &consumer.rule_name).await,
        "DISABLED"
    );
    let before = world.last_request_seq();
    let again = toggle_functions::handler(toggle_event("disable", functions), &clients)
        .await
        .unwrap();
    assert_eq!(again.status, StepStatus::AlreadyDone);
    assert_eq!(updates_since(&world, before), Vec::<String>::new());
    assert_eq!(
        again.functions[0].state,
        toggle_functions::FunctionState::Disabled
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enable_without_a_configured_concurrency_removes_the_reservation() {
    let _turn = TURNS.lock().await;
    let world = World::new("unreserved").await;
    let consumer = world.seed_dr_function(STANDBY_REGION, "consumer").await;
    let clients = toggle_clients(&world);
    let functions = vec![world.function_config_entry("consumer", &consumer, None)];

    let before = world.last_request_seq();
    let enabled = toggle_functions::handler(toggle_event("enable", functions.clone()), &clients)
        .await
        .unwrap();
    assert_eq!(enabled.status, StepStatus::Done);
    assert_eq!(
        updates_since(&world, before),
        vec![
            "DeleteFunctionConcurrency",
            "EnableRule",
            "UpdateEventSourceMapping"
        ]
    );
    assert_eq!(enabled.changes[0].from, "0");
    assert_eq!(enabled.changes[0].to, "unreserved");
    assert_eq!(
        world
            .reserved_concurrency_of(STANDBY_REGION, &consumer.function_name)
            .await,
        None
    );
    assert_eq!(
        world
            .mapping_state(STANDBY_REGION, &consumer.mapping_uuid)
            .await,
        "Enabled"
    );

    let before = world.last_request_seq();
    let again = toggle_functions::handler(toggle_event("enable", functions), &clients)
        .await
        .unwrap();
    assert_eq!(again.status, StepStatus::AlreadyDone);
    assert_eq!(updates_since(&world, before), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_function_mapping_or_rule_is_resource_not_found_and_nothing_changes() {
    let _turn = TURNS.lock().await;
    let world = World::new("missing").await;
    let consumer = world.seed_dr_function(STANDBY_REGION, "consumer").await;
    let clients = toggle_clients(&world);
    let entry = world.function_config_entry("consumer", &consumer, Some(5));

    let mut no_function = entry.clone();
    no_function["standby"]["functionName"] = json!(world.name("no-such-function"));
    let mut no_mapping = entry.clone();
    no_mapping["standby"]["eventSourceMappingUuids"] =
        json!(["00000000-0000-0000-0000-000000000000"]);
    let mut no_rule = entry.clone();
    no_rule["standby"]["eventBridgeRules"] = json!([world.name("no-such-rule")]);

    let cases = [
        (no_function, "Function"),
        (no_mapping, "EventSourceMapping"),
        (no_rule, "Rule"),
    ];
    for (function, kind) in cases {
        let before = world.last_request_seq();
        let err = toggle_functions::handler(toggle_event("enable", vec![function]), &clients)
            .await
            .unwrap_err();
        assert_eq!(err.error_type(), "ResourceNotFound", "{kind}: {err}");
        assert!(
            err.to_string().starts_with(&format!("{kind} `")),
            "{kind}: {err}"
        );
        assert_eq!(
            updates_since(&world, before),
            Vec::<String>::new(),
            "{kind}"
        );
    }
    // The function the other settings belong to is untouched.
    assert_eq!(
        world
            .reserved_concurrency_of(STANDBY_REGION, &consumer.function_name)
            .await,
        Some(0)
    );
    assert_eq!(
        world
            .mapping_state(STANDBY_REGION, &consumer.mapping_uuid)
            .await,
        "Disabled"
    );
}

const USE1_ALB: &str = "web-use1-1234567890.us-east-1.elb.amazonaws.com";
const USE1_ALB_ZONE: &str = "Z35SXDOTRQ7X7K";
const USW2_ALB: &str = "web-usw2-0987654321.us-west-2.elb.amazonaws.com";
const USW2_ALB_ZONE: &str = "Z1H1FL5HABSF5";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_a_cname_and_an_alias_to_the_standby_and_back() {
    let _turn = TURNS.lock().await;
    let world = World::new("dns").await;
    let zone = world.seed_hosted_zone().await;
    let app = zone.record_name("app");
    let api = zone.record_name("api");
    let lb = zone.record_name("lb");
    // A plain CNAME, a failover-routed CNAME (set identifier, TTL 300), an alias A record.
    world
        .seed_cname(&zone, &app, "web-use1.example.com", 60, None)
        .await;
    world
        .seed_cname(
            &zone,
            &api,
            "api-use1.example.com",
            300,
            Some(("api-primary", ResourceRecordSetFailover::Primary)),
        )
        .await;
    world
        .seed_alias(&zone, &lb, RrType::A, USE1_ALB, USE1_ALB_ZONE)
        .await;
    let records = vec![
        world.cname_record_config(
            &zone,
            &app,
            "web-use1.example.com",
            "web-usw2.example.com",
            None,
        ),
        world.cname_record_config(
            &zone,
            &api,
            "api-use1.example.com",
            "api-usw2.example.com",
            Some("api-primary"),
        ),
        world.alias_record_config(
            &zone,
            &lb,
            "A",
            (USE1_ALB, USE1_ALB_ZONE),
            (USW2_ALB, USW2_ALB_ZONE),
        ),
    ];
    let clients = switch_clients(&world);
    let switch = |to: &str| json!({"action": "switch", "to": to, "records": records});

    // To the standby: every record changes, in one change batch (one zone).
    let before = world.last_request_seq();
    let out = switch_traffic::handler(switch("standby"), &clients)
        .await
        .unwrap();
    assert_eq!(
        updates_since(&world, before),
        vec!["ChangeResourceRecordSets"]
    );
    assert!(world
        .requests_since(before)
        .0
        .iter()
        .filter(|r| r.service == "route53")
        .all(|r| r.region.as_deref() == Some(ROUTE53_REGION)));
    assert_eq!(out.status, StepStatus::Done, "moto answers INSYNC at once");
    assert_eq!(out.change_ids.len(), 1);
    assert!(out.records.iter().all(|r| r.changed), "{:?}", out.records);
    assert_eq!(
        out.resources,
        vec![format!("arn:aws:route53:::hostedzone/{}", zone.id)]
    );

    // The world: the values changed, the routing fields did not.
    let app_set = world
        .record_set(&zone, &app, RrType::Cname, None)
        .await
        .expect("app record");
    assert_eq!(
        app_set.resource_records()[0].value(),
        "web-usw2.example.com"
    );
    assert_eq!(app_set.ttl(), Some(60));
    let api_set = world
        .record_set(&zone, &api, RrType::Cname, Some("api-primary"))
        .await
        .expect("api record with its set identifier");
    assert_eq!(
        api_set.resource_records()[0].value(),
        "api-usw2.example.com"
    );
    assert_eq!(api_set.ttl(), Some(300));
    assert_eq!(
        api_set.failover(),
        Some(&ResourceRecordSetFailover::Primary)
    );
    let lb_set = world
        .record_set(&zone, &lb, RrType::A, None)
        .await
        .expect("alias record");
    let alias = lb_set.alias_target().expect("still an alias");
    assert_eq!(alias.dns_name().trim_end_matches('.'), USW2_ALB);
    assert_eq!(alias.hosted_zone_id(), USW2_ALB_ZONE);
    assert_eq!(
        world.record_sets(&zone).await.len(),
        3,
        "no record added or lost"
    );

    // status with the change id: done (INSYNC, and every record points at the standby).
    let status = switch_traffic::handler(
        json!({"action": "status", "to": "standby", "records": records, "changeIds": out.change_ids}),
        &clients,
    )
    .await
    .unwrap();
    assert_eq!(status.status, StepStatus::Done);

    // Again: nothing differs, no change call.
    let before = world.last_request_seq();
    let again = switch_traffic::handler(switch("standby"), &clients)
        .await
        .unwrap();
    assert_eq!(again.status, StepStatus::AlreadyDone);
    assert!(again.change_ids.is_empty());
    assert!(again.records.iter().all(|r| !r.changed));
    assert_eq!(updates_since(&world, before), Vec::<String>::new());

    // And back to the primary.
    let back = switch_traffic::handler(switch("primary"), &clients)
        .await
        .unwrap();
    assert_eq!(back.status, StepStatus::Done);
    assert!(back.records.iter().all(|r| r.changed));
    let app_set = world
        .record_set(&zone, &app, RrType::Cname, None)
        .await
        .expect("app record");
    assert_eq!(
        app_set.resource_records()[0].value(),
        "web-use1.example.com"
    );
    let api_set = world
        .record_set(&zone, &api, RrType::Cname, Some("api-primary"))
        .await
        .expect("api record");
    assert_eq!(
        api_set.resource_records()[0].value(),
        "api-use1.example.com"
    );
    assert_eq!(api_set.ttl(), Some(300));
    let lb_set = world
        .record_set(&zone, &lb, RrType::A, None)
        .await
        .expect("alias record");
    assert_eq!(
        lb_set
            .alias_target()
            .map(|a| a.dns_name().trim_end_matches('.')),
        Some(USE1_ALB)
    );
    let before = world.last_request_seq();
    let again = switch_traffic::handler(switch("primary"), &clients)
        .await
        .unwrap();
    assert_eq!(again.status, StepStatus::AlreadyDone);
    assert_eq!(updates_since(&world, before), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_hosted_zone_or_record_is_resource_not_found() {
    let _turn = TURNS.lock().await;
    let world = World::new("nozone").await;
    let zone = world.seed_hosted_zone().await;
    let app = zone.record_name("app");
    world
        .seed_cname(&zone, &app, "web-use1.example.com", 60, None)
        .await;
    let clients = switch_clients(&world);

    let mut wrong_zone =
        world.cname_record_config(&zone, &app, "a.example.com", "b.example.com", None);
    wrong_zone["hostedZoneId"] = json!("ZNOSUCHZONE0000000000");
    let typo = world.cname_record_config(
        &zone,
        &zone.record_name("typo"),
        "a.example.com",
        "b.example.com",
        None,
    );
    let other_set = world.cname_record_config(
        &zone,
        &app,
        "web-use1.example.com",
        "web-usw2.example.com",
        Some("no-such-set"),
    );
    let cases = [
        (wrong_zone, "HostedZone"),
        (typo, "ResourceRecordSet"),
        (other_set, "ResourceRecordSet"),
    ];
    for (record, kind) in cases {
        let before = world.last_request_seq();
        let err = switch_traffic::handler(
            json!({"action": "switch", "to": "standby", "records": [record]}),
            &clients,
        )
        .await
        .unwrap_err();
        assert_eq!(err.error_type(), "ResourceNotFound", "{kind}: {err}");
        assert!(
            err.to_string().starts_with(&format!("{kind} `")),
            "{kind}: {err}"
        );
        assert_eq!(updates_since(&world, before), Vec::<String>::new());
    }
    let app_set = world
        .record_set(&zone, &app, RrType::Cname, None)
        .await
        .expect("app record");
    assert_eq!(
        app_set.resource_records()[0].value(),
        "web-use1.example.com",
        "untouched"
    );
}
