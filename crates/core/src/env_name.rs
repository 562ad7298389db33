//! The one rule for an environment name. The name is part of every parameter path
//! (`/pilot-light/<env>/…`), every resource name and the `pilot-light:env` tag that IAM conditions
//! match, so anything looser could reach another environment's parameters: the configuration, the
//! handlers' input and the CLI's `--env` all check it here.

use crate::PilotLightError;

/// The rule in words, for error messages.
pub const ENV_NAME_RULE: &str =
    "1–32 lower-case letters, digits or hyphens, not starting with a hyphen";

/// True when `value` is an environment name.
pub fn is_env_name(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 32
        && !value.starts_with('-')
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Checks a handler's `env` input: `InvalidInput` (field `env`) unless it is an environment name.
pub fn check_env(env: &str) -> Result<(), PilotLightError> {
    if is_env_name(env) {
        Ok(())
    } else {
        Err(PilotLightError::InvalidInput {
            field: "env".into(),
            reason: format!("`{env}` is not an environment name ({ENV_NAME_RULE})"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_names() {
        let long = "x".repeat(33);
        let cases: &[(&str, bool)] = &[
            ("prod", true),
            ("e2e-ab12", true),
            ("a", true),
            (&"x".repeat(32), true),
            ("", false),
            ("Prod", false),
            ("Prod_1", false),
            ("prod_1", false),
            ("prod/../x", false),
            ("-x", false),
            ("a b", false),
            (&long, false),
        ];
        for (name, expected) in cases {
            assert_eq!(is_env_name(name), *expected, "{name:?}");
            assert_eq!(check_env(name).is_ok(), *expected, "{name:?}");
        }
        let err = check_env("Prod").unwrap_err();
        assert_eq!(err.error_type(), "InvalidInput");
    }
}
