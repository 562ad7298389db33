//! How much a sync of every path reads: everything in both regions (a **full** comparison), or only
//! what the source changed since the last sync (**incremental**), and the mark a sync leaves for the
//! next one.
//!
//! * **Incremental.** `DescribeParameters` of the source (50 a page) gives each parameter's
//!   `LastModifiedDate`; only those modified since the mark's `changedSince` (less
//!   [`CLOCK_SKEW_SECONDS`]) are read, 10 a call with `GetParameters`, in both regions. It never
//!   deletes (a deleted source parameter leaves no trace to see) and does not see edits made
//!   directly in the target.
//! * **Full.** Every parameter of both regions, compared; the only scan that repairs the target's
//!   own edits and makes `mirror`'s deletions. It runs when asked (`{"full": true}`, or `force`,
//!   which only a full scan can use), when there is no usable mark, when the direction changed (a
//!   failover or failback), when the paths or the mode changed (a new path's old parameters were
//!   never copied), and when the last full scan is older than `ssmSync.fullSyncEverySeconds`.
//! * **The mark** (`/pilot-light/<env>/ssm-sync`, in the handler's region) is written only after a
//!   sync of every path that wrote everything it meant to: a failed write is read again next time.
//!   It is a parameter of its own, not a field of the run state, which the failover and failback
//!   write and whose writes a sync must never race.

use pilot_light_core::config::SsmSyncMode;
use pilot_light_core::step::epoch_seconds;
use pilot_light_core::{EnvName, Timestamp};
use serde::{Deserialize, Serialize};

/// A parameter modified up to this long before the mark is read again: the mark is the handler's
/// clock, `LastModifiedDate` is SSM's.
pub const CLOCK_SKEW_SECONDS: f64 = 300.0;

/// The name of the mark (`/pilot-light/<env>/ssm-sync`).
pub fn mark_parameter_name(env: &EnvName) -> String {
    format!("/pilot-light/{env}/ssm-sync")
}

/// What the last sync of every path that wrote all it meant to left behind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncMark {
    pub source_region: String,
    pub target_region: String,
    /// `ssmSync.paths` and `ssmSync.mode` of that sync.
    pub paths: Vec<String>,
    pub mode: SsmSyncMode,
    /// When that sync began: the next one reads what the source changed since (less the skew).
    pub changed_since: Timestamp,
    /// When the last full comparison began.
    pub last_full_at: Timestamp,
}

/// Why a sync compares everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum FullReason {
    /// `{"full": true}` in the input.
    Requested,
    /// No mark yet (the first sync), or one that cannot be read.
    NoMark,
    /// The mark was left by a sync in the other direction: the regions swapped roles since.
    DirectionChanged,
    /// `ssmSync.paths` or `ssmSync.mode` changed since the mark.
    ScopeChanged,
    /// The last full comparison is older than `ssmSync.fullSyncEverySeconds`.
    Due,
}

/// How a sync of every path reads.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Scan {
    Full {
        reason: FullReason,
    },
    /// Read the source parameters modified at or after `since_epoch_seconds`.
    #[serde(rename_all = "camelCase")]
    Incremental {
        changed_since: Timestamp,
        since_epoch_seconds: f64,
    },
}

/// Reads a stored mark; `None` when it is absent or not a mark (then the sync compares everything).
pub fn parse_mark(text: Option<&str>) -> Option<SyncMark> {
    serde_json::from_str(text?).ok()
}

/// What this sync of every path copies, from where to where.
#[derive(Debug, Clone, Copy)]
pub struct ThisSync<'a> {
    pub source_region: &'a str,
    pub target_region: &'a str,
    pub paths: &'a [String],
    pub mode: SsmSyncMode,
}

/// Full or incremental, from the mark, this sync, the time and the input.
pub fn decide_scan(
    mark: Option<&SyncMark>,
    this: ThisSync<'_>,
    now_epoch_seconds: f64,
    full_requested: bool,
    full_every_seconds: u64,
) -> Scan {
    if full_requested {
        return Scan::Full {
            reason: FullReason::Requested,
        };
    }
    let Some(mark) = mark else {
        return Scan::Full {
            reason: FullReason::NoMark,
        };
    };
    let (Some(since), Some(last_full)) = (
        epoch_seconds(&mark.changed_since.0),
        epoch_seconds(&mark.last_full_at.0),
    ) else {
        return Scan::Full {
            reason: FullReason::NoMark,
        };
    };
    if mark.source_region != this.source_region || mark.target_region != this.target_region {
        return Scan::Full {
            reason: FullReason::DirectionChanged,
        };
    }
    if mark.paths != this.paths || mark.mode != this.mode {
        return Scan::Full {
            reason: FullReason::ScopeChanged,
        };
    }
    if now_epoch_seconds - last_full >= full_every_seconds as f64 {
        return Scan::Full {
            reason: FullReason::Due,
        };
    }
    Scan::Incremental {
        changed_since: mark.changed_since.clone(),
        since_epoch_seconds: since - CLOCK_SKEW_SECONDS,
    }
}

/// The mark a sync that began at `started_at` leaves when it wrote everything it meant to.
pub fn next_mark(
    previous: Option<&SyncMark>,
    scan: &Scan,
    this: ThisSync<'_>,
    started_at: &Timestamp,
) -> SyncMark {
    let last_full_at = match (scan, previous) {
        (Scan::Full { .. }, _) | (_, None) => started_at.clone(),
        (Scan::Incremental { .. }, Some(previous)) => previous.last_full_at.clone(),
    };
    SyncMark {
        source_region: this.source_region.to_string(),
        target_region: this.target_region.to_string(),
        paths: this.paths.to_vec(),
        mode: this.mode,
        changed_since: started_at.clone(),
        last_full_at,
    }
}

