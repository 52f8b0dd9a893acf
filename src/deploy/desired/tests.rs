//! The desired state against in-memory stacks: where each parameter value
//! comes from, what a missing input says, and what is read from AWS.

use super::*;
use crate::aws::fake::{FakeCloudFormation, FakeStack};

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Stack `app` of project `p` in `dev`: one environment parameter, one
/// function, and `FilesBucket` from output `Bucket` of stack `base`.
fn app() -> Rendered {
    Rendered {
        stack: "app".into(),
        env: "dev".into(),
        stack_name: "p-app-dev".into(),
        template: "Parameters:\n  Stage:\n    Type: String\n  Memory:\n    Type: String\n    Default: '128'\nResources: {}\n".into(),
        parameters: map(&[("Stage", "dev")]),
        code_parameters: BTreeMap::from([("worker".into(), "WorkerCodeKey".into())]),
        output_parameters: BTreeMap::from([(
            "FilesBucket".into(),
            ("base".into(), "Bucket".into()),
        )]),
        tags: map(&[("project", "p")]),
        inventory: Vec::new(),
        local_secrets: Vec::new(),
        external_secrets: Vec::new(),
            probes: Vec::new(),
    }
}

/// Stack `base`, which `app` takes a value from.
fn base() -> Rendered {
    Rendered {
        stack: "base".into(),
        stack_name: "p-base-dev".into(),
        code_parameters: BTreeMap::new(),
        output_parameters: BTreeMap::new(),
        ..app()
    }
}

fn built() -> BTreeMap<String, String> {
    map(&[
        ("WorkerCodeKey", "functions/worker/aa.zip"),
        ("ArtefactBucket", "p-dev-artefacts"),
    ])
}

fn base_deployed() -> Outputs {
    BTreeMap::from([("base".to_string(), map(&[("Bucket", "p-base-files-dev")]))])
}

fn block<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn parameters_are_the_environments_the_code_keys_and_the_outputs() {
    let keys = built();
    let params = parameter_values(
        &app(),
        CodeKeys::Built(Some(&keys)),
        Inputs::Required,
        &base_deployed(),
        "dev",
    )
    .unwrap();
    assert_eq!(
        params,
        map(&[
            ("ArtefactBucket", "p-dev-artefacts"),
            ("FilesBucket", "p-base-files-dev"),
            ("Stage", "dev"),
            ("WorkerCodeKey", "functions/worker/aa.zip"),
        ])
    );
}

#[test]
fn an_input_from_a_stack_not_deployed_names_the_stack_the_output_and_the_env() {
    let err = parameter_values(
        &app(),
        CodeKeys::Built(None),
        Inputs::Required,
        &Outputs::new(),
        "dev",
    )
    .unwrap_err();
    assert_eq!(
        format!("{err:#}"),
        "parameter FilesBucket takes output Bucket of stack `base`, which is not deployed in dev\nhint: deploy `base` first (or both together)"
    );
}

#[test]
fn an_input_missing_from_its_stack_names_the_stack_and_the_output() {
    let found = BTreeMap::from([("base".to_string(), map(&[("Other", "x")]))]);
    let err = parameter_values(
        &app(),
        CodeKeys::Built(None),
        Inputs::Required,
        &found,
        "dev",
    )
    .unwrap_err();
    assert_eq!(
        format!("{err:#}"),
        "parameter FilesBucket takes output Bucket of stack `base`, which has no such output\nhint: deploy `base` again; with the local emulator, deploy it with --method direct (moto's change sets lose outputs)"
    );
}

#[test]
fn inputs_from_stacks_deployed_first_are_known_after_their_deploy() {
    // Even a value already known: the stack it comes from changes first.
    let params = parameter_values(
        &app(),
        CodeKeys::Built(None),
        Inputs::AfterDeploy,
        &base_deployed(),
        "dev",
    )
    .unwrap();
    assert_eq!(
        params["FilesBucket"],
        "(output Bucket of base, known after its deploy)"
    );
}

#[test]
fn diff_shows_an_input_it_cannot_know_yet_and_reads_the_ones_it_can() {
    let unknown = parameter_values(
        &app(),
        CodeKeys::Built(None),
        Inputs::WhereKnown,
        &Outputs::new(),
        "dev",
    )
    .unwrap();
    assert_eq!(
        unknown["FilesBucket"],
        "(output Bucket of base, after its deploy)"
    );
    let known = parameter_values(
        &app(),
        CodeKeys::Built(None),
        Inputs::WhereKnown,
        &base_deployed(),
        "dev",
    )
    .unwrap();
    assert_eq!(known["FilesBucket"], "p-base-files-dev");
}

