//! The one rule for an environment name, and [`EnvName`], a name that follows it. The name is part
//! of every parameter path (`/pilot-light/<env>/…`), every resource name and the `pilot-light:env`
//! tag that IAM conditions match, so anything looser could reach another environment's parameters:
//! the configuration, the handlers' input and the CLI's `--env` are all read into an [`EnvName`],
//! which cannot be made without passing the rule.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};

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

/// Why `value` is refused: the reason of the `InvalidInput` (or, in the configuration,
/// `ConfigInvalid`) at `env`.
fn refusal(value: &str) -> String {
    format!("`{value}` is not an environment name ({ENV_NAME_RULE})")
}

/// An environment name that follows the rule ([`is_env_name`]): the only way an environment's name
/// travels (handler input and output, the configuration, the CLI's `--env`), so a parameter path
/// built from one never leaves `/pilot-light/<env>/`. Made by [`EnvName::new`] or `parse`; decoding
/// one from JSON refuses a bad name there and then. Serialized as the plain string.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct EnvName(String);

impl EnvName {
    /// The name, if it is an environment name; else `InvalidInput` at `env`.
    pub fn new(name: impl Into<String>) -> Result<Self, PilotLightError> {
        let name = name.into();
        if is_env_name(&name) {
            Ok(Self(name))
        } else {
            Err(PilotLightError::InvalidInput {
                field: "env".into(),
                reason: refusal(&name),
            })
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for EnvName {
    type Err = PilotLightError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::new(name)
    }
}

/// A bad name fails the decoding with the rule as its reason, so the decoder names the field
/// (`InvalidInput` at `env` for a step input, `ConfigInvalid` at `env` for the configuration).
impl<'de> Deserialize<'de> for EnvName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        if is_env_name(&name) {
            Ok(Self(name))
        } else {
            Err(serde::de::Error::custom(refusal(&name)))
        }
    }
}

impl From<EnvName> for String {
    fn from(name: EnvName) -> Self {
        name.0
    }
}

/// For the SDK's builders (`.value(&env)` of a `pilot-light:env` tag).
impl From<&EnvName> for String {
    fn from(name: &EnvName) -> Self {
        name.0.clone()
    }
}

impl Deref for EnvName {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for EnvName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for EnvName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// Like the plain string (`"prod"`), so logs and messages read as before.
impl fmt::Debug for EnvName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for EnvName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for EnvName {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for EnvName {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<String> for EnvName {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

impl PartialEq<EnvName> for str {
    fn eq(&self, other: &EnvName) -> bool {
        self == other.0
    }
}

impl PartialEq<EnvName> for &str {
    fn eq(&self, other: &EnvName) -> bool {
        *self == other.0
    }
}

impl PartialEq<EnvName> for String {
    fn eq(&self, other: &EnvName) -> bool {
        *self == other.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
            let made = EnvName::new(*name);
            assert_eq!(made.is_ok(), *expected, "{name:?}");
            let parsed = name.parse::<EnvName>();
            assert_eq!(parsed, made, "{name:?}");
            let decoded = serde_json::from_value::<EnvName>(json!(name));
            assert_eq!(decoded.is_ok(), *expected, "{name:?}");
            match made {
                Ok(env) => {
                    assert_eq!(env, *name);
                    assert_eq!(env.as_str(), *name);
                    assert_eq!(env.to_string(), *name);
                    assert_eq!(format!("{env:?}"), format!("{name:?}"));
                    assert_eq!(serde_json::to_value(&env).unwrap(), json!(name));
                    assert_eq!(decoded.unwrap(), env, "serde round trip of {name:?}");
                }
                Err(err) => {
                    assert_eq!(err.error_type(), "InvalidInput", "{name:?}");
                    assert_eq!(
                        err,
                        PilotLightError::InvalidInput {
                            field: "env".into(),
                            reason: format!(
                                "`{name}` is not an environment name ({ENV_NAME_RULE})"
                            ),
                        }
                    );
                }
            }
        }
    }

    /// A bad name in a step input is refused when it is decoded: `InvalidInput` at the field, with
    /// the rule as the reason (the same error `EnvName::new` gives for a top-level `env`).
    #[test]
    fn a_step_input_with_a_bad_name_is_refused_at_decoding() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Input {
            env: EnvName,
        }
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Nested {
            plan: Input,
        }
        let input = crate::parse_step_input::<Input>(json!({"env": "prod"}), &[]).unwrap();
        assert_eq!(input.env, "prod");
        // The event, then the field and a part of the reason of its `InvalidInput`.
        let refused = [
            (
                json!({"env": "Prod_1"}),
                "`Prod_1` is not an environment name",
            ),
            (
                json!({"env": "prod/../x"}),
                "`prod/../x` is not an environment name",
            ),
            (json!({"env": ""}), "`` is not an environment name"),
            (json!({"env": 5}), "invalid type"),
            (json!({}), "missing field"),
        ];
        for (event, reason) in refused {
            let err = crate::parse_step_input::<Input>(event.clone(), &[]).unwrap_err();
            assert_eq!(err.error_type(), "InvalidInput", "{event}");
            let PilotLightError::InvalidInput {
                field: at,
                reason: why,
            } = &err
            else {
                panic!("{event}: {err:?}")
            };
            assert_eq!(at, "env", "{event}");
            assert!(why.contains(reason), "{event}: {why}");
        }
        let err = EnvName::new("Prod_1").unwrap_err();
        let decoded = crate::parse_step_input::<Input>(json!({"env": "Prod_1"}), &[]).unwrap_err();
        assert_eq!(decoded, err, "the same error as EnvName::new");
        let nested =
            crate::parse_step_input::<Nested>(json!({"plan": {"env": "Prod_1"}}), &[]).unwrap_err();
        assert_eq!(nested.error_type(), "InvalidInput");
        assert!(nested.to_string().contains("`plan.env`"), "{nested}");
    }
}
