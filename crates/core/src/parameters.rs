//! Reading pilot-light's own SSM parameters (`/pilot-light/<env>/config`, `/state`, `/lock`, …):
//! one place that tells "no such parameter" (`None`) from a failure (a typed error).

use crate::config::config_parameter_name;
use crate::{EnvName, PilotLightConfig, PilotLightError};

/// A parameter's value; `None` when it does not exist. Never used for SecureStrings (pilot-light's
/// own parameters are plain Strings): no decryption is asked for.
pub async fn get_parameter_value(
    ssm: &aws_sdk_ssm::Client,
    name: &str,
) -> Result<Option<String>, PilotLightError> {
    match ssm.get_parameter().name(name).send().await {
        Ok(out) => Ok(out.parameter().and_then(|p| p.value()).map(str::to_string)),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_parameter_not_found()) =>
        {
            Ok(None)
        }
        Err(err) => Err(PilotLightError::from_sdk("GetParameter", &err)),
    }
}
/// The configuration document of `env` as read from `region` (`ssm` is that region's client),
/// validated. Missing → `ConfigInvalid` naming the parameter; invalid → `ConfigInvalid` naming the
/// field; written for another environment → `ConfigInvalid` at `env`. Every handler that starts
/// from the configuration loads it here.
pub async fn load_config(
    ssm: &aws_sdk_ssm::Client,
    env: &EnvName,
    region: &str,
) -> Result<PilotLightConfig, PilotLightError> {
    let name = config_parameter_name(env);
    let text = get_parameter_value(ssm, &name).await?.ok_or_else(|| {
        PilotLightError::config(
            name.clone(),
            format!("no configuration document for `{env}` in {region}"),
        )
    })?;
    config_of_env(&text, env, &name)
}

/// The configuration document `text` (read from parameter `name`), validated, and written for
/// `env`: one written for another environment is `ConfigInvalid` at `env`.
pub fn config_of_env(
    text: &str,
    env: &EnvName,
    name: &str,
) -> Result<PilotLightConfig, PilotLightError> {
    let config = PilotLightConfig::from_json_str(text)?;
    if config.env != *env {
        return Err(PilotLightError::config(
            "env",
            format!(
                "the document at {name} is for `{}`, not `{env}`",
                config.env
            ),
        ));
    }
    Ok(config)
}
