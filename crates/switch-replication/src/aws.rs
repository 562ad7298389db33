//! The S3 calls of the switch: observe (versioning, replication configuration, listings, object
//! heads), act (put versioning and replication, delete replication, copy objects), and the mapping
//! of their errors to `PilotLightError`. No decisions here.

use crate::decide::{bucket_name_of, copy_source, PrimaryObject, ReplicationView, RuleView};
use crate::{SwitchReplicationInput, UnreplicatedObject, SOURCE_ETAG_METADATA};
use aws_config::SdkConfig;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
use aws_sdk_s3::types::{
    BucketVersioningStatus, DeleteMarkerReplication, DeleteMarkerReplicationStatus, Destination,
    MetadataDirective, ReplicationConfiguration, ReplicationRule, ReplicationRuleFilter,
    ReplicationRuleStatus, VersioningConfiguration,
};
use pilot_light_core::PilotLightError;
use std::collections::HashMap;

/// An S3 client for `config`'s region. With an explicit endpoint (the local emulator) requests are
/// path-style (`http://host/bucket/key`): virtual-hosted names cannot resolve on a loopback address.
pub fn s3_client(config: &SdkConfig) -> aws_sdk_s3::Client {
    let builder = aws_sdk_s3::config::Builder::from(config);
    let builder = if config.endpoint_url().is_some() {
        builder.force_path_style(true)
    } else {
        builder
    };
    aws_sdk_s3::Client::from_conf(builder.build())
}

impl ReplicationView {
    pub(crate) fn from_sdk(config: &ReplicationConfiguration) -> Self {
        Self {
            role: config.role().to_string(),
            rules: config
                .rules()
                .iter()
                .map(|rule| RuleView {
                    id: rule.id().map(str::to_string),
                    enabled: rule.status() == &ReplicationRuleStatus::Enabled,
                    destination_bucket: rule
                        .destination()
                        .map(|d| bucket_name_of(d.bucket()).to_string()),
                })
                .collect(),
        }
    }
}

pub(crate) fn missing_bucket(bucket: &str, region: &str) -> impl FnOnce() -> PilotLightError {
    let (bucket, region) = (bucket.to_string(), region.to_string());
    move || PilotLightError::ResourceNotFound {
        kind: "Bucket".into(),
        id: bucket,
        region,
    }
}

pub(crate) fn is_no_such_bucket<E: ProvideErrorMetadata>(err: &E) -> bool {
    err.code() == Some("NoSuchBucket")
}

/// Turns versioning on when it is not (`true`: this call turned it on).
pub(crate) async fn ensure_versioning(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    region: &str,
) -> Result<bool, PilotLightError> {
    let current = s3
        .get_bucket_versioning()
        .bucket(bucket)
        .send()
        .await
        .map_err(|e| {
            PilotLightError::from_sdk_or_missing(
                "GetBucketVersioning",
                &e,
                is_no_such_bucket,
                missing_bucket(bucket, region),
            )
        })?;
    if current.status() == Some(&BucketVersioningStatus::Enabled) {
        return Ok(false);
    }
    s3.put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .map_err(|e| {
            PilotLightError::from_sdk_or_missing(
                "PutBucketVersioning",
                &e,
                is_no_such_bucket,
                missing_bucket(bucket, region),
            )
        })?;
    Ok(true)
}

/// The bucket's replication configuration; `None` when it has none.
pub(crate) async fn read_replication(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    region: &str,
) -> Result<Option<ReplicationConfiguration>, PilotLightError> {
    match s3.get_bucket_replication().bucket(bucket).send().await {
        Ok(out) => Ok(out.replication_configuration().cloned()),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.code() == Some("ReplicationConfigurationNotFoundError")) =>
        {
            Ok(None)
        }
        Err(err) => Err(PilotLightError::from_sdk_or_missing(
            "GetBucketReplication",
            &err,
            is_no_such_bucket,
            missing_bucket(bucket, region),
        )),
    }
}

pub(crate) async fn write_replication(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    region: &str,
    config: ReplicationConfiguration,
) -> Result<(), PilotLightError> {
    s3.put_bucket_replication()
        .bucket(bucket)
        .replication_configuration(config)
        .send()
        .await
        .map_err(|e| {
            PilotLightError::from_sdk_or_missing(
                "PutBucketReplication",
                &e,
                is_no_such_bucket,
                missing_bucket(bucket, region),
            )
        })?;
    Ok(())
}

pub(crate) fn build_error(what: &str, err: impl std::fmt::Display) -> PilotLightError {
    PilotLightError::InvalidInput {
        field: what.into(),
        reason: err.to_string(),
    }
}

/// A whole-bucket rule to `destination_arn`, enabled, delete markers replicated too.
pub(crate) fn new_rule(
    id: String,
    priority: i32,
    destination_arn: &str,
) -> Result<ReplicationRule, PilotLightError> {
    ReplicationRule::builder()
        .id(id)
        .priority(priority)
        .filter(ReplicationRuleFilter::builder().prefix("").build())
        .status(ReplicationRuleStatus::Enabled)
        .delete_marker_replication(
            DeleteMarkerReplication::builder()
                .status(DeleteMarkerReplicationStatus::Enabled)
                .build(),
        )
        .destination(
            Destination::builder()
                .bucket(destination_arn)
                .build()
                .map_err(|e| build_error("destination", e))?,
        )
        .build()
        .map_err(|e| build_error("rule", e))
}

