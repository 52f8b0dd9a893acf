//! The project's service images: which crates under `services/` its
//! resources run ([`crate::kinds::Kind::image_crate`]), building them into
//! image layouts under `target/images/CRATE/`, pushing them to the
//! environment's registry (the local one stackctl starts, or each
//! service's ECR repository), and the `<Key>Image` template parameters
//! ([`crate::kinds::IMAGE`]) that name each image by digest.

use super::registry::{PushReport, Registry};
use super::{layout_path, oci, Spec};
use crate::build::cargo::{self, Tool};
use crate::build::progress::Progress;
use crate::build::Use;
use crate::model::project::Environment;
use crate::model::Project;
use crate::names::pascal;
use crate::output::Printer;
use crate::render::Rendered;
use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The folder of the service crates.
pub const SERVICES: &str = "services";

/// The environment variable whose value becomes the images'
/// `org.opencontainers.image.revision` label (CI sets it to the commit).
pub const REVISION_ENV: &str = "STACKCTL_IMAGE_REVISION";

/// One crate to build an image of, with every resource that runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceImage {
    /// The crate under `services/`.
    pub crate_name: String,
    /// Where the project runs it.
    pub uses: Vec<Use>,
}

/// Every crate the project's resources run as images, by name.
pub fn service_images(project: &Project) -> Vec<ServiceImage> {
    let mut by_crate: BTreeMap<String, ServiceImage> = BTreeMap::new();
    for (stack, s) in &project.stacks {
        for (key, r) in &s.resources {
            let Some(c) = r.image_crate(key) else {
                continue;
            };
            by_crate
                .entry(c.to_string())
                .or_insert_with(|| ServiceImage {
                    crate_name: c.to_string(),
                    uses: Vec::new(),
                })
                .uses
                .push(Use {
                    stack: stack.clone(),
                    resource: key.clone(),
                });
        }
    }
    by_crate.into_values().collect()
}

/// The images `names` ask for (crate names or resource keys; all when
/// empty), and the names that are not images (functions, or unknown).
pub fn select(all: Vec<ServiceImage>, names: &[String]) -> (Vec<ServiceImage>, Vec<String>) {
    if names.is_empty() {
        return (all, Vec::new());
    }
    let matches =
        |i: &ServiceImage, n: &str| i.crate_name == n || i.uses.iter().any(|u| u.resource == n);
    let rest = names
        .iter()
        .filter(|n| !all.iter().any(|i| matches(i, n)))
        .cloned()
        .collect();
    let chosen = all
        .into_iter()
        .filter(|i| names.iter().any(|n| matches(i, n)))
        .collect();
    (chosen, rest)
}

/// The images of the services of `stacks`.
pub fn of_stacks(all: Vec<ServiceImage>, stacks: &[String]) -> Vec<ServiceImage> {
    all.into_iter()
        .filter_map(|mut i| {
            i.uses.retain(|u| stacks.contains(&u.stack));
            (!i.uses.is_empty()).then_some(i)
        })
        .collect()
}

/// One built image.
#[derive(Debug, Clone, Serialize)]
pub struct BuiltImage {
    /// The crate under `services/`.
    pub crate_name: String,
    /// The resources that run it.
    pub uses: Vec<Use>,
    /// Its image layout, relative to the project root.
    pub layout: PathBuf,
    /// Its digest (the manifest's).
    pub digest: String,
    /// Bytes of its blobs and manifest.
    pub size: u64,
    /// Bytes of its runtime layer (libraries, CA bundle, user files).
    pub runtime_size: u64,
    /// Whether the digest differs from the layout's before this build.
    pub changed: bool,
    /// Seconds the image took (after cargo).
    pub seconds: f64,
}

/// What building the images did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImageBuildReport {
    /// One entry per crate.
    pub images: Vec<BuiltImage>,
}

impl fmt::Display for ImageBuildReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = self
            .images
            .iter()
            .map(|i| i.crate_name.len())
            .max()
            .unwrap_or(0);
        for i in &self.images {
            writeln!(
                f,
                "{:w$}  {:>9}  image {}…  {}  {}",
                i.crate_name,
                human(i.size),
                &i.digest[..i.digest.len().min(19)],
                if i.changed { "built    " } else { "unchanged" },
                i.layout.display()
            )?;
        }
        Ok(())
    }
}

