//! The CI definitions in `examples/ci/`: the structure of the GitHub Actions
//! workflow and of the GitLab CI job (gate, reports kept whatever the
//! verdict, JUnit published, baseline compared, the job failing with the
//! gate's exit code), every `flashcrowd` command line in them against the
//! binary's own `--help`, and both files against their published JSON
//! Schemas when `check-jsonschema` is installed.
//!
//! The files are read with `serde_norway` (YAML 1.2, so GitHub's `on:` key
//! stays the string `on`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_norway::Value;

const GITHUB: &str = "examples/ci/github-actions.yml";
const GITLAB: &str = "examples/ci/gitlab-ci.yml";

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn load(rel: &str) -> Value {
    let text = std::fs::read_to_string(repo(rel)).unwrap();
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn str_of(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

/// The text of every string in `v` (keys excluded), one per line: what a
/// step's `env`, `with` and `run` say, to look for a reference in.
fn all_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Sequence(items) => items.iter().map(all_text).collect::<Vec<_>>().join("\n"),
        Value::Mapping(m) => m.values().map(all_text).collect::<Vec<_>>().join("\n"),
        Value::Tagged(t) => all_text(&t.value),
        _ => String::new(),
    }
}

/// A `flashcrowd` command line found in a shell script.
#[derive(Debug)]
struct Invocation {
    /// The whole (continuation-joined) script line, for messages.
    line: String,
    subcommand: String,
    /// Tokens after the subcommand, up to the end of the command.
    words: Vec<String>,
}

impl Invocation {
    /// Every `--flag` used, without its `=value`.
    fn flags(&self) -> Vec<&str> {
        self.words
            .iter()
            .filter(|w| w.starts_with("--"))
            .map(|w| w.split('=').next().unwrap())
            .collect()
    }

    /// The value of `--flag VALUE` or `--flag=VALUE`.
    fn value_of(&self, flag: &str) -> Option<&str> {
        for (i, w) in self.words.iter().enumerate() {
            if w == flag {
                return self.words.get(i + 1).map(String::as_str);
            }
            if let Some(v) = w.strip_prefix(flag).and_then(|r| r.strip_prefix('=')) {
                return Some(v);
            }
        }
        None
    }

    /// Positional arguments: words that are neither a flag nor the value
    /// of the flag before them. (Every flag the examples use before a
    /// positional takes a value.)
    fn positionals(&self) -> Vec<&str> {
        let mut out = Vec::new();
        let mut after_flag = false;
        for w in &self.words {
            if w.starts_with("--") {
                after_flag = !w.contains('=');
            } else if after_flag {
                after_flag = false;
            } else {
                out.push(w.as_str());
            }
        }
        out
    }
}

/// Shell words that end a command.
fn ends_command(word: &str) -> bool {
    matches!(
        word,
        "||" | "&&" | "|" | ";" | ">" | ">>" | "2>" | "2>&1" | "&" | "#"
    ) || word.starts_with('>')
}

/// Every `flashcrowd` command line of a shell script: a word `flashcrowd`
/// or `.../flashcrowd` starts one, the next word is its subcommand.
fn invocations(script: &str) -> Vec<Invocation> {
    let joined = script.replace("\\\n", " ");
    let mut found = Vec::new();
    for line in joined.lines() {
        let code = line.trim();
        if code.starts_with('#') {
            continue;
        }
        let words: Vec<String> = code
            .split_whitespace()
            .map(|w| w.trim_matches(|c| c == '"' || c == '\'').to_string())
            .collect();
        for (i, w) in words.iter().enumerate() {
            if w != "flashcrowd" && !w.ends_with("/flashcrowd") {
                continue;
            }
            let mut rest = Vec::new();
            for word in &words[i + 1..] {
                if ends_command(word) {
                    break;
                }
                let last = word.ends_with(';');
                rest.push(word.trim_end_matches(';').to_string());
                if last {
                    break;
                }
            }
            assert!(
                !rest.is_empty(),
                "`flashcrowd` without a subcommand: {line}"
            );
            found.push(Invocation {
                line: code.to_string(),
                subcommand: rest.remove(0),
                words: rest,
            });
        }
    }
    found
}

fn github() -> Value {
    load(GITHUB)
}

/// The workflow's single job.
fn github_job(wf: &Value) -> &Value {
    let jobs = wf["jobs"].as_mapping().expect("jobs");
    assert_eq!(jobs.len(), 1, "one job");
    jobs.values().next().unwrap()
}

fn github_steps(wf: &Value) -> &Vec<Value> {
    github_job(wf)["steps"].as_sequence().expect("steps")
}

