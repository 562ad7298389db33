//! Step input/output types shared with the state machines (camelCase JSON), and the decoding of a
//! handler's raw event into its typed input with errors that name the bad field.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime};

use crate::error::PilotLightError;

/// What an action found and did. Observe-then-act: every action returns one of these, and running an
/// action twice gives the same end state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum StepStatus {
    /// The action asked AWS to change something; poll with `status` until `done`.
    Started,
    /// The change is under way (started by this or an earlier run); poll again.
    InProgress,
    /// The resource is in the wanted end state.
    Done,
    /// Nothing to do: the resource already was in the wanted end state.
    AlreadyDone,
}

impl StepStatus {
    /// True when the wanted end state is reached (`done` or `alreadyDone`).
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Done | Self::AlreadyDone)
    }
}

/// An RFC 3339 UTC timestamp with millisecond precision, as the report needs it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Timestamp(pub String);

impl Timestamp {
    /// Now, from the system clock.
    pub fn now() -> Self {
        Self::from_system_time(SystemTime::now())
    }

    /// Formats a `SystemTime` as RFC 3339 UTC (`2026-11-22T02:13:04.512Z`).
    pub fn from_system_time(time: SystemTime) -> Self {
        let millis = time
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        let datetime = aws_smithy_types::DateTime::from_millis(millis);
        let text = datetime
            .fmt(aws_smithy_types::date_time::Format::DateTime)
            .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_string());
        Self(text)
    }

    /// Formats epoch milliseconds as RFC 3339 UTC (a time before the epoch is the epoch).
    pub fn from_millis(millis: i64) -> Self {
        Self::from_system_time(SystemTime::UNIX_EPOCH + Duration::from_millis(millis.max(0) as u64))
    }
}

/// Milliseconds since the epoch by the system clock (0 for a clock set before it): the time stamp
/// of the EMF metric lines and of "now" in the handlers' decisions.
pub fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

/// `value` as JSON (a handler's answer, a document it stores). Encoding pilot-light's own types
/// does not fail; were it to, it is an error of the handler, never a panic.
pub fn to_json_value<T: Serialize>(value: T) -> Result<serde_json::Value, PilotLightError> {
    serde_json::to_value(value).map_err(encoding_error)
}

/// `value` as JSON text (a parameter's value, a notification); see [`to_json_value`].
pub fn to_json_text<T: Serialize>(value: &T) -> Result<String, PilotLightError> {
    serde_json::to_string(value).map_err(encoding_error)
}

fn encoding_error(err: serde_json::Error) -> PilotLightError {
    PilotLightError::InvalidInput {
        field: ".".into(),
        reason: format!("cannot encode as JSON: {err}"),
    }
}

/// Seconds since the epoch of an RFC 3339 date-time, with `Z` or a numeric offset (AWS Step
/// Functions writes `2026-01-01T00:00:00.123Z`, other engines `2026-01-01T00:00:00.123456+00:00`);
/// `None` when it is not one.
pub fn epoch_seconds(text: &str) -> Option<f64> {
    aws_smithy_types::DateTime::from_str(
        text.trim(),
        aws_smithy_types::date_time::Format::DateTimeWithOffset,
    )
    .ok()
    .map(|t| t.as_secs_f64())
}

/// A short, stable token of an execution id (8 hex digits of its FNV-1a hash), for resource names
/// that must be the same on every retry of one execution and differ between executions
/// (`orders-db-dr-failback-1f2e3d4c`). Not a security measure.
pub fn execution_token(execution_id: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in execution_id.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{:08x}", (hash >> 32) as u32 ^ hash as u32)
}

/// Only the `action` of an event: how a handler with one input type per action learns which one it
/// got (`parse_step_input::<ActionOnly<MyAction>>(event.clone(), ACTIONS)`), before it decodes the
/// whole event as that action's input. Every multi-action handler dispatches this way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
pub struct ActionOnly<A> {
    pub action: A,
}

