//! A failback's kept old primaries: which kept instances the report lists, since when their writes
//! never reached the standby (read from the failover's history events), and their text. Pure: no
//! AWS calls.

use pilot_light_core::config::Side;
use pilot_light_core::execution_history::timestamp_from_millis;
use pilot_light_core::kept::{
    epoch_millis, may_hold_unreplicated_writes, reconcile_instruction, KeptInstance,
};
use pilot_light_core::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An old primary a failback renamed aside and keeps in the primary region: writable, and possibly
/// holding writes the serving database never received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeptOldPrimary {
    /// The logical database.
    pub database: String,
    /// Its identifier now (`<primaryInstanceId>-old-<token>`).
    pub instance_id: String,
    pub region: String,
    /// The identifier it had.
    pub renamed_from: String,
    /// When it was renamed (`null`: renamed before pilot-light recorded that).
    pub kept_since: Option<String>,
    /// Its `LatestRestorableTime` (`null`: RDS reports none).
    pub latest_restorable_time: Option<String>,
    /// When replication from it to the standby was cut: when the failover asked RDS to promote the
    /// standby (`null`: not recorded).
    pub unreplicated_writes_since: Option<String>,
    /// `latestRestorableTime > unreplicatedWritesSince`, or either is unknown.
    pub may_hold_unreplicated_writes: bool,
    /// What to do: reconcile, then retire with a final snapshot.
    pub reconcile: String,
}

/// One event of the history of the failover that cut replication, reduced to what finding its
/// promotion request needs.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputEvent {
    /// `ExecutionStarted`, `LambdaFunctionSucceeded`, `TaskStateExited`, …
    pub event_type: String,
    pub timestamp_millis: i64,
    /// The state's or the task's output, when the event has one.
    pub output: Option<Value>,
}

impl OutputEvent {
    /// From the SDK's history event.
    pub fn from_sfn(event: &aws_sdk_sfn::types::HistoryEvent) -> Self {
        let output = event
            .state_exited_event_details()
            .and_then(|d| d.output())
            .or_else(|| {
                event
                    .lambda_function_succeeded_event_details()
                    .and_then(|d| d.output())
            })
            .or_else(|| {
                event
                    .task_succeeded_event_details()
                    .and_then(|d| d.output())
            })
            .and_then(|text| serde_json::from_str(text).ok());
        Self {
            event_type: event.r#type().as_str().to_string(),
            timestamp_millis: event.timestamp().to_millis().unwrap_or_default(),
            output,
        }
    }
}

/// Where an `unreplicatedWritesSince` came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CutSource {
    /// The `promote-replica` answer that asked RDS to promote (`status: started`): its `startedAt`.
    PromotionRequest,
    /// No such answer in the history (the promotion was asked by a retry whose answer was lost):
    /// the execution's start, a little earlier than the request.
    ExecutionStart,
}

/// When the failover whose history `events` is asked RDS to promote `database`'s standby: the
/// earliest `startedAt` of a `promote-replica` answer with `action: promote`, `status: started`
/// and that `database`, wherever the history carries it (task results, state outputs); else the
/// execution's start (never later than the request, so no write after the cut is left out); `None`
/// for an empty history.
pub fn promotion_requested_at(
    events: &[OutputEvent],
    database: &str,
) -> Option<(Timestamp, CutSource)> {
    let mut starts = Vec::new();
    for output in events.iter().filter_map(|e| e.output.as_ref()) {
        collect_promotion_starts(output, database, &mut starts, 0);
    }
    if let Some(earliest) = starts
        .iter()
        .filter_map(|text| Some((epoch_millis(text)?, text)))
        .min_by_key(|(millis, _)| *millis)
    {
        return Some((Timestamp(earliest.1.clone()), CutSource::PromotionRequest));
    }
    events
        .iter()
        .find(|e| e.event_type == "ExecutionStarted")
        .map(|e| {
            (
                timestamp_from_millis(e.timestamp_millis),
                CutSource::ExecutionStart,
            )
        })
}

fn collect_promotion_starts(value: &Value, database: &str, out: &mut Vec<String>, depth: usize) {
    if depth > 32 {
        return;
    }
    match value {
        Value::Array(items) => items
            .iter()
            .for_each(|v| collect_promotion_starts(v, database, out, depth + 1)),
        Value::Object(map) => {
            let field = |key: &str| map.get(key).and_then(Value::as_str);
            if field("action") == Some("promote")
                && field("status") == Some("started")
                && field("database") == Some(database)
            {
                if let Some(started) = field("startedAt") {
                    out.push(started.to_string());
                }
            }
            map.values()
                .for_each(|v| collect_promotion_starts(v, database, out, depth + 1));
        }
        _ => {}
    }
}

