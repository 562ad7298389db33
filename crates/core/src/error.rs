//! The one error type of pilot-light, and its stable `error_type` names.
//!
//! A state machine's `Retry` / `Catch` match on [`PilotLightError::error_type`]; the names never change
//! once released. [`ERROR_TYPES`] lists them all, and a test checks every `ErrorEquals` name in the ASL
//! is one of them.

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use lambda_runtime::Diagnostic;

/// Everything a pilot-light handler can fail with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PilotLightError {
    /// The step input could not be read: not JSON of the expected shape.
    #[error("invalid input at `{field}`: {reason}")]
    InvalidInput { field: String, reason: String },

    /// The `action` field names an action this handler does not have.
    #[error("unknown action `{action}`; expected one of: {expected}")]
    UnknownAction { action: String, expected: String },

    /// The configuration document is missing a field, has an unknown one, or a value that cannot work.
    #[error("configuration invalid at `{field}`: {reason}")]
    ConfigInvalid { field: String, reason: String },

    /// The standby database named as the replica does not exist in the standby region.
    #[error("replica `{instance_id}` not found in {region}")]
    ReplicaNotFound { instance_id: String, region: String },

    /// The instance is standalone and carries no evidence of ever having been a replica.
    #[error(
        "`{instance_id}` in {region} is not a read replica and was never promoted by pilot-light"
    )]
    NotAReplica { instance_id: String, region: String },

    /// The instance is standalone and pilot-light promoted it, but in another failover (or failback)
    /// cycle than the current one: it is a database of the past, not this cycle's promotion, and is
    /// never taken for "already done".
    #[error("`{instance_id}` in {region} was promoted by pilot-light in another cycle ({promoted_by}), not in the current one ({cycle_id}): it is a stale database, never taken for this cycle's promotion; look at it before anything else (nothing changed)")]
    StalePromotion {
        instance_id: String,
        region: String,
        promoted_by: String,
        cycle_id: String,
    },

    /// A resource the configuration names does not exist (`kind` says what: `AutoScalingGroup`,
    /// `LaunchTemplate`, `Function`, `EventSourceMapping`, `Rule`, `HostedZone`, `Parameter`, …).
    #[error("{kind} `{id}` not found in {region}")]
    ResourceNotFound {
        kind: String,
        id: String,
        region: String,
    },

    /// No `available` image carries the compute group's AMI tag in the region.
    #[error("no available AMI tagged {tag} in {region}")]
    ImageNotFound { tag: String, region: String },

    /// The newest image cannot run on the launch template's instance type.
    #[error("image {image_id} is {image_architecture}, but instance type {instance_type} supports {supported}")]
    ArchitectureMismatch {
        image_id: String,
        image_architecture: String,
        instance_type: String,
        supported: String,
    },

    /// Another execution holds the environment's lock; this one changed nothing.
    #[error("another run holds the lock of `{env}`: {holder} (if it no longer runs: pilot-light unlock --env {env})")]
    FailoverInProgress { env: String, holder: String },

    /// The flap guard refused an automatic failover: the active region changed too recently
    /// (`minSecondsBetweenFailovers`). Nothing was changed; a person can still start a failover.
    #[error("automatic failover of `{env}` refused by the flap guard: the active region last changed {seconds_since} s ago ({last_switch}), the minimum is {minimum_seconds} s; start a failover by hand to override")]
    FailoverTooSoon {
        env: String,
        last_switch: String,
        seconds_since: u64,
        minimum_seconds: u64,
    },

    /// An automatic failover's trigger does not concern this configuration's primary region as a
    /// whole (an AWS Health event of a service it does not use, of another region, of one zone).
    /// Nothing was changed and no lock was taken; a person can still start a failover.
    #[error("automatic failover of `{env}` refused: {reason}; nothing was changed (if a failover is meant, start it by hand: pilot-light failover --env {env})")]
    TriggerNotRelevant { env: String, reason: String },

    /// A failback moved traffic back to the primary but has not protected it again yet: the
    /// standby's database is the old promoted one, without the writes made since. A failover now
    /// would switch to it; refused, nothing changed.
    #[error("re-protection of `{env}` is pending: traffic is back on the primary and the standby still holds the old promoted database, which lacks every write since the failback; a failover now would lose them, so it is refused (nothing changed). Finish re-protection first: pilot-light failback --env {env}")]
    ReprotectPending { env: String },

    /// The resource is in a state where the action cannot run now (and waiting will not help).
    #[error("{resource} is `{state}`: {reason}")]
    InvalidState {
        resource: String,
        state: String,
        reason: String,
    },

    /// The action would be unsafe (lose data, act on the wrong thing); nothing was changed.
    #[error("refused: {reason}")]
    UnsafeOperation { reason: String },

    /// AWS throttled us and the SDK's own retries did not get through; the state machine retries.
    #[error("throttled by AWS in {operation}: {message}")]
    Throttled { operation: String, message: String },

    /// AWS could not be reached, timed out or answered 5xx after the SDK's own retries.
    #[error("AWS unavailable in {operation}: {message}")]
    AwsUnavailable { operation: String, message: String },

    /// Any other error AWS answered with; `code` is the AWS error code.
    #[error("AWS error in {operation}: {code}: {message}")]
    AwsServiceError {
        operation: String,
        code: String,
        message: String,
    },
}

