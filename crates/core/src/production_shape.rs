//! The production shape of a database: a pilot light keeps its standby small (a smaller class,
//! single-AZ, short backup retention); when it becomes production, the serving instance is resized to
//! this shape. Failover applies it to the promoted standby, failback to the restored primary.
//!
//! Only the fields given are changed; everything else stays as RDS has it.

use serde::{Deserialize, Serialize};

use crate::error::PilotLightError;

/// When the resize runs relative to the traffic switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ResizeTiming {
    /// Resize before traffic is switched: the application starts on the production shape.
    #[default]
    BeforeTraffic,
    /// The application may start on the small instance: switch traffic first, then resize (still
    /// inside the run, which holds its lock and reports the resize's end).
    Background,
}

/// The shape the serving instance of a logical database must have in production.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProductionShape {
    /// `db.r6g.large`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_class: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multi_az: Option<bool>,
    /// Days of automated backups (1–35: a production database keeps backups).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_retention_days: Option<u32>,
    /// Allocated storage in GiB; storage only grows (a larger current size counts as matching).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocated_storage_gib: Option<u32>,
    /// `gp2`, `gp3` or `standard` (io1/io2 need provisioned IOPS, which a shape does not carry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_type: Option<String>,
    /// A DB parameter group of the serving region (static parameters apply at the next reboot,
    /// which pilot-light never does by itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub db_parameter_group_name: Option<String>,
    #[serde(default)]
    pub resize: ResizeTiming,
}

pub use crate::tags::PILOT_LIGHT_SHAPE_TAG;

/// The value of [`PILOT_LIGHT_SHAPE_TAG`] (RDS tag values allow letters, digits, spaces, `.`, `=`).
pub fn pilot_light_shape_tag(instance_class: Option<&str>, multi_az: Option<bool>) -> String {
    let mut parts = Vec::new();
    if let Some(class) = instance_class {
        parts.push(format!("instanceClass={class}"));
    }
    if let Some(multi_az) = multi_az {
        parts.push(format!("multiAz={multi_az}"));
    }
    parts.join(" ")
}

/// Reads a [`PILOT_LIGHT_SHAPE_TAG`] value back: the class (when a valid one) and Multi-AZ.
pub fn parse_pilot_light_shape_tag(value: &str) -> (Option<String>, Option<bool>) {
    let mut class = None;
    let mut multi_az = None;
    for part in value.split_whitespace() {
        match part.split_once('=') {
            Some(("instanceClass", v)) if is_instance_class(v) => class = Some(v.to_string()),
            Some(("multiAz", v)) => multi_az = v.parse().ok(),
            _ => {}
        }
    }
    (class, multi_az)
}

/// Storage types a shape may ask for.
pub const STORAGE_TYPES: &[&str] = &["standard", "gp2", "gp3"];

impl ProductionShape {
    /// True when the shape asks for nothing.
    pub fn is_empty(&self) -> bool {
        self.instance_class.is_none()
            && self.multi_az.is_none()
            && self.backup_retention_days.is_none()
            && self.allocated_storage_gib.is_none()
            && self.storage_type.is_none()
            && self.db_parameter_group_name.is_none()
    }

    /// Checks the shape; `at` is the field path of the shape (`databases[0].productionShape`).
    pub fn validate(&self, at: &str) -> Result<(), PilotLightError> {
        let field = |f: &str| format!("{at}.{f}");
        if self.is_empty() {
            return Err(PilotLightError::config(
                at,
                "give at least one of instanceClass, multiAz, backupRetentionDays, allocatedStorageGib, storageType, dbParameterGroupName (or leave the shape out)",
            ));
        }
        if let Some(class) = &self.instance_class {
            if !is_instance_class(class) {
                return Err(PilotLightError::config(
                    field("instanceClass"),
                    format!("`{class}` is not a DB instance class (db.<family>.<size>, e.g. db.r6g.large)"),
                ));
            }
        }
        if let Some(days) = self.backup_retention_days {
            if !(1..=35).contains(&days) {
                return Err(PilotLightError::config(
                    field("backupRetentionDays"),
                    "must be between 1 and 35 (a production database keeps automated backups)",
                ));
            }
        }
        if let Some(gib) = self.allocated_storage_gib {
            if !(20..=65536).contains(&gib) {
                return Err(PilotLightError::config(
                    field("allocatedStorageGib"),
                    "must be between 20 and 65536",
                ));
            }
        }
        if let Some(kind) = &self.storage_type {
            if !STORAGE_TYPES.contains(&kind.as_str()) {
                return Err(PilotLightError::config(
                    field("storageType"),
                    format!("must be one of {}", STORAGE_TYPES.join(", ")),
                ));
            }
        }
        if let Some(group) = &self.db_parameter_group_name {
            if !is_parameter_group_name(group) {
                return Err(PilotLightError::config(
                    field("dbParameterGroupName"),
                    format!("`{group}` is not a DB parameter group name (1–255 letters, digits, hyphens; a letter first)"),
                ));
            }
        }
        Ok(())
    }
}