/// Applies an [`EnsureRule::Put`] to the current configuration: the new configuration.
pub(crate) fn ensured_configuration(
    current: Option<&ReplicationConfiguration>,
    role: &str,
    enable: &[usize],
    add: Option<ReplicationRule>,
) -> Result<ReplicationConfiguration, PilotLightError> {
    let mut rules: Vec<ReplicationRule> = current.map(|c| c.rules().to_vec()).unwrap_or_default();
    for &i in enable {
        if let Some(rule) = rules.get_mut(i) {
            rule.status = ReplicationRuleStatus::Enabled;
        }
    }
    rules.extend(add);
    ReplicationConfiguration::builder()
        .role(role)
        .set_rules(Some(rules))
        .build()
        .map_err(|e| build_error("replicationConfiguration", e))
}

pub(crate) fn next_priority(current: Option<&ReplicationConfiguration>) -> i32 {
    current
        .map(|c| {
            c.rules()
                .iter()
                .filter_map(|r| r.priority())
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0)
        + 1
}

/// Deletes the bucket's whole replication configuration.
pub(crate) async fn delete_replication(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    region: &str,
) -> Result<(), PilotLightError> {
    s3.delete_bucket_replication()
        .bucket(bucket)
        .send()
        .await
        .map_err(|e| {
            PilotLightError::from_sdk_or_missing(
                "DeleteBucketReplication",
                &e,
                is_no_such_bucket,
                missing_bucket(bucket, region),
            )
        })?;
    Ok(())
}

/// One page (up to 1000 keys) of the bucket's listing: after `start_after` on the first page, from
/// the continuation `token` on the next ones.
pub(crate) async fn list_page(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    region: &str,
    start_after: Option<String>,
    token: Option<String>,
) -> Result<ListObjectsV2Output, PilotLightError> {
    s3.list_objects_v2()
        .bucket(bucket)
        .set_start_after(start_after)
        .set_continuation_token(token)
        .send()
        .await
        .map_err(|e| {
            PilotLightError::from_sdk_or_missing(
                "ListObjectsV2",
                &e,
                |e| e.is_no_such_bucket(),
                missing_bucket(bucket, region),
            )
        })
}

/// The primary's object under `key`; `None` when there is none.
pub(crate) async fn head_primary(
    primary: &aws_sdk_s3::Client,
    input: &SwitchReplicationInput,
    key: &str,
) -> Result<Option<PrimaryObject>, PilotLightError> {
    let pair = &input.replication;
    match primary
        .head_object()
        .bucket(&pair.primary_bucket)
        .key(key)
        .send()
        .await
    {
        Ok(head) => Ok(Some(PrimaryObject {
            etag: head.e_tag().unwrap_or_default().to_string(),
            last_modified_millis: head
                .last_modified()
                .and_then(|d| d.to_millis().ok())
                .unwrap_or(0),
            source_etag: head
                .metadata()
                .and_then(|m| m.get(SOURCE_ETAG_METADATA))
                .cloned(),
        })),
        Err(err) if err.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(None),
        Err(err) => Err(PilotLightError::from_sdk("HeadObject", &err)),
    }
}

/// Copies one standby object into the primary bucket with its metadata, marked with the standby
/// ETag. `false`: the standby object changed since it was listed (nothing copied).
pub(crate) async fn copy_object(
    standby: &aws_sdk_s3::Client,
    primary: &aws_sdk_s3::Client,
    input: &SwitchReplicationInput,
    object: &UnreplicatedObject,
) -> Result<bool, PilotLightError> {
    let pair = &input.replication;
    let source = match standby
        .head_object()
        .bucket(&pair.standby_bucket)
        .key(&object.key)
        .if_match(&object.etag)
        .send()
        .await
    {
        Ok(head) => head,
        Err(err)
            if err.as_service_error().is_some_and(|e| e.is_not_found())
                || err
                    .raw_response()
                    .is_some_and(|r| r.status().as_u16() == 412) =>
        {
            return Ok(false)
        }
        Err(err) => return Err(PilotLightError::from_sdk("HeadObject", &err)),
    };
    let mut metadata: HashMap<String, String> = source.metadata().cloned().unwrap_or_default();
    metadata.insert(
        SOURCE_ETAG_METADATA.to_string(),
        object.etag.trim_matches('"').to_string(),
    );
    let copied = primary
        .copy_object()
        .bucket(&pair.primary_bucket)
        .key(&object.key)
        .copy_source(copy_source(&pair.standby_bucket, &object.key))
        .copy_source_if_match(&object.etag)
        .metadata_directive(MetadataDirective::Replace)
        .set_metadata(Some(metadata))
        .set_content_type(source.content_type().map(str::to_string))
        .set_cache_control(source.cache_control().map(str::to_string))
        .set_content_disposition(source.content_disposition().map(str::to_string))
        .set_content_encoding(source.content_encoding().map(str::to_string))
        .set_content_language(source.content_language().map(str::to_string))
        .send()
        .await;
    match copied {
        Ok(_) => Ok(true),
        Err(err)
            if err
                .raw_response()
                .is_some_and(|r| r.status().as_u16() == 412) =>
        {
            Ok(false)
        }
        Err(err) => Err(PilotLightError::from_sdk("CopyObject", &err)),
    }
}
