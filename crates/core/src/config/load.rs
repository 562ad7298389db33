//! Loading: parsing a document from JSON (then validating it) and looking up its entries.

use crate::error::PilotLightError;
use crate::step::decode_json;

use super::{DatabaseConfig, PilotLightConfig};

impl PilotLightConfig {
    /// Parses and validates a configuration document given as JSON text.
    pub fn from_json_str(text: &str) -> Result<Self, PilotLightError> {
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|err| PilotLightError::config(".", format!("not JSON: {err}")))?;
        Self::from_json(value)
    }

    /// Parses and validates a configuration document given as a JSON value.
    pub fn from_json(value: serde_json::Value) -> Result<Self, PilotLightError> {
        let config: Self =
            decode_json(value).map_err(|(field, reason)| PilotLightError::config(field, reason))?;
        config.validate()?;
        Ok(config)
    }

    /// The database with this logical name.
    pub fn database(&self, name: &str) -> Option<&DatabaseConfig> {
        self.databases.iter().find(|db| db.name == name)
    }
}
