//! `flashcrowd k8s render`: print or write the Kubernetes manifests of a
//! distributed run.
//!
//! Owns the flags and where the YAML goes (stdout or one file per object).
//! The objects and every rule about them belong to `crate::k8s`.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use super::exit;
use crate::k8s::{self, Manifest, RenderOptions};
use crate::scenario;

pub(super) const K8S_HELP: &str = "\
Examples:
  flashcrowd k8s render scenarios/flash-sale-link-drop.yaml --workers 8 \\
      --image registry.example/flashcrowd:0.1.0 | kubectl apply -f -
  flashcrowd k8s render sale.yaml --workers 4 --out k8s/ && kubectl apply -f k8s/

After the run the coordinator keeps its pod up for 10 minutes; copy the report:
  kubectl -n flashcrowd cp <coordinator-pod>:/reports ./reports";

#[derive(Debug, Args)]
pub(super) struct K8sArgs {
    #[command(subcommand)]
    command: K8sCommand,
}

#[derive(Debug, Subcommand)]
enum K8sCommand {
    /// Write the manifests of a distributed run: a Namespace, a ConfigMap
    /// with the scenario and its files, the coordinator (Job + Service) and
    /// the workers (one Indexed Job per region with traffic).
    #[command(after_help = K8S_HELP)]
    Render(RenderArgs),
}

#[derive(Debug, Args)]
struct RenderArgs {
    /// Scenario file (YAML).
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Number of worker pods. With regions, they are split in proportion to
    /// each region's share of the traffic, at least one per region.
    #[arg(long, value_name = "N")]
    workers: u32,
    /// Container image with the flashcrowd binary [default:
    /// flashcrowd:<this version>].
    #[arg(long, value_name = "IMG")]
    image: Option<String>,
    /// Namespace of every object (rendered as a Namespace too).
    #[arg(long, value_name = "NS", default_value = "flashcrowd")]
    namespace: String,
    /// Write one file per object into DIR instead of a YAML stream to
    /// stdout (`-`: stdout).
    #[arg(long, value_name = "DIR|-")]
    out: Option<PathBuf>,
    /// Port the coordinator listens on for workers.
    #[arg(long, value_name = "P", default_value_t = 7070)]
    coordinator_port: u16,
    /// CPU of each pod, requested and limited alike (Guaranteed QoS).
    #[arg(long, value_name = "C", default_value = "2")]
    cpu: String,
    /// Memory of each pod, requested and limited alike.
    #[arg(long, value_name = "M", default_value = "2Gi")]
    memory: String,
    /// Node label whose value must equal a region's name for that region's
    /// workers to run on the node.
    #[arg(
        long,
        value_name = "KEY",
        default_value = "topology.kubernetes.io/region"
    )]
    region_label: String,
    /// Where the coordinator and the workers export over OpenTelemetry
    /// (set as `OTEL_EXPORTER_OTLP_ENDPOINT` / `_PROTOCOL` on every pod).
    #[command(flatten)]
    otlp: super::OtlpFlags,
}

pub(super) fn run(args: &K8sArgs) -> u8 {
    match &args.command {
        K8sCommand::Render(r) => render(r),
    }
}

fn render(args: &RenderArgs) -> u8 {
    let (scenario, sources) = match scenario::load_with_sources(&args.file) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("{e}");
            return exit::INVALID_INPUT;
        }
    };
    // The same check a run makes, so a bad URL fails here, not in the pods.
    if let Err(e) = crate::telemetry::resolve(
        args.otlp.otlp.as_deref(),
        args.otlp.otlp_protocol.as_deref(),
        &|_| None,
    ) {
        eprintln!("error: {e}");
        return exit::INVALID_INPUT;
    }
    let opts = RenderOptions {
        workers: args.workers,
        image: args.image.clone(),
        namespace: args.namespace.clone(),
        coordinator_port: args.coordinator_port,
        cpu: args.cpu.clone(),
        memory: args.memory.clone(),
        region_label: args.region_label.clone(),
        env: otlp_env(&args.otlp),
    };
    let manifests = match k8s::render(&scenario, &sources, &opts) {
        Ok(m) => m,
        Err(e @ k8s::K8sError::Yaml(_)) => {
            eprintln!("error: {e}");
            return exit::HARNESS_FAILURE;
        }
        Err(e) => {
            eprintln!("error: {e}");
            return exit::INVALID_INPUT;
        }
    };
    let written = match args.out.as_deref() {
        Some(dir) if dir != Path::new("-") => write_dir(dir, &manifests),
        _ => write_stdout(&manifests),
    };
    match written {
        Ok(()) => exit::PASS,
        Err(e) => {
            eprintln!("error: {e}");
            exit::HARNESS_FAILURE
        }
    }
}

/// The pods' OpenTelemetry environment: what `--otlp` and
/// `--otlp-protocol` would set on a command line.
fn otlp_env(flags: &super::OtlpFlags) -> Vec<(String, String)> {
    let mut env = Vec::new();
    if let Some(url) = &flags.otlp {
        env.push(("OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(), url.clone()));
    }
    if let Some(p) = &flags.otlp_protocol {
        env.push(("OTEL_EXPORTER_OTLP_PROTOCOL".to_owned(), p.clone()));
    }
    env
}

fn write_stdout(manifests: &[Manifest]) -> anyhow::Result<()> {
    let yaml = k8s::to_yaml_stream(manifests)?;
    let mut out = std::io::stdout().lock();
    out.write_all(yaml.as_bytes())?;
    out.flush()?;
    Ok(())
}

fn write_dir(dir: &Path, manifests: &[Manifest]) -> anyhow::Result<()> {
    use anyhow::Context as _;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (i, m) in manifests.iter().enumerate() {
        let path = dir.join(m.file_name(i));
        std::fs::write(&path, m.to_yaml()?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    eprintln!(
        "wrote {} manifests to {}; apply them with `kubectl apply -f {}`",
        manifests.len(),
        dir.display(),
        dir.display()
    );
    Ok(())
}
