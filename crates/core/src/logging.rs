//! JSON logs for every handler. Secret values are never logged: handlers log resource
//! ids and statuses, never parameter values.

use tracing_subscriber::EnvFilter;

/// Installs the JSON log subscriber once; `RUST_LOG` sets the level (default `info`).
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_target(false)
        .without_time()
        .try_init();
}
