//! Table tests of the decisions, the input checks and the zone ids.

use super::*;
use crate::decide::wanted_target;
use aws_sdk_route53::types::{
    AliasTarget, ResourceRecord, ResourceRecordSet, ResourceRecordSetFailover, RrType,
};

fn cname(value: &str) -> RecordTarget {
    RecordTarget {
        value: Some(value.into()),
        alias_dns_name: None,
        alias_hosted_zone_id: None,
    }
}

fn alias(name: &str, zone: &str) -> RecordTarget {
    RecordTarget {
        value: None,
        alias_dns_name: Some(name.into()),
        alias_hosted_zone_id: Some(zone.into()),
    }
}

fn record(primary: RecordTarget, standby: RecordTarget) -> DnsRecordConfig {
    DnsRecordConfig {
        hosted_zone_id: "Z1".into(),
        record_name: "app.example.com".into(),
        record_type: if primary.value.is_some() {
            "CNAME"
        } else {
            "A"
        }
        .into(),
        primary,
        standby,
        set_identifier: None,
        ttl: 60,
    }
}

const USE1_ALB: &str = "web-use1-123.us-east-1.elb.amazonaws.com";
const USW2_ALB: &str = "web-usw2-456.us-west-2.elb.amazonaws.com";
const ZONE_USE1: &str = "Z35SXDOTRQ7X7K";
const ZONE_USW2: &str = "Z1H1FL5HABSF5";

#[test]
fn which_records_need_a_change() {
    let web = record(cname("web-use1.example.com"), cname("web-usw2.example.com"));
    let lb = record(alias(USE1_ALB, ZONE_USE1), alias(USW2_ALB, ZONE_USW2));
    let cases: Vec<(&DnsRecordConfig, RecordTarget, Side, bool)> = vec![
        (&web, cname("web-use1.example.com"), Side::Standby, true),
        (&web, cname("web-usw2.example.com"), Side::Standby, false),
        // Route 53 answers with a trailing dot and may change the case.
        (&web, cname("WEB-USW2.example.com."), Side::Standby, false),
        (&web, cname("web-usw2.example.com."), Side::Primary, true),
        (&web, cname("web-use1.example.com."), Side::Primary, false),
        // Pointing somewhere else entirely: switched too.
        (&web, cname("maintenance.example.com"), Side::Primary, true),
        // An alias where a CNAME value is wanted differs.
        (
            &web,
            alias("web-usw2.example.com", "Z1"),
            Side::Standby,
            true,
        ),
        (&lb, alias(USE1_ALB, ZONE_USE1), Side::Standby, true),
        (
            &lb,
            alias(&format!("{USW2_ALB}."), ZONE_USW2),
            Side::Standby,
            false,
        ),
        (
            &lb,
            alias(&format!("dualstack.{USW2_ALB}."), ZONE_USW2),
            Side::Standby,
            false,
        ),
        (
            &lb,
            alias(&USW2_ALB.to_uppercase(), "z1h1fl5habsf5"),
            Side::Standby,
            false,
        ),
        // Same name, other zone: not the same target.
        (&lb, alias(USW2_ALB, ZONE_USE1), Side::Standby, true),
        (&lb, cname(USW2_ALB), Side::Standby, true),
        (&lb, alias(USE1_ALB, ZONE_USE1), Side::Primary, false),
        // A record with no value at all.
        (
            &lb,
            RecordTarget {
                value: None,
                alias_dns_name: None,
                alias_hosted_zone_id: None,
            },
            Side::Primary,
            true,
        ),
    ];
    for (config, current, to, change) in cases {
        let decided = decide_records(
            std::slice::from_ref(config),
            std::slice::from_ref(&current),
            to,
        );
        assert_eq!(decided.len(), 1);
        assert_eq!(decided[0].change, change, "{current:?} → {to:?}");
        assert_eq!(decided[0].from, current);
        assert_eq!(&decided[0].to, wanted_target(config, to));
    }
}

#[test]
fn dns_names_are_compared_as_route53_does() {
    let cases = [
        ("app.example.com", "app.example.com"),
        ("App.Example.COM.", "app.example.com"),
        ("\\052.example.com.", "*.example.com"),
        ("a\\100b.example.com", "a@b.example.com"),
        // Not an escape: left alone.
        ("a\\9b.example.com", "a\\9b.example.com"),
        ("", ""),
    ];
    for (raw, normalized) in cases {
        assert_eq!(normalize_dns_name(raw), normalized, "{raw}");
    }
}

#[test]
fn switch_statuses() {
    let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(decide_switch_status(&s(&[])), StepStatus::AlreadyDone);
    assert_eq!(decide_switch_status(&s(&["INSYNC"])), StepStatus::Done);
    assert_eq!(
        decide_switch_status(&s(&["INSYNC", "PENDING"])),
        StepStatus::Started
    );
    assert_eq!(decide_switch_status(&s(&["PENDING"])), StepStatus::Started);
}