/// The one step whose action is `name@...`.
fn step_using<'a>(steps: &'a [Value], name: &str) -> &'a Value {
    let found: Vec<&Value> = steps
        .iter()
        .filter(|s| str_of(&s["uses"]).split('@').next() == Some(name))
        .collect();
    assert_eq!(found.len(), 1, "one step uses {name}");
    found[0]
}

/// The step whose `run` holds `flashcrowd SUBCOMMAND`, with that command.
fn step_running<'a>(steps: &'a [Value], subcommand: &str) -> (&'a Value, Invocation) {
    let mut found: Vec<(&Value, Invocation)> = steps
        .iter()
        .flat_map(|s| {
            invocations(str_of(&s["run"]))
                .into_iter()
                .map(move |i| (s, i))
        })
        .filter(|(_, i)| i.subcommand == subcommand)
        .collect();
    assert_eq!(found.len(), 1, "one step runs `flashcrowd {subcommand}`");
    found.pop().unwrap()
}

fn runs_always(step: &Value) -> bool {
    str_of(&step["if"]).contains("always()")
}

fn gitlab() -> Value {
    load(GITLAB)
}

/// The file's single job: the top-level mapping with a `script`.
fn gitlab_job(ci: &Value) -> &Value {
    let jobs: Vec<&Value> = ci
        .as_mapping()
        .expect("a mapping")
        .values()
        .filter(|v| v.get("script").is_some())
        .collect();
    assert_eq!(jobs.len(), 1, "one job");
    jobs[0]
}

/// The job's script lines (`before_script` and `script`, as GitLab runs
/// them in one shell).
fn gitlab_script(job: &Value) -> Vec<String> {
    ["before_script", "script"]
        .iter()
        .filter_map(|k| job.get(*k))
        .flat_map(|v| v.as_sequence().expect("a list of lines").iter())
        .map(|l| str_of(l).to_string())
        .collect()
}

/// Every shell script of both files.
fn all_scripts() -> Vec<(&'static str, String)> {
    let mut out: Vec<(&str, String)> = github_steps(&github())
        .iter()
        .filter_map(|s| s["run"].as_str())
        .map(|r| (GITHUB, r.to_string()))
        .collect();
    let ci = gitlab();
    let job = gitlab_job(&ci);
    out.extend(gitlab_script(job).into_iter().map(|l| (GITLAB, l)));
    if let Some(after) = job.get("after_script") {
        out.push((GITLAB, all_text(after)));
    }
    out
}

/// Whether `help` mentions `flag` as a whole flag (`--out` is not
/// `--out-dir`).
fn mentions_flag(help: &str, flag: &str) -> bool {
    help.match_indices(flag).any(|(at, _)| {
        let next = help[at + flag.len()..].chars().next();
        !matches!(next, Some(c) if c.is_ascii_alphanumeric() || c == '-' || c == '_')
    })
}

#[test]
fn the_github_workflow_runs_on_pull_requests_pushes_to_main_and_by_hand() {
    let wf = github();
    let on = &wf["on"];
    assert!(on.get("pull_request").is_some(), "on: pull_request");
    assert!(
        on.get("workflow_dispatch").is_some(),
        "on: workflow_dispatch"
    );
    let branches: Vec<&str> = on["push"]["branches"]
        .as_sequence()
        .expect("on: push: branches")
        .iter()
        .map(str_of)
        .collect();
    assert_eq!(branches, ["main"]);
    let job = github_job(&wf);
    assert!(!str_of(&job["runs-on"]).is_empty(), "runs-on");
}

#[test]
fn the_github_workflow_builds_flashcrowd_with_a_cached_stable_toolchain() {
    let wf = github();
    let steps = github_steps(&wf);
    assert!(str_of(&steps[0]["uses"]).starts_with("actions/checkout@"));
    assert!(str_of(&step_using(steps, "dtolnay/rust-toolchain")["uses"]).ends_with("@stable"));
    step_using(steps, "Swatinem/rust-cache");
    assert!(
        steps
            .iter()
            .any(|s| str_of(&s["run"]).contains("cargo build --release --locked")),
        "a step builds with `cargo build --release --locked`"
    );
}

#[test]
fn the_github_gate_writes_junit_and_annotations_and_keeps_its_exit_code_for_later() {
    let wf = github();
    let steps = github_steps(&wf);
    let (gate, run) = step_running(steps, "run");
    assert!(
        run.line.starts_with("./target/release/flashcrowd "),
        "{}",
        run.line
    );
    assert_eq!(run.positionals(), ["scenarios/ci-release-gate.yaml"]);
    assert_eq!(run.value_of("--out"), Some("reports/ci"));
    let formats: Vec<&str> = run
        .value_of("--format")
        .expect("--format")
        .split(',')
        .collect();
    for f in ["json", "junit", "md", "github"] {
        assert!(formats.contains(&f), "--format has {f}: {formats:?}");
    }
    // The exit code must not stop the job before the reports are published:
    // either the step may fail, or the script saves the code as an output.
    let script = str_of(&gate["run"]);
    let keeps_going = gate["continue-on-error"].as_bool() == Some(true)
        || (script.contains("set +e") && script.contains("$GITHUB_OUTPUT"));
    assert!(keeps_going, "the gate step keeps its exit code: {script}");
    assert!(!str_of(&gate["id"]).is_empty(), "the gate step has an id");
}

