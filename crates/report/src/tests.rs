//! Fixtures shared by the modules' tests, and the tests that span modules (a report's text with its
//! hooks and kept old primaries).

use crate::hooks::{hook_outcomes, MAX_HOOK_OUTPUT_BYTES};
use crate::kept::kept_old_primary;
use crate::render::render_text;
use crate::Report;
use pilot_light_core::config::Side;
use pilot_light_core::execution_history::{timestamp_from_millis, TimelineStep};
use pilot_light_core::kept::KeptInstance;
use pilot_light_core::Timestamp;
use serde_json::json;

/// A failover's steps over two databases whose iterations interleave, as `build_timeline`
/// pairs them (its own tests are in `pilot_light_core::execution_history`).
pub(crate) fn steps() -> Vec<TimelineStep> {
    let step = |state: &str, item: Option<&str>, from: i64, to: i64| {
        TimelineStep::ran(state, "Task", item.map(str::to_string), from, to)
    };
    vec![
        step("LoadConfig", None, 0, 200),
        step("PromoteDatabases", None, 200, 6_340),
        step("PromoteReplica", Some("orders"), 300, 5_300),
        step("PromoteReplica", Some("billing"), 400, 1_400),
        step("WaitForPromotion", Some("billing"), 1_400, 2_400),
        step("WaitForPromotion", Some("orders"), 5_300, 6_300),
    ]
}

pub(crate) fn report(outcome: &str) -> Report {
    Report {
        env: "prod".parse().unwrap(),
        kind: "failover".into(),
        outcome: outcome.into(),
        execution_arn: "arn:aws:states:us-west-2:1:execution:m:e".into(),
        execution_status: "RUNNING".into(),
        started_at: timestamp_from_millis(0),
        finished_at: timestamp_from_millis(372_100),
        rto_seconds: 372.1,
        traffic_switched_seconds: Some(301.5),
        steps: steps(),
        changes: vec![],
        steps_omitted: None,
        drill: None,
        hooks: vec![],
        kept_old_primaries: None,
        capacity: None,
    }
}

pub(crate) fn kept(
    side: Option<Side>,
    database: Option<&str>,
    latest: Option<&str>,
) -> KeptInstance {
    KeptInstance {
        database: database.map(str::to_string),
        side,
        instance_id: "orders-db-old-1a2b3c4d".into(),
        region: "us-east-1".into(),
        status: "available".into(),
        renamed_from: "orders-db".into(),
        renamed_by: Some("arn:aws:states:us-west-2:1:execution:fb:fb-1".into()),
        kept_since: Some("2026-03-02T08:00:00Z".into()),
        replication_cut_by: Some("arn:aws:states:us-west-2:1:execution:fo:fo-1".into()),
        latest_restorable_time: latest.map(str::to_string),
    }
}

#[test]
fn hook_outcomes_follow_run_order_and_keep_failures_and_small_outputs() {
    let hooks = json!({
        "afterTraffic": [{"name": "tell-partner", "point": "afterTraffic", "functionName": "f3",
                          "status": "failed", "failure": {"Error": "HookRefused", "Cause": "no"}}],
        "beforeFailover": [{"name": "drain", "point": "beforeFailover", "functionName": "f1",
                            "status": "succeeded", "output": {"drained": 3}}],
        "afterCompute": [],
        "afterDatabases": [{"name": "big", "status": "succeeded",
                            "output": "x".repeat(MAX_HOOK_OUTPUT_BYTES + 1)},
                           {"not": "a record"}],
    });
    let outcomes = hook_outcomes(&hooks);
    let names: Vec<&str> = outcomes.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["drain", "big", "tell-partner"]);
    assert_eq!(outcomes[0].output, Some(json!({"drained": 3})));
    assert!(outcomes[1]
        .output
        .as_ref()
        .unwrap()
        .as_str()
        .unwrap()
        .contains("left out"));
    assert_eq!(outcomes[2].status, "failed");
    assert_eq!(outcomes[2].error.as_deref(), Some("HookRefused"));
    let mut r = report("succeeded");
    r.hooks = outcomes;
    let text = render_text(&r);
    assert!(
        text.contains("afterTraffic    tell-partner failed: HookRefused: no"),
        "{text}"
    );
    assert!(hook_outcomes(&json!(null)).is_empty());
}

#[test]
fn the_text_names_each_kept_old_primary_and_says_none_when_there_is_none() {
    let mut failback = report("succeeded");
    failback.kind = "failback".into();
    failback.kept_old_primaries = Some(vec![]);
    assert!(render_text(&failback).contains("Kept old primaries: none"));
    failback.kept_old_primaries = Some(vec![kept_old_primary(
        &kept(
            Some(Side::Primary),
            Some("orders"),
            Some("2026-03-01T10:05:00.000Z"),
        ),
        Some(&Timestamp("2026-03-01T10:00:00.000Z".into())),
    )
    .unwrap()]);
    let text = render_text(&failback);
    assert!(text.contains("Kept old primaries (1)"), "{text}");
    assert!(
        text.contains("orders-db-old-1a2b3c4d [orders] in us-east-1, renamed from orders-db"),
        "{text}"
    );
    assert!(text.contains("MAY HOLD WRITES"), "{text}");
    assert!(text.contains("→ copy into orders-db"), "{text}");
    assert!(!render_text(&report("succeeded")).contains("Kept old primaries"));
}