/// Checks a handler's `ACTIONS` list against its action enum `A`: every listed name decodes into an
/// `A` and encodes back to the same name, and no name is listed twice. Each handler's tests call
/// it, so the list the state machines and `UnknownAction` quote cannot drift from the code.
pub fn check_action_list<A>(actions: &[&str]) -> Result<Vec<A>, String>
where
    A: serde::Serialize + DeserializeOwned,
{
    let mut decoded = Vec::with_capacity(actions.len());
    for (i, name) in actions.iter().enumerate() {
        if actions[..i].contains(name) {
            return Err(format!("{name} is listed twice"));
        }
        let action: A = serde_json::from_value(serde_json::Value::String(name.to_string()))
            .map_err(|err| format!("{name} is not an action: {err}"))?;
        let back = serde_json::to_value(&action).map_err(|err| err.to_string())?;
        if back != serde_json::Value::String(name.to_string()) {
            return Err(format!(
                "{name} decodes to an action that encodes as {back}"
            ));
        }
        decoded.push(action);
    }
    Ok(decoded)
}

/// The token of a listing's next page: `None` when there is none (AWS may answer an empty token on
/// the last page). Every pager in pilot-light stops on it.
pub fn next_page_token(token: Option<&str>) -> Option<String> {
    token.filter(|t| !t.is_empty()).map(str::to_string)
}

/// Decodes a raw JSON event into `T`. An `action` that is a string but not one of `actions` is an
/// `UnknownAction` (pass `&[]` for handlers with one action); any other wrong shape is an
/// `InvalidInput` naming the JSON path of the bad field (`database.replicaInstanceId`). Never a panic.
pub fn parse_step_input<T: DeserializeOwned>(
    event: serde_json::Value,
    actions: &[&str],
) -> Result<T, PilotLightError> {
    if let Some(action) = event.get("action").and_then(|a| a.as_str()) {
        if !actions.is_empty() && !actions.contains(&action) {
            return Err(PilotLightError::UnknownAction {
                action: action.to_string(),
                expected: actions.join(", "),
            });
        }
    }
    decode_json(event).map_err(|(field, reason)| PilotLightError::InvalidInput { field, reason })
}

