//! Container images without Docker, for real: deterministic builds (two
//! builds, one digest, the same bytes in every blob), the exact library
//! closure of a dynamically linked executable, and a push to a real OCI
//! registry (Debian's `docker-registry`, started on a free port and stopped
//! after) that is pulled back through the distribution API, unpacked, and
//! run from the unpacked layers; a second push sends nothing. ECR's
//! credentials come from GetAuthorizationToken against moto.

mod common;

use common::{free_port, run, text, write_project};
use lambda_shared::testing::Moto;
use stackctl::image::{self, libs, registry::Registry, Image, Spec};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

fn spec(name: &str, executable: &Path) -> Spec {
    Spec {
        name: name.into(),
        executable: executable.to_path_buf(),
        port: Some(8080),
        env: Vec::new(),
        revision: None,
        epoch: 0,
    }
}

/// A copy of `from` at a fresh path with a fresh mtime.
fn copy_of(from: &Path, dir: &Path, name: &str) -> PathBuf {
    let to = dir.join(name);
    std::fs::copy(from, &to).unwrap();
    to
}

/// The paths of a layer's entries, and the targets of its symlinks.
fn entries(layer: &[u8]) -> Vec<(String, Option<String>)> {
    let gz = flate2::read::GzDecoder::new(layer);
    let mut archive = tar::Archive::new(gz);
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let path = e.path().unwrap().display().to_string();
            let link = e.link_name().unwrap().map(|l| l.display().to_string());
            (path, link)
        })
        .collect()
}

#[test]
fn two_builds_of_one_executable_give_one_digest_and_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let a = copy_of(Path::new("/bin/ls"), dir.path(), "a");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let b = copy_of(Path::new("/bin/ls"), dir.path(), "b");
    let first = image::build(&spec("ls", &a)).unwrap();
    let second = image::build(&spec("ls", &b)).unwrap();
    assert_eq!(first.digest(), second.digest());
    assert_eq!(first.manifest.bytes, second.manifest.bytes);
    assert_eq!(first.config.bytes, second.config.bytes);
    assert_eq!(first.layers, second.layers, "every layer byte-identical");

    // The epoch is an input: another one is another image, same files.
    let later = image::build(&Spec {
        epoch: 1_700_000_000,
        ..spec("ls", &a)
    })
    .unwrap();
    assert_ne!(later.digest(), first.digest());
    assert_eq!(
        entries(&later.layers[1].bytes),
        entries(&first.layers[1].bytes)
    );

    // The layout on disk holds exactly the image's blobs, and reads back.
    let layout = dir.path().join("layout");
    image::oci::write_layout(&layout, &first.manifest, &first.blobs()).unwrap();
    image::oci::write_layout(&layout, &later.manifest, &later.blobs()).unwrap();
    let read = image::oci::read_layout(&layout).unwrap();
    assert_eq!(read, later);
    let blobs = std::fs::read_dir(layout.join("blobs/sha256"))
        .unwrap()
        .count();
    assert_eq!(blobs, later.layers.len() + 2, "earlier blobs are removed");
}

