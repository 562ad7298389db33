//! Poll policies: how often and how many times a state machine polls a long operation.

use serde::{Deserialize, Serialize};

/// How often and how many times a state machine polls one kind of long operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PollPolicy {
    pub interval_seconds: u32,
    pub max_attempts: u32,
}

/// Poll policies per kind of operation. Production uses seconds to minutes; tests use 0–1 s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PollConfig {
    #[serde(default = "default_promotion_poll")]
    pub promotion: PollPolicy,
    #[serde(default = "default_compute_poll")]
    pub compute: PollPolicy,
    #[serde(default = "default_snapshot_poll")]
    pub snapshot: PollPolicy,
    #[serde(default = "default_image_poll")]
    pub image: PollPolicy,
    /// Resizing a database to its production shape (`resize-database`).
    #[serde(default = "default_resize_poll")]
    pub resize: PollPolicy,
}

impl Default for PollConfig {
    fn default() -> Self {
        Self {
            promotion: default_promotion_poll(),
            compute: default_compute_poll(),
            snapshot: default_snapshot_poll(),
            image: default_image_poll(),
            resize: default_resize_poll(),
        }
    }
}

fn default_promotion_poll() -> PollPolicy {
    // Promotion of a replica takes minutes; 30 s × 120 = one hour at most.
    PollPolicy {
        interval_seconds: 30,
        max_attempts: 120,
    }
}
pub(super) fn default_compute_poll() -> PollPolicy {
    PollPolicy {
        interval_seconds: 15,
        max_attempts: 80,
    }
}
fn default_snapshot_poll() -> PollPolicy {
    PollPolicy {
        interval_seconds: 60,
        max_attempts: 240,
    }
}
fn default_resize_poll() -> PollPolicy {
    // A class change takes 10–30 minutes, Multi-AZ longer: 30 s × 240 = two hours at most.
    PollPolicy {
        interval_seconds: 30,
        max_attempts: 240,
    }
}
fn default_image_poll() -> PollPolicy {
    PollPolicy {
        interval_seconds: 60,
        max_attempts: 120,
    }
}

/// The longest poll interval accepted (one hour), and the most attempts of one loop.
pub(super) const MAX_POLL_INTERVAL_SECONDS: u32 = 3600;
pub(super) const MAX_POLL_ATTEMPTS: u32 = 1000;
