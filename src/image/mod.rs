//! Container images without Docker: an OCI image (image-spec v1.1) of one
//! service executable on an empty base, built from the executable alone.
//!
//! An image has two layers. The first, the runtime, holds exactly the
//! shared libraries the executable needs and its program interpreter
//! ([`libs`]: read from the ELF, found as this host's loader finds them,
//! symlinks kept), the CA bundle (`SSL_CERT_FILE`) so the AWS SDK's TLS
//! works, and `/etc/passwd` + `/etc/group` with the non-root user the
//! image runs as (65532). The second holds the executable at `/app/NAME`.
//! Services built on the same host share the first layer, so a push of a
//! changed service sends only its executable.
//!
//! Builds are deterministic ([`layer`]): same executable, same host
//! libraries, same epoch (`SOURCE_DATE_EPOCH`, else 0) → same digest.
//! [`oci`] writes the image layout directory; [`registry`] pushes it
//! through the OCI distribution API.

pub mod layer;
pub mod libs;
pub mod oci;
pub mod project;
pub mod registry;

use anyhow::{bail, Context, Result};
use layer::{Entry, Tree};
pub use oci::{CONFIG_MEDIA_TYPE, LAYER_MEDIA_TYPE, MANIFEST_MEDIA_TYPE};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The user and group images run as (distroless's `nonroot`).
pub const USER_ID: u32 = 65532;
/// The CA bundle images carry, at the path Debian (and `SSL_CERT_FILE`)
/// give it.
pub const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
/// The PATH inside images.
pub const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// `sha256:HEX` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// A content-addressed blob: a layer, a config or a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    /// Its media type.
    pub media_type: String,
    /// `sha256:HEX` of its bytes.
    pub digest: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

impl Blob {
    /// A blob of `bytes`, with its digest.
    pub fn new(media_type: &str, bytes: Vec<u8>) -> Self {
        Self {
            media_type: media_type.to_string(),
            digest: sha256_digest(&bytes),
            bytes,
        }
    }

    /// The digest's hex part.
    pub fn hex(&self) -> &str {
        self.digest.trim_start_matches("sha256:")
    }
}

/// An image: its manifest, config and layers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// The manifest; its digest is the image's.
    pub manifest: Blob,
    /// The config.
    pub config: Blob,
    /// The layers, bottom first.
    pub layers: Vec<Blob>,
}

impl Image {
    /// The image's digest (its manifest's).
    pub fn digest(&self) -> &str {
        &self.manifest.digest
    }

    /// Every blob, in the order a registry needs them: layers, config.
    pub fn blobs(&self) -> Vec<&Blob> {
        self.layers.iter().chain([&self.config]).collect()
    }

    /// Total bytes of its blobs and manifest (what a first push sends).
    pub fn size(&self) -> u64 {
        self.blobs()
            .iter()
            .map(|b| b.bytes.len() as u64)
            .sum::<u64>()
            + self.manifest.bytes.len() as u64
    }
}

/// What an image is built from.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The executable's name in the image: `/app/NAME`.
    pub name: String,
    /// The executable on the host.
    pub executable: PathBuf,
    /// The TCP port it listens on (`ExposedPorts`), if any.
    pub port: Option<u16>,
    /// Extra environment, `NAME=value`, sorted.
    pub env: Vec<String>,
    /// The source revision for the `org.opencontainers.image.revision`
    /// label, when known.
    pub revision: Option<String>,
    /// The time of every file and of `created`, seconds since the epoch.
    pub epoch: u64,
}

impl Spec {
    /// The epoch builds use: `SOURCE_DATE_EPOCH` when set (reproducible
    /// builds' convention), else 0.
    pub fn default_epoch() -> Result<u64> {
        match std::env::var("SOURCE_DATE_EPOCH") {
            Ok(v) if !v.trim().is_empty() => v
                .trim()
                .parse()
                .with_context(|| format!("SOURCE_DATE_EPOCH `{v}` is not a number of seconds")),
            _ => Ok(0),
        }
    }
}

/// The OCI architecture name of an ELF machine.
pub fn architecture(machine: u16) -> Result<&'static str> {
    if machine == object::elf::EM_X86_64.0 {
        Ok("amd64")
    } else if machine == object::elf::EM_AARCH64.0 {
        Ok("arm64")
    } else {
        bail!("ELF machine #{machine} is neither x86_64 nor arm64: no image for it")
    }
}

