//! Destroy's plan against in-memory stacks and buckets: the order stacks
//! go in, what is not deployed, what blocks the delete, what the plan
//! says, and how the user must agree.

use super::*;
use crate::aws::fake::{FakeBuckets, FakeCloudFormation, FakeStack};

/// A project of three stacks, `web` on `app` on `base`, each with a
/// bucket; `app` also has a secret. `prod` is protected; `local` runs on
/// an emulator, where the secret is made outside the template.
fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("stacks")).unwrap();
    std::fs::write(
        root.join("stackctl.yaml"),
        "project: p
stacks:
  base: {}
  app:
    depends_on: [base]
  web:
    depends_on: [app]
environments:
  dev:
    region: us-east-1
  prod:
    region: us-east-1
    protected: true
  local:
    region: us-east-1
    endpoint_url: http://127.0.0.1:5000
    emulator: moto
",
    )
    .unwrap();
    let bucket = "resources:\n  files:\n    type: bucket\n";
    std::fs::write(root.join("stacks/base.yaml"), bucket).unwrap();
    std::fs::write(
        root.join("stacks/app.yaml"),
        format!("{bucket}  token:\n    type: secret\n    generate: {{}}\n"),
    )
    .unwrap();
    std::fs::write(root.join("stacks/web.yaml"), bucket).unwrap();
    dir
}

fn scope(dir: &tempfile::TempDir, env: &str, wanted: &[&str]) -> Scope {
    let wanted: Vec<String> = wanted.iter().map(|s| s.to_string()).collect();
    Scope::load(dir.path(), env, &wanted).unwrap()
}

/// Stack `stack` of `env` as deployed: its bucket, `Retain`ed when `keep`.
fn deployed(stack: &str, env: &str, keep: bool) -> FakeStack {
    let policy = if keep {
        "    DeletionPolicy: Retain\n"
    } else {
        ""
    };
    FakeStack::new(&format!(
        "Resources:\n  Files:\n    Type: AWS::S3::Bucket\n{policy}  Role:\n    Type: AWS::IAM::Role\n"
    ))
    .resource("Files", "AWS::S3::Bucket", &format!("p-{stack}-files-{env}"))
    .resource("Role", "AWS::IAM::Role", &format!("p-{stack}-role-{env}"))
}

/// Every stack of `env` deployed, nothing retained.
fn all_deployed(env: &str) -> FakeCloudFormation {
    ["base", "app", "web"]
        .into_iter()
        .fold(FakeCloudFormation::default(), |cfn, stack| {
            cfn.with(&format!("p-{stack}-{env}"), deployed(stack, env, false))
        })
}

fn block<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

fn names(plan: &DestroyPlan) -> Vec<&str> {
    plan.stacks.iter().map(|s| s.name.as_str()).collect()
}

#[test]
fn stacks_go_in_reverse_dependency_order() {
    let dir = project();
    let scope = scope(&dir, "dev", &[]);
    let cfn = all_deployed("dev");
    let plan = block(plan(
        &cfn,
        &FakeBuckets::default(),
        &scope,
        &Options::default(),
    ))
    .unwrap();
    assert_eq!(names(&plan), ["p-web-dev", "p-app-dev", "p-base-dev"]);
    assert!(plan.absent.is_empty());
    assert_eq!(plan.stacks[0].resources, 2);
    assert!(!plan.nothing_to_delete());
}

#[test]
fn a_stack_not_deployed_is_reported_so_and_not_inspected() {
    let dir = project();
    let scope = scope(&dir, "dev", &[]);
    let cfn = FakeCloudFormation::default()
        .with("p-web-dev", deployed("web", "dev", false))
        .with("p-base-dev", deployed("base", "dev", false));
    let plan = block(plan(
        &cfn,
        &FakeBuckets::default(),
        &scope,
        &Options::default(),
    ))
    .unwrap();
    assert_eq!(names(&plan), ["p-web-dev", "p-base-dev"]);
    assert_eq!(
        plan.absent,
        [Absent {
            stack: "app".into(),
            name: "p-app-dev".into()
        }]
    );
    assert!(
        !cfn.reads().iter().any(|r| r == "resources p-app-dev"),
        "{:?}",
        cfn.reads()
    );
}

