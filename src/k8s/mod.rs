//! Kubernetes manifests for a distributed run (`flashcrowd k8s render`).
//!
//! Owns turning a loaded scenario and the render options into typed
//! Kubernetes objects (`objects`), checking the options against the API
//! server's rules first (`names`), splitting workers among regions
//! (`split`), packing the scenario's files into a ConfigMap (`bundle`), and
//! serializing the result as YAML. The pods' command lines live in
//! `command`. Must not talk to a cluster, run anything, or write to the
//! terminal; the CLI decides where the YAML goes.

mod bundle;
pub mod command;
pub mod names;
pub mod objects;
pub mod split;

use std::path::PathBuf;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Service};

use crate::scenario::{Scenario, Sources};
use objects::{Run, WorkerGroup};

/// Longest name prefix taken from the scenario's name. The longest object
/// name, `<prefix>-workers-<region>[-<region index>]`, plus the `-<index>`
/// the Indexed Job controller appends for pod host names, must stay within
/// 63 characters: 30 + 9 + 12 + 4 + 6.
const MAX_BASE: usize = 30;
/// Longest part of a worker Job's name taken from its region.
const MAX_REGION_SLUG: usize = 12;
/// The API server caps an Indexed Job with per-index backoff at this many
/// completions.
pub const MAX_WORKERS: u32 = 100_000;

/// Why manifests could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum K8sError {
    #[error("--workers must be at least 1")]
    NoWorkers,
    #[error("--workers {0} is more than an Indexed Job runs ({MAX_WORKERS})")]
    TooManyWorkers(u32),
    #[error(
        "--workers {workers} is too few: the scenario's regions with traffic ({}) need \
         at least one worker each",
        regions.join(", ")
    )]
    TooFewWorkers { workers: u32, regions: Vec<String> },
    #[error("no region of the scenario has any traffic to send")]
    NoRegionTraffic,
    #[error("--namespace `{name}`: {why}")]
    Namespace { name: String, why: String },
    #[error("--image `{0}`: give an image reference without spaces, e.g. registry.example/flashcrowd:0.1.0")]
    Image(String),
    #[error("--{flag} {why}")]
    Quantity { flag: &'static str, why: String },
    #[error("--coordinator-port must be between 1 and 65535")]
    Port,
    #[error("--region-label `{key}` is not a label key: it {why}")]
    RegionLabel { key: String, why: String },
    #[error(
        "region `{region}` cannot be a node label value (workers are placed on nodes whose \
         `{key}` label equals the region's name): it {why}"
    )]
    RegionValue {
        region: String,
        key: String,
        why: String,
    },
    #[error("{}: cannot ship it in the scenario's ConfigMap: {why}", path.display())]
    Unshippable { path: PathBuf, why: String },
    #[error(
        "the scenario and its files are {bytes} bytes; a ConfigMap holds at most {limit} \
         (make feeder files smaller, or bake them into the image)"
    )]
    TooLarge { bytes: usize, limit: usize },
    #[error("cannot write the manifests as YAML: {0}")]
    Yaml(#[from] serde_norway::Error),
}

/// What to render, as given on the command line.
#[derive(Debug, Clone)]
pub struct RenderOptions {
    pub workers: u32,
    /// `None`: `flashcrowd:<this version>`.
    pub image: Option<String>,
    pub namespace: String,
    pub coordinator_port: u16,
    /// CPU of each pod, requested and limited alike.
    pub cpu: String,
    /// Memory of each pod, requested and limited alike.
    pub memory: String,
    /// Node label whose value names a node's region.
    pub region_label: String,
    /// Environment of every container, in order (the OpenTelemetry
    /// exporter's settings).
    pub env: Vec<(String, String)>,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            workers: 1,
            image: None,
            namespace: "flashcrowd".into(),
            coordinator_port: 7070,
            cpu: "2".into(),
            memory: "2Gi".into(),
            region_label: "topology.kubernetes.io/region".into(),
            env: Vec::new(),
        }
    }
}