#[test]
fn the_runtime_layer_holds_the_interpreter_and_every_needed_library() {
    let exe = Path::new("/bin/ls");
    let img = image::build(&spec("ls", exe)).unwrap();
    let runtime = entries(&img.layers[0].bytes);
    let paths: BTreeSet<&str> = runtime.iter().map(|(p, _)| p.as_str()).collect();
    // The loader's own answer (ldd) is the oracle: every library it
    // resolves is in the image, at the path it resolves it to.
    let ldd = Command::new("ldd").arg(exe).output().unwrap();
    let ldd = String::from_utf8_lossy(&ldd.stdout).into_owned();
    let mut expected = Vec::new();
    for line in ldd.lines() {
        if let Some((_, path)) = line.split_once(" => ") {
            let path = path.split(" (").next().unwrap().trim();
            expected.push(path.trim_start_matches('/').to_string());
        } else if let Some(p) = line
            .trim()
            .split(" (")
            .next()
            .filter(|p| p.starts_with('/'))
        {
            expected.push(p.trim_start_matches('/').to_string()); // the interpreter
        }
    }
    assert!(expected.len() >= 3, "ldd: {ldd}");
    for p in &expected {
        let mut resolved = PathBuf::new();
        // Through the image's own symlinks (lib -> usr/lib, ...).
        let mut todo = PathBuf::from(p);
        for _ in 0..10 {
            let hit = runtime
                .iter()
                .find(|(e, l)| l.is_some() && todo.starts_with(e.trim_end_matches('/')));
            match hit {
                Some((e, Some(target))) => {
                    let rest = todo
                        .strip_prefix(e.trim_end_matches('/'))
                        .unwrap()
                        .to_path_buf();
                    let base = if target.starts_with('/') {
                        PathBuf::from(target.trim_start_matches('/'))
                    } else {
                        Path::new(e).parent().unwrap().join(target)
                    };
                    todo = if rest.as_os_str().is_empty() {
                        base
                    } else {
                        base.join(rest)
                    };
                }
                _ => {
                    resolved = todo.clone();
                    break;
                }
            }
        }
        assert!(
            paths.contains(resolved.to_str().unwrap()),
            "{p} (as {}) is not in the image: {paths:?}",
            resolved.display()
        );
    }
    // Nothing else than the closure, the user files and the CA bundle.
    let needs = libs::needs(&std::fs::read(exe).unwrap()).unwrap();
    let closure = libs::closure(
        &std::fs::read(exe).unwrap(),
        exe,
        &libs::Resolver::host(needs.machine),
    )
    .unwrap();
    assert_eq!(
        closure.libraries.len() + 1,
        expected.len(),
        "{closure:?} vs {ldd}"
    );
    assert!(paths.contains("etc/passwd") && paths.contains("etc/group"));
    assert!(paths.contains("etc/ssl/certs/ca-certificates.crt"));
    assert!(
        !paths.iter().any(|p| p.starts_with("app")),
        "the app is its own layer"
    );
    assert_eq!(
        entries(&img.layers[1].bytes),
        [("app".to_string(), None), ("app/ls".to_string(), None)]
    );
    let config: serde_json::Value = serde_json::from_slice(&img.config.bytes).unwrap();
    assert_eq!(config["config"]["User"], "65532:65532");
    assert_eq!(
        config["config"]["Entrypoint"],
        serde_json::json!(["/app/ls"])
    );
    assert_eq!(
        config["config"]["ExposedPorts"],
        serde_json::json!({"8080/tcp": {}})
    );
    assert_eq!(config["architecture"], "amd64");
    assert_eq!(config["os"], "linux");
    assert!(config["config"]["Env"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!(
            "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"
        )));
}

/// Follows symlinks inside `root` as a chroot would.
fn resolve_in(root: &Path, path: &str) -> PathBuf {
    let mut rel = PathBuf::from(path.trim_start_matches('/'));
    'again: for _ in 0..40 {
        let mut cur = PathBuf::new();
        let comps: Vec<_> = rel.components().collect();
        for (i, c) in comps.iter().enumerate() {
            cur.push(c);
            let full = root.join(&cur);
            if let Ok(target) = std::fs::read_link(&full) {
                let rest: PathBuf = comps[i + 1..].iter().collect();
                let base = if target.is_absolute() {
                    target.strip_prefix("/").unwrap().to_path_buf()
                } else {
                    cur.parent().unwrap().join(target)
                };
                rel = base.join(rest);
                continue 'again;
            }
        }
        return root.join(rel);
    }
    panic!("symlink loop at {path}");
}

