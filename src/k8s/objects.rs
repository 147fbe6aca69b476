//! The typed Kubernetes objects of a distributed run: Namespace, scenario
//! ConfigMap, coordinator Service and Job, and one Indexed Job of workers
//! per region.
//!
//! Owns every field value and why it is set. Inputs arrive validated from
//! `k8s::render`; must not validate flags, read files or serialize.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::{
    Job, JobSpec, PodFailurePolicy, PodFailurePolicyOnExitCodesRequirement,
    PodFailurePolicyOnPodConditionsPattern, PodFailurePolicyRule,
};
use k8s_openapi::api::core::v1::{
    Affinity, Capabilities, ConfigMap, ConfigMapVolumeSource, Container, ContainerPort,
    EmptyDirVolumeSource, EnvVar, KeyToPath, Namespace, PodAffinityTerm, PodAntiAffinity,
    PodSecurityContext, PodSpec, PodTemplateSpec, ResourceRequirements, SeccompProfile,
    SecurityContext, Service, ServicePort, ServiceSpec, Volume, VolumeMount,
    WeightedPodAffinityTerm,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::ByteString;

use super::bundle::Entry;

/// Where the scenario's ConfigMap is mounted.
pub const SCENARIO_DIR: &str = "/scenario";
/// Where the coordinator writes its report.
pub const REPORTS_DIR: &str = "/reports";
/// How long the coordinator's container stays up after the run so the
/// report can be copied out.
pub const REPORT_LINGER_SECS: u32 = 600;
/// How long finished Jobs (and their pods and logs) are kept.
pub const TTL_AFTER_FINISHED_SECS: i32 = 3600;
/// The unprivileged user and group the containers run as (the image's
/// `flashcrowd` user).
pub const RUN_AS: i64 = 10001;

const APP: &str = "flashcrowd";
const LABEL_NAME: &str = "app.kubernetes.io/name";
const LABEL_INSTANCE: &str = "app.kubernetes.io/instance";
const LABEL_COMPONENT: &str = "app.kubernetes.io/component";
/// The scenario region a worker pod sends the traffic of.
pub const LABEL_REGION: &str = "flashcrowd.io/region";

/// What every object needs to know about the run.
#[derive(Debug, Clone)]
pub struct Run {
    pub namespace: String,
    /// DNS-1123 prefix of every object's name.
    pub base: String,
    pub image: String,
    pub workers: u32,
    pub port: u16,
    pub cpu: String,
    pub memory: String,
    /// Environment of every container.
    pub env: Vec<(String, String)>,
}

impl Run {
    pub fn configmap_name(&self) -> String {
        format!("{}-scenario", self.base)
    }

    pub fn coordinator_name(&self) -> String {
        format!("{}-coordinator", self.base)
    }

    /// `HOST:PORT` of the coordinator as workers in the namespace reach it.
    pub fn coordinator_addr(&self) -> String {
        format!("{}:{}", self.coordinator_name(), self.port)
    }

    fn labels(&self, component: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            (LABEL_NAME.to_owned(), APP.to_owned()),
            (LABEL_INSTANCE.to_owned(), self.base.clone()),
            (LABEL_COMPONENT.to_owned(), component.to_owned()),
        ])
    }

    fn meta(&self, name: String, component: &str) -> ObjectMeta {
        ObjectMeta {
            name: Some(name),
            namespace: Some(self.namespace.clone()),
            labels: Some(self.labels(component)),
            ..ObjectMeta::default()
        }
    }
}

/// One Indexed Job of workers.
#[derive(Debug, Clone)]
pub struct WorkerGroup {
    pub job_name: String,
    /// First global index of the group.
    pub offset: u32,
    pub count: u32,
    /// The scenario region and the node label key that places its pods.
    pub region: Option<(String, String)>,
    /// The `sh -c` script of each pod.
    pub script: String,
}

