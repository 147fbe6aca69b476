//! The command lines the rendered pods run: the one place that knows the
//! flags of the coordinator and worker modes.
//!
//! Owns the argument names and the small `sh -c` wrappers around them.
//! Those modes are defined by `flashcrowd run` and `flashcrowd worker`; if
//! their flags change, change the constants here and nothing else. Must not
//! build Kubernetes objects.

use super::names::sh_quote;

/// The binary on the image's `PATH`.
pub const BINARY: &str = "flashcrowd";

/// `flashcrowd run` as a coordinator waiting for workers elsewhere.
pub const RUN: &str = "run";
/// How many workers the coordinator waits for.
pub const RUN_WORKERS: &str = "--workers";
/// Where the coordinator listens for workers (`ADDR:PORT`).
pub const RUN_LISTEN: &str = "--coordinator-listen";
/// Workers are started by someone else (here: the Indexed Jobs), not by
/// the coordinator.
pub const RUN_REMOTE_WORKERS: &str = "--remote-workers";
/// The report directory.
pub const RUN_OUT: &str = "--out";

/// `flashcrowd worker`.
pub const WORKER: &str = "worker";
/// The coordinator's `HOST:PORT`.
pub const WORKER_COORDINATOR: &str = "--coordinator";
/// This worker's global index, 0-based.
pub const WORKER_INDEX: &str = "--index";
/// Total number of workers in the run.
pub const WORKER_WORKERS: &str = "--workers";
/// The region whose traffic this worker sends.
pub const WORKER_REGION: &str = "--region";

/// The variable the Indexed Job controller sets in each pod to the pod's
/// completion index (0 to completions − 1).
pub const INDEX_ENV: &str = "JOB_COMPLETION_INDEX";

/// The coordinator's `sh -c` script.
///
/// The run is started in the background so a SIGTERM to the pod (the shell
/// is PID 1 and would otherwise swallow it) reaches flashcrowd, which then
/// writes its partial report. Afterwards the container lingers for
/// `linger_secs` so the report can be copied out with `kubectl cp` (a
/// finished container cannot be exec'd into); a SIGTERM during that wait
/// ends the pod at once. The container exits with the run's exit code.
pub fn coordinator_script(
    scenario: &str,
    workers: u32,
    port: u16,
    out: &str,
    linger_secs: u32,
    namespace: &str,
) -> String {
    let run = [
        BINARY,
        RUN,
        &sh_quote(scenario),
        RUN_WORKERS,
        &workers.to_string(),
        RUN_LISTEN,
        &format!("0.0.0.0:{port}"),
        RUN_REMOTE_WORKERS,
        RUN_OUT,
        &sh_quote(out),
    ]
    .join(" ");
    format!(
        "{run} &\n\
         child=$!\n\
         trap 'kill -TERM \"$child\" 2>/dev/null' TERM INT\n\
         wait \"$child\"\n\
         # A trapped signal cuts the first wait short; the second returns the\n\
         # run's own exit code, at once if it has already ended.\n\
         wait \"$child\"; code=$?\n\
         echo \"flashcrowd: run ended with exit code $code; the report stays in {out_q} for \
         {linger_secs}s: kubectl -n {ns} cp $HOSTNAME:{out_q} ./reports\"\n\
         trap 'exit \"$code\"' TERM INT\n\
         sleep {linger_secs} &\n\
         wait $!\n\
         exit \"$code\"\n",
        out_q = sh_quote(out),
        ns = sh_quote(namespace),
    )
}

/// A worker's `sh -c` script. The shell only computes the global index
/// (`offset` + the pod's completion index) and then `exec`s the worker, so
/// signals go straight to it.
pub fn worker_script(
    scenario: &str,
    coordinator: &str,
    offset: u32,
    workers: u32,
    region: Option<&str>,
) -> String {
    let index = if offset == 0 {
        format!("\"${INDEX_ENV}\"")
    } else {
        format!("\"$(({offset} + {INDEX_ENV}))\"")
    };
    let mut line = [
        "exec",
        BINARY,
        WORKER,
        &sh_quote(scenario),
        WORKER_COORDINATOR,
        &sh_quote(coordinator),
        WORKER_INDEX,
        &index,
        WORKER_WORKERS,
        &workers.to_string(),
    ]
    .join(" ");
    if let Some(region) = region {
        line.push_str(&format!(" {WORKER_REGION} {}", sh_quote(region)));
    }
    line.push('\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_index_is_the_offset_plus_the_completion_index() {
        assert_eq!(
            worker_script("/scenario/s.yaml", "c:7070", 0, 4, None),
            "exec flashcrowd worker /scenario/s.yaml --coordinator c:7070 --index \
             \"$JOB_COMPLETION_INDEX\" --workers 4\n"
        );
        assert_eq!(
            worker_script("/scenario/s.yaml", "c:7070", 3, 4, Some("eu west")),
            "exec flashcrowd worker /scenario/s.yaml --coordinator c:7070 --index \
             \"$((3 + JOB_COMPLETION_INDEX))\" --workers 4 --region 'eu west'\n"
        );
    }

    #[test]
    fn coordinator_runs_then_lingers_with_the_runs_exit_code() {
        let s = coordinator_script("/scenario/a b.yaml", 3, 7070, "/reports/a", 600, "ns");
        assert!(s.starts_with(
            "flashcrowd run '/scenario/a b.yaml' --workers 3 --coordinator-listen \
             0.0.0.0:7070 --remote-workers --out /reports/a &\n"
        ));
        assert!(s.contains("sleep 600 &"));
        assert!(s.ends_with("exit \"$code\"\n"));
    }

    /// The script must be valid `sh`: parse it without running it.
    #[test]
    fn scripts_parse_as_posix_shell() {
        let scripts = [
            coordinator_script("/scenario/it's.yaml", 3, 7070, "/reports/a", 600, "ns"),
            worker_script("/scenario/s.yaml", "c:7070", 3, 4, Some("eu")),
        ];
        for s in scripts {
            let Ok(out) = std::process::Command::new("sh")
                .args(["-n", "-c", &s])
                .output()
            else {
                return; // no shell here: nothing to check against
            };
            assert!(
                out.status.success(),
                "{s}\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}
