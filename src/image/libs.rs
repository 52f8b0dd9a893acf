//! Exactly the shared libraries an executable needs, found the way the
//! dynamic loader finds them on this host: the program interpreter
//! (`PT_INTERP`), then each object's `DT_NEEDED` names, recursively,
//! searched in the object's `DT_RPATH` (when it has no `DT_RUNPATH`), its
//! `DT_RUNPATH`, the loader's cache (`ldconfig -p`) and the standard
//! (multiarch) directories, `$ORIGIN` expanded.
//!
//! Every path the loader opens is kept with the symlinks on its way (Debian's
//! `/lib -> usr/lib`, `/lib64/ld-linux-x86-64.so.2 -> /lib/...`), so the image
//! answers the same paths the loader asks for. Libraries a program opens
//! itself (`dlopen`) are not named by `DT_NEEDED` and are not found.

use anyhow::{bail, Context, Result};
use object::elf;
use object::read::elf::{FileHeader, ProgramHeader};
use object::Endianness;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Component, Path, PathBuf};
use std::process::Command;

/// What one ELF object asks of the dynamic loader.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Needs {
    /// ELF machine (`EM_X86_64`, `EM_AARCH64`, ...).
    pub machine: u16,
    /// The program interpreter (`PT_INTERP`), for an executable.
    pub interpreter: Option<String>,
    /// The `DT_NEEDED` names, in order.
    pub needed: Vec<String>,
    /// `DT_RPATH` directories (searched only without `DT_RUNPATH`).
    pub rpath: Vec<String>,
    /// `DT_RUNPATH` directories.
    pub runpath: Vec<String>,
}

/// Reads the loader's view of a 64-bit ELF object.
pub fn needs(data: &[u8]) -> Result<Needs> {
    let header = elf::FileHeader64::<Endianness>::parse(data)
        .context("not a 64-bit ELF object (images run Linux x86_64 or arm64 executables)")?;
    let endian = header.endian().context("reading the ELF header")?;
    let mut out = Needs {
        machine: header.e_machine(endian).0,
        ..Needs::default()
    };
    for ph in header
        .program_headers(endian, data)
        .context("reading the ELF program headers")?
    {
        if let Some(interp) = ph.interpreter(endian, data).context("reading PT_INTERP")? {
            out.interpreter = Some(String::from_utf8_lossy(interp).into_owned());
        }
    }
    let sections = header
        .sections(endian, data)
        .context("reading the ELF section headers")?;
    let table = sections
        .dynamic_table(endian, data)
        .context("reading the dynamic section")?;
    for d in &table {
        let list = match d.tag {
            elf::DT_NEEDED => None,
            elf::DT_RPATH => Some(&mut out.rpath),
            elf::DT_RUNPATH => Some(&mut out.runpath),
            _ => continue,
        };
        let text = table
            .string(d)
            .context("reading a dynamic string")
            .map(|s| String::from_utf8_lossy(s).into_owned())?;
        match list {
            None => out.needed.push(text),
            Some(dirs) => dirs.extend(text.split(':').filter(|s| !s.is_empty()).map(String::from)),
        }
    }
    Ok(out)
}

/// Where the loader looks for a library by name, on this host.
#[derive(Debug, Clone, Default)]
pub struct Resolver {
    /// The loader's cache for the machine: name -> path.
    pub cache: BTreeMap<String, PathBuf>,
    /// The loader's built-in directories, in order.
    pub system_dirs: Vec<PathBuf>,
}

impl Resolver {
    /// The host's loader for ELF machine `machine`: its cache as `ldconfig
    /// -p` prints it (entries of that machine only) and Debian's system
    /// directories.
    pub fn host(machine: u16) -> Self {
        let text = Command::new("ldconfig")
            .arg("-p")
            .output()
            .or_else(|_| Command::new("/sbin/ldconfig").arg("-p").output())
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        Self {
            cache: parse_ldconfig(&text, machine),
            system_dirs: system_dirs(machine),
        }
    }