fn human(n: u64) -> String {
    if n < 1024 * 1024 {
        format!("{:.1} KiB", n as f64 / 1024.0)
    } else {
        format!("{:.1} MiB", n as f64 / (1024.0 * 1024.0))
    }
}

/// The port each image parameter's container listens on, read from the
/// rendered templates (the task definition whose image is `{"Ref":
/// PARAM}`): the image's `ExposedPorts`.
fn ports(rendered: &[Rendered]) -> BTreeMap<String, u16> {
    let mut out = BTreeMap::new();
    for r in rendered {
        let Ok(t) = crate::diff::parse_template(&r.template) else {
            continue;
        };
        let Some(resources) = t["Resources"].as_object() else {
            continue;
        };
        for res in resources.values() {
            let Some(defs) = res["Properties"]["ContainerDefinitions"].as_array() else {
                continue;
            };
            for d in defs {
                let (Some(param), Some(port)) = (
                    d["Image"]["Ref"].as_str(),
                    d["PortMappings"][0]["ContainerPort"].as_u64(),
                ) else {
                    continue;
                };
                if let Ok(port) = u16::try_from(port) {
                    out.entry(format!("{}/{param}", r.stack)).or_insert(port);
                }
            }
        }
    }
    out
}

/// Compiles the crates of `images` whose last build's record
/// ([`ImageRecord`]) no longer holds (the `lambda` profile, for this host:
/// the image carries the libraries it links) and writes their image
/// layouts; the others are used as they are.
pub fn build_images(
    root: &Path,
    images: &[ServiceImage],
    rendered: &[Rendered],
    printer: Printer,
) -> Result<ImageBuildReport> {
    if images.is_empty() {
        return Ok(ImageBuildReport::default());
    }
    for i in images {
        let manifest = Path::new(SERVICES).join(&i.crate_name).join("Cargo.toml");
        if !root.join(&manifest).is_file() {
            let u = &i.uses[0];
            return Err(crate::exit::UsageError::new(format!(
                "service `{}` of stack `{}` runs crate `{}`, but {} does not exist\nhint: create the crate there (a member of the workspace) with a binary named after the crate",
                u.resource,
                u.stack,
                i.crate_name,
                manifest.display()
            ))
            .into());
        }
    }
    let epoch = Spec::default_epoch()?;
    let revision = std::env::var(REVISION_ENV).ok().filter(|v| !v.is_empty());
    let ports = ports(rendered);
    let workspace = crate::build::fingerprint::Workspace::load(root)?;
    // Each image's spec and fingerprint; an image whose record matches
    // both (and whose layout is there) is current: no cargo, no layers.
    let mut plans = Vec::new();
    for i in images {
        let port = i.uses.iter().find_map(|u| {
            ports
                .get(&format!(
                    "{}/{}",
                    u.stack,
                    crate::kinds::IMAGE.of(&pascal(&u.resource))
                ))
                .copied()
        });
        let spec = Spec {
            name: i.crate_name.clone(),
            executable: root.join("target").join(cargo::PROFILE).join(&i.crate_name),
            port,
            env: Vec::new(),
            revision: revision.clone(),
            epoch,
        };
        let fingerprint = workspace.fingerprint(&i.crate_name, crate::build::Arch::default())?;
        let current = ImageRecord::load(root, &i.crate_name)
            .filter(|r| r.matches(&fingerprint, &spec))
            .and_then(|r| {
                oci::read_layout(&root.join(layout_path(&i.crate_name)))
                    .ok()
                    .filter(|image| image.digest() == r.image)
            });
        plans.push((i, spec, fingerprint, current));
    }
    let stale: Vec<String> = plans
        .iter()
        .filter(|p| p.3.is_none())
        .map(|p| p.0.crate_name.clone())
        .collect();
    let mut built = BTreeMap::new();
    if !stale.is_empty() {
        let progress = Progress::new(printer).building("service");
        let compiled = cargo::compile_in(root, SERVICES, &stale, &Tool::Cargo, &progress);
        progress.finish();
        built = compiled?;
    }
    let mut out = Vec::new();
    for (i, spec, fingerprint, current) in plans {
        let started = Instant::now();
        let rel = layout_path(&i.crate_name);
        let (image, changed) = match current {
            Some(image) => (image, false),
            None => {
                let exe = built[&i.crate_name].clone();
                let (image, changed) = build_one(root, &spec, exe.clone(), &rel)?;
                ImageRecord::new(&fingerprint, &spec, &exe, &image)?.store(root, &i.crate_name)?;
                (image, changed)
            }
        };
        out.push(BuiltImage {
            crate_name: i.crate_name.clone(),
            uses: i.uses.clone(),
            layout: rel,
            digest: image.digest().to_string(),
            size: image.size(),
            runtime_size: image.layers[0].bytes.len() as u64,
            changed,
            seconds: started.elapsed().as_secs_f64(),
        });
    }
    Ok(ImageBuildReport { images: out })
}