/// The runtime layer's tree for `closure`: the user files, the CA bundle,
/// `/tmp`, the user's home, and every path the loader opens.
fn runtime_tree(closure: &libs::Closure) -> Result<Tree> {
    let mut t = Tree::default();
    let u = USER_ID;
    t.insert(
        "etc/passwd",
        Entry::Data {
            bytes: format!(
                "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:{u}:{u}:nonroot:/home/nonroot:/sbin/nologin\n"
            )
            .into_bytes(),
            mode: 0o644,
        },
    );
    t.insert(
        "etc/group",
        Entry::Data {
            bytes: format!("root:x:0:\nnonroot:x:{u}:\n").into_bytes(),
            mode: 0o644,
        },
    );
    // Without it, glibc resolves host names through DNS only; with it,
    // /etc/hosts (which container runtimes write) first.
    t.insert(
        "etc/nsswitch.conf",
        Entry::Data {
            bytes: b"passwd: files\ngroup: files\nhosts: files dns\n".to_vec(),
            mode: 0o644,
        },
    );
    let ca = Path::new(CA_BUNDLE);
    if !ca.is_file() {
        bail!(
            "{CA_BUNDLE} is missing: an image needs it for TLS (the AWS SDK)\nhint: apt-get install ca-certificates"
        );
    }
    // The bundle itself, not the symlinks around it: one file at one path.
    let bundle = std::fs::read(ca).with_context(|| format!("reading {CA_BUNDLE}"))?;
    t.insert(
        CA_BUNDLE.trim_start_matches('/'),
        Entry::Data {
            bytes: bundle,
            mode: 0o644,
        },
    );
    t.insert(
        "tmp",
        Entry::Dir {
            mode: 0o1777,
            owner: 0,
        },
    );
    t.insert(
        "home/nonroot",
        Entry::Dir {
            mode: 0o700,
            owner: u,
        },
    );
    for p in closure.paths() {
        t.insert_walk(libs::walk(p).with_context(|| format!("adding {}", p.display()))?);
    }
    Ok(t)
}

/// Builds the image of `spec` from the executable's bytes `exe` (read
/// from `spec.executable`, whose directory is `$ORIGIN`), finding libraries
/// through `resolver`.
pub fn build_with(spec: &Spec, exe: Vec<u8>, resolver: &libs::Resolver) -> Result<Image> {
    let closure = libs::closure(&exe, &spec.executable, resolver)?;
    let arch = architecture(closure.machine)?;
    if spec.name.is_empty() || spec.name.contains('/') {
        bail!("`{}` is not a file name for /app/NAME", spec.name);
    }
    let (runtime, runtime_diff) = runtime_tree(&closure)?.layer(spec.epoch)?;
    let mut app = Tree::default();
    app.insert(
        "app",
        Entry::Dir {
            mode: 0o755,
            owner: 0,
        },
    );
    app.insert(
        format!("app/{}", spec.name),
        Entry::Data {
            bytes: exe,
            mode: 0o755,
        },
    );
    let (app_layer, app_diff) = app.layer(spec.epoch)?;

    let entrypoint = format!("/app/{}", spec.name);
    let mut env = vec![format!("PATH={PATH}"), format!("SSL_CERT_FILE={CA_BUNDLE}")];
    let extra = closure.extra_dirs();
    if !extra.is_empty() {
        let dirs: Vec<String> = extra.iter().map(|d| d.display().to_string()).collect();
        env.push(format!("LD_LIBRARY_PATH={}", dirs.join(":")));
    }
    env.extend(spec.env.iter().cloned());
    let mut labels = serde_json::Map::new();
    labels.insert("org.opencontainers.image.title".into(), json!(spec.name));
    if let Some(rev) = &spec.revision {
        labels.insert("org.opencontainers.image.revision".into(), json!(rev));
    }
    let mut config = json!({
        "User": format!("{USER_ID}:{USER_ID}"),
        "Env": env,
        "Entrypoint": [entrypoint],
        "WorkingDir": "/app",
        "Labels": labels,
    });
    if let Some(port) = spec.port {
        config["ExposedPorts"] = json!({ format!("{port}/tcp"): {} });
    }
    let created = oci::rfc3339(spec.epoch);
    let doc = json!({
        "created": created,
        "architecture": arch,
        "os": "linux",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [runtime_diff, app_diff]},
        "history": [
            {"created": created, "created_by": "stackctl: runtime (shared libraries, CA bundle, user 65532)"},
            {"created": created, "created_by": format!("stackctl: {entrypoint}")},
        ],
    });
    let config = Blob::new(CONFIG_MEDIA_TYPE, oci::to_bytes(&doc));
    let layers = vec![runtime, app_layer];
    let manifest = oci::manifest(&config, &layers);
    Ok(Image {
        manifest,
        config,
        layers,
    })
}

/// Builds the image of `spec` with this host's loader's view.
pub fn build(spec: &Spec) -> Result<Image> {
    let exe = std::fs::read(&spec.executable)
        .with_context(|| format!("reading {}", spec.executable.display()))?;
    let machine = libs::needs(&exe)
        .with_context(|| format!("reading {}", spec.executable.display()))?
        .machine;
    build_with(spec, exe, &libs::Resolver::host(machine))
}

/// Where `stackctl build` writes the image layout of crate `crate_name`,
/// relative to the project root.
pub fn layout_path(crate_name: &str) -> PathBuf {
    Path::new("target").join("images").join(crate_name)
}
