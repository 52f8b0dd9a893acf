//! Tests of loading: every problem of every file reported, and what is
//! left out noted so later checks do not report its consequences.

use super::*;

fn src(text: &str) -> Source {
    Source::parse(Path::new("stacks/t.yaml"), text).unwrap()
}

/// Reads resource `key` of `text`, with what was reported.
fn read(text: &str, key: &str) -> (Typed<Resource>, Diagnostics) {
    let s = src(text);
    let mut diags = Diagnostics::default();
    let r = resource(&s, key, s.value["resources"][key].clone(), &mut diags);
    (r, diags)
}

/// Loads a project written into a temporary directory.
fn load_files(files: &[(&str, &str)]) -> Loaded {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    load_all(dir.path()).unwrap()
}

fn lines(d: &Diagnostics) -> Vec<(String, Option<usize>, String)> {
    d.0.iter()
        .map(|d| (d.file.display().to_string(), d.line, d.message.clone()))
        .collect()
}

#[test]
fn unknown_fields_are_located_with_a_suggestion() {
    let (r, d) = read(
        "resources:\n  f:\n    type: function\n    memroy: 128\n",
        "f",
    );
    assert!(r.is_full(), "an unknown field alone keeps the resource");
    let d = &d.0[0];
    assert_eq!(d.message, "unknown field `memroy`");
    assert_eq!(d.path, "resources.f.memroy");
    assert_eq!(d.line, Some(4));
    assert_eq!(d.hint.as_deref(), Some("did you mean `memory`?"));
}

#[test]
fn wrong_types_name_the_field() {
    let (r, d) = read(
        "resources:\n  f:\n    type: function\n    timeout: soon\n",
        "f",
    );
    assert!(matches!(r, Typed::StandIn(Resource::Function(_))));
    let d = &d.0[0];
    assert_eq!(d.path, "resources.f.timeout");
    assert_eq!(d.line, Some(4));
    assert!(d.message.starts_with("wrong type"), "{}", d.message);
}

#[test]
fn unknown_kinds_suggest_the_closest() {
    let (r, d) = read("resources:\n  b:\n    type: buckt\n", "b");
    assert!(matches!(r, Typed::Dropped));
    let d = &d.0[0];
    assert_eq!(d.message, "unknown resource type `buckt`");
    assert_eq!(d.hint.as_deref(), Some("did you mean `bucket`?"));
    assert_eq!(d.line, Some(3));
}

#[test]
fn nested_errors_keep_their_sequence_index() {
    let (_, d) = read("resources:\n  b:\n    type: bucket\n    cors:\n      - methods: [GET]\n      - metods: [PUT]\n", "b");
    assert_eq!(
        d.len(),
        1,
        "the missing `methods` is the typo's consequence"
    );
    assert_eq!(d.0[0].path, "resources.b.cors[1].metods");
    assert_eq!(d.0[0].line, Some(6));
}

const STACK: &str = "resources:\n  files:\n    type: bucket\n";

#[test]
fn every_section_of_the_project_file_reports_its_problems() {
    let loaded = load_files(&[
        (
            PROJECT_FILE,
            "project: p\nsetings: {}\nsettings:\n  function_memori: 1\nstacks:\n  app:\n    depends_on: 5\nenvironments:\n  dev:\n    region: us-east-1\n    endpoint: x\n",
        ),
        ("stacks/app.yaml", STACK),
    ]);
    assert_eq!(
        lines(&loaded.diags.sorted()),
        vec![
            (
                "stackctl.yaml".into(),
                Some(2),
                "unknown field `setings`".into()
            ),
            (
                "stackctl.yaml".into(),
                Some(4),
                "unknown field `function_memori`".into()
            ),
            (
                "stackctl.yaml".into(),
                Some(7),
                "wrong type: found integer `5`, expected a sequence".into()
            ),
            (
                "stackctl.yaml".into(),
                Some(11),
                "unknown field `endpoint`".into()
            ),
        ]
    );
    // The environment is usable once its unknown field is set aside; the
    // stack entry is kept by name without its unreadable `depends_on`.
    assert!(loaded.project.file.environments.contains_key("dev"));
    assert!(loaded.gaps.environments.is_complete());
    assert!(loaded.project.file.stacks.contains_key("app"));
    assert!(loaded.gaps.stacks.knows("app"));
    assert!(!loaded.gaps.renderable(&loaded.project, "app", "dev"));
    // Its file is still read and checked.
    assert!(loaded.project.stacks.contains_key("app"));
}

#[test]
fn stack_files_are_checked_when_the_project_file_has_problems() {
    let loaded = load_files(&[
        (
            PROJECT_FILE,
            "project: [p]\nstacks:\n  app: {}\nenvironments: 3\n",
        ),
        (
            "stacks/app.yaml",
            "resources:\n  f:\n    type: function\n    memroy: 1\n",
        ),
    ]);
    let got = lines(&loaded.diags.sorted());
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(got[0].1, Some(1));
    assert!(got[0].2.starts_with("wrong type"), "{got:?}");
    assert_eq!(got[1].1, Some(4));
    assert_eq!(
        got[2],
        (
            "stacks/app.yaml".into(),
            Some(4),
            "unknown field `memroy`".into()
        )
    );
    assert!(loaded.gaps.project_name);
    assert!(loaded.gaps.environments.unreadable);
    assert!(loaded.project.stacks.contains_key("app"));
}

