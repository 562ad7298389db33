//! The handler against mocked SSM responses, with the real `aws_sdk_ssm::Client`: the faults the
//! emulator cannot produce. Throttling that outlasts the SDK's adaptive retries, SSM refusing a type
//! change in place (`HierarchyTypeMismatchException`), and a validation error that quotes the value;
//! and which calls an incremental sync makes (none that lists values by path).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test binary: failing loudly is its job

use aws_sdk_ssm::operation::delete_parameter::DeleteParameterOutput;
use aws_sdk_ssm::operation::describe_parameters::DescribeParametersOutput;
use aws_sdk_ssm::operation::get_parameter::{GetParameterError, GetParameterOutput};
use aws_sdk_ssm::operation::get_parameters::GetParametersOutput;
use aws_sdk_ssm::operation::get_parameters_by_path::GetParametersByPathOutput;
use aws_sdk_ssm::operation::put_parameter::{PutParameterError, PutParameterOutput};
use aws_sdk_ssm::primitives::DateTime;
use aws_sdk_ssm::types::error::{HierarchyTypeMismatchException, ParameterNotFound};
use aws_sdk_ssm::types::{Parameter, ParameterMetadata, ParameterTier, ParameterType};
use aws_sdk_ssm::Client;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use pilot_light_core::{PilotLightError, Regional};
use serde_json::json;
use sync_ssm::{handler, Clients, SyncOutput};

const PRIMARY: &str = "us-east-1";
const STANDBY: &str = "us-west-2";
/// The mark a sync of every path leaves for the next one.
const MARK: &str = "/pilot-light/prod/ssm-sync";

fn config_document() -> String {
    json!({
        "env": "prod",
        "regions": {"primary": PRIMARY, "standby": STANDBY},
        "ssmSync": {"paths": ["/app/prod"], "standbyKmsKeyId": "alias/standby"}
    })
    .to_string()
}

fn config() -> Rule {
    mock!(Client::get_parameter)
        .match_requests(|r| r.name() == Some("/pilot-light/prod/config"))
        .then_output(|| {
            GetParameterOutput::builder()
                .parameter(
                    Parameter::builder()
                        .name("/pilot-light/prod/config")
                        .value(config_document())
                        .build(),
                )
                .build()
        })
}

/// No run state, no lock and no mark: the primary serves, no run is moving it, and the sync is
/// the first (a full scan).
fn no_state() -> Rule {
    mock!(Client::get_parameter)
        .match_requests(|r| {
            matches!(
                r.name(),
                Some("/pilot-light/prod/state" | "/pilot-light/prod/lock" | MARK)
            )
        })
        .then_error(|| GetParameterError::ParameterNotFound(ParameterNotFound::builder().build()))
}

/// `GetParametersByPath` and `DescribeParameters` answering these (name, type, value) in one page.
fn listing(params: &'static [(&'static str, &'static str, &'static str)]) -> (Rule, Rule) {
    let values = mock!(Client::get_parameters_by_path).then_output(move || {
        GetParametersByPathOutput::builder()
            .set_parameters(Some(
                params
                    .iter()
                    .map(|(name, kind, value)| {
                        Parameter::builder()
                            .name(*name)
                            .r#type(ParameterType::from(*kind))
                            .value(*value)
                            .data_type("text")
                            .build()
                    })
                    .collect(),
            ))
            .build()
    });
    let metadata = mock!(Client::describe_parameters).then_output(move || {
        DescribeParametersOutput::builder()
            .set_parameters(Some(
                params
                    .iter()
                    .map(|(name, kind, _)| {
                        let mut meta = ParameterMetadata::builder()
                            .name(*name)
                            .r#type(ParameterType::from(*kind))
                            .tier(ParameterTier::Standard);
                        if *kind == "SecureString" {
                            meta = meta.key_id("alias/standby");
                        }
                        meta.build()
                    })
                    .collect(),
            ))
            .build()
    });
    (values, metadata)
}

/// The standby (home) region accepts the mark; the tests' own write rules then see only the sync's
/// writes.
fn mark_written() -> Rule {
    mock!(Client::put_parameter)
        .match_requests(|r| r.name() == Some(MARK))
        .then_output(|| PutParameterOutput::builder().version(1).build())
}

fn clients(primary: &[&Rule], standby: &[&Rule]) -> Clients {
    let retry = || aws_sdk_ssm::config::retry::RetryConfig::standard().with_max_attempts(3);
    let primary = mock_client!(aws_sdk_ssm, RuleMode::MatchAny, primary, |c| c
        .retry_config(retry()));
    let mark = mark_written();
    let standby: Vec<&Rule> = std::iter::once(&mark)
        .chain(standby.iter().copied())
        .collect();
    let standby = mock_client!(aws_sdk_ssm, RuleMode::MatchAny, &standby, |c| c
        .retry_config(retry()));
    Clients {
        ssm: Regional::fixed([
            (PRIMARY.to_string(), primary),
            (STANDBY.to_string(), standby),
        ]),
        home_region: Some(STANDBY.to_string()),
        default_env: None,
    }
}

