//! An execution's history as pilot-light reads it: the events (ids, state names, the item a state
//! worked on, times), the timeline of steps built from them, and the small formatting rules the
//! report, the CLI and the harness share (durations, causes, ARNs). With feature `sfn`, reading a
//! whole history from Step Functions, page by page.
//!
//! Only ids, names and times are kept: a state's input carries the whole configuration, and the one
//! thing taken from it is the item's name ([`item_fields`], [`item_label`]).

use crate::clients::validate_region;
use crate::step::Timestamp;
#[cfg(feature = "sfn")]
use crate::PilotLightError;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// At most this many pages of one execution's history are read (1000 events a page).
#[cfg(feature = "sfn")]
const MAX_HISTORY_PAGES: usize = 100;

/// One event of an execution's history, reduced to what the timeline needs. The harness builds these
/// from its own history reads, so the field names are the JSON ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEvent {
    pub id: i64,
    pub previous_event_id: i64,
    /// `TaskStateEntered`, `MapStateExited`, …
    #[serde(rename = "type")]
    pub event_type: String,
    /// The state, on `*StateEntered` / `*StateExited` events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_name: Option<String>,
    /// The state's input, on `*StateEntered` events (only its item name is ever used).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Value>,
    pub timestamp_millis: i64,
}

impl HistoryEvent {
    /// From the SDK's history event.
    #[cfg(feature = "sfn")]
    pub fn from_sfn(event: &aws_sdk_sfn::types::HistoryEvent) -> Self {
        let entered = event.state_entered_event_details();
        let state_name = entered.map(|d| d.name().to_string()).or_else(|| {
            event
                .state_exited_event_details()
                .map(|d| d.name().to_string())
        });
        Self {
            id: event.id(),
            previous_event_id: event.previous_event_id(),
            event_type: event.r#type().as_str().to_string(),
            state_name,
            input: entered.and_then(|d| d.input()).and_then(item_fields),
            timestamp_millis: event.timestamp().to_millis().unwrap_or_default(),
        }
    }

    fn is_entered(&self) -> bool {
        self.event_type.ends_with("StateEntered")
    }

    fn is_exited(&self) -> bool {
        self.event_type.ends_with("StateExited")
    }
}

/// One state's run: entered → exited, with the Map item it worked on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimelineStep {
    pub state: String,
    /// The Map item (`database.name`, `group.name` or `name` of the state's input).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    pub duration_seconds: f64,
    /// Epoch milliseconds of the two events (for sorting and arithmetic; not in the JSON).
    #[serde(skip)]
    pub entered_millis: i64,
    #[serde(skip)]
    pub exited_millis: i64,
    /// The state's type as its events name it (`Task`, `Pass`, `Choice`, `Wait`, `Map`,
    /// `Parallel`, …); not in the JSON.
    #[serde(skip)]
    pub state_type: String,
}

impl TimelineStep {
    /// The run of `state` (of type `state_type`: `Task`, `Pass`, …) on `item`, entered and exited
    /// at these epoch milliseconds.
    pub fn ran(
        state: &str,
        state_type: &str,
        item: Option<String>,
        entered_millis: i64,
        exited_millis: i64,
    ) -> Self {
        Self {
            state: state.to_string(),
            item,
            started_at: timestamp_from_millis(entered_millis),
            finished_at: timestamp_from_millis(exited_millis),
            duration_seconds: seconds_between(entered_millis, exited_millis),
            entered_millis,
            exited_millis,
            state_type: state_type.to_string(),
        }
    }
}