#[test]
fn status_decisions() {
    let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let web = record(cname("web-use1.example.com"), cname("web-usw2.example.com"));
    let on_standby = decide_records(
        std::slice::from_ref(&web),
        &[cname("web-usw2.example.com.")],
        Side::Standby,
    );
    let on_primary = decide_records(
        std::slice::from_ref(&web),
        &[cname("web-use1.example.com.")],
        Side::Standby,
    );
    let records = std::slice::from_ref(&web);
    type Case<'a> = (
        Vec<String>,
        &'a Vec<RecordDecision>,
        Result<StepStatus, &'a str>,
    );
    let cases: Vec<Case> = vec![
        (s(&["INSYNC"]), &on_standby, Ok(StepStatus::Done)),
        (
            s(&["INSYNC", "PENDING"]),
            &on_standby,
            Ok(StepStatus::InProgress),
        ),
        (s(&["PENDING"]), &on_standby, Ok(StepStatus::InProgress)),
        // Nothing to wait for and already pointing there.
        (s(&[]), &on_standby, Ok(StepStatus::Done)),
        (s(&[]), &on_primary, Err("InvalidState")),
        (s(&["INSYNC"]), &on_primary, Err("InvalidState")),
    ];
    for (statuses, decisions, expected) in cases {
        let got =
            decide_status(&statuses, records, decisions, Side::Standby).map_err(|e| e.error_type());
        assert_eq!(got, expected, "{statuses:?} {decisions:?}");
    }
    let err = decide_status(&[], records, &on_primary, Side::Standby).unwrap_err();
    assert!(err.to_string().contains("run `switch`"), "{err}");
    assert!(err.to_string().contains("web-use1.example.com."), "{err}");
}

fn existing_cname() -> ResourceRecordSet {
    ResourceRecordSet::builder()
        .name("app.example.com.")
        .r#type(RrType::Cname)
        .set_identifier("use1")
        .failover(ResourceRecordSetFailover::Primary)
        .health_check_id("hc-1")
        .ttl(300)
        .resource_records(
            ResourceRecord::builder()
                .value("web-use1.example.com")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
}

#[test]
fn retargeting_keeps_everything_but_the_target() {
    let existing = existing_cname();
    let switched = retarget(&existing, &cname("web-usw2.example.com"), 60).unwrap();
    assert_eq!(switched.name, "app.example.com.");
    assert_eq!(switched.set_identifier.as_deref(), Some("use1"));
    assert_eq!(switched.failover, Some(ResourceRecordSetFailover::Primary));
    assert_eq!(switched.health_check_id.as_deref(), Some("hc-1"));
    assert_eq!(switched.ttl, Some(300), "the record's TTL, not the default");
    assert_eq!(target_of(&switched), cname("web-usw2.example.com"));

    let to_alias = retarget(&existing, &alias(USW2_ALB, ZONE_USW2), 60).unwrap();
    assert_eq!(to_alias.ttl, None, "an alias has no TTL");
    assert_eq!(to_alias.resource_records, None);
    assert_eq!(to_alias.set_identifier.as_deref(), Some("use1"));
    assert_eq!(target_of(&to_alias), alias(USW2_ALB, ZONE_USW2));

    // Back from an alias: the configured TTL.
    let back = retarget(&to_alias, &cname("web-use1.example.com"), 60).unwrap();
    assert_eq!(back.ttl, Some(60));
    assert_eq!(back.alias_target, None);
}

#[test]
fn retargeting_an_alias_keeps_evaluate_target_health() {
    let existing = ResourceRecordSet::builder()
        .name("app.example.com.")
        .r#type(RrType::A)
        .alias_target(
            AliasTarget::builder()
                .dns_name(USE1_ALB)
                .hosted_zone_id(ZONE_USE1)
                .evaluate_target_health(true)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let switched = retarget(&existing, &alias(USW2_ALB, ZONE_USW2), 60).unwrap();
    let target = switched.alias_target.unwrap();
    assert!(target.evaluate_target_health);
    assert_eq!(target.dns_name, USW2_ALB);
    assert_eq!(target.hosted_zone_id, ZONE_USW2);
}

#[test]
fn targets_of_record_sets() {
    assert_eq!(target_of(&existing_cname()), cname("web-use1.example.com"));
    let several = ResourceRecordSet::builder()
        .name("app.example.com.")
        .r#type(RrType::A)
        .ttl(60)
        .resource_records(ResourceRecord::builder().value("10.0.0.1").build().unwrap())
        .resource_records(ResourceRecord::builder().value("10.0.0.2").build().unwrap())
        .build()
        .unwrap();
    assert_eq!(target_of(&several), cname("10.0.0.1,10.0.0.2"));
}

#[test]
fn every_sample_event_is_valid_input() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/switch-traffic");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let event: serde_json::Value = serde_json::from_str(&text).unwrap();
        let input: SwitchTrafficInput =
            parse_step_input(event, ACTIONS).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        check_input(&input).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(!input.records.is_empty(), "{}", path.display());
        seen += 1;
    }
    assert!(seen > 0, "no sample event in {}", dir.display());
}

#[test]
fn zone_ids_lose_their_prefix() {
    assert_eq!(bare_zone_id("/hostedzone/Z1"), "Z1");
    assert_eq!(bare_zone_id("hostedzone/Z1"), "Z1");
    assert_eq!(bare_zone_id("Z1"), "Z1");
}