/// Decodes JSON into `T`, returning `(path of the bad field, reason)` on failure. A missing field's
/// path ends with the missing field's own name.
pub(crate) fn decode_json<T: DeserializeOwned>(
    value: serde_json::Value,
) -> Result<T, (String, String)> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let mut field = err.path().to_string();
        let reason = err.inner().to_string();
        if let Some(missing) = reason
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
        {
            field = if field == "." {
                missing.to_string()
            } else {
                format!("{field}.{missing}")
            };
        }
        (field, reason)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    enum TwoActions {
        Plan,
        CopyBack,
    }

    #[test]
    fn a_listing_ends_on_no_token_or_an_empty_one() {
        assert_eq!(next_page_token(Some("abc")), Some("abc".to_string()));
        assert_eq!(next_page_token(Some("")), None);
        assert_eq!(next_page_token(None), None);
    }

    #[test]
    fn an_action_list_must_name_each_action_once_by_its_wire_name() {
        assert_eq!(
            check_action_list::<TwoActions>(&["plan", "copyBack"]).unwrap(),
            vec![TwoActions::Plan, TwoActions::CopyBack]
        );
        for (list, why) in [
            (&["plan", "copy_back"][..], "not an action"),
            (&["plan", "plan"][..], "listed twice"),
            (&["Plan"][..], "not an action"),
        ] {
            let err = check_action_list::<TwoActions>(list).unwrap_err();
            assert!(err.contains(why), "{list:?}: {err}");
        }
        let only: ActionOnly<TwoActions> = parse_step_input(
            json!({"action": "copyBack", "other": 1}),
            &["plan", "copyBack"],
        )
        .unwrap();
        assert_eq!(only.action, TwoActions::CopyBack);
    }
    use serde_json::json;

    #[test]
    fn the_clock_and_json_helpers() {
        // 2026-01-01T00:00:00Z: a clock behind it is a broken clock.
        assert!(now_millis() > 1_767_225_600_000);
        let answer = std::collections::BTreeMap::from([("status", "done")]);
        assert_eq!(to_json_value(&answer).unwrap(), json!({"status": "done"}));
        assert_eq!(to_json_text(&answer).unwrap(), r#"{"status":"done"}"#);
    }

    #[test]
    fn execution_tokens_are_stable_short_and_distinct() {
        let a = execution_token("arn:aws:states:us-west-2:123456789012:execution:failback:run-1");
        let b = execution_token("arn:aws:states:us-west-2:123456789012:execution:failback:run-2");
        assert_eq!(a.len(), 8);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        assert_eq!(
            a,
            execution_token("arn:aws:states:us-west-2:123456789012:execution:failback:run-1")
        );
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    #[allow(dead_code)]
    struct Sample {
        action: String,
        database: Inner,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        replica_instance_id: String,
    }

    #[test]
    fn bad_input_names_the_field() {
        let cases = [
            (
                json!({"database": {"replicaInstanceId": "a"}}),
                "action",
                "missing field",
            ),
            (
                json!({"action": "promote", "database": {}}),
                "database.replicaInstanceId",
                "missing field",
            ),
            (
                json!({"action": 7, "database": {"replicaInstanceId": "a"}}),
                "action",
                "invalid type",
            ),
            (
                json!({"action": "x", "database": {"replicaInstanceId": "a", "extra": 1}}),
                "database.extra",
                "unknown field",
            ),
            (json!("just a string"), ".", "invalid type"),
        ];
        for (event, field, reason) in cases {
            let err = parse_step_input::<Sample>(event.clone(), &[]).unwrap_err();
            let PilotLightError::InvalidInput {
                field: got_field,
                reason: got_reason,
            } = &err
            else {
                panic!("expected InvalidInput for {event}, got {err:?}");
            };
            assert_eq!(got_field, field, "{event}");
            assert!(got_reason.contains(reason), "{event}: {got_reason}");
            assert_eq!(err.error_type(), "InvalidInput");
        }
    }

    #[test]
    fn unknown_actions_are_named() {
        let event = json!({"action": "explode", "database": {"replicaInstanceId": "a"}});
        let err = parse_step_input::<Sample>(event.clone(), &["promote", "status"]).unwrap_err();
        assert_eq!(err.error_type(), "UnknownAction");
        assert_eq!(
            err.to_string(),
            "unknown action `explode`; expected one of: promote, status"
        );
        assert!(parse_step_input::<Sample>(event, &["explode"]).is_ok());
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let t = Timestamp::from_system_time(
            SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_123),
        );
        assert_eq!(t.0, "2023-11-14T22:13:20.123Z");
    }

    #[test]
    fn date_times_with_z_or_an_offset_are_read() {
        let cases = [
            ("2023-11-14T22:13:20.123Z", Some(1_700_000_000.123)),
            ("2023-11-14T22:13:20Z", Some(1_700_000_000.0)),
            (
                "2023-11-14T22:13:20.123456+00:00",
                Some(1_700_000_000.123456),
            ),
            ("2023-11-14T23:13:20+01:00", Some(1_700_000_000.0)),
            ("yesterday", None),
            ("", None),
        ];
        for (text, expected) in cases {
            let got = epoch_seconds(text);
            match (got, expected) {
                (Some(g), Some(e)) => assert!((g - e).abs() < 1e-6, "{text}: {g} vs {e}"),
                (g, e) => assert_eq!(g, e, "{text}"),
            }
        }
    }

    #[test]
    fn finished_statuses() {
        assert!(StepStatus::Done.is_finished());
        assert!(StepStatus::AlreadyDone.is_finished());
        assert!(!StepStatus::Started.is_finished());
        assert!(!StepStatus::InProgress.is_finished());
    }
}