pub fn namespace(run: &Run) -> Namespace {
    Namespace {
        metadata: ObjectMeta {
            name: Some(run.namespace.clone()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    }
}

/// The scenario and its files; text under `data`, anything not UTF-8
/// under `binaryData`.
pub fn configmap(run: &Run, files: &[Entry], sha256: &str) -> ConfigMap {
    let mut data = BTreeMap::new();
    let mut binary = BTreeMap::new();
    for f in files {
        match std::str::from_utf8(&f.bytes) {
            Ok(text) => {
                data.insert(f.key.clone(), text.to_owned());
            }
            Err(_) => {
                binary.insert(f.key.clone(), ByteString(f.bytes.clone()));
            }
        }
    }
    let mut metadata = run.meta(run.configmap_name(), "scenario");
    metadata.annotations = Some(BTreeMap::from([(
        "flashcrowd.io/scenario-sha256".to_owned(),
        sha256.to_owned(),
    )]));
    ConfigMap {
        metadata,
        data: (!data.is_empty()).then_some(data),
        binary_data: (!binary.is_empty()).then_some(binary),
        // The run must see the files it was rendered with; a changed
        // scenario is a new render and a new apply.
        immutable: Some(true),
    }
}

pub fn coordinator_service(run: &Run) -> Service {
    Service {
        metadata: run.meta(run.coordinator_name(), "coordinator"),
        spec: Some(ServiceSpec {
            selector: Some(run.labels("coordinator")),
            ports: Some(vec![ServicePort {
                name: Some("coordinator".into()),
                port: i32::from(run.port),
                target_port: Some(IntOrString::Int(i32::from(run.port))),
                protocol: Some("TCP".into()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

/// The coordinator: one pod, never retried, since a second coordinator
/// would start a run the workers are no longer part of.
pub fn coordinator_job(run: &Run, files: &[Entry], script: String) -> Job {
    let volumes = vec![
        scenario_volume(run, files),
        empty_dir("tmp", "64Mi"),
        empty_dir("reports", "1Gi"),
    ];
    let container = Container {
        name: "coordinator".into(),
        command: Some(vec!["sh".into(), "-c".into(), script]),
        ports: Some(vec![ContainerPort {
            name: Some("coordinator".into()),
            container_port: i32::from(run.port),
            protocol: Some("TCP".into()),
            ..ContainerPort::default()
        }]),
        volume_mounts: Some(vec![
            mount("scenario", SCENARIO_DIR, true),
            mount("tmp", "/tmp", false),
            mount("reports", REPORTS_DIR, false),
        ]),
        ..container(run)
    };
    let pod = PodSpec {
        containers: vec![container],
        volumes: Some(volumes),
        // Time for the coordinator to write a partial report on SIGTERM.
        termination_grace_period_seconds: Some(60),
        ..pod_spec()
    };
    Job {
        metadata: run.meta(run.coordinator_name(), "coordinator"),
        spec: Some(JobSpec {
            completions: Some(1),
            parallelism: Some(1),
            backoff_limit: Some(0),
            ttl_seconds_after_finished: Some(TTL_AFTER_FINISHED_SECS),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(run.labels("coordinator")),
                    ..ObjectMeta::default()
                }),
                spec: Some(pod),
            },
            ..JobSpec::default()
        }),
        ..Job::default()
    }
}

/// An Indexed Job of workers: pod `i` is the worker with global index
/// `offset + i`, and a failed index is never retried. A replacement would
/// replay its segment late, skewing every latency it recorded; the
/// coordinator reports the run as partial instead.
pub fn worker_job(run: &Run, group: &WorkerGroup, files: &[Entry]) -> Job {
    let count = i32::try_from(group.count).unwrap_or(i32::MAX);
    let mut labels = run.labels("worker");
    let mut node_selector = None;
    if let Some((region, key)) = &group.region {
        labels.insert(LABEL_REGION.to_owned(), region.clone());
        node_selector = Some(BTreeMap::from([(key.clone(), region.clone())]));
    }
    let container = Container {
        name: "worker".into(),
        command: Some(vec!["sh".into(), "-c".into(), group.script.clone()]),
        // Each worker loads the same scenario bytes (the coordinator checks
        // their hash at registration).
        volume_mounts: Some(vec![
            mount("scenario", SCENARIO_DIR, true),
            mount("tmp", "/tmp", false),
        ]),
        ..container(run)
    };
    let pod = PodSpec {
        containers: vec![container],
        volumes: Some(vec![scenario_volume(run, files), empty_dir("tmp", "64Mi")]),
        node_selector,
        affinity: Some(spread_workers(run)),
        ..pod_spec()
    };
    let mut metadata = run.meta(group.job_name.clone(), "worker");
    metadata.labels = Some(labels.clone());
    metadata.annotations = Some(BTreeMap::from([
        (
            "flashcrowd.io/index-offset".to_owned(),
            group.offset.to_string(),
        ),
        ("flashcrowd.io/workers".to_owned(), run.workers.to_string()),
    ]));
    Job {
        metadata,
        spec: Some(JobSpec {
            completion_mode: Some("Indexed".into()),
            completions: Some(count),
            parallelism: Some(count),
            // One try per index, and the Job carries on while indexes fail:
            // the surviving workers' results are still worth reporting.
            backoff_limit_per_index: Some(0),
            max_failed_indexes: Some(count),
            pod_failure_policy: Some(fail_index_policy()),
            // A replacement pod may start only once the old one is gone
            // (the only choice with a pod failure policy; stated for the
            // reader).
            pod_replacement_policy: Some("Failed".into()),
            ttl_seconds_after_finished: Some(TTL_AFTER_FINISHED_SECS),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    ..ObjectMeta::default()
                }),
                spec: Some(pod),
            },
            ..JobSpec::default()
        }),
        ..Job::default()
    }
}

/// A worker that fails, for whatever reason, fails its index for good.
/// `backoffLimitPerIndex: 0` already means that; these rules say it
/// explicitly and keep it true if someone raises the limit. Disruptions
/// (eviction, preemption, node drain) get `FailIndex` rather than the
/// tempting `Ignore`, which would start a replacement replaying the segment
/// late.
fn fail_index_policy() -> PodFailurePolicy {
    PodFailurePolicy {
        rules: vec![
            PodFailurePolicyRule {
                action: "FailIndex".into(),
                on_pod_conditions: Some(vec![PodFailurePolicyOnPodConditionsPattern {
                    type_: "DisruptionTarget".into(),
                    status: "True".into(),
                }]),
                ..PodFailurePolicyRule::default()
            },
            PodFailurePolicyRule {
                action: "FailIndex".into(),
                on_exit_codes: Some(PodFailurePolicyOnExitCodesRequirement {
                    container_name: Some("worker".into()),
                    operator: "NotIn".into(),
                    values: vec![0],
                }),
                ..PodFailurePolicyRule::default()
            },
        ],
    }
}

/// Prefer one worker per node: two on one node share its CPU and network,
/// and a saturated generator can make the whole run inconclusive.
fn spread_workers(run: &Run) -> Affinity {
    Affinity {
        pod_anti_affinity: Some(PodAntiAffinity {
            preferred_during_scheduling_ignored_during_execution: Some(vec![
                WeightedPodAffinityTerm {
                    weight: 100,
                    pod_affinity_term: PodAffinityTerm {
                        label_selector: Some(LabelSelector {
                            match_labels: Some(run.labels("worker")),
                            ..LabelSelector::default()
                        }),
                        topology_key: "kubernetes.io/hostname".into(),
                        ..PodAffinityTerm::default()
                    },
                },
            ]),
            ..PodAntiAffinity::default()
        }),
        ..Affinity::default()
    }
}

/// What every container shares: the image, Guaranteed QoS (requests equal
/// to limits, so the generator's CPU is never throttled below what the
/// scheduler promised) and a locked-down security context.
fn container(run: &Run) -> Container {
    let resources = BTreeMap::from([
        ("cpu".to_owned(), Quantity(run.cpu.clone())),
        ("memory".to_owned(), Quantity(run.memory.clone())),
    ]);
    let env = run
        .env
        .iter()
        .map(|(name, value)| EnvVar {
            name: name.clone(),
            value: Some(value.clone()),
            ..EnvVar::default()
        })
        .collect::<Vec<_>>();
    Container {
        image: Some(run.image.clone()),
        image_pull_policy: Some("IfNotPresent".into()),
        env: (!env.is_empty()).then_some(env),
        resources: Some(ResourceRequirements {
            requests: Some(resources.clone()),
            limits: Some(resources),
            ..ResourceRequirements::default()
        }),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(true),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".into()]),
                ..Capabilities::default()
            }),
            ..SecurityContext::default()
        }),
        ..Container::default()
    }
}