    /// The file the loader opens for `name`, needed by the object at
    /// `object` with `needs`' search paths; `None` when not found.
    pub fn find(&self, name: &str, object: &Path, needs: &Needs) -> Option<PathBuf> {
        if name.contains('/') {
            let p = PathBuf::from(name);
            return p.is_file().then_some(p);
        }
        let origin = object.parent().unwrap_or(Path::new("/"));
        let expand = |d: &String| {
            PathBuf::from(
                d.replace("${ORIGIN}", "$ORIGIN")
                    .replace("$ORIGIN", &origin.to_string_lossy()),
            )
        };
        let rpath = if needs.runpath.is_empty() {
            needs.rpath.iter().map(expand).collect()
        } else {
            Vec::new()
        };
        let runpath: Vec<PathBuf> = needs.runpath.iter().map(expand).collect();
        let matches = |p: &Path| {
            std::fs::read(p)
                .ok()
                .and_then(|d| self::needs(&d).ok())
                .is_some_and(|n| n.machine == needs.machine)
        };
        rpath
            .iter()
            .chain(&runpath)
            .map(|d| d.join(name))
            .find(|p| matches(p))
            .or_else(|| self.cache.get(name).filter(|p| matches(p)).cloned())
            .or_else(|| {
                self.system_dirs
                    .iter()
                    .map(|d| d.join(name))
                    .find(|p| matches(p))
            })
    }
}

/// The loader's built-in directories for a machine (Debian's multiarch
/// layout first).
pub fn system_dirs(machine: u16) -> Vec<PathBuf> {
    let triplet = if machine == elf::EM_X86_64.0 {
        Some("x86_64-linux-gnu")
    } else if machine == elf::EM_AARCH64.0 {
        Some("aarch64-linux-gnu")
    } else {
        None
    };
    let mut dirs = Vec::new();
    if let Some(t) = triplet {
        dirs.push(PathBuf::from("/lib").join(t));
        dirs.push(PathBuf::from("/usr/lib").join(t));
    }
    if machine == elf::EM_X86_64.0 {
        dirs.push("/lib64".into());
        dirs.push("/usr/lib64".into());
    }
    dirs.push("/lib".into());
    dirs.push("/usr/lib".into());
    dirs
}

/// The entries of `ldconfig -p` for ELF machine `machine`:
/// `\tlibc.so.6 (libc6,x86-64) => /lib/x86_64-linux-gnu/libc.so.6`. The
/// first entry of a name wins, as in the loader.
pub fn parse_ldconfig(text: &str, machine: u16) -> BTreeMap<String, PathBuf> {
    let flag = if machine == elf::EM_X86_64.0 {
        "x86-64"
    } else if machine == elf::EM_AARCH64.0 {
        "AArch64"
    } else {
        return BTreeMap::new();
    };
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some((left, path)) = line.split_once(" => ") else {
            continue;
        };
        let Some((name, flags)) = left.trim().split_once(' ') else {
            continue;
        };
        let flags = flags.trim_start_matches('(').trim_end_matches(')');
        if !flags.split(',').any(|f| f == flag) {
            continue;
        }
        out.entry(name.to_string())
            .or_insert_with(|| PathBuf::from(path.trim()));
    }
    out
}

/// An executable's runtime closure: the interpreter and every library, as
/// the absolute paths the loader opens (symlinks included), in the order
/// found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closure {
    /// ELF machine of the executable.
    pub machine: u16,
    /// The interpreter's path as `PT_INTERP` names it (`None`: static).
    pub interpreter: Option<PathBuf>,
    /// Each needed library: its name and the path the loader opens.
    pub libraries: Vec<(String, PathBuf)>,
}