/// Writes the image layout of `spec` at `rel` from a freshly compiled
/// executable, unless the layout there is already its image; the image,
/// and whether its digest changed.
fn build_one(root: &Path, spec: &Spec, exe: Vec<u8>, rel: &Path) -> Result<(super::Image, bool)> {
    let name = &spec.name;
    let machine = super::libs::needs(&exe)
        .with_context(|| format!("reading the executable of crate `{name}`"))?
        .machine;
    let resolver = super::libs::Resolver::host(machine);
    let dir = root.join(rel);
    let before = oci::read_layout(&dir).ok();
    // An image is a pure function of its inputs: when the stamp beside
    // the layout names these, the layout is the image a build would
    // give, and compressing tens of MB again is skipped.
    let stamp_path = root.join(stamp_path(name));
    let stamp = inputs_stamp(spec, &exe, &resolver)?;
    let current = before
        .as_ref()
        .filter(|_| std::fs::read_to_string(&stamp_path).is_ok_and(|s| s == stamp));
    let image = match current {
        Some(image) => image.clone(),
        None => {
            let image = super::build_with(spec, exe, &resolver)
                .with_context(|| format!("building the image of crate `{name}`"))?;
            oci::write_layout(&dir, &image.manifest, &image.blobs())?;
            crate::build::replace_file(&stamp_path, stamp.as_bytes())?;
            image
        }
    };
    let changed = before.map(|b| b.manifest.digest).as_deref() != Some(image.digest());
    Ok((image, changed))
}

/// What the last build of an image was made from, beside its layout
/// (`target/images/CRATE.inputs`): the crate's fingerprint (the same
/// inputs a function's build has: its sources and its workspace
/// packages', `Cargo.lock`, the toolchain, the build environment), the
/// image's spec, and the size and mtime of each host file its runtime
/// layer copies. When all still hold, `build` and `deploy` use the layout
/// as it is and start no compiler.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ImageRecord {
    /// [`IMAGE_RECORD_VERSION`].
    pub version: u32,
    /// The fingerprint's digest.
    pub fingerprint: String,
    /// Name, port, environment, revision and epoch of the spec.
    pub spec: String,
    /// `PATH SIZE MTIME` of every host file the runtime layer copies.
    pub host_files: Vec<String>,
    /// The image's digest.
    pub image: String,
}

/// The format of [`ImageRecord`].
const IMAGE_RECORD_VERSION: u32 = 1;

impl ImageRecord {
    fn spec_line(spec: &Spec) -> String {
        format!(
            "{} {:?} {:?} {:?} {}",
            spec.name, spec.port, spec.env, spec.revision, spec.epoch
        )
    }

    fn host_file(p: &Path) -> Option<String> {
        let m = std::fs::metadata(p).ok()?;
        let mtime = m
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        Some(format!("{} {} {mtime}", p.display(), m.len()))
    }