/// The image used when none is given.
pub fn default_image() -> String {
    format!("flashcrowd:{}", env!("CARGO_PKG_VERSION"))
}

/// One rendered object.
#[derive(Debug, Clone, PartialEq)]
pub enum Manifest {
    Namespace(Namespace),
    ConfigMap(ConfigMap),
    /// Boxed, as is a Job: they are several times larger than the others.
    Service(Box<Service>),
    Job(Box<Job>),
}

impl Manifest {
    fn kind_and_name(&self) -> (&'static str, Option<&str>) {
        match self {
            Manifest::Namespace(o) => ("namespace", o.metadata.name.as_deref()),
            Manifest::ConfigMap(o) => ("configmap", o.metadata.name.as_deref()),
            Manifest::Service(o) => ("service", o.metadata.name.as_deref()),
            Manifest::Job(o) => ("job", o.metadata.name.as_deref()),
        }
    }

    /// File name for the `position`-th manifest: numbered, so `kubectl
    /// apply -f DIR` creates them in order (namespace first).
    pub fn file_name(&self, position: usize) -> String {
        let (kind, name) = self.kind_and_name();
        format!("{position:02}-{kind}-{}.yaml", name.unwrap_or("unnamed"))
    }

    /// This object as one YAML document.
    pub fn to_yaml(&self) -> Result<String, K8sError> {
        Ok(match self {
            Manifest::Namespace(o) => serde_norway::to_string(o)?,
            Manifest::ConfigMap(o) => serde_norway::to_string(o)?,
            Manifest::Service(o) => serde_norway::to_string(o)?,
            Manifest::Job(o) => serde_norway::to_string(o)?,
        })
    }
}

/// All manifests as one multi-document YAML stream.
pub fn to_yaml_stream(manifests: &[Manifest]) -> Result<String, K8sError> {
    let mut out = String::new();
    for m in manifests {
        out.push_str("---\n");
        out.push_str(&m.to_yaml()?);
    }
    Ok(out)
}

/// Render the manifests of a distributed run of `scenario`, whose files
/// are `sources` (from [`crate::scenario::load_with_sources`]). Order:
/// Namespace, ConfigMap, coordinator Service, coordinator Job, worker Jobs
/// (one per region with traffic, in the scenario's order; one in all
/// without regions).
pub fn render(
    scenario: &Scenario,
    sources: &Sources,
    opts: &RenderOptions,
) -> Result<Vec<Manifest>, K8sError> {
    let run = check(scenario, opts)?;
    let files = bundle::bundle(&scenario.file, sources)?;
    // The bundle always starts with the scenario file itself.
    let scenario_file = files.first().map(|f| f.path.as_str()).unwrap_or_default();
    let scenario_path = format!("{}/{scenario_file}", objects::SCENARIO_DIR);
    let out = format!("{}/{}", objects::REPORTS_DIR, run.base);
    let coordinator = command::coordinator_script(
        &scenario_path,
        run.workers,
        run.port,
        &out,
        objects::REPORT_LINGER_SECS,
        &run.namespace,
    );
    let mut manifests = vec![
        Manifest::Namespace(objects::namespace(&run)),
        Manifest::ConfigMap(objects::configmap(&run, &files, &scenario.sha256)),
        Manifest::Service(Box::new(objects::coordinator_service(&run))),
        Manifest::Job(Box::new(objects::coordinator_job(
            &run,
            &files,
            coordinator,
        ))),
    ];
    for group in worker_groups(scenario, &run, &opts.region_label, &scenario_path)? {
        manifests.push(Manifest::Job(Box::new(objects::worker_job(
            &run, &group, &files,
        ))));
    }
    Ok(manifests)
}

