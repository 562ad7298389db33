//! The handler against mocked Route 53 responses, with the real client: what the emulator cannot
//! produce (`PENDING` changes, throttling, `PriorRequestNotComplete`), the shape of the UPSERT, and
//! "observe everything before changing anything".
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test binary: failing loudly is its job

use aws_sdk_route53::operation::change_resource_record_sets::{
    ChangeResourceRecordSetsError, ChangeResourceRecordSetsInput, ChangeResourceRecordSetsOutput,
};
use aws_sdk_route53::operation::get_change::{GetChangeError, GetChangeOutput};
use aws_sdk_route53::operation::list_resource_record_sets::{
    ListResourceRecordSetsError, ListResourceRecordSetsOutput,
};
use aws_sdk_route53::types::error::{NoSuchChange, NoSuchHostedZone};
use aws_sdk_route53::types::{
    AliasTarget, ChangeAction, ChangeInfo, ChangeStatus, ResourceRecord, ResourceRecordSet,
    ResourceRecordSetFailover, RrType,
};
use aws_sdk_route53::Client;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use pilot_light_core::{PilotLightError, StepStatus};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use switch_traffic::{handler, Clients, SwitchTrafficOutput};

const ZONE: &str = "Z0123456789ABCDEFGHIJ";
const OTHER_ZONE: &str = "Z9999999999ABCDEFGHIJ";
const USW2_ALB: &str = "web-usw2-456.us-west-2.elb.amazonaws.com";
const ALB_ZONE_USW2: &str = "Z1H1FL5HABSF5";

fn cname_config(name: &str, zone: &str, set_identifier: Option<&str>) -> Value {
    let mut record = json!({
        "hostedZoneId": zone,
        "recordName": name,
        "recordType": "CNAME",
        "primary": {"value": "web-use1.example.com"},
        "standby": {"value": "web-usw2.example.com"},
        "ttl": 60
    });
    if let Some(id) = set_identifier {
        record["setIdentifier"] = json!(id);
    }
    record
}

fn event(action: &str, records: Vec<Value>) -> Value {
    json!({"action": action, "to": "standby", "records": records})
}

fn cname_set(name: &str, value: &str, set_identifier: Option<&str>) -> ResourceRecordSet {
    let mut builder = ResourceRecordSet::builder()
        .name(name)
        .r#type(RrType::Cname)
        .ttl(300)
        .resource_records(ResourceRecord::builder().value(value).build().unwrap());
    if let Some(id) = set_identifier {
        builder = builder
            .set_identifier(id)
            .failover(ResourceRecordSetFailover::Primary)
            .health_check_id("11111111-2222-3333-4444-555555555555");
    }
    builder.build().unwrap()
}

fn listing(sets: Vec<ResourceRecordSet>) -> Rule {
    mock!(Client::list_resource_record_sets).then_output(move || {
        ListResourceRecordSetsOutput::builder()
            .set_resource_record_sets(Some(sets.clone()))
            .is_truncated(false)
            .max_items(100)
            .build()
            .unwrap()
    })
}

fn change_info(status: ChangeStatus) -> ChangeInfo {
    ChangeInfo::builder()
        .id("/change/C0123456789")
        .status(status)
        .submitted_at(aws_smithy_types::DateTime::from_secs(1_700_000_000))
        .build()
        .unwrap()
}

/// A change rule that records every request it answers.
fn change_returns(status: ChangeStatus) -> (Rule, Arc<Mutex<Vec<ChangeResourceRecordSetsInput>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let rule = mock!(Client::change_resource_record_sets).then_compute_output(move |input| {
        log.lock().unwrap().push(input.clone());
        ChangeResourceRecordSetsOutput::builder()
            .change_info(change_info(status.clone()))
            .build()
    });
    (rule, seen)
}

fn get_change_returns(status: ChangeStatus) -> Rule {
    mock!(Client::get_change).then_output(move || {
        GetChangeOutput::builder()
            .change_info(change_info(status.clone()))
            .build()
    })
}

fn clients(rules: &[&Rule]) -> Clients {
    Clients {
        route53: mock_client!(aws_sdk_route53, RuleMode::MatchAny, rules, |c| c
            .retry_config(
                aws_sdk_route53::config::retry::RetryConfig::standard().with_max_attempts(3)
            )),
    }
}

