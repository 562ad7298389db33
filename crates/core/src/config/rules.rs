//! Field rules: the checks of one value (non-empty, region, bucket name, role ARN, logical name,
//! DB instance identifier), each naming the field it rejects. The env name is its type's
//! ([`crate::EnvName`]).

use crate::clients::validate_region;
use crate::error::PilotLightError;

pub(super) fn check_non_empty(field: &str, value: &str) -> Result<(), PilotLightError> {
    if value.trim().is_empty() {
        Err(PilotLightError::config(field, "must not be empty"))
    } else {
        Ok(())
    }
}

pub(super) fn check_region(field: &str, value: &str) -> Result<(), PilotLightError> {
    validate_region(value).map_err(|reason| PilotLightError::config(field, reason))
}

/// S3 bucket names: 3–63 lower-case letters, digits, `.` and `-`; a letter or digit at both ends;
/// no `..`, and not shaped like an IP address.
pub fn check_bucket_name(field: &str, value: &str) -> Result<(), PilotLightError> {
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let ip_like = value.split('.').count() == 4
        && value
            .split('.')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    let ok = (3..=63).contains(&value.len())
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && edge_ok(value.chars().next())
        && edge_ok(value.chars().last())
        && !value.contains("..")
        && !ip_like;
    if ok {
        Ok(())
    } else {
        Err(PilotLightError::config(
            field,
            format!(
                "`{value}` is not an S3 bucket name (3–63 lower-case letters, digits, `.`, `-`)"
            ),
        ))
    }
}

/// IAM role ARNs: `arn:<partition>:iam::<12-digit account>:role/<path and name>`.
pub(super) fn check_role_arn(field: &str, value: &str) -> Result<(), PilotLightError> {
    let parts: Vec<&str> = value.splitn(6, ':').collect();
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "iam"
        && parts[3].is_empty()
        && parts[4].len() == 12
        && parts[4].chars().all(|c| c.is_ascii_digit())
        && parts[5]
            .strip_prefix("role/")
            .is_some_and(|name| !name.is_empty());
    if ok {
        Ok(())
    } else {
        Err(PilotLightError::config(
            field,
            format!("`{value}` is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)"),
        ))
    }
}

/// Logical names appear in reports and execution names.
pub(super) fn check_name(field: &str, value: &str) -> Result<(), PilotLightError> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(PilotLightError::config(
            field,
            "1–64 letters, digits, `-` or `_`",
        ))
    }
}

/// RDS DB instance identifiers: 1–63 letters, digits or hyphens; a letter first; no trailing
/// hyphen and no two hyphens in a row.
pub fn check_db_instance_id(field: &str, value: &str) -> Result<(), PilotLightError> {
    let ok = !value.is_empty()
        && value.len() <= 63
        && value.starts_with(|c: char| c.is_ascii_alphabetic())
        && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !value.ends_with('-')
        && !value.contains("--");
    if ok {
        Ok(())
    } else {
        Err(PilotLightError::config(
            field,
            format!("`{value}` is not a DB instance identifier (1–63 letters, digits, hyphens; a letter first)"),
        ))
    }
}
