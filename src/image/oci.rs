//! The OCI image (image-spec v1.1) documents: the image config, the
//! manifest, and the image layout directory (`oci-layout`, `index.json`,
//! `blobs/sha256/...`) that `stackctl build` writes under `target/images/`
//! and that `skopeo`, `podman` and `crane` read.

use super::{sha256_digest, Blob};
use anyhow::{bail, Context, Result};
use serde_json::{json, Value as Json};
use std::path::Path;

/// Media type of an image manifest.
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// Media type of an image config.
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
/// Media type of a tar+gzip layer.
pub const LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// Media type of an image index.
pub const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";
/// The tag the layout's index gives its one image (`oci:DIR:latest`).
pub const LAYOUT_REF: &str = "latest";

/// A descriptor of `blob`.
pub fn descriptor(blob: &Blob) -> Json {
    json!({"mediaType": blob.media_type, "digest": blob.digest, "size": blob.bytes.len()})
}

/// The manifest of an image of `config` and `layers`.
pub fn manifest(config: &Blob, layers: &[Blob]) -> Blob {
    let doc = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": descriptor(config),
        "layers": layers.iter().map(descriptor).collect::<Vec<_>>(),
    });
    Blob::new(MANIFEST_MEDIA_TYPE, to_bytes(&doc))
}

/// Canonical-enough JSON bytes: compact, keys in the order written.
pub fn to_bytes(doc: &Json) -> Vec<u8> {
    serde_json::to_vec(doc).expect("JSON values serialize")
}

/// `seconds` since the epoch as RFC 3339 (UTC), for the config's `created`.
pub fn rfc3339(seconds: u64) -> String {
    let days = (seconds / 86_400) as i64;
    let secs = seconds % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Locks the layout at `dir` through `DIR.lock` beside it: exclusive to
/// write, shared to read. Two stackctl processes building in one project
/// (two terminals, two tests) take turns instead of one removing the blobs
/// the other is writing or reading. The lock goes with the returned file.
fn lock_layout(dir: &Path, exclusive: bool) -> Result<std::fs::File> {
    let mut path = dir.as_os_str().to_owned();
    path.push(".lock");
    let path = std::path::PathBuf::from(path);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    if exclusive {
        file.lock()
    } else {
        file.lock_shared()
    }
    .with_context(|| format!("locking {}", path.display()))?;
    Ok(file)
}

/// Writes an image layout at `dir`: the blobs not there yet, `index.json`
/// naming the manifest, `oci-layout`; blobs of earlier images are removed.
pub fn write_layout(dir: &Path, manifest: &Blob, blobs: &[&Blob]) -> Result<()> {
    let _lock = lock_layout(dir, true)?;
    let blob_dir = dir.join("blobs").join("sha256");
    std::fs::create_dir_all(&blob_dir)
        .with_context(|| format!("creating {}", blob_dir.display()))?;
    let mut keep = std::collections::BTreeSet::new();
    for b in blobs.iter().copied().chain([manifest]) {
        let hex = b.hex();
        let path = blob_dir.join(hex);
        keep.insert(hex.to_string());
        let current = std::fs::metadata(&path).is_ok_and(|m| m.len() == b.bytes.len() as u64)
            && std::fs::read(&path).is_ok_and(|d| sha256_digest(&d) == b.digest);
        if !current {
            crate::build::replace_file(&path, &b.bytes)?;
        }
    }
    for e in std::fs::read_dir(&blob_dir)
        .with_context(|| format!("reading {}", blob_dir.display()))?
        .flatten()
    {
        let name = e.file_name().to_string_lossy().into_owned();
        if !keep.contains(&name) {
            let _ = std::fs::remove_file(e.path());
        }
    }
    let mut desc = descriptor(manifest);
    desc["annotations"] = json!({"org.opencontainers.image.ref.name": LAYOUT_REF});
    let index = json!({
        "schemaVersion": 2,
        "mediaType": INDEX_MEDIA_TYPE,
        "manifests": [desc],
    });
    let mut text = serde_json::to_vec_pretty(&index)?;
    text.push(b'\n');
    crate::build::replace_file(&dir.join("index.json"), &text)?;
    crate::build::replace_file(
        &dir.join("oci-layout"),
        b"{\"imageLayoutVersion\":\"1.0.0\"}\n",
    )
}

/// The image of a layout directory: its manifest, config and layers, each
/// checked against its digest.
pub fn read_layout(dir: &Path) -> Result<super::Image> {
    let _lock = lock_layout(dir, false)?;
    let index_path = dir.join("index.json");
    let index: Json = serde_json::from_slice(
        &std::fs::read(&index_path).with_context(|| format!("reading {}", index_path.display()))?,
    )
    .with_context(|| format!("reading {}", index_path.display()))?;
    let Some(desc) = index["manifests"].as_array().and_then(|m| m.first()) else {
        bail!("{} names no image", index_path.display());
    };
    let read = |d: &Json| -> Result<Blob> {
        let digest = d["digest"]
            .as_str()
            .context("a descriptor without digest")?;
        let media = d["mediaType"].as_str().unwrap_or_default();
        let hex = digest
            .strip_prefix("sha256:")
            .with_context(|| format!("unsupported digest {digest}"))?;
        let path = dir.join("blobs").join("sha256").join(hex);
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        if sha256_digest(&bytes) != digest {
            bail!(
                "{} does not match its digest (the layout was changed)\nhint: run `stackctl build` again",
                path.display()
            );
        }
        Ok(Blob::new(media, bytes))
    };
    let manifest = read(desc)?;
    let doc: Json = serde_json::from_slice(&manifest.bytes).context("reading the manifest")?;
    let config = read(&doc["config"])?;
    let layers = doc["layers"]
        .as_array()
        .context("a manifest without layers")?
        .iter()
        .map(read)
        .collect::<Result<Vec<_>>>()?;
    Ok(super::Image {
        manifest,
        config,
        layers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_764_597_845), "2025-12-01T14:04:05Z");
    }

    /// Two builds of one project write the same layout at once (the
    /// system tests do): each keeps its own blobs while it writes, and
    /// what is read is always a whole image.
    #[test]
    fn layouts_written_at_once_take_turns() {
        let dir = tempfile::tempdir().unwrap();
        let layout = dir.path().join("images").join("svc");
        let image = |n: u8| {
            let layer = Blob::new("application/octet-stream", vec![n; 4096]);
            let manifest = Blob::new(MANIFEST_MEDIA_TYPE, format!("manifest {n}").into_bytes());
            (manifest, layer)
        };
        std::thread::scope(|s| {
            for n in 0..4u8 {
                let layout = &layout;
                s.spawn(move || {
                    for round in 0..25u8 {
                        let (manifest, layer) = image(n.wrapping_mul(31).wrapping_add(round));
                        write_layout(layout, &manifest, &[&layer]).unwrap();
                    }
                });
            }
        });
        let kept: Vec<_> = std::fs::read_dir(layout.join("blobs/sha256"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(kept.len(), 2, "one manifest and one layer left: {kept:?}");
    }
}