/// A kept instance as the failback report lists it: only old primaries (renamed from a configured
/// primary identifier in the primary region), with the cut and what to do.
pub fn kept_old_primary(
    kept: &KeptInstance,
    unreplicated_writes_since: Option<&Timestamp>,
) -> Option<KeptOldPrimary> {
    if kept.side != Some(Side::Primary) {
        return None;
    }
    let database = kept.database.clone()?;
    let since = unreplicated_writes_since.map(|t| t.0.as_str());
    let may_hold = may_hold_unreplicated_writes(kept.latest_restorable_time.as_deref(), since);
    Some(KeptOldPrimary {
        database,
        instance_id: kept.instance_id.clone(),
        region: kept.region.clone(),
        renamed_from: kept.renamed_from.clone(),
        kept_since: kept.kept_since.clone(),
        latest_restorable_time: kept.latest_restorable_time.clone(),
        unreplicated_writes_since: since.map(str::to_string),
        may_hold_unreplicated_writes: may_hold,
        reconcile: reconcile_instruction(
            &kept.instance_id,
            &kept.region,
            &kept.renamed_from,
            since,
            may_hold,
        ),
    })
}

/// The kept old primaries as text, for e-mail subscribers (`none` said explicitly).
pub fn render_kept_old_primaries(kept: &[KeptOldPrimary]) -> String {
    if kept.is_empty() {
        return "\nKept old primaries: none\n".to_string();
    }
    let unknown = "unknown";
    let mut text = format!(
        "\nKept old primaries ({}): renamed aside, still writable, never deleted by pilot-light\n",
        kept.len()
    );
    for entry in kept {
        text.push_str(&format!(
            "  {} [{}] in {}, renamed from {}, kept since {}\n",
            entry.instance_id,
            entry.database,
            entry.region,
            entry.renamed_from,
            entry.kept_since.as_deref().unwrap_or(unknown),
        ));
        text.push_str(&format!(
            "    unreplicated writes since {}, latest restorable {}: {}\n",
            entry
                .unreplicated_writes_since
                .as_deref()
                .unwrap_or(unknown),
            entry.latest_restorable_time.as_deref().unwrap_or(unknown),
            if entry.may_hold_unreplicated_writes {
                "MAY HOLD WRITES the serving database lacks"
            } else {
                "nothing restorable after the cut"
            }
        ));
        text.push_str(&format!("    → {}\n", entry.reconcile));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{kept, report};
    use serde_json::json;

    fn output_event(kind: &str, at: i64, output: Option<Value>) -> OutputEvent {
        OutputEvent {
            event_type: kind.into(),
            timestamp_millis: at,
            output,
        }
    }

    fn promote_answer(database: &str, status: &str, started_at: &str) -> Value {
        json!({"action": "promote", "status": status, "database": database,
               "instanceId": format!("{database}-dr"), "startedAt": started_at,
               "finishedAt": started_at, "resources": []})
    }

    #[test]
    fn the_cut_is_the_promotion_request_found_anywhere_in_the_failover_history() {
        let started = output_event("ExecutionStarted", 1_000, None);
        /// The history, then the cut expected and where it came from.
        type Case<'a> = (Vec<OutputEvent>, Option<(&'a str, CutSource)>);
        let cases: Vec<Case> = vec![
            // The Lambda's own answer.
            (
                vec![
                    started.clone(),
                    output_event(
                        "LambdaFunctionSucceeded",
                        5_000,
                        Some(promote_answer(
                            "orders",
                            "started",
                            "2026-03-01T10:00:04.000Z",
                        )),
                    ),
                ],
                Some(("2026-03-01T10:00:04.000Z", CutSource::PromotionRequest)),
            ),
            // Only in a state's output (`$.promote` of a Map iteration), and carried on later:
            // the earliest wins, the other database's does not count.
            (
                vec![
                    started.clone(),
                    output_event(
                        "TaskStateExited",
                        5_000,
                        Some(json!({"database": {"name": "orders"},
                                    "promote": promote_answer("orders", "started", "2026-03-01T10:00:04.000Z")})),
                    ),
                    output_event(
                        "MapStateExited",
                        9_000,
                        Some(json!({"results": {"databases": [
                            {"promote": promote_answer("billing", "started", "2026-03-01T10:00:01.000Z")},
                            {"promote": promote_answer("orders", "started", "2026-03-01T10:00:04.000Z")}]}})),
                    ),
                ],
                Some(("2026-03-01T10:00:04.000Z", CutSource::PromotionRequest)),
            ),
            // Answers that asked for nothing, and unreadable times, are not the request: the
            // execution's start is (a little earlier, so no write after the cut is left out).
            (
                vec![
                    started.clone(),
                    output_event(
                        "LambdaFunctionSucceeded",
                        5_000,
                        Some(promote_answer(
                            "orders",
                            "inProgress",
                            "2026-03-01T10:00:04.000Z",
                        )),
                    ),
                    output_event(
                        "LambdaFunctionSucceeded",
                        6_000,
                        Some(promote_answer("orders", "started", "soon")),
                    ),
                    output_event(
                        "LambdaFunctionSucceeded",
                        7_000,
                        Some(promote_answer(
                            "billing",
                            "started",
                            "2026-03-01T10:00:04.000Z",
                        )),
                    ),
                ],
                Some(("1970-01-01T00:00:01Z", CutSource::ExecutionStart)),
            ),
            (vec![], None),
        ];
        for (events, expected) in cases {
            let got = promotion_requested_at(&events, "orders");
            let got = got.as_ref().map(|(t, source)| (t.0.as_str(), *source));
            assert_eq!(got, expected, "{events:?}");
        }
    }

    #[test]
    fn only_old_primaries_of_configured_databases_are_listed_with_what_they_may_hold() {
        let cut = Timestamp("2026-03-01T10:00:00.000Z".into());
        let after = Some("2026-03-01T10:05:00.000Z");
        let before = Some("2026-03-01T09:59:00.000Z");
        let cases: Vec<(KeptInstance, Option<&Timestamp>, Option<bool>)> = vec![
            (
                kept(Some(Side::Primary), Some("orders"), after),
                Some(&cut),
                Some(true),
            ),
            (
                kept(Some(Side::Primary), Some("orders"), before),
                Some(&cut),
                Some(false),
            ),
            // Nothing recorded about the cut, or no restorable time: it may.
            (
                kept(Some(Side::Primary), Some("orders"), before),
                None,
                Some(true),
            ),
            (
                kept(Some(Side::Primary), Some("orders"), None),
                Some(&cut),
                Some(true),
            ),
            // A promoted standby renamed at re-protect is no old primary; nor is an instance whose
            // database left the configuration (readiness still lists both).
            (
                kept(Some(Side::Standby), Some("orders"), after),
                Some(&cut),
                None,
            ),
            (kept(Some(Side::Primary), None, after), Some(&cut), None),
            (kept(None, Some("orders"), after), Some(&cut), None),
        ];
        for (instance, since, expected) in cases {
            let got = kept_old_primary(&instance, since);
            assert_eq!(
                got.as_ref().map(|k| k.may_hold_unreplicated_writes),
                expected,
                "{instance:?} {since:?}"
            );
            if let Some(entry) = got {
                assert_eq!(entry.renamed_from, "orders-db");
                assert_eq!(entry.kept_since.as_deref(), Some("2026-03-02T08:00:00Z"));
                assert_eq!(
                    entry.unreplicated_writes_since.as_deref(),
                    since.map(|t| t.0.as_str())
                );
                assert!(
                    entry
                        .reconcile
                        .contains("--final-db-snapshot-identifier orders-db-old-1a2b3c4d-final"),
                    "{}",
                    entry.reconcile
                );
            }
        }
    }

    #[test]
    fn a_kept_old_primary_has_exactly_the_documented_fields() {
        let entry = kept_old_primary(
            &kept(Some(Side::Primary), Some("orders"), None),
            Some(&Timestamp("2026-03-01T10:00:00.000Z".into())),
        )
        .unwrap();
        let value = serde_json::to_value(&entry).unwrap();
        let keys: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let expected = vec![
            "database",
            "instanceId",
            "region",
            "renamedFrom",
            "keptSince",
            "latestRestorableTime",
            "unreplicatedWritesSince",
            "mayHoldUnreplicatedWrites",
            "reconcile",
        ];
        assert_eq!(
            keys, expected,
            "the documented fields, in the documented order"
        );
        assert_eq!(value["latestRestorableTime"], Value::Null);
        assert_eq!(value["mayHoldUnreplicatedWrites"], json!(true));
        // In the report: present when computed (a failback), absent otherwise.
        let mut failback = report("succeeded");
        failback.kind = "failback".into();
        failback.kept_old_primaries = Some(vec![]);
        let document = serde_json::to_value(&failback).unwrap();
        assert_eq!(document["keptOldPrimaries"], json!([]));
        assert!(serde_json::to_value(report("succeeded"))
            .unwrap()
            .get("keptOldPrimaries")
            .is_none());
    }
}
