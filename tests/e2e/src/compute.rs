//! Compute seeding: one compute group as the pilot light has it (a launch template and an Auto
//! Scaling group in both regions; the standby at 0), images carrying the group's AMI tag, and the
//! describe calls tests assert the world with. Everything is named after the world's `env` and torn
//! down with it.

use aws_config::SdkConfig;
use aws_sdk_autoscaling::types::{AutoScalingGroup, Instance, LaunchTemplateSpecification};
use aws_sdk_ec2::types::{
    Filter, InstanceType, LaunchTemplate, LaunchTemplateTagSpecificationRequest,
    LaunchTemplateVersion, RequestLaunchTemplateData, ResourceType, Tag, TagSpecification,
};
use pilot_light_core::ENV_TAG_KEY;
use serde_json::{json, Value};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::{World, PRIMARY_REGION, STANDBY_REGION};

/// The tag key that marks a compute group's AMIs in the seeded configuration.
pub const AMI_TAG_KEY: &str = "pilot-light:group";
/// The instance type of every seeded launch template.
pub const SEEDED_INSTANCE_TYPE: &str = "t3.micro";
/// The user data of every seeded launch template (base64 of a small shell script).
pub const SEEDED_USER_DATA: &str = "IyEvYmluL3NoCmVjaG8gInBpbG90LWxpZ2h0IiA+IC90bXAvaGVsbG8K";
/// An image id no image has: instances launched from it are `x86_64` in the emulator.
const BUILDER_IMAGE_ID: &str = "ami-0000000000000b01d";

/// One side (region) of a seeded compute group.
#[derive(Debug, Clone)]
pub struct SeededSide {
    pub region: String,
    pub auto_scaling_group_name: String,
    pub launch_template_name: String,
    pub launch_template_id: String,
    /// The image of the template's first version (tagged, so it takes part in the choice).
    pub base_image_id: String,
    /// An instance (outside the group) that `create_group_image` images.
    pub builder_instance_id: String,
    pub target_group_arn: Option<String>,
}

/// A compute group seeded in both regions.
#[derive(Debug)]
pub struct SeededGroup {
    /// Logical name in the configuration.
    pub name: String,
    /// Value of [`AMI_TAG_KEY`] on this group's images (unique per world).
    pub ami_tag_value: String,
    pub primary: SeededSide,
    pub standby: SeededSide,
    last_image: Mutex<Option<Instant>>,
}

impl SeededGroup {
    /// The side in `region`.
    pub fn side(&self, region: &str) -> &SeededSide {
        if region == self.primary.region {
            &self.primary
        } else {
            &self.standby
        }
    }

    /// This group as a `ComputeGroupConfig` entry of the configuration document.
    pub fn config(&self) -> Value {
        let side = |s: &SeededSide| {
            let mut v = json!({
                "autoScalingGroupName": s.auto_scaling_group_name,
                "launchTemplateName": s.launch_template_name,
            });
            if let Some(arn) = &s.target_group_arn {
                v["targetGroupArn"] = json!(arn);
            }
            v
        };
        json!({
            "name": self.name,
            "primary": side(&self.primary),
            "standby": side(&self.standby),
            "amiTag": {"key": AMI_TAG_KEY, "value": self.ami_tag_value},
        })
    }

    fn side_mut(&mut self, region: &str) -> &mut SeededSide {
        if region == self.primary.region {
            &mut self.primary
        } else {
            &mut self.standby
        }
    }

    /// Waits so that the next image's creation date (whole seconds in the emulator) is later than
    /// the previous image's: images of one group get a strict creation order.
    async fn next_creation_slot(&self) {
        let wait = {
            let last = self.last_image.lock().unwrap();
            last.map(|t| Duration::from_millis(1050).saturating_sub(t.elapsed()))
        };
        if let Some(wait) = wait.filter(|w| !w.is_zero()) {
            tokio::time::sleep(wait).await;
        }
    }

    fn created_image_now(&self) {
        *self.last_image.lock().unwrap() = Some(Instant::now());
    }
}

impl World {
    pub fn ec2(&self, region: &str) -> aws_sdk_ec2::Client {
        aws_sdk_ec2::Client::new(&self.config(region))
    }

    pub fn autoscaling(&self, region: &str) -> aws_sdk_autoscaling::Client {
        aws_sdk_autoscaling::Client::new(&self.config(region))
    }

    pub fn elbv2(&self, region: &str) -> aws_sdk_elasticloadbalancingv2::Client {
        aws_sdk_elasticloadbalancingv2::Client::new(&self.config(region))
    }

    fn ec2_env_tag(&self) -> Tag {
        Tag::builder().key(ENV_TAG_KEY).value(&self.env).build()
    }

