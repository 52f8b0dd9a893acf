//! The binary as a user runs it: exit codes, stdout and stderr together.

mod common;

use common::{repo, stackctl, write_project, PROJECT};
use std::process::Output;

fn run(args: &[&str]) -> Output {
    stackctl().current_dir(repo()).args(args).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn help_lists_only_built_commands() {
    let out = run(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = text(&out.stdout);
    for cmd in [
        "validate", "render", "build", "publish", "deploy", "diff", "drift", "status", "outputs",
        "health", "serve", "destroy", "config",
    ] {
        assert!(
            help.contains(&format!("\n  {cmd} ")),
            "{cmd} missing from:\n{help}"
        );
    }
    assert!(
        help.contains("Exit codes: 0 success, 1 failure (also: a question answered no; health, deploy\n--wait-healthy: a check failed), 2 changes found (diff --exit-code, drift --exit-code),\n3 invalid input or usage, 4 a change broadens access (diff --fail-on broadening), 5 health\nincomplete (nothing failed, some check could not be made), 130 interrupted (Ctrl-C)."),
        "{help}"
    );
}

#[test]
fn health_help_names_its_exit_codes_and_only_what_is_built() {
    let out = run(&["health", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    // Compared with the lines unwrapped.
    let help = text(&out.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    for want in [
        "Example: stackctl health --env prod --fail-on warn",
        "Exit codes: 0 healthy or degraded, 1 a check failed (or warned, with --fail-on warn), 3 invalid input, 5 incomplete.",
        "--only <KIND>",
        "--timeout <DURATION>",
        "[default: 60s]",
        "stackctl.health/v1",
        "--skip-probes",
        "--only probe",
        "--print-policy",
        "--wait <DURATION>",
        "--junit <FILE>",
        "Example: stackctl health --env dev --wait 5m --junit health.xml",
    ] {
        assert!(help.contains(want), "{want:?} missing from:\n{help}");
    }
}

#[test]
fn health_with_an_unknown_env_stack_or_kind_exits_3_with_a_hint() {
    let out = run(&["health", "--env", "prd"]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        text(&out.stderr),
        "error: unknown environment `prd`\nhint: did you mean `prod`?\n"
    );
    let out = run(&["health", "--env", "dev", "uplod"]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        text(&out.stderr),
        "error: unknown stack `uplod`\nhint: did you mean `upload`?\n"
    );
    let out = run(&["health", "--env", "dev", "--only", "functoin"]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        text(&out.stderr),
        "error: unknown kind `functoin` for --only\nhint: did you mean `function`?\n"
    );
    let out = run(&["health", "--env", "dev", "--only", "topic"]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        text(&out.stderr),
        "error: kind `topic` has no health checks yet\nhint: kinds with checks: stack, bucket, table, function, http_api, websocket_api, schedule, alarm, queue, database, cache, load_balancer, rest_api, cdn, service, event_bus, event_rule, role, agent_memory, probe\n"
    );
    let out = run(&["health", "--env", "dev", "--only", "probe", "--skip-probes"]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        text(&out.stderr),
        "error: --only probe and --skip-probes leave nothing to check\nhint: keep one of them\n"
    );
    let out = run(&["health", "--env", "dev", "--window", "30s"]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        text(&out.stderr),
        "error: --window: a window of 30s is out of range: 1m to 336h (14 days)\n"
    );
    let out = run(&["health", "--env", "dev", "--timeout", "5 parsecs"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stderr).contains("unknown unit `parsecs` in `5 parsecs`; use ms, s, m or h"),
        "{}",
        text(&out.stderr)
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn subcommand_help_teaches_with_an_example() {
    let out = run(&["render", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = text(&out.stdout);
    assert!(
        help.contains("Example: stackctl render --env dev upload --out build/cfn"),
        "{help}"
    );
    assert!(help.contains("--env <ENV>"), "{help}");
}

#[test]
fn usage_errors_exit_3() {
    let out = run(&["deploi"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stderr).contains("unrecognized subcommand 'deploi'"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&["deploy"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stderr).contains("--env <ENV>"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&["deploy", "--env", "prd"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stderr).contains("unknown environment `prd`\nhint: did you mean `prod`?"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&["diff", "--env", "dev", "uplaod"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stderr).contains("unknown stack `uplaod`\nhint: did you mean `upload`?"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&["render"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out.stderr).contains("--env <ENV>"));
}

#[test]
fn validate_reports_every_stack_and_environment() {
    let out = run(&["validate"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "ok: 5 stacks (clips, media, qr-upload, upload, world) valid in 4 environments (dev, local, prod, staging); 20 templates rendered\n"
    );
    let out = run(&["validate", "--quiet", "--output", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["valid"], true);
    assert_eq!(v["templates"], 20);
}

#[test]
fn validate_finds_the_project_from_a_subdirectory() {
    let out = stackctl()
        .current_dir(repo().join("stacks"))
        .arg("validate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn missing_project_is_a_clear_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = stackctl()
        .current_dir(dir.path())
        .arg("validate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = text(&out.stderr);
    assert!(err.contains("no stackctl.yaml in"), "{err}");
    assert!(
        err.contains("hint: run stackctl inside a project, or pass --project-dir DIR"),
        "{err}"
    );
}

#[test]
fn all_problems_are_reported_together_and_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let stack = "resources:\n  f:\n    type: function\n    memory: 1\n    timeout: 9999\n  b:\n    type: bucket\n    name: Nope\n";
    write_project(dir.path(), PROJECT, &[("app", stack)]);
    std::fs::create_dir_all(dir.path().join("lambdas/f")).unwrap();
    std::fs::write(dir.path().join("lambdas/f/Cargo.toml"), "[package]\n").unwrap();
    let out = stackctl()
        .arg("-C")
        .arg(dir.path())
        .arg("validate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = text(&out.stderr);
    assert!(err.contains("memory of 1 is out of range"), "{err}");
    assert!(err.contains("timeout of 9999 is out of range"), "{err}");
    assert!(
        err.contains("error: bucket name `Nope` contains `N`"),
        "{err}"
    );
    assert!(err.ends_with("validation failed: 3 problems\n"), "{err}");

    let out = stackctl()
        .arg("-C")
        .arg(dir.path())
        .args(["validate", "--output", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let d = v["diagnostics"].as_array().unwrap();
    assert_eq!(d.len(), 3);
    assert_eq!(d[0]["file"], "stacks/app.yaml");
    assert_eq!(d[0]["line"], 4);
    assert_eq!(d[0]["path"], "resources.f.memory");
}

#[test]
fn problems_in_stackctl_yaml_do_not_hide_those_of_the_stack_files() {
    let dir = tempfile::tempdir().unwrap();
    let project = "\
project: corpus
stacks:
  app: {}
environments:
  dev:
    region: us-east-1
    endpoint: http://127.0.0.1:5000
  prod:
    region: us-east-1
    protected: maybe
";
    let stack = "resources:\n  f:\n    type: function\n    memroy: 128\n    timeout: 5000\n";
    write_project(dir.path(), project, &[("app", stack)]);
    std::fs::create_dir_all(dir.path().join("lambdas/f")).unwrap();
    std::fs::write(dir.path().join("lambdas/f/Cargo.toml"), "[package]\n").unwrap();
    let out = stackctl()
        .arg("-C")
        .arg(dir.path())
        .args(["validate", "--output", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let got: Vec<(String, i64, String)> = v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                format!(
                    "{}:{}",
                    d["file"].as_str().unwrap(),
                    d["path"].as_str().unwrap()
                ),
                d["line"].as_i64().unwrap(),
                d["message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected: Vec<(String, i64, String)> = vec![
        (
            "stackctl.yaml:environments.dev.endpoint".into(),
            7,
            "unknown field `endpoint`".into(),
        ),
        (
            "stackctl.yaml:environments.prod.protected".into(),
            10,
            "wrong type: found string \"maybe\", expected a boolean".into(),
        ),
        (
            "stacks/app.yaml:resources.f.memroy".into(),
            4,
            "unknown field `memroy`".into(),
        ),
        // Checked in `dev`, whose entry was read; not in `prod`, whose was not.
        (
            "stacks/app.yaml:resources.f.timeout".into(),
            5,
            "timeout of 5000 is out of range".into(),
        ),
    ];
    assert_eq!(got, expected);
}

#[test]
fn render_one_stack_matches_the_library() {
    let out = run(&["render", "--env", "dev", "upload"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let (_, all) = stackctl::validate::project(&repo()).unwrap();
    let expected = &all
        .iter()
        .find(|r| r.stack == "upload" && r.env == "dev")
        .unwrap()
        .template;
    assert_eq!(&text(&out.stdout), expected);
    assert!(expected.starts_with("AWSTemplateFormatVersion: \"2010-09-09\"\n"));
}

#[test]
fn render_all_stacks_in_deployment_order() {
    let out = run(&["render", "--env", "prod"]);
    assert_eq!(out.status.code(), Some(0));
    let s = text(&out.stdout);
    let a = s
        .find("# stack: qr-upload (studio-qr-upload-prod)")
        .expect("qr-upload");
    let b = s
        .find("# stack: upload (studio-upload-prod)")
        .expect("upload");
    assert!(a < b);
    let docs: Vec<serde_yaml::Value> = serde_yaml::Deserializer::from_str(&s)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect();
    assert_eq!(docs.len(), 5);
}

#[test]
fn render_is_byte_identical_across_runs() {
    let a = run(&["render", "--env", "staging"]).stdout;
    let b = run(&["render", "--env", "staging"]).stdout;
    assert!(!a.is_empty());
    assert_eq!(a, b);
}

#[test]
fn render_unknown_env_or_stack_suggests_the_closest() {
    let out = run(&["render", "--env", "prd"]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        text(&out.stderr),
        "error: unknown environment `prd`\nhint: did you mean `prod`?\n"
    );
    let out = run(&["render", "--env", "dev", "uplod"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out.stderr).contains("did you mean `upload`?"));
    assert!(out.stdout.is_empty());
}

#[test]
fn render_out_writes_templates_and_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("cfn");
    let out = run(&[
        "render",
        "--env",
        "local",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let template = std::fs::read_to_string(out_dir.join("upload.yaml")).unwrap();
    assert!(template.contains("AWS::Lambda::Function"));
    let params: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out_dir.join("upload.parameters.json")).unwrap(),
    )
    .unwrap();
    let p = params.as_array().unwrap();
    assert!(
        p.contains(
            &serde_json::json!({"ParameterKey": "EnableNotifications", "ParameterValue": "false"})
        ),
        "{params}"
    );
    assert!(
        p.contains(&serde_json::json!({"ParameterKey": "PartSize", "ParameterValue": "5242880"}))
    );
    assert!(out_dir.join("qr-upload.yaml").is_file());
    assert!(text(&out.stdout).contains("upload.parameters.json"));
}

#[test]
fn render_of_an_invalid_project_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    write_project(
        dir.path(),
        PROJECT,
        &[(
            "app",
            "resources:\n  b:\n    type: bucket\n    versionning: true\n",
        )],
    );
    let out_dir = dir.path().join("out");
    let out = stackctl()
        .arg("-C")
        .arg(dir.path())
        .args(["render", "--env", "dev", "--out"])
        .arg(&out_dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out.stderr).contains("did you mean `versioning`?"));
    assert!(!out_dir.exists());
}

#[test]
fn render_json_is_data() {
    let out = run(&["render", "--env", "dev", "--output", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let list = v.as_array().unwrap();
    assert_eq!(list.len(), 5);
    assert_eq!(list[3]["stack_name"], "studio-upload-dev");
    assert_eq!(
        list[3]["code_parameters"]["create_upload"],
        "CreateUploadCodeKey"
    );
}

#[test]
fn config_shows_the_endpoint_and_its_overrides() {
    let out = run(&["config", "--env", "local", "--output", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["environments"][0]["endpoint_url"],
        "http://127.0.0.1:5000"
    );
    assert_eq!(v["environments"][0]["endpoint_overridden"], false);
    assert_eq!(v["environments"][0]["deploy_method"], "direct");
    assert_eq!(v["environments"][0]["termination_protection"], false);
    assert_eq!(v["stacks"][0]["stack_names"]["local"], "studio-clips-local");

    let out = run(&[
        "config",
        "--env",
        "local",
        "--output",
        "json",
        "--endpoint-url",
        "http://127.0.0.1:9",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["environments"][0]["endpoint_url"], "http://127.0.0.1:9");
    assert_eq!(v["environments"][0]["endpoint_overridden"], true);

    let out = stackctl()
        .current_dir(repo())
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:7")
        .args(["config", "--env", "dev"])
        .output()
        .unwrap();
    let s = text(&out.stdout);
    assert!(
        s.contains("dev: region us-east-1, endpoint http://127.0.0.1:7 (overridden)"),
        "{s}"
    );

    let out = run(&["config", "--env", "prod"]);
    let s = text(&out.stdout);
    assert!(
        s.contains("prod: region us-east-1, endpoint AWS, protected"),
        "{s}"
    );
    assert!(s.contains("log retention 90 d"), "{s}");
    assert!(
        s.contains("deploys with change sets, termination protection on, artefacts in s3://studio-prod-artefacts-us-east-1"),
        "{s}"
    );
}

#[test]
fn a_problem_of_some_environments_names_them_in_a_field_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    common::write_project(
        dir.path(),
        common::PROJECT,
        &[(
            "app",
            "resources:\n  a_function_key_sized_to_break_in_local_only_xxxx:\n    type: function\n",
        )],
    );
    let c = dir
        .path()
        .join("lambdas/a-function-key-sized-to-break-in-local-only-xxxx");
    std::fs::create_dir_all(&c).unwrap();
    std::fs::write(c.join("Cargo.toml"), "").unwrap();
    let out = common::stackctl()
        .arg("-C")
        .arg(dir.path())
        .args(["validate", "--output", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let d = &report["diagnostics"][0];
    assert_eq!(d["environments"], serde_json::json!(["local"]), "{report}");
    let message = d["message"].as_str().unwrap();
    assert!(
        message.starts_with("function name `corpus-app-"),
        "{message}"
    );
    assert!(!message.contains("in environment"), "{message}");
}

/// The stackctl commands of a CI example file: every `stackctl ...` in a
/// non-comment line of a shell script or a workflow, up to a pipe,
/// redirection or `;`, with `"$env"` as `dev`.
fn example_commands(text: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("run:").unwrap_or(line).trim();
        let mut rest = line;
        while let Some(at) = rest.find("stackctl ") {
            let before = rest[..at].chars().last();
            let command = &rest[at..];
            rest = &rest[at + "stackctl ".len()..];
            if before.is_some_and(|c| !(c == ' ' || c == '(')) {
                continue;
            }
            let end = command
                .find(['|', '>', ';', ')', '&'])
                .unwrap_or(command.len());
            let words: Vec<String> = command[..end]
                .split_whitespace()
                .map(|w| w.replace("\"$env\"", "dev").replace('"', ""))
                .collect();
            out.push(words);
        }
    }
    out
}

#[test]
fn every_stackctl_command_of_the_ci_examples_parses() {
    use clap::Parser;
    let dir = common::repo().join("examples/ci");
    let mut seen = Vec::new();
    for file in ["github-actions.yml", "pipeline.sh", "deploy-and-check.sh"] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        for words in example_commands(&text) {
            if let Err(e) = stackctl::cli::Cli::try_parse_from(&words) {
                panic!(
                    "examples/ci/{file}: `{}` does not parse:\n{e}",
                    words.join(" ")
                );
            }
            seen.push(words.join(" "));
        }
    }
    // What the examples promise: deploy, then health --wait with JUnit.
    for want in [
        "stackctl deploy --env dev --yes",
        "stackctl health --env dev --wait 5m --junit health.xml",
    ] {
        assert!(seen.iter().any(|s| s == want), "{want:?} not in {seen:#?}");
    }
    assert!(seen.len() >= 8, "{seen:#?}");
    // The parser above would catch a flag that does not exist.
    assert!(stackctl::cli::Cli::try_parse_from([
        "stackctl", "health", "--env", "dev", "--wiat", "5m"
    ])
    .is_err());
}
