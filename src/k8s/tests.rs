//! Tests of `k8s::render`: names, worker groups and option checks. The
//! YAML round trip and the snapshot are in `tests/k8s_render.rs`.

use std::path::Path;

use super::*;
use crate::scenario::{self, Sources};

const PLAIN: &str = "\
name: Flash Sale 11.11
target: embedded
phases:
  - { name: drop, duration: 10s, load: { rate: 100/s }, flow: buy }
flows:
  buy:
    - { name: home, get: / }
";

const REGIONS: &str = "\
name: two-regions
target: embedded
phases:
  - { name: drop, duration: 10s, load: { rate: 100/s }, flow: buy }
flows:
  buy:
    - { name: home, get: / }
regions:
  sea: { share: 75%, profile: sea-mobile }
  eu: { share: 25%, profile: eu-longhaul }
";

fn load(text: &str) -> (Scenario, Sources) {
    let s = scenario::load_str(Path::new("dir/sale.yaml"), text).unwrap();
    let sources = Sources {
        text: text.to_owned(),
        files: Vec::new(),
    };
    (s, sources)
}

fn opts(workers: u32) -> RenderOptions {
    RenderOptions {
        workers,
        ..RenderOptions::default()
    }
}

fn jobs(m: &[Manifest]) -> Vec<&Job> {
    m.iter()
        .filter_map(|m| match m {
            Manifest::Job(j) => Some(&**j),
            _ => None,
        })
        .collect()
}

fn script(j: &Job) -> String {
    let pod = j.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
    pod.containers[0].command.as_ref().unwrap()[2].clone()
}

#[test]
fn names_come_from_the_scenario_name() {
    let (s, src) = load(PLAIN);
    let m = render(&s, &src, &opts(3)).unwrap();
    let names: Vec<String> = m.iter().enumerate().map(|(i, m)| m.file_name(i)).collect();
    assert_eq!(
        names,
        [
            "00-namespace-flashcrowd.yaml",
            "01-configmap-flash-sale-11-11-scenario.yaml",
            "02-service-flash-sale-11-11-coordinator.yaml",
            "03-job-flash-sale-11-11-coordinator.yaml",
            "04-job-flash-sale-11-11-workers.yaml",
        ]
    );
    assert_eq!(base_name("2024 sale"), "fc-2024-sale");
    assert_eq!(base_name("!!!"), "flashcrowd");
    assert!(base_name(&"x".repeat(100)).len() <= MAX_BASE);
}

#[test]
fn without_regions_one_indexed_job_runs_every_worker() {
    let (s, src) = load(PLAIN);
    let m = render(&s, &src, &opts(3)).unwrap();
    let j = jobs(&m);
    assert_eq!(j.len(), 2);
    let spec = j[1].spec.as_ref().unwrap();
    assert_eq!(spec.completions, Some(3));
    assert!(script(j[1]).contains("--index \"$JOB_COMPLETION_INDEX\" --workers 3\n"));
    assert!(!script(j[1]).contains("--region"));
    assert!(script(j[0]).starts_with(
        "flashcrowd run /scenario/sale.yaml --workers 3 --coordinator-listen 0.0.0.0:7070 \
         --remote-workers --out /reports/flash-sale-11-11 &"
    ));
}

#[test]
fn regions_get_their_share_of_workers_and_disjoint_indexes() {
    let (s, src) = load(REGIONS);
    let m = render(&s, &src, &opts(4)).unwrap();
    let j = jobs(&m);
    let workers: Vec<(String, Option<i32>, String)> = j[1..]
        .iter()
        .map(|j| {
            (
                j.metadata.name.clone().unwrap(),
                j.spec.as_ref().unwrap().completions,
                script(j),
            )
        })
        .collect();
    assert_eq!(workers[0].0, "two-regions-workers-sea");
    assert_eq!(workers[0].1, Some(3));
    assert!(workers[0]
        .2
        .contains("--index \"$JOB_COMPLETION_INDEX\" --workers 4 --region sea"));
    assert_eq!(workers[1].0, "two-regions-workers-eu");
    assert_eq!(workers[1].1, Some(1));
    assert!(workers[1]
        .2
        .contains("--index \"$((3 + JOB_COMPLETION_INDEX))\" --workers 4 --region eu"));
}

#[test]
fn a_region_needs_a_worker() {
    let (s, src) = load(REGIONS);
    let err = render(&s, &src, &opts(1)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "--workers 1 is too few: the scenario's regions with traffic (sea, eu) need at least \
         one worker each"
    );
}

#[test]
fn bad_options_are_refused_before_rendering() {
    let (s, src) = load(PLAIN);
    let bad = [
        (opts(0), "--workers must be at least 1"),
        (opts(MAX_WORKERS + 1), "more than an Indexed Job runs"),
        (
            RenderOptions {
                namespace: "Load Tests".into(),
                ..opts(1)
            },
            "--namespace `Load Tests`",
        ),
        (
            RenderOptions {
                cpu: "0".into(),
                ..opts(1)
            },
            "--cpu `0` is zero",
        ),
        (
            RenderOptions {
                memory: "2 GB".into(),
                ..opts(1)
            },
            "--memory `2 GB` is not a quantity",
        ),
        (
            RenderOptions {
                image: Some("my image".into()),
                ..opts(1)
            },
            "--image `my image`",
        ),
        (
            RenderOptions {
                coordinator_port: 0,
                ..opts(1)
            },
            "--coordinator-port",
        ),
        (
            RenderOptions {
                region_label: "no spaces/here please".into(),
                ..opts(1)
            },
            "--region-label",
        ),
    ];
    for (o, want) in bad {
        let err = render(&s, &src, &o).unwrap_err().to_string();
        assert!(err.contains(want), "{err} lacks {want}");
    }
}

#[test]
fn region_names_must_be_label_values() {
    let text = REGIONS.replace("  eu:", "  \"eu:west\":");
    let (s, src) = load(&text);
    let err = render(&s, &src, &opts(2)).unwrap_err();
    assert!(matches!(err, K8sError::RegionValue { .. }), "{err}");
}

#[test]
fn the_default_image_is_this_version() {
    let (s, src) = load(PLAIN);
    let m = render(&s, &src, &opts(1)).unwrap();
    let pod = jobs(&m)[0].spec.clone().unwrap().template.spec.unwrap();
    assert_eq!(
        pod.containers[0].image.as_deref(),
        Some(format!("flashcrowd:{}", env!("CARGO_PKG_VERSION")).as_str())
    );
}