/// Check the options and derive the run's names.
fn check(scenario: &Scenario, opts: &RenderOptions) -> Result<Run, K8sError> {
    if opts.workers == 0 {
        return Err(K8sError::NoWorkers);
    }
    if opts.workers > MAX_WORKERS {
        return Err(K8sError::TooManyWorkers(opts.workers));
    }
    names::check_dns_label(&opts.namespace).map_err(|why| K8sError::Namespace {
        name: opts.namespace.clone(),
        why,
    })?;
    let image = opts.image.clone().unwrap_or_else(default_image);
    if image.is_empty() || image.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(K8sError::Image(image));
    }
    for (flag, value) in [("cpu", &opts.cpu), ("memory", &opts.memory)] {
        names::check_quantity(value).map_err(|why| K8sError::Quantity { flag, why })?;
    }
    if opts.coordinator_port == 0 {
        return Err(K8sError::Port);
    }
    names::check_label_key(&opts.region_label).map_err(|why| K8sError::RegionLabel {
        key: opts.region_label.clone(),
        why,
    })?;
    Ok(Run {
        namespace: opts.namespace.clone(),
        base: base_name(&scenario.name),
        image,
        workers: opts.workers,
        port: opts.coordinator_port,
        cpu: opts.cpu.clone(),
        memory: opts.memory.clone(),
        env: opts.env.clone(),
    })
}

/// The prefix of every object's name, from the scenario's name. Services
/// need a DNS-1035 label, which starts with a letter.
fn base_name(scenario_name: &str) -> String {
    let slug = names::slug(scenario_name, MAX_BASE).unwrap_or_else(|| "flashcrowd".into());
    if slug.starts_with(|c: char| c.is_ascii_digit()) {
        names::slug(&format!("fc-{slug}"), MAX_BASE).unwrap_or(slug)
    } else {
        slug
    }
}

/// The worker Jobs: one for the whole run, or one per region with traffic.
fn worker_groups(
    scenario: &Scenario,
    run: &Run,
    region_label: &str,
    scenario_path: &str,
) -> Result<Vec<WorkerGroup>, K8sError> {
    let coordinator = run.coordinator_addr();
    if scenario.regions.is_empty() {
        return Ok(vec![WorkerGroup {
            job_name: format!("{}-workers", run.base),
            offset: 0,
            count: run.workers,
            region: None,
            script: command::worker_script(scenario_path, &coordinator, 0, run.workers, None),
        }]);
    }
    let weights = split::region_weights(scenario);
    let shares = split::split(run.workers, &weights).map_err(|e| match e {
        split::SplitError::TooFew { .. } => K8sError::TooFewWorkers {
            workers: run.workers,
            regions: scenario
                .regions
                .iter()
                .zip(&weights)
                .filter(|(_, w)| **w > 0.0)
                .map(|(r, _)| r.name.clone())
                .collect(),
        },
        split::SplitError::NoTraffic => K8sError::NoRegionTraffic,
    })?;
    let mut taken = std::collections::BTreeSet::new();
    let mut groups = Vec::new();
    for share in shares {
        let Some(region) = scenario.regions.get(share.region) else {
            continue;
        };
        names::check_label_value(&region.name).map_err(|why| K8sError::RegionValue {
            region: region.name.clone(),
            key: region_label.to_owned(),
            why,
        })?;
        let slug = names::slug(&region.name, MAX_REGION_SLUG)
            .unwrap_or_else(|| format!("r{}", share.region));
        // Region names that differ only in case or punctuation would
        // share a Job name; the region's index tells them apart.
        let mut job_name = format!("{}-workers-{slug}", run.base);
        if !taken.insert(job_name.clone()) {
            job_name = format!("{job_name}-{}", share.region);
            taken.insert(job_name.clone());
        }
        groups.push(WorkerGroup {
            job_name,
            offset: share.offset,
            count: share.count,
            region: Some((region.name.clone(), region_label.to_owned())),
            script: command::worker_script(
                scenario_path,
                &coordinator,
                share.offset,
                run.workers,
                Some(&region.name),
            ),
        });
    }
    Ok(groups)
}

#[cfg(test)]
mod tests;