    /// The record of `image`, built by `spec` from `exe` with inputs
    /// `fingerprint`.
    pub fn new(
        fingerprint: &crate::build::fingerprint::Fingerprint,
        spec: &Spec,
        exe: &[u8],
        image: &super::Image,
    ) -> Result<Self> {
        let machine = super::libs::needs(exe)?.machine;
        let closure =
            super::libs::closure(exe, &spec.executable, &super::libs::Resolver::host(machine))?;
        let host_files = closure
            .paths()
            .chain([Path::new(super::CA_BUNDLE)])
            .map(|p| Self::host_file(p).unwrap_or_else(|| format!("{} missing", p.display())))
            .collect();
        Ok(ImageRecord {
            version: IMAGE_RECORD_VERSION,
            fingerprint: fingerprint.digest(),
            spec: Self::spec_line(spec),
            host_files,
            image: image.digest().to_string(),
        })
    }

    /// Where crate `crate_name`'s record is, relative to the project root.
    pub fn path(crate_name: &str) -> PathBuf {
        Path::new("target")
            .join("images")
            .join(format!("{crate_name}.inputs"))
    }

    /// The stored record of `crate_name`, if there is a readable one of
    /// this version.
    pub fn load(root: &Path, crate_name: &str) -> Option<Self> {
        let text = std::fs::read(root.join(Self::path(crate_name))).ok()?;
        let r: ImageRecord = serde_json::from_slice(&text).ok()?;
        (r.version == IMAGE_RECORD_VERSION).then_some(r)
    }

    fn store(&self, root: &Path, crate_name: &str) -> Result<()> {
        let text = serde_json::to_vec_pretty(self)?;
        crate::build::replace_file(&root.join(Self::path(crate_name)), &text)
    }

    /// Whether an image built now from these inputs would be this one.
    pub fn matches(
        &self,
        fingerprint: &crate::build::fingerprint::Fingerprint,
        spec: &Spec,
    ) -> bool {
        self.fingerprint == fingerprint.digest()
            && self.spec == Self::spec_line(spec)
            && self.host_files.iter().all(|line| {
                let path = line.rsplitn(3, ' ').nth(2).unwrap_or_default();
                Self::host_file(Path::new(path)).as_deref() == Some(line.as_str())
            })
    }
}

/// Where the inputs of crate `crate_name`'s image are recorded, beside
/// its layout (relative to the project root).
pub fn stamp_path(crate_name: &str) -> PathBuf {
    Path::new("target")
        .join("images")
        .join(format!("{crate_name}.source"))
}

/// What an image is made of, as one line: the image format, the
/// executable's sha256, the spec, and the size and mtime of every host
/// file the runtime layer copies (libraries, loader, CA bundle).
pub fn inputs_stamp(spec: &Spec, exe: &[u8], resolver: &super::libs::Resolver) -> Result<String> {
    use sha2::{Digest, Sha256};
    let closure = super::libs::closure(exe, &spec.executable, resolver)?;
    let mut h = Sha256::new();
    h.update(format!(
        "stackctl-image-1\n{}\n{}\n{:?}\n{:?}\n{:?}\n{}\n{}\n",
        spec.name,
        super::sha256_digest(exe),
        spec.port,
        spec.env,
        spec.revision,
        spec.epoch,
        super::layer::GZIP_LEVEL
    ));
    for p in closure.paths().chain([Path::new(super::CA_BUNDLE)]) {
        let m = std::fs::metadata(p).with_context(|| format!("reading {}", p.display()))?;
        let mtime = m
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        h.update(format!("{} {} {mtime}\n", p.display(), m.len()));
    }
    Ok(format!("{}\n", hex::encode(h.finalize())))
}

/// The ECR repository a service's image goes to: the `RepositoryName` of
/// its `<Key>Repository` in the rendered template; else its physical
/// name in lower case.
pub fn repository(project: &Project, r: &Rendered, key: &str) -> String {
    let logical = format!("{}Repository", pascal(key));
    crate::diff::parse_template(&r.template)
        .ok()
        .and_then(|t: Json| {
            t["Resources"][&logical]["Properties"]["RepositoryName"]
                .as_str()
                .map(str::to_string)
        })
        .unwrap_or_else(|| {
            let pattern = project
                .file
                .naming
                .as_deref()
                .unwrap_or(crate::model::project::DEFAULT_NAMING);
            let parts = crate::names::name_pattern(pattern).unwrap_or_default();
            crate::names::expand_name(&parts, &project.file.project, &r.stack, key, &r.env)
                .to_lowercase()
        })
}

/// Where an environment's images go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The registry stackctl starts on 127.0.0.1:PORT.
    Local(u16),
    /// Each service's ECR repository.
    Ecr,
}