fn pod_spec() -> PodSpec {
    PodSpec {
        restart_policy: Some("Never".into()),
        // flashcrowd never talks to the API server.
        automount_service_account_token: Some(false),
        // Keeps other Services' variables out of the environment.
        enable_service_links: Some(false),
        security_context: Some(PodSecurityContext {
            run_as_non_root: Some(true),
            run_as_user: Some(RUN_AS),
            run_as_group: Some(RUN_AS),
            fs_group: Some(RUN_AS),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".into(),
                ..SeccompProfile::default()
            }),
            ..PodSecurityContext::default()
        }),
        ..PodSpec::default()
    }
}

/// The ConfigMap as a volume, each key at its path relative to the
/// scenario, so `data/buyers.csv` is found where the scenario says.
fn scenario_volume(run: &Run, files: &[Entry]) -> Volume {
    Volume {
        name: "scenario".into(),
        config_map: Some(ConfigMapVolumeSource {
            name: run.configmap_name(),
            items: Some(
                files
                    .iter()
                    .map(|f| KeyToPath {
                        key: f.key.clone(),
                        path: f.path.clone(),
                        ..KeyToPath::default()
                    })
                    .collect(),
            ),
            ..ConfigMapVolumeSource::default()
        }),
        ..Volume::default()
    }
}

fn empty_dir(name: &str, limit: &str) -> Volume {
    Volume {
        name: name.into(),
        empty_dir: Some(EmptyDirVolumeSource {
            size_limit: Some(Quantity(limit.into())),
            ..EmptyDirVolumeSource::default()
        }),
        ..Volume::default()
    }
}

fn mount(volume: &str, path: &str, read_only: bool) -> VolumeMount {
    VolumeMount {
        name: volume.into(),
        mount_path: path.into(),
        read_only: read_only.then_some(true),
        ..VolumeMount::default()
    }
}