/// Every `error_type` a handler can return. The ASL may match only these (and the `States.*` /
/// `Lambda.*` names of the service itself).
pub const ERROR_TYPES: &[&str] = &[
    "InvalidInput",
    "UnknownAction",
    "ConfigInvalid",
    "ReplicaNotFound",
    "NotAReplica",
    "StalePromotion",
    "ResourceNotFound",
    "ImageNotFound",
    "ArchitectureMismatch",
    "FailoverInProgress",
    "FailoverTooSoon",
    "TriggerNotRelevant",
    "ReprotectPending",
    "InvalidState",
    "UnsafeOperation",
    "Throttled",
    "AwsUnavailable",
    "AwsServiceError",
];

/// AWS error codes that mean "slow down".
const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "SlowDown",
    "PriorRequestNotComplete",
    // SSM: concurrent updates of one parameter; retry like throttling.
    "TooManyUpdates",
];

impl PilotLightError {
    /// The stable name the state machines match on.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::InvalidInput { .. } => "InvalidInput",
            Self::UnknownAction { .. } => "UnknownAction",
            Self::ConfigInvalid { .. } => "ConfigInvalid",
            Self::ReplicaNotFound { .. } => "ReplicaNotFound",
            Self::NotAReplica { .. } => "NotAReplica",
            Self::StalePromotion { .. } => "StalePromotion",
            Self::ResourceNotFound { .. } => "ResourceNotFound",
            Self::ImageNotFound { .. } => "ImageNotFound",
            Self::ArchitectureMismatch { .. } => "ArchitectureMismatch",
            Self::FailoverInProgress { .. } => "FailoverInProgress",
            Self::FailoverTooSoon { .. } => "FailoverTooSoon",
            Self::TriggerNotRelevant { .. } => "TriggerNotRelevant",
            Self::ReprotectPending { .. } => "ReprotectPending",
            Self::InvalidState { .. } => "InvalidState",
            Self::UnsafeOperation { .. } => "UnsafeOperation",
            Self::Throttled { .. } => "Throttled",
            Self::AwsUnavailable { .. } => "AwsUnavailable",
            Self::AwsServiceError { .. } => "AwsServiceError",
        }
    }

    /// Shorthand for a configuration error at `field`.
    pub fn config(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::ConfigInvalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// A configuration check applied to a handler's input: `ConfigInvalid` becomes `InvalidInput`
    /// (the event was wrong, not the stored document); any other error is kept.
    pub fn into_input_error(self) -> Self {
        match self {
            Self::ConfigInvalid { field, reason } => Self::InvalidInput { field, reason },
            other => other,
        }
    }

    /// Classifies an SDK error that no handler-specific rule recognised: throttling, unavailability
    /// (no answer, a timeout, or any 5xx), or a plain service error with its AWS code.
    pub fn from_sdk<E>(operation: &str, err: &SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let operation = operation.to_string();
        match err {
            SdkError::ServiceError(service) => {
                let inner = service.err();
                let code = inner.code().unwrap_or("Unknown").to_string();
                let message = inner.message().unwrap_or_default().to_string();
                if THROTTLING_CODES.contains(&code.as_str()) {
                    Self::Throttled { operation, message }
                } else if service.raw().status().is_server_error() {
                    Self::AwsUnavailable {
                        operation,
                        message: format!("{code}: {message}"),
                    }
                } else {
                    Self::AwsServiceError {
                        operation,
                        code,
                        message,
                    }
                }
            }
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => Self::AwsUnavailable {
                operation,
                message: describe_chain(err),
            },
            SdkError::ResponseError(_) => Self::AwsUnavailable {
                operation,
                message: describe_chain(err),
            },
            _ => Self::AwsServiceError {
                operation,
                code: err.code().unwrap_or("Unknown").to_string(),
                message: describe_chain(err),
            },
        }
    }
    /// Like [`PilotLightError::from_sdk`], but the operation's own not-found error (recognised by
    /// `is_not_found`) becomes the error `missing` makes (`ReplicaNotFound`, `ResourceNotFound`, …).
    pub fn from_sdk_or_missing<E>(
        operation: &str,
        err: &SdkError<E, HttpResponse>,
        is_not_found: impl Fn(&E) -> bool,
        missing: impl FnOnce() -> Self,
    ) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        if err.as_service_error().is_some_and(is_not_found) {
            missing()
        } else {
            Self::from_sdk(operation, err)
        }
    }
}