impl Target {
    /// The target environment `e` asks for.
    pub fn of(e: &Environment) -> Self {
        match e.registry.as_ref().and_then(|r| r.local_port()) {
            Some(port) => Target::Local(port),
            None => Target::Ecr,
        }
    }
}

/// One image pushed for one service.
#[derive(Debug, Clone, Serialize)]
pub struct ServicePush {
    /// Its stack.
    pub stack: String,
    /// The service's resource key.
    pub resource: String,
    /// The crate.
    pub crate_name: String,
    /// The repository.
    pub repository: String,
    /// What the push did; `None` when its ECR repository does not exist
    /// yet (the stack's deploy creates it, then the image is pushed).
    pub push: Option<PushReport>,
}

/// What pushing the images did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImagePublishReport {
    /// The registry's host.
    pub registry: String,
    /// The local registry, when this run started it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started: Option<crate::servers::Running>,
    /// One entry per service.
    pub services: Vec<ServicePush>,
    /// Per stack: `<Key>Image` parameters, by digest.
    pub parameters: BTreeMap<String, BTreeMap<String, String>>,
    /// Why nothing could be pushed, when nothing could (an emulator
    /// environment without a local registry: its ECR takes no pushes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unpushable: Option<String>,
}

impl ImagePublishReport {
    /// The services whose repository does not exist yet.
    pub fn waiting(&self) -> Vec<&ServicePush> {
        self.services.iter().filter(|s| s.push.is_none()).collect()
    }

    /// Blobs and manifests sent, over all services.
    pub fn pushed(&self) -> usize {
        self.services
            .iter()
            .filter_map(|s| s.push.as_ref())
            .map(|p| p.blobs_pushed + usize::from(p.manifest_pushed))
            .sum()
    }
}

impl fmt::Display for ImagePublishReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.services.is_empty() {
            return Ok(());
        }
        if let Some(note) = self.started.as_ref().and_then(|r| r.note()) {
            writeln!(f, "{note}")?;
        }
        writeln!(f, "images → {}", self.registry)?;
        for s in &self.services {
            match &s.push {
                Some(p) => writeln!(f, "  {}.{}  {p}", s.stack, s.resource)?,
                None if self.unpushable.is_some() => writeln!(
                    f,
                    "  {}.{}  not pushed: {}",
                    s.stack,
                    s.resource,
                    self.unpushable.as_deref().unwrap_or_default()
                )?,
                None => writeln!(
                    f,
                    "  {}.{}  waits for its repository {} (the stack's deploy creates it)",
                    s.stack, s.resource, s.repository
                )?,
            }
        }
        Ok(())
    }
}