/// `db.<family>.<size>`: three dot-separated parts of lower-case letters and digits.
pub fn is_instance_class(class: &str) -> bool {
    let parts: Vec<&str> = class.split('.').collect();
    class.len() <= 40
        && parts.len() == 3
        && parts[0] == "db"
        && parts[1..].iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        })
}

fn is_parameter_group_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        && !name.ends_with('-')
        && !name.contains("--")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn shape(value: serde_json::Value) -> ProductionShape {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn instance_classes() {
        for (class, ok) in [
            ("db.r6g.large", true),
            ("db.t3.small", true),
            ("db.x2iedn.32xlarge", true),
            ("r6g.large", false),
            ("db.r6g", false),
            ("db.R6G.large", false),
            ("db..large", false),
            ("db.r6g.large.extra", false),
        ] {
            assert_eq!(is_instance_class(class), ok, "{class}");
        }
    }

    #[test]
    fn validation_table() {
        let at = "databases[0].productionShape";
        for (doc, field) in [
            (json!({"instanceClass": "db.r6g.large"}), None),
            (json!({"multiAz": true, "resize": "background"}), None),
            (json!({"resize": "background"}), Some(at.to_string())),
            (
                json!({"instanceClass": "large"}),
                Some(format!("{at}.instanceClass")),
            ),
            (
                json!({"backupRetentionDays": 0}),
                Some(format!("{at}.backupRetentionDays")),
            ),
            (
                json!({"backupRetentionDays": 36}),
                Some(format!("{at}.backupRetentionDays")),
            ),
            (
                json!({"allocatedStorageGib": 10}),
                Some(format!("{at}.allocatedStorageGib")),
            ),
            (
                json!({"storageType": "ssd"}),
                Some(format!("{at}.storageType")),
            ),
            (
                json!({"dbParameterGroupName": "-bad"}),
                Some(format!("{at}.dbParameterGroupName")),
            ),
        ] {
            let result = shape(doc.clone()).validate(at);
            match field {
                None => assert!(result.is_ok(), "{doc}: {result:?}"),
                Some(field) => match result {
                    Err(PilotLightError::ConfigInvalid { field: got, .. }) => {
                        assert_eq!(got, field, "{doc}")
                    }
                    other => panic!("{doc}: {other:?}"),
                },
            }
        }
    }

    #[test]
    fn the_pilot_light_shape_tag_round_trips_and_ignores_junk() {
        let value = pilot_light_shape_tag(Some("db.t3.small"), Some(false));
        assert_eq!(value, "instanceClass=db.t3.small multiAz=false");
        assert_eq!(
            parse_pilot_light_shape_tag(&value),
            (Some("db.t3.small".into()), Some(false))
        );
        assert_eq!(
            parse_pilot_light_shape_tag("instanceClass=huge multiAz=maybe other=1"),
            (None, None)
        );
        assert_eq!(pilot_light_shape_tag(None, None), "");
    }

    #[test]
    fn resize_defaults_to_before_traffic_and_is_always_serialized() {
        let s = shape(json!({"instanceClass": "db.r6g.large"}));
        assert_eq!(s.resize, ResizeTiming::BeforeTraffic);
        assert_eq!(serde_json::to_value(&s).unwrap()["resize"], "beforeTraffic");
    }
}