/// The error and its sources on one line (SDK errors put the useful part in the source chain).
fn describe_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl From<PilotLightError> for Diagnostic {
    fn from(err: PilotLightError) -> Self {
        Diagnostic {
            error_type: err.error_type().to_string(),
            error_message: err.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_variant() -> Vec<PilotLightError> {
        let s = || "x".to_string();
        vec![
            PilotLightError::InvalidInput {
                field: s(),
                reason: s(),
            },
            PilotLightError::UnknownAction {
                action: s(),
                expected: s(),
            },
            PilotLightError::ConfigInvalid {
                field: s(),
                reason: s(),
            },
            PilotLightError::ReplicaNotFound {
                instance_id: s(),
                region: s(),
            },
            PilotLightError::NotAReplica {
                instance_id: s(),
                region: s(),
            },
            PilotLightError::StalePromotion {
                instance_id: s(),
                region: s(),
                promoted_by: s(),
                cycle_id: s(),
            },
            PilotLightError::ResourceNotFound {
                kind: s(),
                id: s(),
                region: s(),
            },
            PilotLightError::ImageNotFound {
                tag: s(),
                region: s(),
            },
            PilotLightError::ArchitectureMismatch {
                image_id: s(),
                image_architecture: s(),
                instance_type: s(),
                supported: s(),
            },
            PilotLightError::FailoverInProgress {
                env: s(),
                holder: s(),
            },
            PilotLightError::FailoverTooSoon {
                env: s(),
                last_switch: s(),
                seconds_since: 0,
                minimum_seconds: 0,
            },
            PilotLightError::TriggerNotRelevant {
                env: s(),
                reason: s(),
            },
            PilotLightError::ReprotectPending { env: s() },
            PilotLightError::InvalidState {
                resource: s(),
                state: s(),
                reason: s(),
            },
            PilotLightError::UnsafeOperation { reason: s() },
            PilotLightError::Throttled {
                operation: s(),
                message: s(),
            },
            PilotLightError::AwsUnavailable {
                operation: s(),
                message: s(),
            },
            PilotLightError::AwsServiceError {
                operation: s(),
                code: s(),
                message: s(),
            },
        ]
    }

    #[test]
    fn error_types_list_matches_the_enum_one_to_one() {
        let names: Vec<&str> = every_variant().iter().map(|e| e.error_type()).collect();
        assert_eq!(names, ERROR_TYPES);
    }

    #[test]
    fn a_reprotect_pending_refusal_names_the_command_that_finishes_reprotection() {
        let message = PilotLightError::ReprotectPending { env: "prod".into() }.to_string();
        assert!(
            message.contains("pilot-light failback --env prod"),
            "{message}"
        );
        assert!(message.contains("nothing changed"), "{message}");
    }

    #[test]
    fn diagnostic_carries_the_stable_name_and_the_message() {
        let diagnostic = Diagnostic::from(PilotLightError::ReplicaNotFound {
            instance_id: "orders-dr".into(),
            region: "us-west-2".into(),
        });
        assert_eq!(diagnostic.error_type, "ReplicaNotFound");
        assert_eq!(
            diagnostic.error_message,
            "replica `orders-dr` not found in us-west-2"
        );
    }
}