fn blob_files(storage: &Path) -> usize {
    let dir = storage.join("docker/registry/v2/blobs/sha256");
    std::fs::read_dir(&dir)
        .map(|d| {
            d.flatten()
                .flat_map(|p| std::fs::read_dir(p.path()).unwrap().flatten())
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn an_image_pushed_to_a_real_registry_comes_back_and_runs_from_its_layers() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join(".stackctl");
    std::fs::create_dir_all(&state).unwrap();
    let port = free_port();
    let running = stackctl::servers::ensure_registry(&state, port)
        .unwrap_or_else(|e| panic!("{e:#} (bash .ci/test installs docker-registry)"));
    assert!(running.started);
    let storage = stackctl::servers::registry_dir(&state, port).join("storage");

    let exe = Path::new(env!("CARGO_BIN_EXE_stackctl"));
    let started = Instant::now();
    let img: Image = image::build(&spec("stackctl", exe)).unwrap();
    eprintln!(
        "image of stackctl ({} MB executable): {} MB in {:?}",
        std::fs::metadata(exe).unwrap().len() / 1_000_000,
        img.size() / 1_000_000,
        started.elapsed()
    );
    let registry = Registry::anonymous(&format!("http://127.0.0.1:{port}"));
    let repo = "kinds-world-world-management-local";
    let first = registry.push(repo, &img, Some("v1")).unwrap();
    assert_eq!(
        (first.blobs_pushed, first.blobs_skipped),
        (3, 0),
        "{first:?}"
    );
    assert!(first.manifest_pushed);
    assert_eq!(first.tag_pushed.as_deref(), Some("v1"));
    assert_eq!(first.bytes_pushed, img.size());
    assert_eq!(
        first.reference,
        format!("127.0.0.1:{port}/{repo}@{}", img.digest())
    );
    let stored = blob_files(&storage);
    assert_eq!(stored, 4, "two layers, the config and the manifest");

    // Pulled back through the API: the same manifest, blobs that match
    // their digests, unpacked into a root filesystem.
    let manifest = registry.get_manifest(repo, img.digest()).unwrap();
    assert_eq!(image::sha256_digest(&manifest), img.digest());
    assert_eq!(
        registry.manifest_digest(repo, "v1").unwrap().as_deref(),
        Some(img.digest())
    );
    let doc: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    assert_eq!(doc["mediaType"], image::MANIFEST_MEDIA_TYPE);
    let config = registry
        .get_blob(repo, doc["config"]["digest"].as_str().unwrap())
        .unwrap();
    assert_eq!(config, img.config.bytes);
    let rootfs = dir.path().join("rootfs");
    std::fs::create_dir_all(&rootfs).unwrap();
    for layer in doc["layers"].as_array().unwrap() {
        let bytes = registry
            .get_blob(repo, layer["digest"].as_str().unwrap())
            .unwrap();
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]));
        archive.set_preserve_permissions(true);
        archive.unpack(&rootfs).unwrap();
    }

    // Run it from the unpacked layers through their own loader and
    // libraries (no root needed)...
    let loader = resolve_in(&rootfs, "/lib64/ld-linux-x86-64.so.2");
    let libdirs = format!(
        "{}:{}",
        resolve_in(&rootfs, "/lib/x86_64-linux-gnu").display(),
        resolve_in(&rootfs, "/usr/lib/x86_64-linux-gnu").display()
    );
    assert!(loader.starts_with(&rootfs), "{}", loader.display());
    let out = Command::new(&loader)
        .arg("--library-path")
        .arg(&libdirs)
        .arg(rootfs.join("app/stackctl"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("stackctl "),
        "{out:?}"
    );
    // ...and, as root, in a chroot of them as the image's user: nothing
    // of the host is reachable, so the image is complete.
    let root = Command::new("id").arg("-u").output().unwrap().stdout == b"0\n";
    if root && Path::new("/usr/sbin/chroot").exists() {
        let out = Command::new("/usr/sbin/chroot")
            .arg("--userspec=65532:65532")
            .arg(&rootfs)
            .args(["/app/stackctl", "--version"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).starts_with("stackctl "),
            "{out:?}"
        );
    }

    // The same image again: nothing is sent, nothing is stored.
    let started = Instant::now();
    let again = registry.push(repo, &img, Some("v1")).unwrap();
    eprintln!("no-change push: {:?}", started.elapsed());
    assert!(!again.pushed_anything(), "{again:?}");
    assert_eq!((again.blobs_pushed, again.blobs_skipped), (0, 3));
    assert_eq!(again.bytes_pushed, 0);
    assert_eq!(blob_files(&storage), stored);
    assert_eq!(
        again.to_string(),
        format!("{} already there", first.reference)
    );

    // Another executable shares the runtime layer: only its own goes.
    let other = image::build(&spec("ls", Path::new("/bin/ls"))).unwrap();
    let third = registry.push(repo, &other, None).unwrap();
    if other.layers[0] == img.layers[0] {
        assert_eq!(third.blobs_skipped, 1, "{third:?}");
    }
    assert!(third.manifest_pushed);

    let stopped = stackctl::servers::stop_registry(&state, port).unwrap();
    assert_eq!(stopped.pid, running.pid);
    assert!(stopped.storage_removed);
    assert!(!storage.exists());
    assert!(!stackctl::servers::answers(port));
}