    /// Seeds compute group `name` in both regions: in each, a builder instance, a tagged base image
    /// made from it, a launch template (t3.micro, user data, instance tag specifications, the env
    /// tag) on that image, and an Auto Scaling group on the template's `$Default` version: min 1,
    /// max 4, desired 2 in the primary; min 0, max 4, desired 0 in the standby.
    pub async fn seed_compute_group(&self, name: &str) -> SeededGroup {
        let mut group = SeededGroup {
            name: name.to_string(),
            ami_tag_value: self.name(name),
            primary: self.unseeded_side(PRIMARY_REGION, name),
            standby: self.unseeded_side(STANDBY_REGION, name),
            last_image: Mutex::new(None),
        };
        for (region, bounds) in [(PRIMARY_REGION, (1, 4, 2)), (STANDBY_REGION, (0, 4, 0))] {
            let builder = self.launch_builder_instance(region, name).await;
            group.side_mut(region).builder_instance_id = builder;
            let base = self.create_group_image(&group, region, "base").await;
            let template_name = group.side(region).launch_template_name.clone();
            let template_id = self
                .create_launch_template(region, &template_name, &base)
                .await;
            let side = group.side_mut(region);
            side.base_image_id = base;
            side.launch_template_id = template_id.clone();
            let group_name = side.auto_scaling_group_name.clone();
            self.create_auto_scaling_group(region, &group_name, &template_id, bounds)
                .await;
        }
        group
    }

    /// A side's names, before anything is created.
    fn unseeded_side(&self, region: &str, name: &str) -> SeededSide {
        let short = if region == PRIMARY_REGION {
            "use1"
        } else {
            "usw2"
        };
        SeededSide {
            region: region.to_string(),
            auto_scaling_group_name: self.name(&format!("{name}-{short}")),
            launch_template_name: self.name(&format!("{name}-{short}")),
            launch_template_id: String::new(),
            base_image_id: String::new(),
            builder_instance_id: String::new(),
            target_group_arn: None,
        }
    }