async fn run(event: Value, rules: &[&Rule]) -> Result<SwitchTrafficOutput, PilotLightError> {
    handler(event, &clients(rules)).await
}

#[tokio::test]
async fn switch_upserts_only_the_record_that_differs_keeping_its_routing_fields() {
    let list = mock!(Client::list_resource_record_sets).then_compute_output(|input| {
        let name = input.start_record_name().unwrap_or_default();
        let set = if name.starts_with("app.") {
            cname_set("app.example.com.", "web-use1.example.com", Some("use1"))
        } else {
            cname_set("api.example.com.", "web-usw2.example.com.", None)
        };
        ListResourceRecordSetsOutput::builder()
            .resource_record_sets(set)
            .is_truncated(false)
            .max_items(100)
            .build()
            .unwrap()
    });
    let (change, seen) = change_returns(ChangeStatus::Pending);
    let out = run(
        event(
            "switch",
            vec![
                cname_config("app.example.com", ZONE, Some("use1")),
                cname_config("api.example.com", ZONE, None),
            ],
        ),
        &[&list, &change],
    )
    .await
    .unwrap();

    // Route 53 answered PENDING: the switch has started; poll `status` with the change id.
    assert_eq!(out.status, StepStatus::Started);
    assert_eq!(out.change_ids, vec!["/change/C0123456789".to_string()]);
    assert!(out.records[0].changed);
    assert!(!out.records[1].changed, "already on the standby");
    assert_eq!(
        out.records[0].from.value.as_deref(),
        Some("web-use1.example.com")
    );
    assert_eq!(
        out.records[0].to.value.as_deref(),
        Some("web-usw2.example.com")
    );
    assert_eq!(
        out.resources,
        vec![format!("arn:aws:route53:::hostedzone/{ZONE}")]
    );

    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    let request = &seen[0];
    assert_eq!(request.hosted_zone_id(), Some(ZONE));
    let batch = request.change_batch().unwrap();
    assert_eq!(batch.changes().len(), 1, "only the record that differs");
    let upsert = &batch.changes()[0];
    assert_eq!(upsert.action(), &ChangeAction::Upsert);
    let set = upsert.resource_record_set().unwrap();
    assert_eq!(set.name(), "app.example.com.");
    assert_eq!(set.set_identifier(), Some("use1"));
    assert_eq!(set.failover(), Some(&ResourceRecordSetFailover::Primary));
    assert_eq!(
        set.health_check_id(),
        Some("11111111-2222-3333-4444-555555555555")
    );
    assert_eq!(set.ttl(), Some(300), "the record's own TTL is kept");
    assert_eq!(set.resource_records()[0].value(), "web-usw2.example.com");
    assert!(batch.comment().unwrap_or_default().contains("standby"));

    let json = serde_json::to_value(&out).unwrap();
    assert_eq!(json["changeIds"][0], "/change/C0123456789");
    assert_eq!(json["records"][0]["setIdentifier"], "use1");
    assert_eq!(json["records"][0]["from"]["value"], "web-use1.example.com");
    assert!(json["records"][1].get("setIdentifier").is_none());
}

#[tokio::test]
async fn status_is_in_progress_while_pending_and_done_when_insync() {
    let list = listing(vec![cname_set(
        "app.example.com.",
        "web-usw2.example.com",
        None,
    )]);
    let mut input = event("status", vec![cname_config("app.example.com", ZONE, None)]);
    input["changeIds"] = json!(["/change/C0123456789"]);

    let pending = get_change_returns(ChangeStatus::Pending);
    let out = run(input.clone(), &[&list, &pending]).await.unwrap();
    assert_eq!(out.status, StepStatus::InProgress);
    assert_eq!(pending.num_calls(), 1);

    let insync = get_change_returns(ChangeStatus::Insync);
    let (change, seen) = change_returns(ChangeStatus::Insync);
    let out = run(input, &[&list, &insync, &change]).await.unwrap();
    assert_eq!(out.status, StepStatus::Done);
    assert!(out.records.iter().all(|r| !r.changed));
    assert!(
        seen.lock().unwrap().is_empty(),
        "status never changes records"
    );
}