#[test]
fn the_github_workflow_publishes_summary_artifact_and_junit_whatever_the_verdict() {
    let wf = github();
    let steps = github_steps(&wf);
    let (_, run) = step_running(steps, "run");
    let out = run.value_of("--out").unwrap();

    let summary = steps
        .iter()
        .find(|s| str_of(&s["run"]).contains("$GITHUB_STEP_SUMMARY"))
        .expect("a step writes the job summary");
    assert!(str_of(&summary["run"]).contains(&format!("{out}/summary.md")));
    assert!(runs_always(summary), "the summary step runs always");

    let upload = step_using(steps, "actions/upload-artifact");
    assert!(str_of(&upload["uses"]).ends_with("@v4"));
    assert!(runs_always(upload), "the upload runs always");
    assert_eq!(str_of(&upload["with"]["path"]), out);

    let junit = step_using(steps, "mikepenz/action-junit-report");
    assert!(runs_always(junit), "the JUnit report is published always");
    assert_eq!(
        str_of(&junit["with"]["report_paths"]),
        format!("{out}/junit.xml")
    );
}

#[test]
fn the_github_baseline_is_the_artifact_main_uploads_and_is_compared_with_the_run() {
    let wf = github();
    let steps = github_steps(&wf);
    let (_, run) = step_running(steps, "run");
    let out = run.value_of("--out").unwrap();

    let download = step_using(steps, "dawidd6/action-download-artifact");
    let with = &download["with"];
    assert_eq!(str_of(&with["branch"]), "main");
    assert_eq!(str_of(&with["if_no_artifact_found"]), "warn");
    // What a run uploads is what the next one downloads: on main, the
    // upload is the next baseline.
    let upload = step_using(steps, "actions/upload-artifact");
    assert!(!str_of(&with["name"]).is_empty(), "the baseline has a name");
    assert_eq!(with["name"], upload["with"]["name"]);

    let (compare_step, compare) = step_running(steps, "compare");
    assert_eq!(
        compare.positionals(),
        [str_of(&with["path"]), out],
        "compare BASELINE CANDIDATE: {}",
        compare.line
    );
    let script = str_of(&compare_step["run"]);
    assert!(
        script.contains("::notice"),
        "without a baseline the comparison is skipped with a notice"
    );
    let download_id = str_of(&download["id"]);
    assert!(
        all_text(compare_step).contains(&format!("steps.{download_id}.outputs.found_artifact")),
        "the compare step asks whether a baseline was found"
    );
}

#[test]
fn the_github_job_ends_by_exiting_with_the_gates_code_or_the_regression() {
    let wf = github();
    let steps = github_steps(&wf);
    let (gate, _) = step_running(steps, "run");
    let (compare, _) = step_running(steps, "compare");
    let last = steps.last().unwrap();
    let text = all_text(last);
    assert!(
        str_of(&last["run"]).contains("exit "),
        "the last step exits"
    );
    for step in [gate, compare] {
        let id = str_of(&step["id"]);
        assert!(!id.is_empty(), "{step:?} has an id");
        assert!(
            text.contains(&format!("steps.{id}.outputs.code")),
            "the last step reads the exit code of `{id}`: {text}"
        );
    }
}

#[test]
fn the_gitlab_job_runs_the_gate_and_compares_with_the_default_branchs_last_good_run() {
    let ci = gitlab();
    let job = gitlab_job(&ci);
    assert!(str_of(&job["image"]).starts_with("rust:"), "a Rust image");
    assert!(job.get("rules").is_some(), "rules");
    assert!(
        job.get("only").is_none() && job.get("except").is_none(),
        "rules, not only/except"
    );

    let script = gitlab_script(job);
    let all = script.join("\n");
    assert!(all.contains("cargo build --release --locked"));
    let found = invocations(&all);
    let run = found
        .iter()
        .find(|i| i.subcommand == "run")
        .expect("flashcrowd run");
    let out = run.value_of("--out").expect("--out");
    assert!(run
        .value_of("--format")
        .expect("--format")
        .split(',')
        .any(|f| f == "junit"));
    let compare = found
        .iter()
        .find(|i| i.subcommand == "compare")
        .expect("flashcrowd compare");
    assert_eq!(
        compare.positionals().get(1).copied(),
        Some(out),
        "{}",
        compare.line
    );

    assert!(all.contains("JOB-TOKEN: $CI_JOB_TOKEN"));
    assert!(all.contains(
        "$CI_API_V4_URL/projects/$CI_PROJECT_ID/jobs/artifacts/$CI_DEFAULT_BRANCH/download?job=$CI_JOB_NAME"
    ));
    let base = compare.positionals()[0];
    assert!(
        all.contains(&format!("[ -f {base}/report.json ]")),
        "compare only when the baseline exists"
    );
}