/// Pairs every `*StateExited` event with its `*StateEntered` event, walking back the exit's
/// `previousEventId` chain to the nearest entry of the same state. Each branch of a Parallel and each
/// Map iteration has its own chain, so interleaved iterations of the same state are never mixed.
/// States still running (no exit yet, like the report's own step) and states without an exit (`Fail`)
/// are left out. Sorted by entry time.
pub fn build_timeline(events: &[HistoryEvent]) -> Vec<TimelineStep> {
    let by_id: HashMap<i64, &HistoryEvent> = events.iter().map(|e| (e.id, e)).collect();
    let mut used: HashSet<i64> = HashSet::new();
    let mut steps = Vec::new();
    for exit in events.iter().filter(|e| e.is_exited()) {
        let Some(state) = exit.state_name.as_deref() else {
            continue;
        };
        let mut cursor = by_id.get(&exit.previous_event_id).copied();
        // A chain never revisits an event; the bound only guards against a malformed history.
        for _ in 0..events.len() {
            let Some(event) = cursor else { break };
            if event.is_entered() && event.state_name.as_deref() == Some(state) {
                if used.insert(event.id) {
                    let step = TimelineStep::ran(
                        state,
                        event.event_type.trim_end_matches("StateEntered"),
                        event.input.as_ref().and_then(item_label),
                        event.timestamp_millis,
                        exit.timestamp_millis,
                    );
                    steps.push((event.id, step));
                }
                break;
            }
            if event.previous_event_id == event.id {
                break;
            }
            cursor = by_id.get(&event.previous_event_id).copied();
        }
    }
    steps.sort_by_key(|(entered_id, step)| (step.entered_millis, *entered_id));
    steps.into_iter().map(|(_, step)| step).collect()
}

/// True for the states of a poll loop around its check (the state machines name them alike:
/// `Start<X>Polling`, `WaitFor<X>`, `Count<X>Attempt`, `Is<X>Done`).
pub fn is_poll_loop_state(state: &str) -> bool {
    let wrapped = |prefix: &str, suffix: &str| {
        state.len() > prefix.len() + suffix.len()
            && state.starts_with(prefix)
            && state.ends_with(suffix)
    };
    wrapped("Start", "Polling")
        || wrapped("Count", "Attempt")
        || wrapped("Is", "Done")
        || wrapped("WaitFor", "")
}

/// True for the states a person follows a run by: the work (`Task`) and what groups it (`Map`,
/// `Parallel`). Pass, Choice and Wait states, and the poll loops' own states, are how the state
/// machine gets there.
pub fn is_work_state(step: &TimelineStep) -> bool {
    matches!(step.state_type.as_str(), "Task" | "Map" | "Parallel")
        && !is_poll_loop_state(&step.state)
}

/// One step as a person reads it: a state that does work, with every run of it on the same item
/// folded into one line (a poll loop's check runs once a poll).
#[derive(Debug, Clone, PartialEq)]
pub struct FoldedStep {
    pub state: String,
    pub item: Option<String>,
    /// The first run's entry and the last run's exit.
    pub entered_millis: i64,
    pub exited_millis: i64,
    pub duration_seconds: f64,
    /// How many times it ran (a check polled `runs` times).
    pub runs: usize,
}

/// The rows a person reads: with `every_state`, each state's run as it is (one run each); else
/// [`fold_steps`].
pub fn steps_to_show(steps: &[TimelineStep], every_state: bool) -> Vec<FoldedStep> {
    if !every_state {
        return fold_steps(steps);
    }
    steps
        .iter()
        .map(|s| FoldedStep {
            state: s.state.clone(),
            item: s.item.clone(),
            entered_millis: s.entered_millis,
            exited_millis: s.exited_millis,
            duration_seconds: s.duration_seconds,
            runs: 1,
        })
        .collect()
}

/// The timeline folded for reading: only the work states ([`is_work_state`]), each state and item
/// once, from its first entry to its last exit, with how many times it ran; in order of first entry.
pub fn fold_steps(steps: &[TimelineStep]) -> Vec<FoldedStep> {
    let mut folded: Vec<FoldedStep> = Vec::new();
    let mut index: HashMap<(String, Option<String>), usize> = HashMap::new();
    let mut ordered: Vec<&TimelineStep> = steps.iter().filter(|s| is_work_state(s)).collect();
    ordered.sort_by_key(|s| s.entered_millis);
    for step in ordered {
        let key = (step.state.clone(), step.item.clone());
        match index.get(&key) {
            Some(&i) => {
                let f = &mut folded[i];
                f.exited_millis = f.exited_millis.max(step.exited_millis);
                f.duration_seconds = seconds_between(f.entered_millis, f.exited_millis);
                f.runs += 1;
            }
            None => {
                index.insert(key, folded.len());
                folded.push(FoldedStep {
                    state: step.state.clone(),
                    item: step.item.clone(),
                    entered_millis: step.entered_millis,
                    exited_millis: step.exited_millis,
                    duration_seconds: step.duration_seconds,
                    runs: 1,
                });
            }
        }
    }
    folded
}