#[test]
fn ecr_credentials_from_get_authorization_token() {
    let moto = Moto::start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let creds = rt.block_on(async {
        let sdk = moto.sdk_config().await;
        stackctl::image::registry::ecr_credentials(&sdk).await
    });
    let creds = creds.unwrap();
    // moto's token is base64 of `AWS:ACCOUNT-auth-token`, for its
    // default account.
    assert_eq!(creds.username, "AWS");
    assert_eq!(creds.password, "123456789012-auth-token");
    assert_eq!(
        creds.endpoint,
        "https://123456789012.dkr.ecr.us-east-1.amazonaws.com"
    );
    let registry = Registry::ecr(&creds);
    assert!(registry.immutable_tags);
    assert_eq!(
        registry.reference("p-world-api-local", "sha256:00"),
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/p-world-api-local@sha256:00"
    );
}

#[test]
fn a_registry_that_cannot_serve_the_environment_is_a_located_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("stacks")).unwrap();
    std::fs::write(
        dir.path().join("stackctl.yaml"),
        "project: imgs
stacks:
  app: {}
environments:
  local:
    region: us-east-1
    endpoint_url: http://127.0.0.1:5000
    registry:
      local: true
      port: 5000
  dev:
    region: us-east-1
    registry: {local: true}
  staging:
    region: us-east-1
    registry: {local: false}
",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("stacks/app.yaml"),
        "resources:\n  data:\n    type: bucket\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_stackctl"))
        .arg("-C")
        .arg(dir.path())
        .args(["validate", "--output", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
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
                d["line"].as_i64().unwrap_or(-1),
                d["hint"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let at = |path: &str| {
        got.iter()
            .find(|(p, _, _)| p == path)
            .unwrap_or_else(|| panic!("no {path} in {got:?}"))
    };
    let dev = at("stackctl.yaml:environments.dev.registry.local");
    assert_eq!(dev.1, 13, "{got:?}");
    assert!(dev.2.contains("ECR repository"), "{dev:?}");
    let port = at("stackctl.yaml:environments.local.registry.port");
    assert_eq!(port.1, 10);
    assert!(port.2.contains("port of its own"), "{port:?}");
    let staging = at("stackctl.yaml:environments.staging.registry.local");
    assert!(staging.2.contains("local: true"), "{staging:?}");
    assert_eq!(got.len(), 3, "{got:?}");
}

#[test]
fn publish_names_images_by_digest_pushes_once_and_destroy_removes_the_registry() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let port = free_port();
    write_project(
        root,
        &format!(
            "project: imgs
stacks:
  app: {{}}
environments:
  local:
    region: us-east-1
    endpoint_url: {}
    registry: {{local: true, port: {port}}}
",
            moto.endpoint
        ),
        &[("app", "resources:\n  files:\n    type: bucket\n")],
    );
    // An image in the layout `build` writes, for a service `api` of `app`.
    let img = image::build(&spec("api", Path::new("/bin/ls"))).unwrap();
    let layout = image::layout_path("api");
    image::oci::write_layout(&root.join(&layout), &img.manifest, &img.blobs()).unwrap();
    let built = vec![image::project::BuiltImage {
        crate_name: "api".into(),
        uses: vec![stackctl::build::Use {
            stack: "app".into(),
            resource: "api".into(),
        }],
        layout,
        digest: img.digest().to_string(),
        size: img.size(),
        runtime_size: img.layers[0].bytes.len() as u64,
        changed: true,
        seconds: 0.0,
    }];
    let (project, rendered) = stackctl::validate::project(root).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let sdk = rt.block_on(moto.sdk_config());
    let publish = || {
        rt.block_on(image::project::publish_images(
            &project, "local", &sdk, &built, &rendered,
        ))
        .unwrap()
    };
    let first = publish();
    assert!(
        first.started.as_ref().is_some_and(|r| r.port == port),
        "{first:?}"
    );
    let reference = format!("127.0.0.1:{port}/imgs-app-api-local@{}", img.digest());
    assert_eq!(first.parameters["app"]["ApiImage"], reference);
    assert_eq!(first.pushed(), 4, "two layers, the config, the manifest");
    let again = publish();
    assert_eq!(again.pushed(), 0, "{again}");
    assert!(again.started.is_none(), "the running registry is used");
    assert_eq!(again.parameters, first.parameters);
    assert!(again.to_string().contains("already there"), "{again}");

    // deploy, then destroy of the whole environment: the registry stops
    // and its storage goes.
    let out = run(root, &moto, &["deploy", "--env", "local", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    let storage = stackctl::servers::registry_dir(&root.join(".stackctl"), port);
    assert!(storage.exists());
    let out = run(
        root,
        &moto,
        &["destroy", "--env", "local", "--yes", "--empty-buckets"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("stopped the image registry on 127.0.0.1:{port}")),
        "{}",
        text(&out)
    );
    assert!(!storage.exists());
    assert!(!stackctl::servers::answers(port));
}

#[test]
fn at_ecr_a_service_waits_for_the_repository_its_stack_creates() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_project(
        root,
        &format!(
            "project: imgs\nstacks:\n  app: {{}}\nenvironments:\n  local:\n    region: us-east-1\n    endpoint_url: {}\n",
            moto.endpoint
        ),
        &[("app", "resources:\n  files:\n    type: bucket\n")],
    );
    let img = image::build(&spec("api", Path::new("/bin/ls"))).unwrap();
    let layout = image::layout_path("api");
    image::oci::write_layout(&root.join(&layout), &img.manifest, &img.blobs()).unwrap();
    let built = vec![image::project::BuiltImage {
        crate_name: "api".into(),
        uses: vec![stackctl::build::Use {
            stack: "app".into(),
            resource: "api".into(),
        }],
        layout,
        digest: img.digest().to_string(),
        size: img.size(),
        runtime_size: img.layers[0].bytes.len() as u64,
        changed: true,
        seconds: 0.0,
    }];
    let (project, rendered) = stackctl::validate::project(root).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let sdk = rt.block_on(moto.sdk_config());
    // No repository yet: nothing is pushed, the parameter stays empty, and
    // deploy's first pass creates the repository.
    let report = rt
        .block_on(image::project::publish_images(
            &project, "local", &sdk, &built, &rendered,
        ))
        .unwrap();
    assert_eq!(
        report.registry,
        "123456789012.dkr.ecr.us-east-1.amazonaws.com"
    );
    assert_eq!(report.waiting().len(), 1, "{report:?}");
    assert_eq!(report.waiting()[0].repository, "imgs-app-api-local");
    assert!(report.parameters.is_empty());
    assert!(report
        .to_string()
        .contains("waits for its repository imgs-app-api-local"));
    let refs = rt
        .block_on(image::project::references(
            &project, "local", &sdk, &built, &rendered,
        ))
        .unwrap();
    assert!(refs.is_empty());
    // Once it exists, `diff` names the image as deploy will: the
    // repository's URI at the digest.
    rt.block_on(async {
        aws_sdk_ecr::Client::new(&sdk)
            .create_repository()
            .repository_name("imgs-app-api-local")
            .send()
            .await
            .unwrap()
    });
    let refs = rt
        .block_on(image::project::references(
            &project, "local", &sdk, &built, &rendered,
        ))
        .unwrap();
    assert_eq!(
        refs["app"]["ApiImage"],
        format!(
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/imgs-app-api-local@{}",
            img.digest()
        )
    );
}