/// Pushes `built` for the services of `env`'s stacks in `rendered` (all
/// stacks, or `only`) to the environment's registry; ECR credentials
/// through `sdk`.
pub async fn publish_images(
    project: &Project,
    env: &str,
    sdk: &aws_config::SdkConfig,
    built: &[BuiltImage],
    rendered: &[Rendered],
) -> Result<ImagePublishReport> {
    let mut report = ImagePublishReport::default();
    if built.is_empty() {
        return Ok(report);
    }
    let e = &project.file.environments[env];
    // moto's ECR keeps repositories but speaks no registry protocol: an
    // emulator environment pushes to a local registry, or not at all (its
    // services then wait for their image, as on a first deploy).
    if e.emulator.is_some() && matches!(Target::of(e), Target::Ecr) {
        report.registry = "ECR".to_string();
        report.unpushable = Some(format!(
            "the emulator's ECR takes no pushes; add `registry: {{local: true}}` to environment `{env}` to push to a registry stackctl starts"
        ));
        for b in built {
            for u in &b.uses {
                if let Some(r) = rendered.iter().find(|r| r.env == env && r.stack == u.stack) {
                    report.services.push(ServicePush {
                        stack: u.stack.clone(),
                        resource: u.resource.clone(),
                        crate_name: b.crate_name.clone(),
                        repository: repository(project, r, &u.resource),
                        push: None,
                    });
                }
            }
        }
        return Ok(report);
    }
    let registry = match Target::of(e) {
        Target::Local(port) => {
            let state = project.root.join(".stackctl");
            std::fs::create_dir_all(&state)
                .with_context(|| format!("creating {}", state.display()))?;
            let running =
                tokio::task::spawn_blocking(move || crate::servers::ensure_registry(&state, port))
                    .await??;
            report.started = running.started.then_some(running);
            Registry::anonymous(&format!("http://127.0.0.1:{port}"))
        }
        Target::Ecr => Registry::ecr(&super::registry::ecr_credentials(sdk).await?),
    };
    report.registry = registry.host.clone();
    let ecr = aws_sdk_ecr::Client::new(sdk);
    for b in built {
        let dir = project.root.join(&b.layout);
        let image = std::sync::Arc::new(
            oci::read_layout(&dir)
                .with_context(|| format!("reading the image of `{}`", b.crate_name))?,
        );
        for u in &b.uses {
            let Some(r) = rendered.iter().find(|r| r.env == env && r.stack == u.stack) else {
                continue;
            };
            let repository = repository(project, r, &u.resource);
            let exists = match Target::of(e) {
                Target::Local(_) => true,
                Target::Ecr => ecr_repository_exists(&ecr, &repository).await?,
            };
            let push = if exists {
                let (reg, img, repo) = (registry.clone(), image.clone(), repository.clone());
                let p = tokio::task::spawn_blocking(move || reg.push(&repo, &img, None))
                    .await?
                    .with_context(|| {
                        format!("pushing the image of `{}` to {repository}", b.crate_name)
                    })?;
                report
                    .parameters
                    .entry(u.stack.clone())
                    .or_default()
                    .insert(
                        crate::kinds::IMAGE.of(&pascal(&u.resource)),
                        p.reference.clone(),
                    );
                Some(p)
            } else {
                None
            };
            report.services.push(ServicePush {
                stack: u.stack.clone(),
                resource: u.resource.clone(),
                crate_name: b.crate_name.clone(),
                repository,
                push,
            });
        }
    }
    Ok(report)
}

/// Whether ECR has repository `name` in the account.
async fn ecr_repository_exists(ecr: &aws_sdk_ecr::Client, name: &str) -> Result<bool> {
    match ecr
        .describe_repositories()
        .repository_names(name)
        .send()
        .await
    {
        Ok(_) => Ok(true),
        Err(e) => {
            if e.as_service_error()
                .is_some_and(|s| s.is_repository_not_found_exception())
            {
                Ok(false)
            } else {
                Err(anyhow::anyhow!(aws_sdk_ecr::error::DisplayErrorContext(e)))
                    .with_context(|| format!("looking up ECR repository {name}"))
            }
        }
    }
}

