//! Seeding and reading Route 53 hosted zones and records in the emulator.
//!
//! Route 53 is global: its clients are built for `us-east-1`, where its endpoint signs.

use aws_config::Region;
use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet,
    ResourceRecordSetFailover, RrType,
};
use serde_json::{json, Value};

use crate::World;

/// The region Route 53 clients are built for.
pub const ROUTE53_REGION: &str = "us-east-1";

/// A hosted zone of one world.
#[derive(Debug, Clone)]
pub struct SeededZone {
    /// The bare id (`Z…`, without `/hostedzone/`).
    pub id: String,
    /// The zone's name without the trailing dot: `<env>.example.com`.
    pub name: String,
}

impl SeededZone {
    /// A name in this zone: `<label>.<env>.example.com`.
    pub fn record_name(&self, label: &str) -> String {
        format!("{label}.{}", self.name)
    }
}

impl World {
    /// A Route 53 client (global; signed in `us-east-1`).
    pub fn route53(&self) -> aws_sdk_route53::Client {
        aws_sdk_route53::Client::new(&self.config(ROUTE53_REGION))
    }

    /// Creates the public hosted zone `<env>.example.com`, deleted (records first) with the world.
    pub async fn seed_hosted_zone(&self) -> SeededZone {
        let name = format!("{}.example.com", self.env);
        let created = self
            .route53()
            .create_hosted_zone()
            .name(&name)
            .caller_reference(self.name("zone"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("create hosted zone {name}: {e:?}"));
        let id = created
            .hosted_zone()
            .map(|z| z.id().trim_start_matches("/hostedzone/").to_string())
            .expect("hosted zone id");
        let zone = SeededZone { id, name };
        let gone = zone.clone();
        self.defer_cleanup(Box::new(move |base| {
            Box::pin(async move {
                let config = base
                    .to_builder()
                    .region(Region::new(ROUTE53_REGION))
                    .build();
                let route53 = aws_sdk_route53::Client::new(&config);
                if let Ok(listed) = route53
                    .list_resource_record_sets()
                    .hosted_zone_id(&gone.id)
                    .send()
                    .await
                {
                    for set in listed.resource_record_sets() {
                        if matches!(set.r#type(), RrType::Ns | RrType::Soa) {
                            continue;
                        }
                        let Ok(change) = Change::builder()
                            .action(ChangeAction::Delete)
                            .resource_record_set(set.clone())
                            .build()
                        else {
                            continue;
                        };
                        if let Ok(batch) = ChangeBatch::builder().changes(change).build() {
                            let _ = route53
                                .change_resource_record_sets()
                                .hosted_zone_id(&gone.id)
                                .change_batch(batch)
                                .send()
                                .await;
                        }
                    }
                }
                let _ = route53.delete_hosted_zone().id(&gone.id).send().await;
            })
        }));
        zone
    }

    /// Creates (UPSERTs) a CNAME record; with `failover`, a failover-routed one with that set
    /// identifier and role (`PRIMARY`/`SECONDARY`).
    pub async fn seed_cname(
        &self,
        zone: &SeededZone,
        name: &str,
        value: &str,
        ttl: i64,
        failover: Option<(&str, ResourceRecordSetFailover)>,
    ) {
        let mut set = ResourceRecordSet::builder()
            .name(name)
            .r#type(RrType::Cname)
            .ttl(ttl)
            .resource_records(
                ResourceRecord::builder()
                    .value(value)
                    .build()
                    .expect("value"),
            );
        if let Some((id, role)) = failover {
            set = set.set_identifier(id).failover(role);
        }
        self.upsert_record(zone, set.build().expect("record set"))
            .await;
    }

    /// Creates (UPSERTs) an alias record of `record_type` (`A`, `AAAA`) to `dns_name` in `alias_zone`.
    pub async fn seed_alias(
        &self,
        zone: &SeededZone,
        name: &str,
        record_type: RrType,
        dns_name: &str,
        alias_zone: &str,
    ) {
        let set = ResourceRecordSet::builder()
            .name(name)
            .r#type(record_type)
            .alias_target(
                AliasTarget::builder()
                    .dns_name(dns_name)
                    .hosted_zone_id(alias_zone)
                    .evaluate_target_health(false)
                    .build()
                    .expect("alias target"),
            )
            .build()
            .expect("record set");
        self.upsert_record(zone, set).await;
    }

    async fn upsert_record(&self, zone: &SeededZone, set: ResourceRecordSet) {
        let name = set.name().to_string();
        let change = Change::builder()
            .action(ChangeAction::Upsert)
            .resource_record_set(set)
            .build()
            .expect("change");
        self.route53()
            .change_resource_record_sets()
            .hosted_zone_id(&zone.id)
            .change_batch(
                ChangeBatch::builder()
                    .changes(change)
                    .build()
                    .expect("batch"),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("upsert {name} in {}: {e:?}", zone.id));
    }

    /// Every record set of the zone but its NS and SOA.
    pub async fn record_sets(&self, zone: &SeededZone) -> Vec<ResourceRecordSet> {
        self.route53()
            .list_resource_record_sets()
            .hosted_zone_id(&zone.id)
            .send()
            .await
            .unwrap_or_else(|e| panic!("list records of {}: {e:?}", zone.id))
            .resource_record_sets()
            .iter()
            .filter(|s| !matches!(s.r#type(), RrType::Ns | RrType::Soa))
            .cloned()
            .collect()
    }

    /// The record set `name` (with or without the trailing dot) of `record_type` and set identifier.
    pub async fn record_set(
        &self,
        zone: &SeededZone,
        name: &str,
        record_type: RrType,
        set_identifier: Option<&str>,
    ) -> Option<ResourceRecordSet> {
        let wanted = name.trim_end_matches('.');
        self.record_sets(zone).await.into_iter().find(|s| {
            s.name().trim_end_matches('.').eq_ignore_ascii_case(wanted)
                && s.r#type() == &record_type
                && s.set_identifier() == set_identifier
        })
    }

    /// A `DnsRecordConfig` (JSON, as the state machine passes it) for a CNAME switched between two
    /// values.
    pub fn cname_record_config(
        &self,
        zone: &SeededZone,
        name: &str,
        primary: &str,
        standby: &str,
        set_identifier: Option<&str>,
    ) -> Value {
        let mut record = json!({
            "hostedZoneId": zone.id,
            "recordName": name,
            "recordType": "CNAME",
            "primary": {"value": primary},
            "standby": {"value": standby},
        });
        if let Some(id) = set_identifier {
            record["setIdentifier"] = json!(id);
        }
        record
    }

    /// A `DnsRecordConfig` (JSON) for an alias record switched between two load balancers.
    pub fn alias_record_config(
        &self,
        zone: &SeededZone,
        name: &str,
        record_type: &str,
        primary: (&str, &str),
        standby: (&str, &str),
    ) -> Value {
        json!({
            "hostedZoneId": zone.id,
            "recordName": name,
            "recordType": record_type,
            "primary": {"aliasDnsName": primary.0, "aliasHostedZoneId": primary.1},
            "standby": {"aliasDnsName": standby.0, "aliasHostedZoneId": standby.1},
        })
    }
}
