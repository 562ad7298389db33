//! Seeding and reading for the `run-state` and `report` tests: an SNS topic with an SQS queue
//! subscribed (so a test can read what was published), and the run state / lock parameters.
//! Everything created here is deleted when the `World` is dropped.

use aws_config::Region;
use pilot_light_core::config::{lock_parameter_name, state_parameter_name};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::{World, STANDBY_REGION};

/// An SNS topic of this world with an SQS queue subscribed (not raw delivery: every queue message
/// is the SNS envelope, with `Subject`, `Message` and `MessageAttributes`).
#[derive(Debug, Clone)]
pub struct NotificationTopic {
    pub region: String,
    pub topic_arn: String,
    pub queue_url: String,
    pub queue_arn: String,
}

/// One message the queue received from the topic.
#[derive(Debug, Clone)]
pub struct Notification {
    pub subject: Option<String>,
    /// The message as delivered to SQS (for a `MessageStructure=json` publish: the `sqs` or
    /// `default` part).
    pub message: String,
    /// String message attributes by name.
    pub attributes: BTreeMap<String, String>,
    /// The whole SNS envelope.
    pub envelope: Value,
}

impl Notification {
    /// The message parsed as JSON, when it is JSON.
    pub fn document(&self) -> Option<Value> {
        serde_json::from_str(&self.message).ok()
    }
}

impl World {
    /// Creates the topic `<env>-reports` and the queue `<env>-reports` in `region`, subscribes the
    /// queue to the topic, and deletes all three at teardown.
    pub async fn seed_notification_topic(&self, region: &str) -> NotificationTopic {
        let config = self.config(region);
        let sns = aws_sdk_sns::Client::new(&config);
        let name = self.name("reports");
        let topic_arn = sns
            .create_topic()
            .name(&name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("create topic {name}: {e:?}"))
            .topic_arn()
            .expect("topic ARN")
            .to_string();
        let (queue_url, queue_arn) = self.create_queue(region, &name).await;
        let subscription_arn = sns
            .subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(&queue_arn)
            .send()
            .await
            .unwrap_or_else(|e| panic!("subscribe {queue_arn} to {topic_arn}: {e:?}"))
            .subscription_arn()
            .map(str::to_string);

        let (cleanup_region, cleanup_topic, cleanup_queue) =
            (region.to_string(), topic_arn.clone(), queue_url.clone());
        self.defer_cleanup(Box::new(move |base| {
            Box::pin(async move {
                let config = base
                    .to_builder()
                    .region(Region::new(cleanup_region))
                    .build();
                let sns = aws_sdk_sns::Client::new(&config);
                if let Some(arn) = subscription_arn {
                    let _ = sns.unsubscribe().subscription_arn(arn).send().await;
                }
                let _ = sns.delete_topic().topic_arn(cleanup_topic).send().await;
                let _ = aws_sdk_sqs::Client::new(&config)
                    .delete_queue()
                    .queue_url(cleanup_queue)
                    .send()
                    .await;
            })
        }));
        NotificationTopic {
            region: region.to_string(),
            topic_arn,
            queue_url,
            queue_arn,
        }
    }

    /// Reads the topic's queue until at least `at_least` messages arrived or `timeout` passed;
    /// returns every message read (each read message is deleted from the queue).
    pub async fn notifications(
        &self,
        topic: &NotificationTopic,
        at_least: usize,
        timeout: Duration,
    ) -> Vec<Notification> {
        let sqs = aws_sdk_sqs::Client::new(&self.config(&topic.region));
        let began = Instant::now();
        let mut received = Vec::new();
        loop {
            let out = sqs
                .receive_message()
                .queue_url(&topic.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await
                .expect("receive messages");
            for message in out.messages() {
                let body = message.body().unwrap_or_default();
                let envelope: Value = serde_json::from_str(body).unwrap_or(Value::Null);
                let attributes = envelope["MessageAttributes"]
                    .as_object()
                    .map(|attrs| {
                        attrs
                            .iter()
                            .filter_map(|(k, v)| {
                                v["Value"].as_str().map(|s| (k.clone(), s.to_string()))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                received.push(Notification {
                    subject: envelope["Subject"].as_str().map(str::to_string),
                    message: envelope["Message"]
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| body.to_string()),
                    attributes,
                    envelope,
                });
                if let Some(handle) = message.receipt_handle() {
                    let _ = sqs
                        .delete_message()
                        .queue_url(&topic.queue_url)
                        .receipt_handle(handle)
                        .send()
                        .await;
                }
            }
            if received.len() >= at_least || began.elapsed() > timeout {
                return received;
            }
        }
    }

    /// Creates an SQS queue in `region`; returns its URL and ARN. The caller deletes it.
    pub async fn create_queue(&self, region: &str, name: &str) -> (String, String) {
        let sqs = aws_sdk_sqs::Client::new(&self.config(region));
        let queue_url = sqs
            .create_queue()
            .queue_name(name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("create queue {name}: {e:?}"))
            .queue_url()
            .expect("queue URL")
            .to_string();
        let queue_arn = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("queue attributes")
            .attributes()
            .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
            .cloned()
            .expect("queue ARN");
        (queue_url, queue_arn)
    }

    /// The value of a parameter; `None` when it does not exist.
    pub async fn parameter_value(&self, region: &str, name: &str) -> Option<String> {
        match self.ssm(region).get_parameter().name(name).send().await {
            Ok(out) => out.parameter().and_then(|p| p.value()).map(str::to_string),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_parameter_not_found()) =>
            {
                None
            }
            Err(err) => panic!("get parameter {name} in {region}: {err:?}"),
        }
    }

    /// This env's run state (`/pilot-light/<env>/state` in the standby), as JSON.
    pub async fn run_state_parameter(&self) -> Option<Value> {
        self.parameter_value(STANDBY_REGION, &state_parameter_name(&self.env))
            .await
            .map(|text| serde_json::from_str(&text).expect("the state parameter is JSON"))
    }

    /// This env's lock (`/pilot-light/<env>/lock` in the standby), as JSON.
    pub async fn lock_parameter(&self) -> Option<Value> {
        self.parameter_value(STANDBY_REGION, &lock_parameter_name(&self.env))
            .await
            .map(|text| serde_json::from_str(&text).expect("the lock parameter is JSON"))
    }

    /// This env's approval request (`/pilot-light/<env>/approval` in the standby), as JSON.
    pub async fn approval_parameter(&self) -> Option<Value> {
        let name = pilot_light_core::automatic_failover::approval_parameter_name(&self.env);
        self.parameter_value(STANDBY_REGION, &name)
            .await
            .map(|text| serde_json::from_str(&text).expect("the approval parameter is JSON"))
    }

    /// Deletes this env's state and lock parameters at teardown: the handlers under test write
    /// them, not the world.
    pub fn delete_run_state_at_teardown(&self) {
        let names = [
            state_parameter_name(&self.env),
            lock_parameter_name(&self.env),
            pilot_light_core::capacity_record::capacity_parameter_name(&self.env),
            pilot_light_core::automatic_failover::approval_parameter_name(&self.env),
            format!("/pilot-light/{}/readiness", self.env),
        ];
        self.defer_cleanup(Box::new(move |base| {
            Box::pin(async move {
                let config = base
                    .to_builder()
                    .region(Region::new(STANDBY_REGION))
                    .build();
                let ssm = aws_sdk_ssm::Client::new(&config);
                for name in names {
                    let _ = ssm.delete_parameter().name(name).send().await;
                }
            })
        }));
    }
}