async fn sync(primary: &[&Rule], standby: &[&Rule]) -> Result<SyncOutput, PilotLightError> {
    handler(json!({"env": "prod"}), &clients(primary, standby)).await
}

fn json_error(code: &str, message: &str) -> String {
    json!({"__type": code, "message": message}).to_string()
}

#[tokio::test]
async fn throttling_past_the_sdk_retries_ends_the_run_as_throttled() {
    let (source_values, source_meta) = listing(&[
        ("/app/prod/a", "String", "1"),
        ("/app/prod/b", "String", "2"),
    ]);
    let (target_values, target_meta) = listing(&[]);
    let throttled = mock!(Client::put_parameter)
        .sequence()
        .http_status(
            400,
            Some(json_error("ThrottlingException", "Rate exceeded")),
        )
        .times(3)
        .build();
    let (config, state) = (config(), no_state());
    let err = sync(
        &[&source_values, &source_meta],
        &[&config, &state, &target_values, &target_meta, &throttled],
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type(), "Throttled", "{err}");
    assert_eq!(
        throttled.num_calls(),
        3,
        "the SDK retried the first write, and the run stopped there"
    );
}

#[tokio::test]
async fn a_type_change_ssm_refuses_in_place_deletes_and_recreates() {
    let (source_values, source_meta) = listing(&[("/app/prod/a", "SecureString", "s")]);
    let (target_values, target_meta) = listing(&[("/app/prod/a", "String", "s")]);
    let refused = mock!(Client::put_parameter)
        .match_requests(|r| r.overwrite() == Some(true))
        .then_error(|| {
            PutParameterError::HierarchyTypeMismatchException(
                HierarchyTypeMismatchException::builder()
                    .message("cannot change the type")
                    .build(),
            )
        });
    let created = mock!(Client::put_parameter)
        .match_requests(|r| {
            r.overwrite() == Some(false)
                && r.r#type() == Some(&ParameterType::SecureString)
                && r.key_id() == Some("alias/standby")
                && r.value() == Some("s")
        })
        .then_output(|| PutParameterOutput::builder().version(1).build());
    let deleted = mock!(Client::delete_parameter)
        .match_requests(|r| r.name() == Some("/app/prod/a"))
        .then_output(|| DeleteParameterOutput::builder().build());
    let (config, state) = (config(), no_state());
    let out = sync(
        &[&source_values, &source_meta],
        &[
            &config,
            &state,
            &target_values,
            &target_meta,
            &refused,
            &created,
            &deleted,
        ],
    )
    .await
    .expect("sync");
    assert_eq!((out.created, out.updated, out.deleted), (0, 1, 0));
    assert_eq!(refused.num_calls(), 1);
    assert_eq!(deleted.num_calls(), 1);
    assert_eq!(created.num_calls(), 1);
    assert!(out.changes[0].replaced, "{:?}", out.changes);
}

#[tokio::test]
async fn a_failed_write_is_reported_without_its_value_and_the_others_go_on() {
    let (source_values, source_meta) = listing(&[
        ("/app/prod/a", "SecureString", "top-secret-value"),
        ("/app/prod/b", "String", "2"),
    ]);
    let (target_values, target_meta) = listing(&[]);
    let rejected = mock!(Client::put_parameter)
        .match_requests(|r| r.name() == Some("/app/prod/a"))
        .sequence()
        .http_status(
            400,
            Some(json_error(
                "ValidationException",
                "1 validation error detected: Value 'top-secret-value' at 'value' failed to satisfy constraint",
            )),
        )
        .build();
    let accepted = mock!(Client::put_parameter)
        .match_requests(|r| r.name() == Some("/app/prod/b"))
        .then_output(|| PutParameterOutput::builder().version(1).build());
    let (config, state) = (config(), no_state());
    let out = sync(
        &[&source_values, &source_meta],
        &[
            &config,
            &state,
            &target_values,
            &target_meta,
            &rejected,
            &accepted,
        ],
    )
    .await
    .expect("sync");
    assert_eq!(out.created, 1);
    assert_eq!(accepted.num_calls(), 1);
    assert_eq!(out.failed.len(), 1);
    assert_eq!(out.failed[0].name, "/app/prod/a");
    assert_eq!(out.failed[0].error_type, "AwsServiceError");
    let answer = serde_json::to_string(&out).unwrap();
    assert!(!answer.contains("top-secret-value"), "{answer}");
}

