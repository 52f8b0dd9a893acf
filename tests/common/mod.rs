//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The repository root (the stackctl project itself).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The stackctl binary under test.
pub fn stackctl() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("stackctl").expect("binary built");
    cmd.env_remove("AWS_ENDPOINT_URL");
    cmd
}

/// A project of one stack `app` with environments local, dev and prod.
pub const PROJECT: &str = "\
project: corpus
stacks:
  app: {}
environments:
  local:
    region: us-east-1
    endpoint_url: http://127.0.0.1:5000
  dev:
    region: us-east-1
  prod:
    region: us-east-1
    protected: true
";

/// A valid stack with one bucket.
pub const STACK: &str = "\
resources:
  files:
    type: bucket
";

/// Writes a project into `dir`: `project` as stackctl.yaml and `stacks` as stack files.
pub fn write_project(dir: &Path, project: &str, stacks: &[(&str, &str)]) {
    std::fs::create_dir_all(dir.join("stacks")).unwrap();
    std::fs::write(dir.join("stackctl.yaml"), project).unwrap();
    for (name, text) in stacks {
        std::fs::write(dir.join("stacks").join(format!("{name}.yaml")), text).unwrap();
    }
}

/// A copy of `tests/fixtures/NAME` (without its `target/`) in a temporary directory.
pub fn copy_fixture(name: &str) -> tempfile::TempDir {
    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap().flatten() {
            let name = entry.file_name();
            if name == "target" {
                continue;
            }
            if entry.path().is_dir() {
                copy_dir(&entry.path(), &to.join(&name));
            } else {
                std::fs::copy(entry.path(), to.join(&name)).unwrap();
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&repo().join("tests/fixtures").join(name), dir.path());
    dir
}