/// The fields of a state's input [`item_label`] reads (`database`, `group`, `hook`, `name`), parsed
/// without building the rest: every state's input carries the whole configuration, and a failover's
/// history has hundreds of them. `None` when the input is not a JSON object.
pub fn item_fields(input: &str) -> Option<Value> {
    #[derive(Deserialize)]
    struct ItemFields {
        database: Option<Value>,
        group: Option<Value>,
        hook: Option<Value>,
        name: Option<Value>,
    }
    let fields: ItemFields = serde_json::from_str(input).ok()?;
    let kept: serde_json::Map<String, Value> = [
        ("database", fields.database),
        ("group", fields.group),
        ("hook", fields.hook),
        ("name", fields.name),
    ]
    .into_iter()
    .filter_map(|(key, value)| Some((key.to_string(), value?)))
    .collect();
    Some(Value::Object(kept))
}

/// The item a state worked on, from its input: `database.name`, `group.name`, or `name`. Only a
/// short string is taken; nothing else of the input is ever kept.
pub fn item_label(input: &Value) -> Option<String> {
    ["/database/name", "/group/name", "/hook/name", "/name"]
        .iter()
        .find_map(|pointer| input.pointer(pointer).and_then(Value::as_str))
        .filter(|name| !name.is_empty())
        .map(|name| name.chars().take(128).collect())
}

/// Seconds from `from` to `to` (epoch milliseconds), at millisecond precision, never negative.
pub fn seconds_between(from_millis: i64, to_millis: i64) -> f64 {
    (to_millis - from_millis).max(0) as f64 / 1000.0
}

/// RFC 3339 UTC from epoch milliseconds.
pub fn timestamp_from_millis(millis: i64) -> Timestamp {
    Timestamp::from_millis(millis)
}

/// `6m 12s`, `1h 2m 5s`, `45s` (rounded to the second).
pub fn format_duration(seconds: f64) -> String {
    let total = if seconds.is_finite() && seconds > 0.0 {
        seconds.round() as u64
    } else {
        0
    };
    let (hours, minutes, secs) = (total / 3600, total % 3600 / 60, total % 60);
    match (hours, minutes) {
        (0, 0) => format!("{secs}s"),
        (0, _) => format!("{minutes}m {secs}s"),
        _ => format!("{hours}h {minutes}m {secs}s"),
    }
}

/// The part of a `Catch` cause worth reading: a handler's `errorMessage` when the cause is the
/// Lambda error document, else the cause itself; at most 1000 characters.
pub fn summarise_cause(cause: &str) -> String {
    let message = serde_json::from_str::<Value>(cause)
        .ok()
        .and_then(|v| {
            v.get("errorMessage")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| cause.to_string());
    truncate_chars(message.trim(), 1000)
}

/// At most `max` characters of `text`, the last one `…` when it was cut.
pub fn truncate_chars(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut cut: String = text.chars().take(max - 1).collect();
        cut.push('…');
        cut
    }
}

/// The region of an ARN of `service` (`arn:aws:states:us-west-2:…` → `us-west-2`).
pub fn arn_region<'a>(arn: &'a str, service: &str) -> Result<&'a str, String> {
    let parts: Vec<&str> = arn.split(':').collect();
    if parts.len() < 6 || parts[0] != "arn" || parts[2] != service {
        return Err(format!("`{arn}` is not an {service} ARN"));
    }
    validate_region(parts[3])?;
    Ok(parts[3])
}

/// Describes an execution. Not found is `ResourceNotFound` (kind `Execution`); an ARN Step
/// Functions refuses is `InvalidInput` on `arn_field` (the input field or option that named it).
#[cfg(feature = "sfn")]
pub async fn describe_execution(
    sfn: &aws_sdk_sfn::Client,
    execution_arn: &str,
    region: &str,
    arn_field: &str,
) -> Result<aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput, PilotLightError> {
    sfn.describe_execution()
        .execution_arn(execution_arn)
        .send()
        .await
        .map_err(|err| match err.as_service_error() {
            Some(e) if e.is_execution_does_not_exist() => PilotLightError::ResourceNotFound {
                kind: "Execution".into(),
                id: execution_arn.to_string(),
                region: region.to_string(),
            },
            Some(e) if e.is_invalid_arn() => PilotLightError::InvalidInput {
                field: arn_field.into(),
                reason: format!("`{execution_arn}` is not an execution ARN: {e}"),
            },
            _ => PilotLightError::from_sdk("DescribeExecution", &err),
        })
}

