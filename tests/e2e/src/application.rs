//! The team's application, as the harness plays it: it writes continuously, the way the real one
//! would, so that every scenario can say what was acknowledged and what was lost.
//!
//! Each tick it resolves its front door (the Route 53 record of the pilot light's first compute
//! group), maps the answer to a region, and writes to each logical database *in that region* (the
//! primary instance there, the replica identifier in the standby) only while that region's compute
//! group has an `InService` instance. Writes go to the emulator's data plane
//! (`POST /pilot-light/data/writes`), which accepts them only on a writable instance. Every attempt
//! is recorded with its outcome; an acknowledged write carries the data plane's commit time and the
//! physical instance (`incarnation`) that took it.
//!
//! The application runs on a thread of its own with its own runtime (so it keeps writing while a
//! test blocks), signs its AWS calls with the app name [`APPLICATION_APP_NAME`] (which the request
//! log records, so the harness's request queries leave the application's calls out, and which
//! contains the harness's name, so injected faults never hit it), and stops when dropped.

use aws_config::{AppName, Region, SdkConfig};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use crate::dns::ROUTE53_REGION;
use crate::world::http;
use crate::{PRIMARY_REGION, STANDBY_REGION};

/// The SDK app name of the application's AWS calls. It contains the harness's app name, so fault
/// rules that spare the harness spare the application too.
pub const APPLICATION_APP_NAME: &str = "pilot-light-harness-app";

/// How often the application writes.
pub const WRITE_INTERVAL: Duration = Duration::from_millis(200);

/// What the application is pointed at: its front door and the databases it writes to.
#[derive(Debug, Clone)]
pub struct ApplicationTarget {
    pub hosted_zone_id: String,
    pub record_name: String,
    /// The record's value when it points at the primary region, and at the standby.
    pub primary_value: String,
    pub standby_value: String,
    /// The compute group's Auto Scaling group name in the primary region, and in the standby.
    pub primary_group: String,
    pub standby_group: String,
    pub databases: Vec<LogicalDatabase>,
}

/// One logical database: its instance identifier in each region.
#[derive(Debug, Clone)]
pub struct LogicalDatabase {
    pub name: String,
    pub primary_id: String,
    pub replica_id: String,
}

impl LogicalDatabase {
    /// The identifier the application uses in `region`.
    pub fn instance_in(&self, region: &str) -> &str {
        if region == PRIMARY_REGION {
            &self.primary_id
        } else {
            &self.replica_id
        }
    }
}

/// A write the data plane acknowledged.
#[derive(Debug, Clone, PartialEq)]
pub struct Acknowledged {
    pub write_id: String,
    pub database: String,
    pub region: String,
    pub instance: String,
    /// The physical instance that committed it.
    pub incarnation: String,
    /// Commit time (epoch seconds, the emulator's clock: this machine's).
    pub time: f64,
}

/// Why a tick wrote nothing to a database.
#[derive(Debug, Clone, PartialEq)]
pub enum NotWritten {
    /// The front door could not be resolved, or points at no known region.
    NoRoute(String),
    /// The region the record points at has no `InService` instance in the group.
    NoCompute { region: String },
    /// The database refused the write (`ReadOnly`, `NotWritable`, `RegionUnavailable`, not found…).
    Refused {
        region: String,
        instance: String,
        reason: String,
    },
}

/// One attempt of one tick on one database.
#[derive(Debug, Clone, PartialEq)]
pub enum Attempt {
    Acknowledged(Acknowledged),
    NotWritten {
        database: String,
        at: f64,
        why: NotWritten,
    },
}

impl Attempt {
    pub fn time(&self) -> f64 {
        match self {
            Attempt::Acknowledged(ack) => ack.time,
            Attempt::NotWritten { at, .. } => *at,
        }
    }
}

