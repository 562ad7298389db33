//! The documents `run-state` keeps in SSM Parameter Store, typed once for every reader: the run state
//! (`/pilot-light/<env>/state`, [`RunState`]) and the lock (`/pilot-light/<env>/lock`, [`Lock`] as
//! [`LockView`]). `run-state` writes both; the sync, the AMI pipeline, the drill, readiness and the
//! CLI read them here.

use crate::{PilotLightError, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A run-state parameter's value read as a [`RunState`] (`None`: no parameter). One that is not a
/// run state (edited by hand, say) is `InvalidState`: nothing may guess which region serves.
pub fn parse_run_state(
    state_parameter_value: Option<&str>,
) -> Result<Option<RunState>, PilotLightError> {
    let Some(text) = state_parameter_value else {
        return Ok(None);
    };
    let unreadable = |reason: String| PilotLightError::InvalidState {
        resource: "run-state parameter".into(),
        state: "unreadable".into(),
        reason: format!("{reason}; fix or delete it by hand"),
    };
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|err| unreadable(format!("not JSON ({err})")))?;
    if !value.is_object() {
        return Err(unreadable("not a JSON object".into()));
    }
    serde_json::from_value(value)
        .map(Some)
        .map_err(|err| unreadable(format!("not a run state ({err})")))
}

/// The run state of an environment (`/pilot-light/<env>/state`). Unknown fields are tolerated so a
/// newer writer (a flap guard's bookkeeping, say) does not break an older reader.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunState {
    /// The region serving production; absent until a first `markActive`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_region: Option<String>,
    /// When `activeRegion` became active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Timestamp>,
    /// The execution that made it active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_id: Option<String>,
    /// Desired capacity of each primary compute group (by group name), last recorded.
    #[serde(default)]
    pub primary_capacity: BTreeMap<String, u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_recorded_at: Option<Timestamp>,
    /// Set by a failback once traffic is back on the primary and until the standby is protected
    /// again (a new DR replica): a re-run of the failback then only re-protects.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reprotect_pending: bool,
    /// The primary databases' settings by logical name (`snapshot-restore` `describe` shapes), last
    /// recorded while the primary could be seen.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub database_shapes: BTreeMap<String, serde_json::Value>,
    /// The failback in progress: the id of the first failback execution since the last failover,
    /// until the standby is protected again. Every re-run of that failback (after a failure, an
    /// abort or a crash) names and owns what it makes with this id, so it finds and finishes the
    /// earlier run's snapshot, copy, restored and renamed instances instead of starting over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failback_id: Option<String>,
    /// When a failback last gave the standby back its writes (un-fenced it after a failure): the
    /// failback identity was renewed then. Cleared with `failbackId` at the end of the cycle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standby_unfenced_at: Option<Timestamp>,
    /// When a run of the failback in progress (this `failbackId`) first asked RDS to promote its
    /// reverse replicas: from then on they hold the standby's data only up to their promotion, so
    /// un-fencing the standby renews the identity. Cleared with `failbackId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reverse_promotion_requested_at: Option<Timestamp>,
    /// The failover cycle in progress: the id of the first failover execution since the primary was
    /// last active and protected. Every re-run of that failover (after a failure, an abort or a
    /// crash) uses it, and `promote-replica` tags the promoted standby with it: only a promotion of
    /// this cycle counts as "already done". Cleared when a failback makes the primary active again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failover_id: Option<String>,
    /// When a run of this failover cycle first asked RDS to promote (`promotionRequested`). From
    /// then on a failed failover never un-fences the primary: the standby may be writable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promotion_requested_at: Option<Timestamp>,
}

/// The lock of an environment (`/pilot-light/<env>/lock`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lock {
    pub execution_id: String,
    pub operation: String,
    pub acquired_at: Timestamp,
}

/// What the lock parameter holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockView {
    /// No lock parameter.
    Free,
    Held(Lock),
    /// A lock parameter that is not a [`Lock`]: treated as held by someone else, never deleted.
    Unreadable,
}

impl LockView {
    /// Reads a lock parameter's value (`None`: no parameter).
    pub fn from_value(value: Option<&str>) -> Self {
        match value {
            None => Self::Free,
            Some(text) => serde_json::from_str(text)
                .map(Self::Held)
                .unwrap_or(Self::Unreadable),
        }
    }

    /// Whether `execution_id` holds it.
    pub fn is_held_by(&self, execution_id: &str) -> bool {
        matches!(self, Self::Held(lock) if lock.execution_id == execution_id)
    }

    /// Who holds it, for messages (`None` when free).
    pub fn holder(&self) -> Option<String> {
        match self {
            Self::Free => None,
            Self::Held(lock) => Some(format!(
                "execution {} ({} since {})",
                lock.execution_id, lock.operation, lock.acquired_at.0
            )),
            Self::Unreadable => Some("an unreadable lock parameter (delete it by hand)".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_values() {
        assert_eq!(LockView::from_value(None), LockView::Free);
        assert_eq!(LockView::from_value(Some("not json")), LockView::Unreadable);
        assert_eq!(
            LockView::from_value(Some(r#"{"executionId": 3}"#)),
            LockView::Unreadable
        );
        let text =
            r#"{"executionId":"x","operation":"failover","acquiredAt":"2026-01-01T00:00:00Z"}"#;
        assert!(LockView::from_value(Some(text)).is_held_by("x"));
        assert!(!LockView::from_value(Some(text)).is_held_by("y"));
    }

    #[test]
    fn state_documents_round_trip_and_tolerate_new_fields() {
        let text = r#"{"activeRegion":"us-west-2","since":"2026-01-01T00:00:00Z","executionId":"e",
            "primaryCapacity":{"web":4},"capacityRecordedAt":"2025-12-31T00:00:00Z","lastAutomaticFailoverAt":"x"}"#;
        let state: RunState = serde_json::from_str(text).unwrap();
        assert_eq!(state.active_region.as_deref(), Some("us-west-2"));
        assert_eq!(state.primary_capacity["web"], 4);
        let again: RunState =
            serde_json::from_str(&serde_json::to_string(&state).unwrap()).unwrap();
        assert_eq!(again, state);
        assert_eq!(
            serde_json::to_string(&RunState::default()).unwrap(),
            r#"{"primaryCapacity":{}}"#
        );
        let cycle = RunState {
            failover_id: Some("fo".into()),
            promotion_requested_at: Some(Timestamp("2026-01-01T00:00:00Z".into())),
            standby_unfenced_at: Some(Timestamp("2026-01-01T00:01:00Z".into())),
            ..RunState::default()
        };
        let text = serde_json::to_string(&cycle).unwrap();
        for field in ["failoverId", "promotionRequestedAt", "standbyUnfencedAt"] {
            assert!(text.contains(field), "{text}");
        }
        assert_eq!(serde_json::from_str::<RunState>(&text).unwrap(), cycle);
    }
    #[test]
    fn a_run_state_parameter_is_read_or_refused_never_guessed() {
        assert_eq!(parse_run_state(None).unwrap(), None);
        let state = parse_run_state(Some(r#"{"activeRegion":"us-west-2"}"#))
            .unwrap()
            .unwrap();
        assert_eq!(state.active_region.as_deref(), Some("us-west-2"));
        for unreadable in [
            "not json",
            "[]",
            r#"{"activeRegion": 3}"#,
            r#"{"primaryCapacity": {"web": -1}}"#,
        ] {
            let err = parse_run_state(Some(unreadable)).unwrap_err();
            assert_eq!(err.error_type(), "InvalidState", "{unreadable}");
        }
    }
}