/// The `<Key>Image` parameters `built` would get, without pushing (for
/// `diff`): at the local registry, its reference there; at ECR, its
/// repository's URI where the repository exists (else the parameter stays
/// as it is: empty before the first deploy).
pub async fn references(
    project: &Project,
    env: &str,
    sdk: &aws_config::SdkConfig,
    built: &[BuiltImage],
    rendered: &[Rendered],
) -> Result<BTreeMap<String, BTreeMap<String, String>>> {
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let target = Target::of(&project.file.environments[env]);
    let ecr = aws_sdk_ecr::Client::new(sdk);
    for b in built {
        for u in &b.uses {
            let Some(r) = rendered.iter().find(|r| r.env == env && r.stack == u.stack) else {
                continue;
            };
            let repo = repository(project, r, &u.resource);
            let uri = match target {
                Target::Local(port) => Some(format!("127.0.0.1:{port}/{repo}")),
                Target::Ecr => match ecr
                    .describe_repositories()
                    .repository_names(&repo)
                    .send()
                    .await
                {
                    Ok(o) => o
                        .repositories()
                        .first()
                        .and_then(|r| r.repository_uri())
                        .map(str::to_string),
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|s| s.is_repository_not_found_exception()) =>
                    {
                        None
                    }
                    Err(e) => {
                        return Err(anyhow::anyhow!(aws_sdk_ecr::error::DisplayErrorContext(e)))
                            .with_context(|| format!("looking up ECR repository {repo}"))
                    }
                },
            };
            if let Some(uri) = uri {
                out.entry(u.stack.clone()).or_default().insert(
                    crate::kinds::IMAGE.of(&pascal(&u.resource)),
                    format!("{uri}@{}", b.digest),
                );
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(name: &str, uses: &[(&str, &str)]) -> ServiceImage {
        ServiceImage {
            crate_name: name.into(),
            uses: uses
                .iter()
                .map(|(s, r)| Use {
                    stack: s.to_string(),
                    resource: r.to_string(),
                })
                .collect(),
        }
    }

    #[test]
    fn images_are_selected_by_crate_or_key_and_the_rest_is_left_for_functions() {
        let all = vec![
            image("world-management", &[("world", "world_management")]),
            image(
                "agent-runtime",
                &[("world", "agent_runtime"), ("other", "agents")],
            ),
        ];
        let (chosen, rest) = select(all.clone(), &["agents".into(), "create-upload".into()]);
        assert_eq!(chosen, vec![all[1].clone()]);
        assert_eq!(rest, ["create-upload"]);
        assert_eq!(select(all.clone(), &[]).0, all);
        let only = of_stacks(all, &["other".into()]);
        assert_eq!(only, vec![image("agent-runtime", &[("other", "agents")])]);
    }

    #[test]
    fn ports_and_repositories_come_from_the_rendered_template() {
        let template = serde_json::json!({
            "Resources": {
                "WorldManagementRepository": {"Type": "AWS::ECR::Repository", "Properties": {"RepositoryName": "p-world-world-management-dev"}},
                "WorldManagementTask": {"Type": "AWS::ECS::TaskDefinition", "Properties": {"ContainerDefinitions": [
                    {"Image": {"Ref": "WorldManagementImage"}, "PortMappings": [{"ContainerPort": 8080}]}
                ]}}
            }
        });
        let r = Rendered {
            stack: "world".into(),
            env: "dev".into(),
            stack_name: "p-world-dev".into(),
            template: template.to_string(),
            parameters: BTreeMap::new(),
            code_parameters: BTreeMap::new(),
            output_parameters: BTreeMap::new(),
            tags: BTreeMap::new(),
            inventory: Vec::new(),
            local_secrets: Vec::new(),
            external_secrets: Vec::new(),
            probes: Vec::new(),
        };
        assert_eq!(
            ports(std::slice::from_ref(&r))["world/WorldManagementImage"],
            8080
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("stacks")).unwrap();
        std::fs::write(
            dir.path().join("stackctl.yaml"),
            "project: p\nnaming: \"Acme-{project}-{stack}-{name}-{env}\"\nstacks:\n  world: {}\nenvironments:\n  dev:\n    region: us-east-1\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("stacks/world.yaml"), "resources: {}\n").unwrap();
        let (project, _) = crate::validate::project(dir.path()).unwrap();
        assert_eq!(
            repository(&project, &r, "world_management"),
            "p-world-world-management-dev"
        );
        // Without the repository in the template: the naming pattern, in
        // lower case (ECR's rule).
        assert_eq!(
            repository(&project, &r, "agent_runtime"),
            "acme-p-world-agent-runtime-dev"
        );
    }

    #[test]
    fn the_stamp_changes_with_each_input_and_only_then() {
        let exe = std::fs::read("/bin/ls").unwrap();
        let resolver =
            crate::image::libs::Resolver::host(crate::image::libs::needs(&exe).unwrap().machine);
        let spec = Spec {
            name: "ls".into(),
            executable: "/bin/ls".into(),
            port: Some(8080),
            env: Vec::new(),
            revision: None,
            epoch: 0,
        };
        let a = inputs_stamp(&spec, &exe, &resolver).unwrap();
        assert_eq!(a, inputs_stamp(&spec, &exe, &resolver).unwrap());
        let later = Spec {
            epoch: 1,
            ..spec.clone()
        };
        assert_ne!(a, inputs_stamp(&later, &exe, &resolver).unwrap());
        let mut other = exe.clone();
        let n = other.len() - 1;
        other[n] ^= 1;
        assert_ne!(a, inputs_stamp(&spec, &other, &resolver).unwrap());
        assert_eq!(stamp_path("api"), Path::new("target/images/api.source"));
    }
}