#[test]
fn nothing_deployed_is_nothing_to_delete_unless_the_artefacts_go() {
    let dir = project();
    let scope = scope(&dir, "dev", &[]);
    let cfn = FakeCloudFormation::default();
    let buckets = FakeBuckets::default();
    let plan = block(plan(&cfn, &buckets, &scope, &Options::default())).unwrap();
    assert!(plan.nothing_to_delete());
    assert_eq!(plan.absent.len(), 3);
    let artefacts = Options {
        artefacts: true,
        ..Options::default()
    };
    let plan = block(super::plan(&cfn, &buckets, &scope, &artefacts)).unwrap();
    assert!(!plan.nothing_to_delete());
    assert_eq!(
        plan.to_string(),
        "destroy in dev:\n  - artefact bucket s3://p-dev-artefacts-us-east-1, with every function zip"
    );
}

#[test]
fn a_deployed_dependent_outside_the_selection_blocks_the_destroy() {
    let dir = project();
    let scope = scope(&dir, "dev", &["base"]);
    let cfn = all_deployed("dev");
    let err = block(plan(
        &cfn,
        &FakeBuckets::default(),
        &scope,
        &Options::default(),
    ))
    .unwrap_err();
    assert_eq!(
        format!("{err:#}"),
        "stack `app` depends on `base` and is still deployed (p-app-dev)\nhint: destroy both: stackctl destroy --env dev base app"
    );
}

#[test]
fn a_dependent_that_is_not_deployed_does_not_block() {
    let dir = project();
    let scope = scope(&dir, "dev", &["base"]);
    // `web` is deployed, but depends on `app`, which is not selected.
    let cfn = FakeCloudFormation::default()
        .with("p-base-dev", deployed("base", "dev", false))
        .with("p-web-dev", deployed("web", "dev", false));
    let plan = block(plan(
        &cfn,
        &FakeBuckets::default(),
        &scope,
        &Options::default(),
    ))
    .unwrap();
    assert_eq!(names(&plan), ["p-base-dev"]);
}

#[test]
fn buckets_that_hold_objects_block_unless_they_are_to_be_emptied() {
    let dir = project();
    let buckets = FakeBuckets::default()
        .with("p-app-files-dev", 1)
        .with("p-base-files-dev", 20_000)
        .with("p-web-files-dev", 0);
    let dev = scope(&dir, "dev", &[]);
    let cfn = all_deployed("dev");
    let err = block(plan(&cfn, &buckets, &dev, &Options::default())).unwrap_err();
    assert_eq!(
        format!("{err:#}"),
        "these buckets hold objects, and CloudFormation cannot delete a bucket that does (the stack would end DELETE_FAILED):
  s3://p-app-files-dev (stack app): 1 object
  s3://p-base-files-dev (stack base): at least 10000 objects
hint: pass --empty-buckets to delete their objects first (they cannot be recovered); nothing was deleted"
    );
    let empty = Options {
        empty_buckets: true,
        ..Options::default()
    };
    let plan = block(plan(&cfn, &buckets, &dev, &empty)).unwrap();
    let full: Vec<(&str, usize)> = plan
        .full_buckets()
        .map(|b| (b.bucket.as_str(), b.objects))
        .collect();
    assert_eq!(full, [("p-app-files-dev", 1), ("p-base-files-dev", 10_000)]);

    // A protected environment deletes no data: no flag helps.
    let prod = scope(&dir, "prod", &["base"]);
    let cfn = FakeCloudFormation::default().with("p-base-prod", deployed("base", "prod", false));
    let buckets = FakeBuckets::default().with("p-base-files-prod", 3);
    let err = block(super::plan(&cfn, &buckets, &prod, &Options::default())).unwrap_err();
    assert!(
        format!("{err:#}").ends_with("\nhint: in a protected environment stackctl deletes no data; empty them by hand if they really must go"),
        "{err:#}"
    );
}

