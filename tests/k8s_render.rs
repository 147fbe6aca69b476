//! `flashcrowd k8s render` end to end: the YAML parses back into the
//! typed Kubernetes objects with the fields a distributed run depends on,
//! a two-region render is pinned byte for byte, and bad input exits 2.
//!
//! Rewrite the pinned YAML after an intended change with
//! `FLASHCROWD_UPDATE_SNAPSHOTS=1 cargo test --test k8s_render`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, PodSpec, Service};
use serde::Deserialize;

const FIXTURE: &str = "tests/fixtures/k8s/two-regions.yaml";
const SNAPSHOT: &str = "tests/fixtures/k8s/two-regions.expected.yaml";

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn render(extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_flashcrowd"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["k8s", "render", FIXTURE, "--image", "flashcrowd:test"])
        .args(extra)
        .output()
        .unwrap()
}

fn render_ok(extra: &[&str]) -> String {
    let out = render(extra);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Every object of a render, each parsed into its Kubernetes type.
#[derive(Debug, Default)]
struct Objects {
    namespaces: Vec<Namespace>,
    configmaps: Vec<ConfigMap>,
    services: Vec<Service>,
    jobs: Vec<Job>,
}

impl Objects {
    fn parse(yaml: &str) -> Objects {
        let mut o = Objects::default();
        for doc in serde_norway::Deserializer::from_str(yaml) {
            let value = serde_norway::Value::deserialize(doc).unwrap();
            let kind = value["kind"].as_str().unwrap().to_owned();
            match kind.as_str() {
                "Namespace" => o.namespaces.push(serde_norway::from_value(value).unwrap()),
                "ConfigMap" => o.configmaps.push(serde_norway::from_value(value).unwrap()),
                "Service" => o.services.push(serde_norway::from_value(value).unwrap()),
                "Job" => o.jobs.push(serde_norway::from_value(value).unwrap()),
                other => panic!("unexpected kind {other}"),
            }
        }
        o
    }

    fn job(&self, name: &str) -> &Job {
        self.jobs
            .iter()
            .find(|j| j.metadata.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("no job {name}"))
    }
}

fn pod(job: &Job) -> &PodSpec {
    job.spec.as_ref().unwrap().template.spec.as_ref().unwrap()
}

fn script(job: &Job) -> &str {
    let command = pod(job).containers[0].command.as_ref().unwrap();
    assert_eq!(command[..2], ["sh", "-c"]);
    &command[2]
}

#[test]
fn rendered_yaml_parses_into_kubernetes_objects() {
    let o = Objects::parse(&render_ok(&["--workers", "5"]));
    assert_eq!(o.namespaces.len(), 1);
    assert_eq!(o.configmaps.len(), 1);
    assert_eq!(o.services.len(), 1);
    // The coordinator and one worker Job per region.
    assert_eq!(o.jobs.len(), 3);
    for j in &o.jobs {
        assert_eq!(j.metadata.namespace.as_deref(), Some("flashcrowd"));
    }
    let svc = o.services[0].spec.as_ref().unwrap();
    assert_eq!(svc.ports.as_ref().unwrap()[0].port, 7070);
}

#[test]
fn workers_are_indexed_jobs_whose_failed_indexes_stay_failed() {
    let o = Objects::parse(&render_ok(&["--workers", "5"]));
    let mut total = 0;
    for name in [
        "link-drop-two-regions-workers-sea",
        "link-drop-two-regions-workers-eu",
    ] {
        let job = o.job(name);
        let spec = job.spec.as_ref().unwrap();
        assert_eq!(spec.completion_mode.as_deref(), Some("Indexed"));
        assert_eq!(spec.backoff_limit_per_index, Some(0));
        assert_eq!(spec.parallelism, spec.completions);
        assert_eq!(spec.max_failed_indexes, spec.completions);
        let rules = &spec.pod_failure_policy.as_ref().unwrap().rules;
        assert!(!rules.is_empty());
        // No rule may ever replace a failed worker.
        assert!(rules.iter().all(|r| r.action == "FailIndex"));
        assert!(rules.iter().any(|r| r
            .on_pod_conditions
            .as_ref()
            .is_some_and(|c| c.iter().any(|c| c.type_ == "DisruptionTarget"))));
        let pod = pod(job);
        assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
        assert!(script(job).contains("JOB_COMPLETION_INDEX"));
        assert!(script(job).contains("--workers 5"));
        total += spec.completions.unwrap();
    }
    assert_eq!(total, 5);
}

#[test]
fn each_region_runs_on_its_own_nodes_with_disjoint_indexes() {
    let o = Objects::parse(&render_ok(&[
        "--workers",
        "5",
        "--region-label",
        "example.com/zone",
    ]));
    let sea = o.job("link-drop-two-regions-workers-sea");
    let eu = o.job("link-drop-two-regions-workers-eu");
    // 70% and 30% of five workers.
    assert_eq!(sea.spec.as_ref().unwrap().completions, Some(4));
    assert_eq!(eu.spec.as_ref().unwrap().completions, Some(1));
    for (job, region) in [(sea, "sea"), (eu, "eu")] {
        let selector = pod(job).node_selector.as_ref().unwrap();
        assert_eq!(
            selector.get("example.com/zone").map(String::as_str),
            Some(region)
        );
        assert!(script(job).contains(&format!("--region {region}\n")));
    }
    assert!(script(sea).contains("--index \"$JOB_COMPLETION_INDEX\""));
    assert!(script(eu).contains("--index \"$((4 + JOB_COMPLETION_INDEX))\""));
}

#[test]
fn pods_are_guaranteed_and_locked_down() {
    let o = Objects::parse(&render_ok(&[
        "--workers",
        "2",
        "--cpu",
        "1500m",
        "--memory",
        "3Gi",
    ]));
    for job in &o.jobs {
        let pod = pod(job);
        assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
        assert_eq!(
            pod.security_context.as_ref().unwrap().run_as_non_root,
            Some(true)
        );
        let c = &pod.containers[0];
        let res = c.resources.as_ref().unwrap();
        assert_eq!(res.requests, res.limits);
        let req = res.requests.as_ref().unwrap();
        assert_eq!(req["cpu"].0, "1500m");
        assert_eq!(req["memory"].0, "3Gi");
        let sc = c.security_context.as_ref().unwrap();
        assert_eq!(sc.read_only_root_filesystem, Some(true));
        let mounts = c.volume_mounts.as_ref().unwrap();
        assert!(mounts.iter().any(|m| m.mount_path == "/tmp"));
    }
    let coordinator = o.job("link-drop-two-regions-coordinator");
    let mounts = pod(coordinator).containers[0]
        .volume_mounts
        .clone()
        .unwrap();
    assert!(mounts.iter().any(|m| m.mount_path == "/reports"));
    let script = script(coordinator);
    assert!(script.starts_with(
        "flashcrowd run /scenario/two-regions.yaml --workers 2 --coordinator-listen \
         0.0.0.0:7070 --remote-workers --out /reports/link-drop-two-regions &"
    ));
    assert!(script.contains("sleep 600"));
}

#[test]
fn the_configmap_carries_the_scenario_and_its_files_byte_for_byte() {
    let o = Objects::parse(&render_ok(&["--workers", "2"]));
    let data = o.configmaps[0].data.as_ref().unwrap();
    for (key, file) in [
        ("two-regions.yaml", FIXTURE),
        ("data.buyers.csv", "tests/fixtures/k8s/data/buyers.csv"),
        (
            "paths.eu-office.yaml",
            "tests/fixtures/k8s/paths/eu-office.yaml",
        ),
    ] {
        let bytes = std::fs::read(repo(file)).unwrap();
        assert_eq!(data[key].as_bytes(), bytes, "{key}");
    }
    // The shipped profile is compiled in and not shipped.
    assert_eq!(data.len(), 3);
    // Each file is mounted where the scenario looks for it.
    let coordinator = o.job("link-drop-two-regions-coordinator");
    let volume = pod(coordinator)
        .volumes
        .as_ref()
        .unwrap()
        .iter()
        .find_map(|v| v.config_map.as_ref())
        .unwrap();
    let paths: Vec<(&str, &str)> = volume
        .items
        .as_ref()
        .unwrap()
        .iter()
        .map(|i| (i.key.as_str(), i.path.as_str()))
        .collect();
    assert!(paths.contains(&("data.buyers.csv", "data/buyers.csv")));
    assert!(paths.contains(&("paths.eu-office.yaml", "paths/eu-office.yaml")));
}

#[test]
fn two_region_render_matches_the_snapshot() {
    let got = render_ok(&["--workers", "5", "--namespace", "rehearsal"]);
    let path = repo(SNAPSHOT);
    if std::env::var_os("FLASHCROWD_UPDATE_SNAPSHOTS").is_some_and(|v| v == "1") {
        std::fs::write(&path, &got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    if got != want {
        let line = got
            .lines()
            .zip(want.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| got.lines().count().min(want.lines().count()));
        panic!(
            "the render differs from {SNAPSHOT} from line {}:\n  got:  {:?}\n  want: {:?}\n\
             If the change is intended, rerun with FLASHCROWD_UPDATE_SNAPSHOTS=1.",
            line + 1,
            got.lines().nth(line),
            want.lines().nth(line)
        );
    }
}

#[test]
fn out_dir_holds_one_file_per_object_in_apply_order() {
    let dir = std::env::temp_dir().join(format!("flashcrowd-k8s-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let stream = render_ok(&["--workers", "3"]);
    let out = render(&["--workers", "3", "--out", dir.to_str().unwrap()]);
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "00-namespace-flashcrowd.yaml",
            "01-configmap-link-drop-two-regions-scenario.yaml",
            "02-service-link-drop-two-regions-coordinator.yaml",
            "03-job-link-drop-two-regions-coordinator.yaml",
            "04-job-link-drop-two-regions-workers-sea.yaml",
            "05-job-link-drop-two-regions-workers-eu.yaml",
        ]
    );
    let joined: String = names
        .iter()
        .map(|n| format!("---\n{}", std::fs::read_to_string(dir.join(n)).unwrap()))
        .collect();
    assert_eq!(joined, stream);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn invalid_input_exits_2_with_a_message() {
    let cases: [(&[&str], &str); 4] = [
        (&["--workers", "0"], "--workers must be at least 1"),
        (&["--workers", "1"], "need at least one worker each"),
        (
            &["--workers", "2", "--memory", "lots"],
            "--memory `lots` is not a quantity",
        ),
        (
            &["--workers", "2", "--namespace", "Load_Tests"],
            "--namespace `Load_Tests`",
        ),
    ];
    for (args, want) in cases {
        let out = render(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{args:?}: {err}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_flashcrowd"))
        .args([
            "k8s",
            "render",
            "tests/fixtures/k8s/missing.yaml",
            "--workers",
            "2",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn otlp_flags_become_the_exporter_environment_of_every_pod() {
    let o = Objects::parse(&render_ok(&[
        "--workers",
        "4",
        "--otlp",
        "http://otel-collector.observability:4318",
        "--otlp-protocol",
        "http/protobuf",
    ]));
    assert_eq!(o.jobs.len(), 3);
    for j in &o.jobs {
        let env = pod(j).containers[0].env.clone().unwrap_or_default();
        let pairs: Vec<(String, String)> = env
            .into_iter()
            .map(|e| (e.name, e.value.unwrap_or_default()))
            .collect();
        assert_eq!(
            pairs,
            [
                (
                    "OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(),
                    "http://otel-collector.observability:4318".to_owned()
                ),
                (
                    "OTEL_EXPORTER_OTLP_PROTOCOL".to_owned(),
                    "http/protobuf".to_owned()
                ),
            ],
            "{:?}",
            j.metadata.name
        );
    }
    // Without the flags the pods carry no exporter settings at all.
    let plain = Objects::parse(&render_ok(&["--workers", "4"]));
    assert!(plain
        .jobs
        .iter()
        .all(|j| pod(j).containers[0].env.is_none()));
    // A URL a run would refuse is refused here, before any manifest.
    let bad = render(&["--workers", "4", "--otlp", "ftp://collector"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(bad.stdout.is_empty());
}