/// While a failover holds the lock, the sync reads nothing from either region and writes nothing:
/// it answers `ignored`, naming the run (no listing rule is given: any read would fail the test).
#[tokio::test]
async fn a_held_lock_makes_the_sync_stand_aside_without_a_read() {
    let state = mock!(Client::get_parameter)
        .match_requests(|r| r.name() == Some("/pilot-light/prod/state"))
        .then_error(|| GetParameterError::ParameterNotFound(ParameterNotFound::builder().build()));
    let lock = mock!(Client::get_parameter)
        .match_requests(|r| r.name() == Some("/pilot-light/prod/lock"))
        .then_output(|| {
            GetParameterOutput::builder()
                .parameter(
                    Parameter::builder()
                        .name("/pilot-light/prod/lock")
                        .value(
                            json!({
                                "executionId": "arn:aws:states:us-west-2:1:execution:pilot-light-prod-failover:fo-9",
                                "operation": "failover",
                                "acquiredAt": "2026-12-03T03:00:00Z"
                            })
                            .to_string(),
                        )
                        .build(),
                )
                .build()
        });
    let out = sync(&[], &[&config(), &state, &lock]).await.unwrap();
    let ignored = out.ignored.expect("ignored");
    assert!(ignored.contains("failover arn:aws:states:us-west-2:1:execution:pilot-light-prod-failover:fo-9 holds the lock"), "{ignored}");
    assert_eq!((out.created, out.updated, out.deleted), (0, 0, 0));
}

/// With a fresh mark, a scheduled sync describes the source and reads only what changed since:
/// `b` (modified after the mark) is read in both regions with `GetParameters` and written; `a`
/// (older) is never read; nothing lists values by path (no rule for it: such a call fails the test).
#[tokio::test]
async fn a_sync_with_a_fresh_mark_reads_and_writes_only_what_changed() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mark_at = pilot_light_core::Timestamp::from_millis((now - 600) * 1000);
    let mark = mock!(Client::get_parameter)
        .match_requests(|r| r.name() == Some(MARK))
        .then_output(move || {
            let value = json!({
                "sourceRegion": PRIMARY, "targetRegion": STANDBY,
                "paths": ["/app/prod"], "mode": "update",
                "changedSince": mark_at.0, "lastFullAt": mark_at.0,
            });
            GetParameterOutput::builder()
                .parameter(
                    Parameter::builder()
                        .name(MARK)
                        .value(value.to_string())
                        .build(),
                )
                .build()
        });
    let state = mock!(Client::get_parameter)
        .match_requests(|r| {
            matches!(
                r.name(),
                Some("/pilot-light/prod/state" | "/pilot-light/prod/lock")
            )
        })
        .then_error(|| GetParameterError::ParameterNotFound(ParameterNotFound::builder().build()));
    let described = mock!(Client::describe_parameters).then_output(move || {
        let meta = |name: &str, modified: i64| {
            ParameterMetadata::builder()
                .name(name)
                .r#type(ParameterType::String)
                .tier(ParameterTier::Standard)
                .last_modified_date(DateTime::from_secs(modified))
                .build()
        };
        DescribeParametersOutput::builder()
            .parameters(meta("/app/prod/a", now - 3600))
            .parameters(meta("/app/prod/b", now - 10))
            .build()
    });
    let source_values = mock!(Client::get_parameters)
        .match_requests(|r| r.names() == ["/app/prod/b".to_string()])
        .then_output(|| {
            GetParametersOutput::builder()
                .parameters(
                    Parameter::builder()
                        .name("/app/prod/b")
                        .r#type(ParameterType::String)
                        .value("new")
                        .data_type("text")
                        .build(),
                )
                .build()
        });
    let target_values = mock!(Client::get_parameters)
        .match_requests(|r| r.names() == ["/app/prod/b".to_string()])
        .then_output(|| {
            GetParametersOutput::builder()
                .invalid_parameters("/app/prod/b")
                .build()
        });
    let written = mock!(Client::put_parameter)
        .match_requests(|r| r.name() == Some("/app/prod/b") && r.value() == Some("new"))
        .then_output(|| PutParameterOutput::builder().version(1).build());
    let config = config();
    let out = sync(
        &[&described, &source_values],
        &[&config, &state, &mark, &target_values, &written],
    )
    .await
    .expect("sync");
    assert_eq!(
        (out.created, out.updated, out.examined),
        (1, 0, 1),
        "{out:?}"
    );
    assert_eq!(written.num_calls(), 1);
    assert_eq!(source_values.num_calls(), 1);
    assert_eq!(target_values.num_calls(), 1);
    assert!(out.mark_written);
    let scan = serde_json::to_value(&out.scan).unwrap();
    assert_eq!(scan["kind"], "incremental", "{scan}");
}