#[test]
fn retained_resources_are_kept_and_their_buckets_not_emptied() {
    let dir = project();
    let scope = scope(&dir, "dev", &["web"]);
    let cfn = FakeCloudFormation::default().with("p-web-dev", deployed("web", "dev", true));
    let buckets = FakeBuckets::default().with("p-web-files-dev", 5);
    let plan = block(plan(&cfn, &buckets, &scope, &Options::default())).unwrap();
    assert_eq!(plan.full_buckets().count(), 0);
    assert_eq!(
        plan.stacks[0].kept,
        [Kept {
            stack: "web".into(),
            logical_id: "Files".into(),
            resource_type: "AWS::S3::Bucket".into(),
            physical_id: Some("p-web-files-dev".into()),
        }]
    );
}

#[test]
fn the_plan_names_what_is_emptied_kept_and_deleted() {
    let dir = project();
    let scope = scope(&dir, "local", &[]);
    let cfn = FakeCloudFormation::default()
        .with("p-web-local", deployed("web", "local", true))
        .with("p-app-local", deployed("app", "local", false));
    let buckets = FakeBuckets::default().with("p-app-files-local", 2);
    let options = Options {
        empty_buckets: true,
        artefacts: true,
        ..Options::default()
    };
    let plan = block(plan(&cfn, &buckets, &scope, &options)).unwrap();
    assert_eq!(
        plan.to_string(),
        "destroy in local:
  - p-web-local (2 resources)
      keep AWS::S3::Bucket p-web-files-local (DeletionPolicy Retain)
  - p-app-local (2 resources)
      empty s3://p-app-files-local first: 2 objects deleted for good
      delete secret p-app-token-local (made outside the template here)
  - artefact bucket s3://p-local-artefacts-us-east-1, with every function zip"
    );
}

#[test]
fn a_protected_environment_needs_its_name_not_yes() {
    let dir = project();
    let scope = scope(&dir, "prod", &[]);
    let plan = block(plan(
        &FakeCloudFormation::default(),
        &FakeBuckets::default(),
        &scope,
        &Options::default(),
    ))
    .unwrap();
    let yes = Options {
        yes: true,
        ..Options::default()
    };
    assert_eq!(
        plan.consent(&yes, false).unwrap_err().message,
        "environment `prod` is protected: destroying it needs its name as confirmation; nothing was deleted\nhint: pass --confirm-env prod (--yes is not enough)"
    );
    assert_eq!(plan.consent(&yes, true).unwrap(), Consent::TypeName);
    let named = Options {
        confirm_env: Some("prod".into()),
        ..Options::default()
    };
    assert_eq!(plan.consent(&named, false).unwrap(), Consent::Given);
}

#[test]
fn elsewhere_yes_agrees_and_a_terminal_is_asked() {
    let dir = project();
    let scope = scope(&dir, "dev", &[]);
    let plan = block(plan(
        &FakeCloudFormation::default(),
        &FakeBuckets::default(),
        &scope,
        &Options::default(),
    ))
    .unwrap();
    let yes = Options {
        yes: true,
        ..Options::default()
    };
    assert_eq!(plan.consent(&yes, false).unwrap(), Consent::Given);
    assert_eq!(
        plan.consent(&Options::default(), true).unwrap(),
        Consent::Ask
    );
    assert_eq!(
        plan.consent(&Options::default(), false).unwrap_err().message,
        "destroy asks for confirmation, and stdin is not a terminal\nhint: pass --yes to go ahead without asking (in CI, say)"
    );
}

#[test]
fn flags_that_do_not_fit_the_environment_are_refused() {
    let empty = Options {
        empty_buckets: true,
        ..Options::default()
    };
    assert!(empty.check("dev", false).is_ok());
    assert!(empty
        .check("prod", true)
        .unwrap_err()
        .message
        .starts_with("--empty-buckets is refused in protected environment `prod`"));
    let other = Options {
        confirm_env: Some("dev".into()),
        ..Options::default()
    };
    assert_eq!(
        other.check("prod", true).unwrap_err().message,
        "--confirm-env `dev` does not match the environment being destroyed, `prod`"
    );
    assert!(other.check("dev", false).is_ok());
}
