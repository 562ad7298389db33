//! Fixtures shared by the checks' tests.

use pilot_light_core::config::DatabaseConfig;

pub(super) fn db() -> DatabaseConfig {
    DatabaseConfig::identifiers_only("orders", "orders-db", "orders-db-dr")
}
