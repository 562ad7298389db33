//! The shapes the state machines repeat, built from [`crate::asl`].

pub mod compute;
pub mod fence;
pub mod hooks;
pub mod input;
pub mod lock;
pub mod poll;
pub mod resize;
pub mod step;
pub mod tail;