#[tokio::test]
async fn an_alias_is_switched_to_the_standby_load_balancer() {
    let list = listing(vec![ResourceRecordSet::builder()
        .name("app.example.com.")
        .r#type(RrType::A)
        .alias_target(
            AliasTarget::builder()
                .dns_name("dualstack.web-use1-123.us-east-1.elb.amazonaws.com.")
                .hosted_zone_id("Z35SXDOTRQ7X7K")
                .evaluate_target_health(true)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()]);
    let (change, seen) = change_returns(ChangeStatus::Insync);
    let record = json!({
        "hostedZoneId": ZONE, "recordName": "app.example.com", "recordType": "A",
        "primary": {"aliasDnsName": "web-use1-123.us-east-1.elb.amazonaws.com", "aliasHostedZoneId": "Z35SXDOTRQ7X7K"},
        "standby": {"aliasDnsName": USW2_ALB, "aliasHostedZoneId": ALB_ZONE_USW2}
    });
    let out = run(event("switch", vec![record]), &[&list, &change])
        .await
        .unwrap();
    assert_eq!(out.status, StepStatus::Done, "INSYNC at once");
    let seen = seen.lock().unwrap();
    let set = seen[0].change_batch().unwrap().changes()[0]
        .resource_record_set()
        .unwrap()
        .clone();
    let alias = set.alias_target().unwrap();
    assert_eq!(alias.dns_name(), USW2_ALB);
    assert_eq!(alias.hosted_zone_id(), ALB_ZONE_USW2);
    assert!(alias.evaluate_target_health(), "kept from the record");
    assert_eq!(set.ttl(), None);
}

#[tokio::test]
async fn records_in_two_zones_make_two_changes() {
    let list = listing(vec![cname_set(
        "app.example.com.",
        "web-use1.example.com",
        None,
    )]);
    let (change, seen) = change_returns(ChangeStatus::Pending);
    let out = run(
        event(
            "switch",
            vec![
                cname_config("app.example.com", ZONE, None),
                cname_config(
                    "app.example.com",
                    &format!("/hostedzone/{OTHER_ZONE}"),
                    None,
                ),
            ],
        ),
        &[&list, &change],
    )
    .await
    .unwrap();
    assert_eq!(out.change_ids.len(), 2);
    let zones: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.hosted_zone_id().unwrap_or_default().to_string())
        .collect();
    assert_eq!(zones, vec![ZONE.to_string(), OTHER_ZONE.to_string()]);
}

#[tokio::test]
async fn the_record_with_the_configured_set_identifier_is_the_one_switched() {
    // Route 53 lists every set identifier of a name and type; the one configured is picked.
    let list = listing(vec![
        cname_set("app.example.com.", "web-use1.example.com", Some("a-other")),
        cname_set("app.example.com.", "web-use1.example.com", Some("use1")),
    ]);
    let (change, seen) = change_returns(ChangeStatus::Insync);
    run(
        event(
            "switch",
            vec![cname_config("app.example.com", ZONE, Some("use1"))],
        ),
        &[&list, &change],
    )
    .await
    .unwrap();
    let seen = seen.lock().unwrap();
    let changes = seen[0].change_batch().unwrap().changes();
    assert_eq!(changes.len(), 1);
    assert_eq!(
        changes[0].resource_record_set().unwrap().set_identifier(),
        Some("use1")
    );
}