impl Closure {
    /// Every path the loader opens: the interpreter, then the libraries.
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.interpreter
            .iter()
            .map(PathBuf::as_path)
            .chain(self.libraries.iter().map(|(_, p)| p.as_path()))
    }

    /// The directories outside the loader's built-in ones that hold a
    /// library, for `LD_LIBRARY_PATH` (the image has no loader cache).
    pub fn extra_dirs(&self) -> Vec<PathBuf> {
        let system = system_dirs(self.machine);
        let mut dirs: Vec<PathBuf> = Vec::new();
        for (_, p) in &self.libraries {
            let Some(dir) = p.parent() else { continue };
            if !system.iter().any(|s| s == dir) && !dirs.iter().any(|d| d == dir) {
                dirs.push(dir.to_path_buf());
            }
        }
        dirs
    }
}

/// Finds the interpreter and every library `executable` (its bytes, at
/// `path`) needs, recursively, through `resolver`.
pub fn closure(executable: &[u8], path: &Path, resolver: &Resolver) -> Result<Closure> {
    let top = needs(executable)?;
    let interpreter = top.interpreter.as_ref().map(PathBuf::from);
    if let Some(i) = &interpreter {
        if !i.is_file() {
            bail!(
                "{} asks for the program interpreter {}, which this machine does not have\nhint: build the executable for this machine, or statically",
                path.display(),
                i.display()
            );
        }
    }
    let mut libraries: Vec<(String, PathBuf)> = Vec::new();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    // The interpreter satisfies its own soname (`ld-linux-x86-64.so.2`).
    if let Some(i) = &interpreter {
        if let Some(n) = i.file_name() {
            seen.insert(n.to_string_lossy().into_owned());
        }
    }
    let mut queue: VecDeque<(PathBuf, Needs)> = VecDeque::from([(path.to_path_buf(), top.clone())]);
    while let Some((object, n)) = queue.pop_front() {
        for name in &n.needed {
            if !seen.insert(name.clone()) {
                continue;
            }
            let Some(found) = resolver.find(name, &object, &n) else {
                bail!(
                    "{} needs the shared library {name} (through {}), which the loader does not find on this machine\nhint: install the package that provides it (Debian: apt-file search {name}), or link it statically",
                    path.display(),
                    object.display()
                );
            };
            let data =
                std::fs::read(&found).with_context(|| format!("reading {}", found.display()))?;
            let lib_needs = needs(&data).with_context(|| format!("reading {}", found.display()))?;
            libraries.push((name.clone(), found.clone()));
            queue.push_back((found, lib_needs));
        }
    }
    if interpreter.is_none() && !libraries.is_empty() {
        bail!(
            "{} needs shared libraries but names no program interpreter (PT_INTERP)",
            path.display()
        );
    }
    Ok(Closure {
        machine: top.machine,
        interpreter,
        libraries,
    })
}

/// One entry of a host path's way through the filesystem, relative to `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A directory.
    Dir(PathBuf),
    /// A symlink and its target, as stored.
    Symlink(PathBuf, PathBuf),
    /// The file at the end, with its host mode.
    File(PathBuf, u32),
}

