//! The Parameter Store writes of `sync-ssm` (create, update, delete), with AWS error messages
//! redacted so that no value reaches a log.

use crate::plan;
use crate::plan::{redact_value, Difference, ParameterValue, PutSpec};
use aws_sdk_ssm::types::{ParameterTier, ParameterType};
use pilot_light_core::PilotLightError;

/// Creates a parameter; when it appeared since it was read, overwrites it.
pub(crate) async fn create(
    ssm: &aws_sdk_ssm::Client,
    put: &PutSpec,
) -> Result<(), PilotLightError> {
    match put_parameter(ssm, put, false).await {
        Err(PutFailure::AlreadyExists) => put_parameter(ssm, put, true)
            .await
            .map_err(|f| f.into_error(put)),
        other => other.map_err(|f| f.into_error(put)),
    }
}

/// Overwrites a parameter. A type change SSM refuses in place (`HierarchyTypeMismatchException`) is
/// made by deleting and re-creating the parameter. Returns true when it was re-created.
pub(crate) async fn update(
    ssm: &aws_sdk_ssm::Client,
    put: &PutSpec,
    differences: &[Difference],
) -> Result<bool, PilotLightError> {
    match put_parameter(ssm, put, true).await {
        Ok(()) => Ok(false),
        Err(PutFailure::TypeMismatch(_)) if differences.contains(&Difference::Type) => {
            delete(ssm, &put.name).await?;
            create(ssm, put).await?;
            Ok(true)
        }
        Err(failure) => Err(failure.into_error(put)),
    }
}

/// Deletes a parameter; one already gone is fine.
pub(crate) async fn delete(ssm: &aws_sdk_ssm::Client, name: &str) -> Result<(), PilotLightError> {
    match ssm.delete_parameter().name(name).send().await {
        Ok(_) => Ok(()),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_parameter_not_found()) =>
        {
            Ok(())
        }
        Err(err) => Err(PilotLightError::from_sdk("DeleteParameter", &err)),
    }
}

pub(crate) enum PutFailure {
    AlreadyExists,
    TypeMismatch(PilotLightError),
    Other(PilotLightError),
}

impl PutFailure {
    /// The error, with the value taken out of every message.
    fn into_error(self, put: &PutSpec) -> PilotLightError {
        let err = match self {
            Self::AlreadyExists => PilotLightError::InvalidState {
                resource: format!("parameter {}", put.name),
                state: "exists".into(),
                reason: "it exists although an overwrite was asked for".into(),
            },
            Self::TypeMismatch(err) | Self::Other(err) => err,
        };
        redact_error(err, &put.value)
    }
}

pub(crate) async fn put_parameter(
    ssm: &aws_sdk_ssm::Client,
    put: &PutSpec,
    overwrite: bool,
) -> Result<(), PutFailure> {
    let request = ssm
        .put_parameter()
        .name(&put.name)
        .value(put.value.expose())
        .r#type(ParameterType::from(put.kind.as_aws()))
        .description(&put.description)
        .tier(ParameterTier::from(put.tier.as_aws()))
        .data_type(plan::TEXT_DATA_TYPE)
        .set_key_id(put.key_id.clone())
        .overwrite(overwrite);
    match request.send().await {
        Ok(_) => Ok(()),
        Err(err) => {
            let service = err.as_service_error();
            if service.is_some_and(|e| e.is_parameter_already_exists()) {
                Err(PutFailure::AlreadyExists)
            } else if service.is_some_and(|e| e.is_hierarchy_type_mismatch_exception()) {
                Err(PutFailure::TypeMismatch(PilotLightError::from_sdk(
                    "PutParameter",
                    &err,
                )))
            } else {
                Err(PutFailure::Other(PilotLightError::from_sdk(
                    "PutParameter",
                    &err,
                )))
            }
        }
    }
}

/// The same error with `value` taken out of its message (some AWS validation errors quote it).
pub(crate) fn redact_error(err: PilotLightError, value: &ParameterValue) -> PilotLightError {
    use PilotLightError::*;
    match err {
        Throttled { operation, message } => Throttled {
            operation,
            message: redact_value(&message, value),
        },
        AwsUnavailable { operation, message } => AwsUnavailable {
            operation,
            message: redact_value(&message, value),
        },
        AwsServiceError {
            operation,
            code,
            message,
        } => AwsServiceError {
            operation,
            code,
            message: redact_value(&message, value),
        },
        InvalidState {
            resource,
            state,
            reason,
        } => InvalidState {
            resource,
            state,
            reason: redact_value(&reason, value),
        },
        other => other,
    }
}
