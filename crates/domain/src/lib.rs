//! The AWS-facing domain layer: what more than one handler, or a handler and the operator's CLI,
//! observe in AWS and decide from it. Pure rules and document types live in `pilot-light-core`;
//! this crate adds the describe calls around them. No handler crate depends on another handler
//! crate: what two of them share is here or in core.
//!
//! * [`readiness`]: whether the next move (failover or failback) would work right now; the scheduled
//!   `readiness` function and `pilot-light status` run it.

pub mod readiness;
