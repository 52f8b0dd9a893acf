//! Deterministic layers: a tree of entries written as a tar (GNU headers,
//! entries sorted by path, parents first, one fixed mtime, owner 0:0 unless
//! an entry says, modes normalised, no user or group names) and compressed
//! with gzip at a fixed level with a header that carries no name and mtime
//! 0. The same tree gives the same bytes, so the same digest.

use super::libs::Step;
use super::{sha256_digest, Blob, LAYER_MEDIA_TYPE};
use anyhow::{Context, Result};
use flate2::{Compression, GzBuilder};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The gzip level of every layer (zlib's default: a fair size for the
/// time; changing it changes every digest).
pub const GZIP_LEVEL: u32 = 6;

/// What a path in a layer is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A directory with its mode and owner.
    Dir {
        /// Permission bits.
        mode: u32,
        /// Owner uid and gid.
        owner: u32,
    },
    /// A file read from the host when the layer is written.
    HostFile {
        /// Where it is on the host.
        source: PathBuf,
        /// Permission bits.
        mode: u32,
    },
    /// A file with these bytes.
    Data {
        /// Its content.
        bytes: Vec<u8>,
        /// Permission bits.
        mode: u32,
    },
    /// A symlink to this target.
    Symlink(PathBuf),
}

/// The entries of one layer, by path relative to `/`: sorted by path
/// components, so a directory comes before what it holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tree {
    entries: BTreeMap<PathBuf, Entry>,
}

/// A file's mode normalised: 0755 when the host gives any execute bit,
/// else 0644.
pub fn normal_mode(host_mode: u32) -> u32 {
    if host_mode & 0o111 != 0 {
        0o755
    } else {
        0o644
    }
}

impl Tree {
    /// Adds `path` (relative) with `entry`, and its parent directories
    /// (0755, root's) unless they are there.
    pub fn insert(&mut self, path: impl Into<PathBuf>, entry: Entry) {
        let path = path.into();
        let mut parent = path.parent();
        while let Some(p) = parent.filter(|p| !p.as_os_str().is_empty()) {
            self.entries.entry(p.to_path_buf()).or_insert(Entry::Dir {
                mode: 0o755,
                owner: 0,
            });
            parent = p.parent();
        }
        self.entries.insert(path, entry);
    }

    /// Adds a host path's way (see [`super::libs::walk`]): its symlinks,
    /// directories and file.
    pub fn insert_walk(&mut self, steps: Vec<Step>) {
        for step in steps {
            match step {
                Step::Dir(p) => {
                    self.entries.entry(p).or_insert(Entry::Dir {
                        mode: 0o755,
                        owner: 0,
                    });
                }
                Step::Symlink(p, target) => self.insert(p, Entry::Symlink(target)),
                Step::File(p, mode) => {
                    let source = Path::new("/").join(&p);
                    self.insert(
                        p,
                        Entry::HostFile {
                            source,
                            mode: normal_mode(mode),
                        },
                    )
                }
            }
        }
    }

    /// The entries, in layer order.
    pub fn entries(&self) -> impl Iterator<Item = (&PathBuf, &Entry)> {
        self.entries.iter()
    }

    /// The uncompressed tar, every entry dated `mtime`.
    pub fn tar(&self, mtime: u64) -> Result<Vec<u8>> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, entry) in &self.entries {
            let mut h = tar::Header::new_gnu();
            h.set_mtime(mtime);
            h.set_uid(0);
            h.set_gid(0);
            match entry {
                Entry::Dir { mode, owner } => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_mode(*mode);
                    h.set_uid(u64::from(*owner));
                    h.set_gid(u64::from(*owner));
                    h.set_size(0);
                    builder.append_data(&mut h, path, std::io::empty())
                }
                Entry::HostFile { source, mode } => {
                    let bytes = std::fs::read(source)
                        .with_context(|| format!("reading {}", source.display()))?;
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_mode(*mode);
                    h.set_size(bytes.len() as u64);
                    builder.append_data(&mut h, path, &bytes[..])
                }
                Entry::Data { bytes, mode } => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_mode(*mode);
                    h.set_size(bytes.len() as u64);
                    builder.append_data(&mut h, path, &bytes[..])
                }
                Entry::Symlink(target) => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_mode(0o777);
                    h.set_size(0);
                    builder.append_link(&mut h, path, target)
                }
            }
            .with_context(|| format!("adding {} to a layer", path.display()))?;
        }
        builder.into_inner().context("finishing a layer's tar")
    }

    /// The layer blob (tar + gzip) and its diff id (the digest of the
    /// uncompressed tar).
    pub fn layer(&self, mtime: u64) -> Result<(Blob, String)> {
        let tar = self.tar(mtime)?;
        let diff_id = sha256_digest(&tar);
        let gz = gzip(&tar)?;
        Ok((Blob::new(LAYER_MEDIA_TYPE, gz), diff_id))
    }
}

/// gzip with no file name, mtime 0, "unknown" OS and [`GZIP_LEVEL`].
pub fn gzip(data: &[u8]) -> Result<Vec<u8>> {
    let mut enc = GzBuilder::new().mtime(0).operating_system(255).write(
        Vec::with_capacity(data.len() / 2),
        Compression::new(GZIP_LEVEL),
    );
    enc.write_all(data).context("compressing a layer")?;
    enc.finish().context("compressing a layer")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn entries_are_sorted_parents_first_with_fixed_metadata() {
        let mut t = Tree::default();
        t.insert(
            "usr/lib/b",
            Entry::Data {
                bytes: b"b".to_vec(),
                mode: 0o644,
            },
        );
        t.insert(
            "etc/passwd",
            Entry::Data {
                bytes: b"p".to_vec(),
                mode: 0o644,
            },
        );
        t.insert("lib", Entry::Symlink("usr/lib".into()));
        let tar = t.tar(0).unwrap();
        let mut archive = tar::Archive::new(&tar[..]);
        let mut seen = Vec::new();
        for e in archive.entries().unwrap() {
            let e = e.unwrap();
            let h = e.header();
            assert_eq!(h.mtime().unwrap(), 0);
            assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (0, 0));
            assert_eq!(h.username().unwrap(), Some(""));
            seen.push(e.path().unwrap().display().to_string());
        }
        assert_eq!(
            seen,
            ["etc", "etc/passwd", "lib", "usr", "usr/lib", "usr/lib/b"]
        );
    }

    #[test]
    fn gzip_headers_carry_no_name_nor_time() {
        let a = gzip(b"hello").unwrap();
        assert_eq!(&a[4..8], &[0, 0, 0, 0], "mtime");
        assert_eq!(a[3] & 0x08, 0, "no FNAME");
        assert_eq!(a, gzip(b"hello").unwrap());
        let mut out = String::new();
        flate2::read::GzDecoder::new(&a[..])
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "hello");
    }
}