    /// Runs the instance images are made from; terminated at teardown.
    async fn launch_builder_instance(&self, region: &str, name: &str) -> String {
        let ran = self
            .ec2(region)
            .run_instances()
            .image_id(BUILDER_IMAGE_ID)
            .instance_type(InstanceType::from(SEEDED_INSTANCE_TYPE))
            .min_count(1)
            .max_count(1)
            .tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::Instance)
                    .tags(self.ec2_env_tag())
                    .tags(
                        Tag::builder()
                            .key("Name")
                            .value(self.name(&format!("{name}-builder")))
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("run the builder instance in {region}: {e:?}"));
        let id = ran
            .instances()
            .first()
            .and_then(|i| i.instance_id())
            .expect("builder instance id")
            .to_string();
        let (region_owned, id_owned) = (region.to_string(), id.clone());
        self.defer_cleanup(Box::new(move |cfg: SdkConfig| {
            Box::pin(async move {
                let _ = aws_sdk_ec2::Client::new(&in_region(&cfg, &region_owned))
                    .terminate_instances()
                    .instance_ids(id_owned)
                    .send()
                    .await;
            })
        }));
        id
    }

    /// Creates an image of the group's builder instance in `region`, tagged with the group's AMI
    /// tag and the env tag; named `<env>-<group>-<label>`. Images of one group are created at
    /// least a second apart, so their creation order is their order here. With
    /// `world.set_duration("ec2.create_image", s)` it stays `pending` for `s` seconds.
    pub async fn create_group_image(
        &self,
        group: &SeededGroup,
        region: &str,
        label: &str,
    ) -> String {
        let tags = [(AMI_TAG_KEY, group.ami_tag_value.as_str())];
        self.create_image_with_tags(group, region, label, &tags)
            .await
    }

    /// Like [`World::create_group_image`], with exactly these tags (plus the env tag): `&[]` for an
    /// untagged image, another value for some other group's image.
    pub async fn create_image_with_tags(
        &self,
        group: &SeededGroup,
        region: &str,
        label: &str,
        tags: &[(&str, &str)],
    ) -> String {
        group.next_creation_slot().await;
        let mut spec = TagSpecification::builder()
            .resource_type(ResourceType::Image)
            .tags(self.ec2_env_tag());
        for (key, value) in tags {
            spec = spec.tags(Tag::builder().key(*key).value(*value).build());
        }
        let name = self.name(&format!("{}-{label}", group.name));
        let created = self
            .ec2(region)
            .create_image()
            .instance_id(&group.side(region).builder_instance_id)
            .name(&name)
            .no_reboot(true)
            .tag_specifications(spec.build())
            .send()
            .await
            .unwrap_or_else(|e| panic!("create image {name} in {region}: {e:?}"));
        group.created_image_now();
        let id = created.image_id().expect("image id").to_string();
        self.defer_deregister(region, &id);
        id
    }

    /// Registers an image (`RegisterImage`, no instance) and tags it with the group's AMI tag. The
    /// emulator gives registered images no architecture.
    pub async fn register_group_image(
        &self,
        group: &SeededGroup,
        region: &str,
        label: &str,
    ) -> String {
        group.next_creation_slot().await;
        let ec2 = self.ec2(region);
        let name = self.name(&format!("{}-{label}", group.name));
        let registered = ec2
            .register_image()
            .name(&name)
            .root_device_name("/dev/xvda")
            .virtualization_type("hvm")
            .send()
            .await
            .unwrap_or_else(|e| panic!("register image {name} in {region}: {e:?}"));
        group.created_image_now();
        let id = registered.image_id().expect("image id").to_string();
        self.defer_deregister(region, &id);
        ec2.create_tags()
            .resources(&id)
            .tags(self.ec2_env_tag())
            .tags(
                Tag::builder()
                    .key(AMI_TAG_KEY)
                    .value(&group.ami_tag_value)
                    .build(),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("tag image {id}: {e:?}"));
        id
    }

    fn defer_deregister(&self, region: &str, image_id: &str) {
        let (region, image_id) = (region.to_string(), image_id.to_string());
        self.defer_cleanup(Box::new(move |cfg: SdkConfig| {
            Box::pin(async move {
                let _ = aws_sdk_ec2::Client::new(&in_region(&cfg, &region))
                    .deregister_image()
                    .image_id(image_id)
                    .send()
                    .await;
            })
        }));
    }

    /// Creates a launch template: `image_id`, t3.micro, user data, instance tag specifications
    /// (env and `Name`), the env tag on the template. Returns its id.
    pub async fn create_launch_template(&self, region: &str, name: &str, image_id: &str) -> String {
        let data = RequestLaunchTemplateData::builder()
            .image_id(image_id)
            .instance_type(InstanceType::from(SEEDED_INSTANCE_TYPE))
            .user_data(SEEDED_USER_DATA)
            .tag_specifications(
                LaunchTemplateTagSpecificationRequest::builder()
                    .resource_type(ResourceType::Instance)
                    .tags(self.ec2_env_tag())
                    .tags(Tag::builder().key("Name").value(name).build())
                    .build(),
            )
            .build();
        let created = self
            .ec2(region)
            .create_launch_template()
            .launch_template_name(name)
            .version_description("seeded")
            .launch_template_data(data)
            .tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::LaunchTemplate)
                    .tags(self.ec2_env_tag())
                    .build(),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("create launch template {name} in {region}: {e:?}"));
        let id = created
            .launch_template()
            .and_then(|t| t.launch_template_id())
            .expect("launch template id")
            .to_string();
        let (region, template_id) = (region.to_string(), id.clone());
        self.defer_cleanup(Box::new(move |cfg: SdkConfig| {
            Box::pin(async move {
                let _ = aws_sdk_ec2::Client::new(&in_region(&cfg, &region))
                    .delete_launch_template()
                    .launch_template_id(template_id)
                    .send()
                    .await;
            })
        }));
        id
    }

    /// Creates an Auto Scaling group on the template's `$Default` version, tagged with the env.
    pub async fn create_auto_scaling_group(
        &self,
        region: &str,
        name: &str,
        launch_template_id: &str,
        (min, max, desired): (i32, i32, i32),
    ) {
        self.autoscaling(region)
            .create_auto_scaling_group()
            .auto_scaling_group_name(name)
            .launch_template(
                LaunchTemplateSpecification::builder()
                    .launch_template_id(launch_template_id)
                    .version("$Default")
                    .build(),
            )
            .min_size(min)
            .max_size(max)
            .desired_capacity(desired)
            .availability_zones(format!("{region}a"))
            .tags(
                aws_sdk_autoscaling::types::Tag::builder()
                    .key(ENV_TAG_KEY)
                    .value(&self.env)
                    .propagate_at_launch(true)
                    .resource_id(name)
                    .resource_type("auto-scaling-group")
                    .build(),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("create Auto Scaling group {name} in {region}: {e:?}"));
        let (region, group) = (region.to_string(), name.to_string());
        self.defer_cleanup(Box::new(move |cfg: SdkConfig| {
            Box::pin(async move {
                let _ = aws_sdk_autoscaling::Client::new(&in_region(&cfg, &region))
                    .delete_auto_scaling_group()
                    .auto_scaling_group_name(group)
                    .force_delete(true)
                    .send()
                    .await;
            })
        }));
    }

    /// Sets a group's min, max and desired capacity (test set-up, not product code).
    pub async fn set_group_capacity(
        &self,
        region: &str,
        name: &str,
        (min, max, desired): (i32, i32, i32),
    ) {
        self.autoscaling(region)
            .update_auto_scaling_group()
            .auto_scaling_group_name(name)
            .min_size(min)
            .max_size(max)
            .desired_capacity(desired)
            .send()
            .await
            .unwrap_or_else(|e| panic!("update Auto Scaling group {name} in {region}: {e:?}"));
    }

    /// Creates an HTTP:80 instance target group in the region's default VPC, attaches it to the
    /// side's Auto Scaling group, and records it on the side. Returns its ARN.
    pub async fn attach_target_group(&self, group: &mut SeededGroup, region: &str) -> String {
        let ec2 = self.ec2(region);
        let vpcs = ec2
            .describe_vpcs()
            .filters(Filter::builder().name("isDefault").values("true").build())
            .send()
            .await
            .expect("describe the default VPC");
        let vpc_id = vpcs
            .vpcs()
            .first()
            .and_then(|v| v.vpc_id())
            .expect("a default VPC")
            .to_string();
        let elbv2 = self.elbv2(region);
        let name = self.name(&format!("{}-tg", group.name));
        let created = elbv2
            .create_target_group()
            .name(&name)
            .protocol(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Http)
            .port(80)
            .vpc_id(vpc_id)
            .target_type(aws_sdk_elasticloadbalancingv2::types::TargetTypeEnum::Instance)
            .send()
            .await
            .unwrap_or_else(|e| panic!("create target group {name} in {region}: {e:?}"));
        let arn = created
            .target_groups()
            .first()
            .and_then(|t| t.target_group_arn())
            .expect("target group ARN")
            .to_string();
        let side = group.side_mut(region);
        self.autoscaling(region)
            .attach_load_balancer_target_groups()
            .auto_scaling_group_name(&side.auto_scaling_group_name)
            .target_group_arns(&arn)
            .send()
            .await
            .unwrap_or_else(|e| panic!("attach target group {name}: {e:?}"));
        side.target_group_arn = Some(arn.clone());
        let (region, target_group) = (region.to_string(), arn.clone());
        // Cleanups run in reverse order: this one before the group's deletion is fine, since the
        // emulator deletes a target group with targets.
        self.defer_cleanup(Box::new(move |cfg: SdkConfig| {
            Box::pin(async move {
                let _ = aws_sdk_elasticloadbalancingv2::Client::new(&in_region(&cfg, &region))
                    .delete_target_group()
                    .target_group_arn(target_group)
                    .send()
                    .await;
            })
        }));
        arn
    }

    /// The Auto Scaling group as described now.
    pub async fn describe_group(&self, region: &str, name: &str) -> AutoScalingGroup {
        self.autoscaling(region)
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("describe Auto Scaling group {name}: {e:?}"))
            .auto_scaling_groups()
            .first()
            .cloned()
            .unwrap_or_else(|| panic!("no Auto Scaling group {name} in {region}"))
    }

    /// The group's instances as described now.
    pub async fn group_instances(&self, region: &str, name: &str) -> Vec<Instance> {
        self.describe_group(region, name).await.instances().to_vec()
    }

    /// The launch template as described now (default and latest version numbers).
    pub async fn describe_launch_template(&self, region: &str, name: &str) -> LaunchTemplate {
        self.ec2(region)
            .describe_launch_templates()
            .launch_template_names(name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("describe launch template {name}: {e:?}"))
            .launch_templates()
            .first()
            .cloned()
            .unwrap_or_else(|| panic!("no launch template {name} in {region}"))
    }

    /// One version of a launch template (`"3"`, `"$Default"`, `"$Latest"`).
    pub async fn launch_template_version(
        &self,
        region: &str,
        template_id: &str,
        version: &str,
    ) -> LaunchTemplateVersion {
        self.ec2(region)
            .describe_launch_template_versions()
            .launch_template_id(template_id)
            .versions(version)
            .send()
            .await
            .unwrap_or_else(|e| panic!("describe version {version} of {template_id}: {e:?}"))
            .launch_template_versions()
            .first()
            .cloned()
            .unwrap_or_else(|| panic!("no version {version} of {template_id}"))
    }
}

fn in_region(base: &SdkConfig, region: &str) -> SdkConfig {
    base.to_builder()
        .region(aws_config::Region::new(region.to_string()))
        .build()
}
