//! S3 helpers shared by the S3 replication tests: a replicated bucket pair as an application team
//! has it before a disaster, and the describe calls the tests assert with.

#![allow(dead_code)]

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketVersioningStatus, Destination, ReplicationConfiguration, ReplicationRule,
    ReplicationRuleFilter, ReplicationRuleStatus, VersioningConfiguration,
};
use pilot_light_e2e::{World, ACCOUNT_ID, PRIMARY_REGION, STANDBY_REGION};
use serde_json::{json, Value};
use switch_replication::s3_client;

pub struct BucketPair {
    pub primary: String,
    pub standby: String,
    pub forward_role: String,
    pub reverse_role: String,
}

impl BucketPair {
    pub fn config(&self) -> Value {
        json!({
            "name": "assets",
            "primaryBucket": self.primary,
            "standbyBucket": self.standby,
            "primaryRoleArn": self.forward_role,
            "reverseRoleArn": self.reverse_role,
        })
    }
}

pub fn s3(world: &World, region: &str) -> aws_sdk_s3::Client {
    s3_client(&world.config(region))
}

/// A primary bucket replicating into a standby bucket (versioning on both), as a team has it
/// before a disaster. Emptied and deleted when the world is dropped.
pub async fn seed_bucket_pair(world: &World, label: &str) -> BucketPair {
    let pair = BucketPair {
        primary: world.name(&format!("{label}-use1")),
        standby: world.name(&format!("{label}-usw2")),
        forward_role: format!("arn:aws:iam::{ACCOUNT_ID}:role/{}-replication", world.env),
        reverse_role: format!(
            "arn:aws:iam::{ACCOUNT_ID}:role/{}-reverse-replication",
            world.env
        ),
    };
    for (region, bucket) in [
        (PRIMARY_REGION, &pair.primary),
        (STANDBY_REGION, &pair.standby),
    ] {
        let client = s3(world, region);
        // us-east-1 takes no location constraint (AWS refuses one); every other region needs one.
        let constraint = (region != "us-east-1").then(|| {
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(region))
                .build()
        });
        client
            .create_bucket()
            .bucket(bucket)
            .set_create_bucket_configuration(constraint)
            .send()
            .await
            .unwrap_or_else(|e| panic!("create bucket {bucket}: {e:?}"));
        client
            .put_bucket_versioning()
            .bucket(bucket)
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await
            .expect("versioning on");
        let (bucket, region) = (bucket.clone(), region.to_string());
        world.defer_cleanup(Box::new(move |config| {
            Box::pin(async move {
                let client = s3_client(
                    &config
                        .to_builder()
                        .region(aws_config::Region::new(region))
                        .build(),
                );
                empty_and_delete(&client, &bucket).await;
            })
        }));
    }
    let rule = ReplicationRule::builder()
        .id("app-team-replication")
        .priority(1)
        .filter(ReplicationRuleFilter::builder().prefix("").build())
        .status(ReplicationRuleStatus::Enabled)
        .destination(
            Destination::builder()
                .bucket(format!("arn:aws:s3:::{}", pair.standby))
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    s3(world, PRIMARY_REGION)
        .put_bucket_replication()
        .bucket(&pair.primary)
        .replication_configuration(
            ReplicationConfiguration::builder()
                .role(&pair.forward_role)
                .rules(rule)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("the app team's primary → standby replication");
    pair
}

pub async fn empty_and_delete(client: &aws_sdk_s3::Client, bucket: &str) {
    if let Ok(versions) = client.list_object_versions().bucket(bucket).send().await {
        for v in versions.versions() {
            let _ = client
                .delete_object()
                .bucket(bucket)
                .key(v.key().unwrap_or_default())
                .set_version_id(v.version_id().map(str::to_string))
                .send()
                .await;
        }
        for m in versions.delete_markers() {
            let _ = client
                .delete_object()
                .bucket(bucket)
                .key(m.key().unwrap_or_default())
                .set_version_id(m.version_id().map(str::to_string))
                .send()
                .await;
        }
    }
    let _ = client.delete_bucket().bucket(bucket).send().await;
}

/// `(role, [(rule id, enabled, destination bucket ARN)])`, or `None` when the bucket has none.
pub async fn replication_of(
    world: &World,
    region: &str,
    bucket: &str,
) -> Option<(String, Vec<(String, bool, String)>)> {
    match s3(world, region)
        .get_bucket_replication()
        .bucket(bucket)
        .send()
        .await
    {
        Ok(out) => {
            let config = out.replication_configuration().expect("configuration");
            Some((
                config.role().to_string(),
                config
                    .rules()
                    .iter()
                    .map(|r| {
                        (
                            r.id().unwrap_or_default().to_string(),
                            r.status() == &ReplicationRuleStatus::Enabled,
                            r.destination()
                                .map(|d| d.bucket().to_string())
                                .unwrap_or_default(),
                        )
                    })
                    .collect(),
            ))
        }
        Err(err)
            if aws_sdk_s3::error::ProvideErrorMetadata::code(&err)
                == Some("ReplicationConfigurationNotFoundError") =>
        {
            None
        }
        Err(err) => panic!("get replication of {bucket}: {err:?}"),
    }
}

pub async fn put(world: &World, region: &str, bucket: &str, key: &str, body: &str) {
    s3(world, region)
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type("text/plain")
        .body(ByteStream::from(body.as_bytes().to_vec()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("put {bucket}/{key}: {e:?}"));
}

pub async fn keys(world: &World, region: &str, bucket: &str) -> Vec<String> {
    let out = s3(world, region)
        .list_objects_v2()
        .bucket(bucket)
        .send()
        .await
        .expect("list objects");
    out.contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_string))
        .collect()
}

pub async fn body(world: &World, region: &str, bucket: &str, key: &str) -> String {
    let out = s3(world, region)
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("get {bucket}/{key}: {e:?}"));
    String::from_utf8(out.body.collect().await.unwrap().to_vec()).unwrap()
}