#[tokio::test]
async fn a_listing_that_pages_through_set_identifiers_is_followed() {
    let first = ListResourceRecordSetsOutput::builder()
        .resource_record_sets(cname_set(
            "app.example.com.",
            "web-use1.example.com",
            Some("a-other"),
        ))
        .is_truncated(true)
        .next_record_name("app.example.com.")
        .next_record_type(RrType::Cname)
        .next_record_identifier("use1")
        .max_items(1)
        .build()
        .unwrap();
    let second = ListResourceRecordSetsOutput::builder()
        .resource_record_sets(cname_set(
            "app.example.com.",
            "web-usw2.example.com",
            Some("use1"),
        ))
        .is_truncated(false)
        .max_items(1)
        .build()
        .unwrap();
    // As moto does (it ignores StartRecordIdentifier), the first page starts at another identifier.
    let list = mock!(Client::list_resource_record_sets)
        .sequence()
        .output(move || first.clone())
        .output(move || second.clone())
        .build();
    let (change, seen) = change_returns(ChangeStatus::Insync);
    let out = run(
        event(
            "switch",
            vec![cname_config("app.example.com", ZONE, Some("use1"))],
        ),
        &[&list, &change],
    )
    .await
    .unwrap();
    assert_eq!(
        out.status,
        StepStatus::AlreadyDone,
        "use1 already points at the standby"
    );
    assert_eq!(list.num_calls(), 2, "the second page was read");
    assert!(seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_second_switch_is_already_done_without_a_change_call() {
    let list = listing(vec![cname_set(
        "app.example.com.",
        "WEB-USW2.example.com.",
        None,
    )]);
    let (change, seen) = change_returns(ChangeStatus::Insync);
    let out = run(
        event("switch", vec![cname_config("app.example.com", ZONE, None)]),
        &[&list, &change],
    )
    .await
    .unwrap();
    assert_eq!(out.status, StepStatus::AlreadyDone);
    assert!(out.change_ids.is_empty());
    assert!(seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_missing_hosted_zone_is_resource_not_found() {
    let list = mock!(Client::list_resource_record_sets).then_error(|| {
        ListResourceRecordSetsError::NoSuchHostedZone(
            NoSuchHostedZone::builder()
                .message("No hosted zone found with ID: Z0123456789ABCDEFGHIJ")
                .build(),
        )
    });
    let (change, seen) = change_returns(ChangeStatus::Insync);
    let err = run(
        event("switch", vec![cname_config("app.example.com", ZONE, None)]),
        &[&list, &change],
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type(), "ResourceNotFound");
    assert!(err.to_string().starts_with("HostedZone"), "{err}");
    assert!(err.to_string().contains(ZONE), "{err}");
    assert!(seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_missing_record_fails_before_any_record_is_changed() {
    // The first record needs a change; the second does not exist (Route 53 lists the next name).
    let list = mock!(Client::list_resource_record_sets).then_compute_output(|input| {
        let set = if input.start_record_name() == Some("app.example.com") {
            cname_set("app.example.com.", "web-use1.example.com", None)
        } else {
            cname_set("zzz.example.com.", "elsewhere.example.com", None)
        };
        ListResourceRecordSetsOutput::builder()
            .resource_record_sets(set)
            .is_truncated(false)
            .max_items(100)
            .build()
            .unwrap()
    });
    let (change, seen) = change_returns(ChangeStatus::Insync);
    let err = run(
        event(
            "switch",
            vec![
                cname_config("app.example.com", ZONE, None),
                cname_config("typo.example.com", ZONE, None),
            ],
        ),
        &[&list, &change],
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type(), "ResourceNotFound");
    assert!(err.to_string().contains("typo.example.com CNAME"), "{err}");
    assert!(seen.lock().unwrap().is_empty(), "no record may be changed");
}

#[tokio::test]
async fn an_empty_zone_is_a_missing_record() {
    let list = listing(vec![]);
    let err = run(
        event("switch", vec![cname_config("app.example.com", ZONE, None)]),
        &[&list],
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type(), "ResourceNotFound");
}

#[tokio::test]
async fn an_unknown_change_id_is_resource_not_found() {
    let list = listing(vec![cname_set(
        "app.example.com.",
        "web-usw2.example.com",
        None,
    )]);
    let get = mock!(Client::get_change).then_error(|| {
        GetChangeError::NoSuchChange(NoSuchChange::builder().message("no such change").build())
    });
    let mut input = event("status", vec![cname_config("app.example.com", ZONE, None)]);
    input["changeIds"] = json!(["C-unknown"]);
    let err = run(input, &[&list, &get]).await.unwrap_err();
    assert_eq!(err.error_type(), "ResourceNotFound");
    assert!(err.to_string().contains("C-unknown"), "{err}");
}

#[tokio::test]
async fn status_of_records_that_never_switched_is_invalid_state() {
    let list = listing(vec![cname_set(
        "app.example.com.",
        "web-use1.example.com",
        None,
    )]);
    let err = run(
        event("status", vec![cname_config("app.example.com", ZONE, None)]),
        &[&list],
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type(), "InvalidState");
}

#[tokio::test]
async fn throttling_is_retried_by_the_sdk_then_surfaced_as_throttled() {
    let throttled = mock!(Client::list_resource_record_sets)
        .sequence()
        .http_status(400, Some(throttling_body("Throttling")))
        .times(3)
        .build();
    let err = run(
        event("switch", vec![cname_config("app.example.com", ZONE, None)]),
        &[&throttled],
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type(), "Throttled");
    assert_eq!(
        throttled.num_calls(),
        3,
        "the SDK retries throttling before we see it"
    );
}

#[tokio::test]
async fn prior_request_not_complete_is_throttled() {
    let list = listing(vec![cname_set(
        "app.example.com.",
        "web-use1.example.com",
        None,
    )]);
    let busy = mock!(Client::change_resource_record_sets)
        .sequence()
        .http_status(400, Some(throttling_body("PriorRequestNotComplete")))
        .times(3)
        .build();
    let err = run(
        event("switch", vec![cname_config("app.example.com", ZONE, None)]),
        &[&list, &busy],
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type(), "Throttled");
    assert_eq!(busy.num_calls(), 3);
}

#[tokio::test]
async fn an_invalid_change_batch_is_a_typed_aws_error() {
    let list = listing(vec![cname_set(
        "app.example.com.",
        "web-use1.example.com",
        None,
    )]);
    let refused = mock!(Client::change_resource_record_sets).then_error(|| {
        ChangeResourceRecordSetsError::InvalidChangeBatch(
            aws_sdk_route53::types::error::InvalidChangeBatch::builder()
                .message("Tried to create an alias that targets nothing")
                .build(),
        )
    });
    let err = run(
        event("switch", vec![cname_config("app.example.com", ZONE, None)]),
        &[&list, &refused],
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type(), "AwsServiceError");
    assert!(
        err.to_string().contains("ChangeResourceRecordSets"),
        "{err}"
    );
}

#[tokio::test]
async fn bad_input_gives_typed_errors_and_makes_no_call() {
    let list = listing(vec![]);
    let base = || event("switch", vec![cname_config("app.example.com", ZONE, None)]);
    let edit = |f: &dyn Fn(&mut Value)| {
        let mut e = base();
        f(&mut e);
        e
    };
    let cases: Vec<(Value, &str, &str)> = vec![
        (json!("not an object"), "InvalidInput", "invalid type"),
        (json!({"action": "flip"}), "UnknownAction", "flip"),
        (edit(&|e| e["to"] = json!("moon")), "InvalidInput", "to"),
        (
            edit(&|e| {
                e.as_object_mut().unwrap().remove("records");
            }),
            "InvalidInput",
            "records",
        ),
        (
            edit(&|e| e["records"][0]["recordType"] = json!("MX")),
            "InvalidInput",
            "records[0].recordType",
        ),
        (
            edit(&|e| e["records"][0]["hostedZoneId"] = json!("")),
            "InvalidInput",
            "records[0].hostedZoneId",
        ),
        (
            edit(&|e| e["records"][0]["standby"] = json!({"aliasDnsName": "x.example.com"})),
            "InvalidInput",
            "records[0].standby",
        ),
        (
            edit(&|e| e["records"][0]["primary"] = json!({})),
            "InvalidInput",
            "records[0].primary",
        ),
        (
            edit(&|e| {
                e["records"][0]["recordType"] = json!("A");
            }),
            "InvalidInput",
            "records[0].primary",
        ),
        (
            edit(&|e| {
                let first = e["records"][0].clone();
                e["records"].as_array_mut().unwrap().push(first);
            }),
            "InvalidInput",
            "records[1]",
        ),
        (
            edit(&|e| e["changeIds"] = json!([""])),
            "InvalidInput",
            "changeIds[0]",
        ),
        (
            edit(&|e| e["changeId"] = json!("C1")),
            "InvalidInput",
            "changeId",
        ),
    ];
    for (input, error_type, mentions) in cases {
        let err = run(input.clone(), &[&list]).await.unwrap_err();
        assert_eq!(err.error_type(), error_type, "{input}: {err}");
        assert!(
            err.to_string().contains(mentions),
            "{input}: `{err}` should mention `{mentions}`"
        );
    }
    assert_eq!(list.num_calls(), 0, "bad input must not reach AWS");
}

fn throttling_body(code: &str) -> String {
    format!(
        r#"<?xml version="1.0"?>
<ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Error><Type>Sender</Type><Code>{code}</Code><Message>Rate exceeded</Message></Error><RequestId>1</RequestId></ErrorResponse>"#
    )
}
