//! One-step flows, as Map item processors and Parallel branches use them.

use crate::asl::{rethrow, states};
use crate::json::Obj;

/// A flow of one step that ends the flow, or re-raises its error from `failed`
/// (a `Fail` named after what failed, so the execution history says which step it was).
pub fn step_or_fail(name: &str, step: Obj, failed: &str) -> Obj {
    states()
        .state(name, step.on_failure(failed).end())
        .state(failed, rethrow())
}