/// The application, writing until dropped.
pub struct Application {
    pub target: ApplicationTarget,
    attempts: Arc<Mutex<Vec<Attempt>>>,
    stop: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// Epoch seconds now.
pub fn epoch_now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl Application {
    /// Starts writing. `label` prefixes every write id (the world's env, and which start of the
    /// application this is: write ids are unique in the data plane). `earlier` are the attempts of
    /// the application this one replaces (a redeploy keeps what was acknowledged before it).
    /// `base` is the harness's SDK configuration (endpoint and credentials of the emulator).
    pub fn start(
        base: &SdkConfig,
        moto_url: &str,
        label: &str,
        target: ApplicationTarget,
        earlier: Vec<Attempt>,
    ) -> Self {
        let attempts = Arc::new(Mutex::new(earlier));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (attempts, stop, target) = (attempts.clone(), stop.clone(), target.clone());
            let (base, moto_url, label) = (base.clone(), moto_url.to_string(), label.to_string());
            std::thread::Builder::new()
                .name(format!("application-{label}"))
                .spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("application runtime");
                    runtime.block_on(write_until_stopped(
                        &base, &moto_url, &label, &target, &attempts, &stop,
                    ));
                })
                .expect("start the application thread")
        };
        Self {
            target,
            attempts,
            stop,
            thread: Mutex::new(Some(thread)),
        }
    }

    /// Every attempt so far, in order.
    pub fn attempts(&self) -> Vec<Attempt> {
        self.attempts.lock().unwrap().clone()
    }

    /// Every acknowledged write so far.
    pub fn acknowledged(&self) -> Vec<Acknowledged> {
        self.attempts()
            .into_iter()
            .filter_map(|a| match a {
                Attempt::Acknowledged(ack) => Some(ack),
                Attempt::NotWritten { .. } => None,
            })
            .collect()
    }

    /// Waits (bounded) for a write acknowledged after `after` (epoch seconds): `Some` with it when
    /// some region serves writes.
    pub async fn next_acknowledged_after(
        &self,
        after: f64,
        within: Duration,
    ) -> Option<Acknowledged> {
        let deadline = std::time::Instant::now() + within;
        loop {
            if let Some(ack) = self.acknowledged().into_iter().find(|ack| ack.time > after) {
                return Some(ack);
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops writing and waits for the thread.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.lock().unwrap().take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Application {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The harness's SDK configuration, signed as the application, for `region`.
fn sdk_config(base: &SdkConfig, region: &str) -> SdkConfig {
    base.to_builder()
        .app_name(AppName::new(APPLICATION_APP_NAME).expect("app name"))
        .region(Region::new(region.to_string()))
        .build()
}

async fn write_until_stopped(
    base: &SdkConfig,
    moto_url: &str,
    label: &str,
    target: &ApplicationTarget,
    attempts: &Mutex<Vec<Attempt>>,
    stop: &AtomicBool,
) {
    let route53 = aws_sdk_route53::Client::new(&sdk_config(base, ROUTE53_REGION));
    let autoscaling = |region: &str| aws_sdk_autoscaling::Client::new(&sdk_config(base, region));
    let (primary_asg, standby_asg) = (autoscaling(PRIMARY_REGION), autoscaling(STANDBY_REGION));
    let counter = AtomicU64::new(0);
    while !stop.load(Ordering::SeqCst) {
        let began = std::time::Instant::now();
        let outcome = match resolve(&route53, target).await {
            Err(why) => Err(NotWritten::NoRoute(why)),
            Ok(region) => {
                let (asg, group) = if region == PRIMARY_REGION {
                    (&primary_asg, &target.primary_group)
                } else {
                    (&standby_asg, &target.standby_group)
                };
                if has_in_service_instance(asg, group).await {
                    Ok(region)
                } else {
                    Err(NotWritten::NoCompute { region })
                }
            }
        };
        let mut tick = Vec::new();
        for database in &target.databases {
            let at = epoch_now();
            let attempt = match &outcome {
                Err(why) => Attempt::NotWritten {
                    database: database.name.clone(),
                    at,
                    why: why.clone(),
                },
                Ok(region) => {
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    let write_id = format!("{label}-{}-{n}", database.name);
                    write(moto_url, region, database, &write_id, at)
                }
            };
            tick.push(attempt);
        }
        attempts.lock().unwrap().extend(tick);
        if let Some(rest) = WRITE_INTERVAL.checked_sub(began.elapsed()) {
            tokio::time::sleep(rest).await;
        }
    }
}

/// The region the front door points at now.
async fn resolve(
    route53: &aws_sdk_route53::Client,
    target: &ApplicationTarget,
) -> Result<String, String> {
    let listed = route53
        .list_resource_record_sets()
        .hosted_zone_id(&target.hosted_zone_id)
        .start_record_name(&target.record_name)
        .max_items(10)
        .send()
        .await
        .map_err(|e| format!("ListResourceRecordSets: {e}"))?;
    let wanted = target.record_name.trim_end_matches('.');
    let values: Vec<String> = listed
        .resource_record_sets()
        .iter()
        .filter(|set| {
            set.name()
                .trim_end_matches('.')
                .eq_ignore_ascii_case(wanted)
        })
        .flat_map(|set| set.resource_records().iter().map(|r| r.value().to_string()))
        .collect();
    region_of(&values, target)
}

/// Maps the record's values to a region: exactly one of the two known values must be there.
pub fn region_of(values: &[String], target: &ApplicationTarget) -> Result<String, String> {
    let names = |value: &str| {
        values
            .iter()
            .any(|v| v.trim_end_matches('.').eq_ignore_ascii_case(value))
    };
    match (names(&target.primary_value), names(&target.standby_value)) {
        (true, false) => Ok(PRIMARY_REGION.to_string()),
        (false, true) => Ok(STANDBY_REGION.to_string()),
        (true, true) => Err(format!("{} names both regions", target.record_name)),
        (false, false) => Err(format!("{} resolves to {values:?}", target.record_name)),
    }
}

async fn has_in_service_instance(asg: &aws_sdk_autoscaling::Client, group: &str) -> bool {
    asg.describe_auto_scaling_groups()
        .auto_scaling_group_names(group)
        .send()
        .await
        .ok()
        .and_then(|out| out.auto_scaling_groups().first().cloned())
        .is_some_and(|g| {
            g.instances().iter().any(|i| {
                i.lifecycle_state() == Some(&aws_sdk_autoscaling::types::LifecycleState::InService)
            })
        })
}

fn write(
    moto_url: &str,
    region: &str,
    database: &LogicalDatabase,
    write_id: &str,
    at: f64,
) -> Attempt {
    let instance = database.instance_in(region);
    let body = json!({"region": region, "instance": instance, "writeId": write_id}).to_string();
    let (status, text) = http(moto_url, "POST", "/pilot-light/data/writes", Some(&body));
    let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if status == 200 {
        Attempt::Acknowledged(Acknowledged {
            write_id: write_id.to_string(),
            database: database.name.clone(),
            region: region.to_string(),
            instance: instance.to_string(),
            incarnation: answer["incarnation"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            time: answer["time"].as_f64().unwrap_or(at),
        })
    } else {
        Attempt::NotWritten {
            database: database.name.clone(),
            at,
            why: NotWritten::Refused {
                region: region.to_string(),
                instance: instance.to_string(),
                reason: answer["error"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("HTTP {status}: {text}")),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> ApplicationTarget {
        ApplicationTarget {
            hosted_zone_id: "Z1".into(),
            record_name: "web.e.example.com".into(),
            primary_value: "web.us-east-1.lb.example.com".into(),
            standby_value: "web.us-west-2.lb.example.com".into(),
            primary_group: "p".into(),
            standby_group: "s".into(),
            databases: vec![],
        }
    }

    #[test]
    fn the_front_door_names_one_region() {
        let t = target();
        let cases: Vec<(Vec<&str>, Result<&str, ()>)> = vec![
            (vec!["web.us-east-1.lb.example.com"], Ok(PRIMARY_REGION)),
            (vec!["web.us-west-2.lb.example.com."], Ok(STANDBY_REGION)),
            (vec![], Err(())),
            (vec!["elsewhere.example.com"], Err(())),
            (
                vec![
                    "web.us-east-1.lb.example.com",
                    "web.us-west-2.lb.example.com",
                ],
                Err(()),
            ),
        ];
        for (values, expected) in cases {
            let values: Vec<String> = values.into_iter().map(str::to_string).collect();
            let got = region_of(&values, &t);
            match expected {
                Ok(region) => assert_eq!(got.as_deref(), Ok(region), "{values:?}"),
                Err(()) => assert!(got.is_err(), "{values:?}: {got:?}"),
            }
        }
    }
}
