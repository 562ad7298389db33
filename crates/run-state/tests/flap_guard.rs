//! The flap guard's decision on a table: which failovers are refused, given what started them, when
//! the active region last changed and the configured minimum. Pure: no AWS.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test binary: failing loudly is its job

use pilot_light_core::{PilotLightConfig, Timestamp};
use run_state::{flap_guard, parse_input, FailoverTrigger, RunState, RunStateInput};

const NOW: &str = "2026-11-22T12:00:00.000Z";
const HOUR: u64 = 3600;

fn switched_at(since: Option<&str>) -> RunState {
    RunState {
        active_region: Some("us-east-1".into()),
        since: since.map(|s| Timestamp(s.into())),
        execution_id: since.map(|_| "arn:aws:states:us-west-2:1:execution:failback:fb-1".into()),
        ..RunState::default()
    }
}

#[test]
fn only_automatic_failovers_soon_after_a_switch_are_refused() {
    use FailoverTrigger::*;
    let a_minute_ago = Some("2026-11-22T11:59:00Z");
    let an_hour_ago = Some("2026-11-22T11:00:00Z");
    let just_under_an_hour_ago = Some("2026-11-22T11:00:00.500Z");
    let yesterday = Some("2026-11-21T12:00:00Z");
    let in_the_future = Some("2026-11-22T12:05:00Z");
    let unreadable = Some("last tuesday");
    // (trigger, state: None = never written, since, minimum, refused?)
    let cases: Vec<(FailoverTrigger, bool, Option<&str>, u64, bool)> = vec![
        // A person is never held back.
        (Manual, true, a_minute_ago, HOUR, false),
        (Manual, true, in_the_future, HOUR, false),
        // Automatic triggers inside the window are refused…
        (Alarm, true, a_minute_ago, HOUR, true),
        (Health, true, a_minute_ago, HOUR, true),
        (Alarm, true, just_under_an_hour_ago, HOUR, true),
        // …and go on once the window has passed (the boundary counts as passed).
        (Alarm, true, an_hour_ago, HOUR, false),
        (Health, true, yesterday, HOUR, false),
        (Alarm, true, yesterday, 2 * 24 * HOUR, true),
        // No switch recorded: a first failover is never refused.
        (Alarm, false, None, HOUR, false),
        (Alarm, true, None, HOUR, false),
        // 0 turns the guard off.
        (Alarm, true, a_minute_ago, 0, false),
        // A `since` we cannot trust counts as "just now": ask a person.
        (Alarm, true, in_the_future, HOUR, true),
        (Health, true, unreadable, HOUR, true),
    ];
    for (trigger, has_state, since, minimum, refused) in cases {
        let state = has_state.then(|| switched_at(since));
        let got = flap_guard(
            "prod",
            state.as_ref(),
            trigger,
            minimum,
            &Timestamp(NOW.into()),
        );
        assert_eq!(
            got.is_err(),
            refused,
            "{trigger:?} since {since:?} minimum {minimum}: {got:?}"
        );
        if let Err(err) = got {
            assert_eq!(err.error_type(), "FailoverTooSoon");
        }
    }
}

#[test]
fn a_refusal_says_when_and_by_whom_the_region_last_changed_and_how_to_override() {
    let state = switched_at(Some("2026-11-22T11:59:00Z"));
    let err = flap_guard(
        "prod",
        Some(&state),
        FailoverTrigger::Alarm,
        HOUR,
        &Timestamp(NOW.into()),
    )
    .unwrap_err();
    let message = err.to_string();
    for part in [
        "`prod`",
        "60 s ago",
        "2026-11-22T11:59:00Z",
        "execution:failback:fb-1",
        "3600 s",
        "by hand",
    ] {
        assert!(message.contains(part), "{part} not in: {message}");
    }
}

#[test]
fn the_trigger_is_read_from_the_input_and_defaults_to_manual() {
    let trigger_of = |extra: serde_json::Value| {
        let mut event = serde_json::json!({
            "action": "beginFailover",
            "env": "prod",
            "executionId": "arn:aws:states:us-west-2:1:execution:failover:x",
        });
        if let Some(map) = extra.as_object() {
            for (k, v) in map {
                event[k] = v.clone();
            }
        }
        match parse_input(event) {
            Ok(RunStateInput::BeginFailover(input)) => Ok(input.trigger),
            Ok(other) => panic!("{other:?}"),
            Err(err) => Err(err.error_type()),
        }
    };
    assert_eq!(
        trigger_of(serde_json::json!({})),
        Ok(FailoverTrigger::Manual)
    );
    for (value, expected) in [
        ("manual", FailoverTrigger::Manual),
        ("alarm", FailoverTrigger::Alarm),
        ("health", FailoverTrigger::Health),
    ] {
        assert_eq!(
            trigger_of(serde_json::json!({ "trigger": value })),
            Ok(expected)
        );
    }
    assert_eq!(
        trigger_of(serde_json::json!({"trigger": "pager"})),
        Err("InvalidInput")
    );
}

#[test]
fn the_window_is_configured_with_a_default_of_an_hour_and_a_bound_of_a_week() {
    let document = |extra: Option<u64>| {
        let mut doc = serde_json::json!({
            "env": "prod",
            "regions": {"primary": "us-east-1", "standby": "us-west-2"},
        });
        if let Some(seconds) = extra {
            doc["minSecondsBetweenFailovers"] = seconds.into();
        }
        PilotLightConfig::from_json(doc)
    };
    assert_eq!(document(None).unwrap().min_seconds_between_failovers, HOUR);
    assert_eq!(document(Some(0)).unwrap().min_seconds_between_failovers, 0);
    let err = document(Some(8 * 24 * HOUR)).unwrap_err();
    assert_eq!(err.error_type(), "ConfigInvalid");
    assert!(
        err.to_string().contains("minSecondsBetweenFailovers"),
        "{err}"
    );
}
