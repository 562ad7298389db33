//! The read-only describe calls behind the readiness checks, by what they look at. Each returns what
//! [`super::checks`] needs to decide; none changes anything.

pub(crate) mod compute;
pub(crate) mod databases;
pub(crate) mod functions;
pub(crate) mod parameters;