/// The whole history of an execution, page by page (works while it is still running).
#[cfg(feature = "sfn")]
pub async fn read_history(
    sfn: &aws_sdk_sfn::Client,
    execution_arn: &str,
    region: &str,
) -> Result<Vec<HistoryEvent>, PilotLightError> {
    Ok(fetch_history(sfn, execution_arn, region)
        .await?
        .iter()
        .map(HistoryEvent::from_sfn)
        .collect())
}

/// The SDK's events of an execution's whole history, with its data. Not found is
/// `ResourceNotFound` (kind `Execution`).
#[cfg(feature = "sfn")]
pub async fn fetch_history(
    sfn: &aws_sdk_sfn::Client,
    execution_arn: &str,
    region: &str,
) -> Result<Vec<aws_sdk_sfn::types::HistoryEvent>, PilotLightError> {
    let mut events = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_HISTORY_PAGES {
        let page = sfn
            .get_execution_history()
            .execution_arn(execution_arn)
            .include_execution_data(true)
            .max_results(1000)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|err| match err.as_service_error() {
                Some(e) if e.is_execution_does_not_exist() => PilotLightError::ResourceNotFound {
                    kind: "Execution".into(),
                    id: execution_arn.to_string(),
                    region: region.to_string(),
                },
                _ => PilotLightError::from_sdk("GetExecutionHistory", &err),
            })?;
        events.extend(page.events().iter().cloned());
        match page.next_token() {
            Some(next) if !next.is_empty() => token = Some(next.to_string()),
            _ => break,
        }
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(
        id: i64,
        prev: i64,
        kind: &str,
        state: Option<&str>,
        input: Option<Value>,
        t: i64,
    ) -> HistoryEvent {
        HistoryEvent {
            id,
            previous_event_id: prev,
            event_type: kind.into(),
            state_name: state.map(str::to_string),
            input,
            timestamp_millis: t,
        }
    }

    fn db(name: &str) -> Option<Value> {
        Some(json!({"database": {"name": name, "replicaInstanceId": format!("{name}-dr")}}))
    }

    /// A Map over two databases whose iterations interleave: `orders` enters first and exits last.
    fn interleaved_history() -> Vec<HistoryEvent> {
        vec![
            ev(1, 0, "ExecutionStarted", None, None, 0),
            ev(
                2,
                1,
                "TaskStateEntered",
                Some("LoadConfig"),
                Some(json!({"env": "prod"})),
                0,
            ),
            ev(3, 2, "TaskStateExited", Some("LoadConfig"), None, 200),
            ev(
                4,
                3,
                "MapStateEntered",
                Some("PromoteDatabases"),
                Some(json!({"env": "prod"})),
                200,
            ),
            ev(5, 4, "MapStateStarted", None, None, 210),
            ev(6, 5, "MapIterationStarted", None, None, 220),
            ev(7, 5, "MapIterationStarted", None, None, 220),
            ev(
                8,
                6,
                "TaskStateEntered",
                Some("PromoteReplica"),
                db("orders"),
                300,
            ),
            ev(
                9,
                7,
                "TaskStateEntered",
                Some("PromoteReplica"),
                db("billing"),
                310,
            ),
            ev(
                10,
                9,
                "TaskStateExited",
                Some("PromoteReplica"),
                None,
                1_310,
            ),
            ev(
                11,
                10,
                "WaitStateEntered",
                Some("WaitForPromotion"),
                db("billing"),
                1_320,
            ),
            ev(
                12,
                8,
                "TaskStateExited",
                Some("PromoteReplica"),
                None,
                5_300,
            ),
            ev(
                13,
                12,
                "WaitStateEntered",
                Some("WaitForPromotion"),
                db("orders"),
                5_310,
            ),
            ev(
                14,
                11,
                "WaitStateExited",
                Some("WaitForPromotion"),
                None,
                2_320,
            ),
            ev(
                15,
                13,
                "WaitStateExited",
                Some("WaitForPromotion"),
                None,
                6_310,
            ),
            ev(16, 15, "MapIterationSucceeded", None, None, 6_320),
            ev(17, 14, "MapIterationSucceeded", None, None, 6_320),
            ev(18, 17, "MapStateSucceeded", None, None, 6_330),
            ev(
                19,
                18,
                "MapStateExited",
                Some("PromoteDatabases"),
                None,
                6_340,
            ),
            // The report's own step: entered, still running.
            ev(
                20,
                19,
                "TaskStateEntered",
                Some("Report"),
                Some(json!({"env": "prod"})),
                6_400,
            ),
        ]
    }

    #[test]
    fn poll_loop_states_by_name() {
        for (state, expected) in [
            ("StartPromotionPolling", true),
            ("WaitForPromotion", true),
            ("CountPromotionAttempt", true),
            ("IsPromotionDone", true),
            ("CheckPromotion", false),
            ("IsCopyBackWanted", false),
            ("WaitFor", false),
            ("StartPolling", false),
            ("IsDone", false),
            ("PromoteReplica", false),
        ] {
            assert_eq!(is_poll_loop_state(state), expected, "{state}");
        }
    }

    #[test]
    fn the_folded_timeline_keeps_the_work_and_counts_the_polls() {
        let step = |state: &str, kind: &str, item: Option<&str>, from: i64, to: i64| {
            TimelineStep::ran(state, kind, item.map(str::to_string), from, to)
        };
        let steps = vec![
            step("BeginFailover", "Task", None, 0, 100),
            step("NeedsApproval", "Choice", None, 100, 110),
            step("PromoteDatabases", "Map", None, 110, 4_000),
            step("Promote", "Task", Some("orders"), 120, 300),
            step("StartPromotionPolling", "Pass", Some("orders"), 300, 310),
            step("CheckPromotion", "Task", Some("orders"), 310, 400),
            step("CountPromotionAttempt", "Pass", Some("orders"), 400, 410),
            step("IsPromotionDone", "Choice", Some("orders"), 410, 420),
            step("WaitForPromotion", "Wait", Some("orders"), 420, 1_420),
            step("Promote", "Task", Some("billing"), 130, 350),
            step("CheckPromotion", "Task", Some("billing"), 360, 500),
            step("CheckPromotion", "Task", Some("orders"), 1_420, 1_500),
            step("CheckPromotion", "Task", Some("orders"), 2_500, 2_600),
            step("SwitchTraffic", "Task", None, 4_000, 4_200),
        ];
        let folded: Vec<(String, Option<String>, i64, i64, usize)> = fold_steps(&steps)
            .into_iter()
            .map(|f| (f.state, f.item, f.entered_millis, f.exited_millis, f.runs))
            .collect();
        let row = |state: &str, item: Option<&str>, from: i64, to: i64, runs: usize| {
            (state.to_string(), item.map(str::to_string), from, to, runs)
        };
        assert_eq!(
            folded,
            vec![
                row("BeginFailover", None, 0, 100, 1),
                row("PromoteDatabases", None, 110, 4_000, 1),
                row("Promote", Some("orders"), 120, 300, 1),
                row("Promote", Some("billing"), 130, 350, 1),
                row("CheckPromotion", Some("orders"), 310, 2_600, 3),
                row("CheckPromotion", Some("billing"), 360, 500, 1),
                row("SwitchTraffic", None, 4_000, 4_200, 1),
            ]
        );
    }

    #[test]
    fn the_timeline_pairs_interleaved_iterations_by_their_chains() {
        let steps = build_timeline(&interleaved_history());
        let got: Vec<(&str, Option<&str>, f64)> = steps
            .iter()
            .map(|s| (s.state.as_str(), s.item.as_deref(), s.duration_seconds))
            .collect();
        assert_eq!(
            got,
            vec![
                ("LoadConfig", None, 0.2),
                ("PromoteDatabases", None, 6.14),
                ("PromoteReplica", Some("orders"), 5.0),
                ("PromoteReplica", Some("billing"), 1.0),
                ("WaitForPromotion", Some("billing"), 1.0),
                ("WaitForPromotion", Some("orders"), 1.0),
            ]
        );
        assert_eq!(steps[2].started_at.0, "1970-01-01T00:00:00.3Z");
        assert_eq!(steps[2].finished_at.0, "1970-01-01T00:00:05.3Z");
        assert!(
            steps.iter().all(|s| s.state != "Report"),
            "a running step has no exit"
        );
    }

    #[test]
    fn a_poll_loop_pairs_each_exit_with_the_latest_entry() {
        let history = vec![
            ev(1, 0, "ExecutionStarted", None, None, 0),
            ev(2, 1, "TaskStateEntered", Some("Check"), db("orders"), 1_000),
            ev(3, 2, "TaskStateExited", Some("Check"), None, 1_500),
            ev(4, 3, "WaitStateEntered", Some("Wait"), db("orders"), 1_500),
            ev(5, 4, "WaitStateExited", Some("Wait"), None, 2_500),
            ev(6, 5, "TaskStateEntered", Some("Check"), db("orders"), 2_500),
            ev(7, 6, "TaskStateExited", Some("Check"), None, 2_750),
            ev(8, 7, "FailStateEntered", Some("Failed"), None, 2_800),
        ];
        let steps = build_timeline(&history);
        let checks: Vec<(i64, f64)> = steps
            .iter()
            .filter(|s| s.state == "Check")
            .map(|s| (s.entered_millis, s.duration_seconds))
            .collect();
        assert_eq!(checks, vec![(1_000, 0.5), (2_500, 0.25)]);
        assert_eq!(steps.len(), 3, "the Fail state has no exit: {steps:?}");
    }

    #[test]
    fn broken_histories_do_not_panic_or_loop() {
        let history = vec![
            ev(1, 1, "TaskStateExited", Some("A"), None, 10),
            ev(2, 3, "TaskStateExited", Some("B"), None, 10),
            ev(3, 2, "PassStateExited", Some("C"), None, 10),
            ev(4, 99, "TaskStateExited", Some("D"), None, 10),
            ev(5, 4, "TaskStateExited", None, None, 10),
        ];
        assert!(build_timeline(&history).is_empty());
        assert!(build_timeline(&[]).is_empty());
    }

    #[test]
    fn item_labels() {
        let cases = [
            (json!({"database": {"name": "orders"}}), Some("orders")),
            (
                json!({"group": {"name": "web"}, "region": "x"}),
                Some("web"),
            ),
            (json!({"name": "consumer"}), Some("consumer")),
            (json!({"database": {"name": ""}}), None),
            (json!({"database": "orders"}), None),
            (json!({"env": "prod"}), None),
            (json!([1, 2]), None),
        ];
        for (input, expected) in cases {
            assert_eq!(item_label(&input).as_deref(), expected, "{input}");
            // The history reader keeps only the fields the label needs, and labels alike.
            let kept = item_fields(&input.to_string());
            assert_eq!(
                kept.as_ref().and_then(item_label).as_deref(),
                expected,
                "{input}"
            );
        }
    }

    #[test]
    fn item_fields_keep_only_what_names_the_item() {
        let input = json!({
            "database": {"name": "orders", "identifier": "db-1"},
            "begin": {"config": {"databases": [{"name": "billing"}]}},
            "env": "prod"
        });
        assert_eq!(
            item_fields(&input.to_string()),
            Some(json!({"database": {"name": "orders", "identifier": "db-1"}}))
        );
        assert_eq!(item_fields(r#"{"env": "prod"}"#), Some(json!({})));
        assert_eq!(item_fields("[1, 2]"), None);
        assert_eq!(item_fields("not json"), None);
    }

    #[test]
    fn causes_are_summarised() {
        assert_eq!(
            summarise_cause(
                r#"{"errorType":"ReplicaNotFound","errorMessage":"replica `x` not found in us-west-2"}"#
            ),
            "replica `x` not found in us-west-2"
        );
        assert_eq!(summarise_cause("  plain words "), "plain words");
        assert_eq!(summarise_cause(&"x".repeat(5000)).chars().count(), 1000);
    }

    #[test]
    fn arns() {
        assert_eq!(
            arn_region(
                "arn:aws:states:us-west-2:123456789012:execution:m:e",
                "states"
            ),
            Ok("us-west-2")
        );
        assert_eq!(
            arn_region("arn:aws:sns:eu-west-1:123456789012:topic", "sns"),
            Ok("eu-west-1")
        );
        assert!(arn_region("arn:aws:sns:eu-west-1:123456789012:topic", "states").is_err());
        assert!(arn_region("arn:aws:states:nowhere:1:execution:m:e", "states").is_err());
        assert!(arn_region("not an arn", "states").is_err());
    }
}