#[test]
fn a_project_file_that_is_not_a_mapping_is_one_problem() {
    for text in ["", "- a\n", "just text\n"] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(PROJECT_FILE), text).unwrap();
        let d = load_all(dir.path()).unwrap_err();
        assert_eq!(d.len(), 1, "{text:?}");
        assert!(d.0[0].hint.is_some());
    }
}

#[test]
fn a_stand_in_keeps_the_stack_renderable_and_hides_its_own_consequences() {
    let loaded = load_files(&[
        (
            PROJECT_FILE,
            "project: p\nstacks:\n  app: {}\nenvironments:\n  dev: {region: us-east-1}\n",
        ),
        (
            "stacks/app.yaml",
            "resources:\n  f:\n    type: function\n    timeout: soon\n  g:\n    type: function\n",
        ),
    ]);
    assert_eq!(loaded.diags.len(), 1);
    assert!(loaded.gaps.renderable(&loaded.project, "app", "dev"));
    let file = Path::new("stacks/app.yaml");
    let at = |path: &str| Diagnostic::new(file, path, "x");
    assert!(loaded.gaps.under_stand_in("app", file, &at("resources.f")));
    assert!(loaded
        .gaps
        .under_stand_in("app", file, &at("resources.f.memory")));
    assert!(!loaded.gaps.under_stand_in("app", file, &at("resources.ff")));
    assert!(!loaded.gaps.under_stand_in("app", file, &at("resources.g")));
}

#[test]
fn a_lost_resource_stops_only_its_stack_from_rendering() {
    let loaded = load_files(&[
        (
            PROJECT_FILE,
            "project: p\nstacks:\n  app: {}\n  other: {}\n  user: {depends_on: [app]}\nenvironments:\n  dev: {region: us-east-1}\n",
        ),
        ("stacks/app.yaml", "resources:\n  f:\n    type: functon\n"),
        ("stacks/other.yaml", STACK),
        ("stacks/user.yaml", STACK),
    ]);
    assert_eq!(loaded.diags.len(), 1);
    assert!(!loaded.gaps.renderable(&loaded.project, "app", "dev"));
    // Its outputs are whole, so what depends on it is still checked.
    assert!(loaded.gaps.renderable(&loaded.project, "user", "dev"));
    assert!(loaded.gaps.renderable(&loaded.project, "other", "dev"));
}

#[test]
fn an_environment_with_a_wrong_type_is_not_rendered_but_the_others_are() {
    let loaded = load_files(&[
        (
            PROJECT_FILE,
            "project: p\nstacks:\n  app: {}\n  b: {file: [x]}\nenvironments:\n  dev: {region: us-east-1}\n  prod: {region: us-east-1, protected: sure}\n",
        ),
        ("stacks/app.yaml", STACK),
    ]);
    assert_eq!(loaded.diags.len(), 2, "{:?}", loaded.diags);
    assert!(loaded.project.file.environments.contains_key("prod"));
    // `b`'s file is unknown, so it is not looked for.
    assert!(!loaded.project.stacks.contains_key("b"));
    assert!(loaded.gaps.incomplete.contains("b"));
    // Imports from `b` would look unknown: nothing renders.
    assert!(!loaded.gaps.renderable(&loaded.project, "app", "dev"));

    let loaded = load_files(&[
        (
            PROJECT_FILE,
            "project: p\nstacks:\n  app: {}\nenvironments:\n  dev: {region: us-east-1}\n  prod: {region: us-east-1, protected: sure}\n",
        ),
        ("stacks/app.yaml", STACK),
    ]);
    assert!(loaded.gaps.renderable(&loaded.project, "app", "dev"));
    assert!(!loaded.gaps.renderable(&loaded.project, "app", "prod"));
}

#[test]
fn a_lost_output_stops_only_the_stacks_that_depend_on_it() {
    let loaded = load_files(&[
        (
            PROJECT_FILE,
            "project: p\nstacks:\n  app: {}\n  user: {depends_on: [app]}\nenvironments:\n  dev: {region: us-east-1}\n",
        ),
        ("stacks/app.yaml", "outputs:\n  X: {valu: 1}\nresources:\n  b: {type: bucket}\n"),
        ("stacks/user.yaml", STACK),
    ]);
    assert_eq!(
        loaded.diags.len(),
        1,
        "the missing `value` is the typo's consequence"
    );
    assert!(loaded.gaps.renderable(&loaded.project, "app", "dev"));
    assert!(!loaded.gaps.renderable(&loaded.project, "user", "dev"));
}

#[test]
fn field_lists_match_the_structs() {
    let s = src("zzz: 1\n");
    let msg = |e: Diagnostic| e.hint.unwrap_or_default();
    let project = typed::<ProjectFile>(&s, "", s.value.clone()).unwrap_err();
    let stack = typed::<StackFile>(&s, "", s.value.clone()).unwrap_err();
    let listed = |fields: &[&str]| {
        format!(
            "allowed fields: {}",
            fields
                .iter()
                .map(|f| format!("`{f}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    assert_eq!(msg(project), listed(project::FIELDS));
    assert_eq!(msg(stack), listed(stack::FIELDS));
}