/// Walks absolute `path` on the host from `/`, following symlinks as the
/// kernel does, and returns every directory, symlink and the final file on
/// the way (relative to `/`), so an image holds the same path.
pub fn walk(path: &Path) -> Result<Vec<Step>> {
    use std::os::unix::fs::PermissionsExt;
    let mut steps = Vec::new();
    let mut todo: PathBuf = path.to_path_buf();
    let mut hops = 0;
    'restart: loop {
        let parts: Vec<Component> = todo
            .components()
            .filter(|c| !matches!(c, Component::RootDir | Component::CurDir))
            .collect();
        let mut cur = PathBuf::new();
        for (i, c) in parts.iter().enumerate() {
            match c {
                Component::ParentDir => {
                    cur.pop();
                }
                Component::Normal(n) => {
                    let next = cur.join(n);
                    let abs = Path::new("/").join(&next);
                    let meta = std::fs::symlink_metadata(&abs)
                        .with_context(|| format!("reading {}", abs.display()))?;
                    if meta.file_type().is_symlink() {
                        hops += 1;
                        if hops > 40 {
                            bail!("too many symlinks resolving {}", path.display());
                        }
                        let target = std::fs::read_link(&abs)
                            .with_context(|| format!("reading the link {}", abs.display()))?;
                        steps.push(Step::Symlink(next.clone(), target.clone()));
                        let base = if target.is_absolute() {
                            target
                        } else {
                            Path::new("/").join(&cur).join(target)
                        };
                        let rest: PathBuf = parts[i + 1..].iter().collect();
                        todo = base.join(rest);
                        continue 'restart;
                    }
                    if i + 1 == parts.len() {
                        if !meta.is_file() {
                            bail!("{} is not a file", abs.display());
                        }
                        steps.push(Step::File(next, meta.permissions().mode()));
                    } else {
                        steps.push(Step::Dir(next.clone()));
                        cur = next;
                    }
                }
                _ => {}
            }
        }
        return Ok(steps);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldconfig_entries_of_the_machine_only() {
        let text = "1234 libs found in cache `/etc/ld.so.cache'\n\
            \tlibz.so.1 (libc6,x86-64) => /lib/x86_64-linux-gnu/libz.so.1\n\
            \tlibz.so.1 (libc6) => /lib/i386-linux-gnu/libz.so.1\n\
            \tlibc.so.6 (libc6,AArch64) => /lib/aarch64-linux-gnu/libc.so.6\n\
            \tlibc.so.6 (libc6,x86-64, OS ABI: Linux 3.2.0) => /lib/x86_64-linux-gnu/libc.so.6\n";
        let x86 = parse_ldconfig(text, elf::EM_X86_64.0);
        assert_eq!(
            x86["libz.so.1"],
            Path::new("/lib/x86_64-linux-gnu/libz.so.1")
        );
        assert_eq!(
            x86["libc.so.6"],
            Path::new("/lib/x86_64-linux-gnu/libc.so.6")
        );
        let arm = parse_ldconfig(text, elf::EM_AARCH64.0);
        assert_eq!(arm.len(), 1);
        assert_eq!(
            arm["libc.so.6"],
            Path::new("/lib/aarch64-linux-gnu/libc.so.6")
        );
    }

    #[test]
    fn a_walk_keeps_the_symlinks_on_the_way() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join("usr/lib/x")).unwrap();
        std::fs::write(root.join("usr/lib/x/libq.so.1.2"), b"q").unwrap();
        std::os::unix::fs::symlink("usr/lib", root.join("lib")).unwrap();
        std::os::unix::fs::symlink("libq.so.1.2", root.join("usr/lib/x/libq.so.1")).unwrap();
        let steps = walk(&root.join("lib/x/libq.so.1")).unwrap();
        let rel = |p: &str| root.strip_prefix("/").unwrap().join(p);
        assert!(
            steps.contains(&Step::Symlink(rel("lib"), "usr/lib".into())),
            "{steps:?}"
        );
        assert!(
            steps.contains(&Step::Symlink(
                rel("usr/lib/x/libq.so.1"),
                "libq.so.1.2".into()
            )),
            "{steps:?}"
        );
        assert!(
            matches!(steps.last(), Some(Step::File(p, _)) if *p == rel("usr/lib/x/libq.so.1.2")),
            "{steps:?}"
        );
    }

    #[test]
    fn a_host_executable_needs_its_interpreter_and_libc() {
        let exe = Path::new("/bin/ls");
        let data = std::fs::read(exe).unwrap();
        let n = needs(&data).unwrap();
        assert!(n.interpreter.is_some());
        let c = closure(&data, exe, &Resolver::host(n.machine)).unwrap();
        assert!(
            c.libraries.iter().any(|(name, _)| name == "libc.so.6"),
            "{c:?}"
        );
    }
}