#[test]
fn the_gitlab_job_keeps_its_reports_always_and_fails_with_the_gates_exit_code() {
    let ci = gitlab();
    let job = gitlab_job(&ci);
    let script = gitlab_script(job);
    let run_line = script
        .iter()
        .find(|l| invocations(l).iter().any(|i| i.subcommand == "run"))
        .expect("the gate's line");
    // `flashcrowd run ... || gate=$?` keeps the code in a variable...
    let var = run_line
        .split("|| ")
        .nth(1)
        .and_then(|s| s.strip_suffix("=$?"))
        .unwrap_or_else(|| panic!("the gate's exit code is kept: {run_line}"));
    // ...that the last line exits with.
    let last = script.last().unwrap();
    assert!(last.contains(&format!("exit \"${var}\"")), "{last}");

    let artifacts = &job["artifacts"];
    assert_eq!(str_of(&artifacts["when"]), "always");
    let paths: Vec<&str> = artifacts["paths"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(str_of)
        .collect();
    assert_eq!(paths, ["reports/ci"]);
    assert_eq!(
        str_of(&artifacts["reports"]["junit"]),
        "reports/ci/junit.xml"
    );
    assert!(!str_of(&artifacts["expire_in"]).is_empty(), "expire_in");
}

#[test]
fn every_flashcrowd_command_line_uses_subcommands_and_flags_that_exist() {
    let mut help: BTreeMap<String, String> = BTreeMap::new();
    let mut checked = 0;
    for (file, script) in all_scripts() {
        for inv in invocations(&script) {
            let text = help.entry(inv.subcommand.clone()).or_insert_with(|| {
                let out = Command::new(env!("CARGO_BIN_EXE_flashcrowd"))
                    .args([inv.subcommand.as_str(), "--help"])
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "{file}: `flashcrowd {} --help` fails: {}\n  in: {}",
                    inv.subcommand,
                    String::from_utf8_lossy(&out.stderr),
                    inv.line
                );
                String::from_utf8(out.stdout).unwrap()
            });
            for flag in inv.flags() {
                assert!(
                    mentions_flag(text, flag),
                    "{file}: `flashcrowd {}` has no flag {flag}\n  in: {}",
                    inv.subcommand,
                    inv.line
                );
            }
            checked += 1;
        }
    }
    // Both files run the gate and compare.
    assert!(
        checked >= 4,
        "found only {checked} flashcrowd command lines"
    );
}

#[test]
fn the_scenario_the_examples_run_is_valid() {
    let mut files: Vec<String> = all_scripts()
        .iter()
        .flat_map(|(_, s)| invocations(s))
        .filter(|i| i.subcommand == "run")
        .map(|i| i.positionals()[0].to_string())
        .collect();
    files.sort();
    files.dedup();
    assert_eq!(files, ["scenarios/ci-release-gate.yaml"]);
    let out = Command::new(env!("CARGO_BIN_EXE_flashcrowd"))
        .arg("validate")
        .arg(repo(&files[0]))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `check-jsonschema`, on PATH or as the Python module; `None` when it is
/// not installed (`pip install check-jsonschema`).
fn check_jsonschema() -> Option<Command> {
    let works = |mut c: Command| {
        c.arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if works(Command::new("check-jsonschema")) {
        return Some(Command::new("check-jsonschema"));
    }
    let module = || {
        let mut c = Command::new("python3");
        c.args(["-m", "check_jsonschema"]);
        c
    };
    works(module()).then(module)
}

/// Validate `rel` against check-jsonschema's bundled `schema`, or say on
/// stderr that the check is skipped.
fn schema_check(rel: &str, schema: &str) {
    let Some(mut cmd) = check_jsonschema() else {
        eprintln!("check-jsonschema not installed: the {schema} schema check of {rel} is skipped");
        return;
    };
    let out = cmd
        .args(["--builtin-schema", schema])
        .arg(repo(rel))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{rel} does not fit {schema}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_github_workflow_is_valid_for_its_schema() {
    schema_check(GITHUB, "vendor.github-workflows");
}

#[test]
fn the_gitlab_ci_file_is_valid_for_its_schema() {
    schema_check(GITLAB, "vendor.gitlab-ci");
}