#[test]
fn without_a_build_the_deployed_code_keys_stand() {
    let cfn = FakeCloudFormation::default().with(
        "p-app-dev",
        FakeStack::new("")
            .parameter("WorkerCodeKey", "functions/worker/old.zip")
            .parameter("ArtefactBucket", "p-dev-artefacts")
            .parameter("Stage", "deployed-stage"),
    );
    let info = block(cfn.describe("p-app-dev")).unwrap().unwrap();
    let params = parameter_values(
        &app(),
        CodeKeys::AsDeployed(Some(&info)),
        Inputs::WhereKnown,
        &base_deployed(),
        "dev",
    )
    .unwrap();
    // The code is the deployed stack's; everything else is as rendered.
    assert_eq!(
        params,
        map(&[
            ("ArtefactBucket", "p-dev-artefacts"),
            ("FilesBucket", "p-base-files-dev"),
            ("Stage", "dev"),
            ("WorkerCodeKey", "functions/worker/old.zip"),
        ])
    );
    let new = parameter_values(
        &app(),
        CodeKeys::AsDeployed(None),
        Inputs::WhereKnown,
        &base_deployed(),
        "dev",
    )
    .unwrap();
    assert!(!new.contains_key("WorkerCodeKey"), "{new:?}");
}

#[test]
fn outputs_are_read_once_and_recorded_ones_not_at_all() {
    let rendered = [app(), base()];
    let cfn = FakeCloudFormation::default().with(
        "p-base-dev",
        FakeStack::new("").output("Bucket", "p-base-files-dev"),
    );
    let upstream = Upstream::new(&cfn, &rendered);
    let keys = built();
    let code = CodeKeys::Built(Some(&keys));
    let first = block(upstream.parameters(&rendered[0], code, Inputs::Required, "dev")).unwrap();
    let again = block(upstream.parameters(&rendered[0], code, Inputs::Required, "dev")).unwrap();
    assert_eq!(first["FilesBucket"], "p-base-files-dev");
    assert_eq!(first, again);
    assert_eq!(cfn.reads(), ["describe p-base-dev"]);

    // A stack this run deployed: its outputs as recorded, nothing read.
    let cfn = FakeCloudFormation::default();
    let upstream = Upstream::new(&cfn, &rendered);
    upstream.record("base", map(&[("Bucket", "just-made")]));
    let params = block(upstream.parameters(&rendered[0], code, Inputs::Required, "dev")).unwrap();
    assert_eq!(params["FilesBucket"], "just-made");
    assert!(cfn.reads().is_empty(), "{:?}", cfn.reads());
}

#[test]
fn inputs_known_after_a_deploy_read_nothing() {
    let rendered = [app(), base()];
    let cfn = FakeCloudFormation::default();
    let upstream = Upstream::new(&cfn, &rendered);
    let params = block(upstream.parameters(
        &rendered[0],
        CodeKeys::Built(None),
        Inputs::AfterDeploy,
        "dev",
    ))
    .unwrap();
    assert_eq!(
        params["FilesBucket"],
        "(output Bucket of base, known after its deploy)"
    );
    assert!(cfn.reads().is_empty(), "{:?}", cfn.reads());
}

#[test]
fn a_stack_not_deployed_is_not_remembered() {
    // It may be deployed by the time it is asked about again.
    let rendered = [app(), base()];
    let cfn = FakeCloudFormation::default();
    let upstream = Upstream::new(&cfn, &rendered);
    assert_eq!(block(upstream.outputs_of("base")).unwrap(), None);
    assert_eq!(block(upstream.outputs_of("base")).unwrap(), None);
    assert_eq!(cfn.reads(), ["describe p-base-dev", "describe p-base-dev"]);
}

#[test]
fn the_state_holds_the_templates_defaults_overlaid_by_the_parameters() {
    let r = app();
    let s = state(&r.template, &map(&[("Stage", "dev")]), &r.tags).unwrap();
    assert_eq!(s.parameters, map(&[("Memory", "128"), ("Stage", "dev")]));
    assert_eq!(s.tags, r.tags);
    assert!(s.template.pointer("/Parameters/Stage").is_some());
    assert!(state("Resources: [unclosed", &BTreeMap::new(), &r.tags).is_err());
}

#[test]
fn deploy_and_diff_compare_the_same_state() {
    // What the engine diffs for `deploy` is what `diff` shows.
    let r = app();
    let keys = built();
    let params = parameter_values(
        &r,
        CodeKeys::Built(Some(&keys)),
        Inputs::Required,
        &base_deployed(),
        "dev",
    )
    .unwrap();
    let apply = Apply {
        method: Method::Direct,
        hotswap: false,
        termination_protection: true,
    };
    let d = desired(
        &r,
        TemplateSource::Body(r.template.clone()),
        params.clone(),
        apply,
    );
    assert_eq!(d.request.name, "p-app-dev");
    assert!(d.request.termination_protection);
    assert_eq!(d.request.tags, r.tags);
    assert_eq!(d.code, map(&[("WorkerCodeKey", "Worker")]));
    let deploy_view = crate::deploy::desired_diff(&d, None, None).unwrap();
    let diff_view = crate::diff::StackDiff::new(
        "app",
        "p-app-dev",
        None,
        &state(&r.template, &params, &r.tags).unwrap(),
    );
    assert_eq!(deploy_view, diff_view);
}
