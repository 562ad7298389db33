//! Reading pilot-light's own SSM parameters (`/pilot-light/<env>/config`, `/state`, `/lock`, …):
//! one place that tells "no such parameter" (`None`) from a failure (a typed error).

use crate::PilotLightError;

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