/// Whether a parameter modified at `modified_epoch_seconds` (`None`: SSM did not say) is read by an
/// incremental scan from `since_epoch_seconds`. Unknown times are read: a needless read costs a call,
/// a skipped change costs a stale parameter.
pub fn changed_since(modified_epoch_seconds: Option<f64>, since_epoch_seconds: f64) -> bool {
    modified_epoch_seconds.is_none_or(|modified| modified >= since_epoch_seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EAST: &str = "us-east-1";
    const WEST: &str = "us-west-2";
    const DAY: u64 = 86_400;
    /// 2026-12-01T00:00:00Z
    const T0: f64 = 1_796_083_200.0;

    fn paths() -> Vec<String> {
        vec!["/app/prod".to_string()]
    }

    fn this<'a>(source: &'a str, target: &'a str, paths: &'a [String]) -> ThisSync<'a> {
        ThisSync {
            source_region: source,
            target_region: target,
            paths,
            mode: SsmSyncMode::Update,
        }
    }

    fn mark(source: &str, target: &str, since: &str, full: &str) -> SyncMark {
        SyncMark {
            source_region: source.into(),
            target_region: target.into(),
            paths: paths(),
            mode: SsmSyncMode::Update,
            changed_since: Timestamp(since.into()),
            last_full_at: Timestamp(full.into()),
        }
    }

    fn full(reason: FullReason) -> Scan {
        Scan::Full { reason }
    }

    #[test]
    fn the_scan_is_incremental_only_with_a_fresh_mark_of_the_same_direction() {
        let fresh = mark(EAST, WEST, "2026-12-01T00:00:00Z", "2026-11-30T12:00:00Z");
        let incremental = Scan::Incremental {
            changed_since: Timestamp("2026-12-01T00:00:00Z".into()),
            since_epoch_seconds: T0 - CLOCK_SKEW_SECONDS,
        };
        let broken = mark(EAST, WEST, "yesterday", "2026-11-30T12:00:00Z");
        let swapped = mark(WEST, EAST, "2026-12-01T00:00:00Z", "2026-11-30T12:00:00Z");
        let mut other_paths = fresh.clone();
        other_paths.paths.push("/app/new".into());
        let mut other_mode = fresh.clone();
        other_mode.mode = SsmSyncMode::Mirror;
        // (mark, now, full requested) → scan
        let table: Vec<(Option<&SyncMark>, f64, bool, Scan)> = vec![
            (Some(&fresh), T0 + 60.0, false, incremental.clone()),
            (Some(&fresh), T0 + 60.0, true, full(FullReason::Requested)),
            (None, T0, false, full(FullReason::NoMark)),
            (Some(&broken), T0, false, full(FullReason::NoMark)),
            (
                Some(&swapped),
                T0,
                false,
                full(FullReason::DirectionChanged),
            ),
            (
                Some(&other_paths),
                T0,
                false,
                full(FullReason::ScopeChanged),
            ),
            (Some(&other_mode), T0, false, full(FullReason::ScopeChanged)),
            // the last full scan was 12 h before T0: due a day after it
            (Some(&fresh), T0 + 43_199.0, false, incremental),
            (Some(&fresh), T0 + 43_200.0, false, full(FullReason::Due)),
        ];
        for (mark, now, requested, expected) in table {
            assert_eq!(
                decide_scan(mark, this(EAST, WEST, &paths()), now, requested, DAY),
                expected,
                "{mark:?} at {now}, full requested: {requested}"
            );
        }
    }

    #[test]
    fn a_mark_keeps_the_last_full_scan_through_incremental_ones() {
        let started = Timestamp("2026-12-01T01:00:00Z".into());
        let previous = mark(EAST, WEST, "2026-12-01T00:00:00Z", "2026-11-30T12:00:00Z");
        let incremental = Scan::Incremental {
            changed_since: previous.changed_since.clone(),
            since_epoch_seconds: T0,
        };
        let paths = paths();
        let after_incremental = next_mark(
            Some(&previous),
            &incremental,
            this(EAST, WEST, &paths),
            &started,
        );
        assert_eq!(after_incremental.changed_since, started);
        assert_eq!(after_incremental.last_full_at, previous.last_full_at);
        let after_full = next_mark(
            Some(&previous),
            &full(FullReason::Due),
            this(EAST, WEST, &paths),
            &started,
        );
        assert_eq!(after_full.last_full_at, started);
        let first = next_mark(
            None,
            &full(FullReason::NoMark),
            this(WEST, EAST, &paths),
            &started,
        );
        assert_eq!(
            (first.source_region.as_str(), first.target_region.as_str()),
            (WEST, EAST)
        );
    }

    #[test]
    fn a_stored_mark_round_trips_and_anything_else_is_no_mark() {
        let stored = mark(EAST, WEST, "2026-12-01T00:00:00Z", "2026-11-30T12:00:00Z");
        let text = serde_json::to_string(&stored).unwrap();
        assert!(text.contains("\"changedSince\""), "{text}");
        assert_eq!(parse_mark(Some(&text)), Some(stored));
        assert_eq!(parse_mark(None), None);
        assert_eq!(parse_mark(Some("{}")), None);
        assert_eq!(parse_mark(Some("not json")), None);
    }

    #[test]
    fn parameters_modified_since_the_mark_or_at_an_unknown_time_are_read() {
        for (modified, read) in [
            (Some(T0 - 1.0), false),
            (Some(T0), true),
            (Some(T0 + 1.0), true),
            (None, true),
        ] {
            assert_eq!(changed_since(modified, T0), read, "{modified:?}");
        }
    }
}
