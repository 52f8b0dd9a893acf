//! Which glibc a Lambda executable needs, read from its ELF version needs
//! (`.gnu.version_r`): the highest `GLIBC_x.y` the dynamic linker must find,
//! compared with the glibc of the `provided.al2023` runtime (2.34).
//!
//! The version needs are what `ld.so` checks at start-up, so they are the
//! exact answer; a scan of the bytes for `GLIBC_` strings would also count
//! names that are not required.

use super::Arch;
use anyhow::Context;
use object::elf;
use object::read::elf::FileHeader;
use object::Endianness;
use serde::{Serialize, Serializer};
use std::fmt;

/// The glibc of the Lambda runtime `provided.al2023`.
pub const LAMBDA_GLIBC: GlibcVersion = GlibcVersion::new(2, 34, 0);

/// A glibc symbol version such as `2.34` or `2.2.5`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GlibcVersion {
    /// Always 2 in practice.
    pub major: u32,
    /// The release: 34 in `2.34`.
    pub minor: u32,
    /// The third part, used by the oldest versions (`2.2.5`); 0 when absent.
    pub patch: u32,
}

impl GlibcVersion {
    /// The version `major.minor.patch`.
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        Self {
            major,
            minor,
            patch,
        }
    }

    /// The version a version-need name asks for: `GLIBC_2.34` gives 2.34,
    /// `GLIBC_2.2.5` gives 2.2.5, and `GLIBC_ABI_DT_RELR` (packed relative
    /// relocations, first supported by glibc 2.36) gives 2.36. Other names,
    /// such as `GLIBC_PRIVATE` or another library's versions, give `None`.
    pub fn from_need(name: &str) -> Option<Self> {
        if name == "GLIBC_ABI_DT_RELR" {
            return Some(Self::new(2, 36, 0));
        }
        let mut parts = name.strip_prefix("GLIBC_")?.split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        let patch = match parts.next() {
            Some(p) => p.parse().ok()?,
            None => 0,
        };
        if parts.next().is_some() {
            return None;
        }
        Some(Self::new(major, minor, patch))
    }

    /// Whether the Lambda runtime's glibc provides this version.
    pub fn fits_lambda(self) -> bool {
        self <= LAMBDA_GLIBC
    }
}

impl fmt::Display for GlibcVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)?;
        if self.patch != 0 {
            write!(f, ".{}", self.patch)?;
        }
        Ok(())
    }
}

impl Serialize for GlibcVersion {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for GlibcVersion {
    /// Reads what `Serialize` writes (`2.34`, `2.2.5`).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::from_need(&format!("GLIBC_{text}"))
            .ok_or_else(|| serde::de::Error::custom(format!("not a glibc version: `{text}`")))
    }
}

/// Whether an executable with these needs runs on the Lambda runtime:
/// one that needs no glibc version (static, or musl) always does.
pub fn fits_lambda(required: Option<GlibcVersion>) -> bool {
    required.is_none_or(GlibcVersion::fits_lambda)
}

/// What stackctl needs to know about a built executable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElfInfo {
    /// The machine it runs on, if Lambda offers it (`None`: another one).
    pub arch: Option<Arch>,
    /// The ELF machine's number, for messages about other machines.
    pub machine: u16,
    /// The highest glibc version it needs; `None` for a static executable.
    pub glibc: Option<GlibcVersion>,
}

/// Reads the machine and the highest glibc version needed by a 64-bit ELF
/// executable.
pub fn inspect(data: &[u8]) -> anyhow::Result<ElfInfo> {
    let header = elf::FileHeader64::<Endianness>::parse(data)
        .context("not a 64-bit ELF executable (Lambda runs Linux x86_64 or arm64 executables)")?;
    let endian = header.endian().context("reading the ELF header")?;
    let machine = header.e_machine(endian);
    let arch = if machine == elf::EM_X86_64 {
        Some(Arch::X86_64)
    } else if machine == elf::EM_AARCH64 {
        Some(Arch::Arm64)
    } else {
        None
    };
    let sections = header
        .sections(endian, data)
        .context("reading the ELF section headers")?;
    let mut glibc = None;
    if let Some((mut needs, link)) = sections
        .gnu_verneed(endian, data)
        .context("reading .gnu.version_r")?
    {
        let strings = sections
            .strings(endian, data, link)
            .context("reading the string table of .gnu.version_r")?;
        while let Some((_file, mut versions)) = needs.next().context("reading a version need")? {
            while let Some(version) = versions.next().context("reading a version need")? {
                let name = version
                    .name(endian, strings)
                    .context("reading a version name")?;
                let found = std::str::from_utf8(name)
                    .ok()
                    .and_then(GlibcVersion::from_need);
                glibc = glibc.max(found);
            }
        }
    }
    Ok(ElfInfo {
        arch,
        machine: machine.0,
        glibc,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(name: &str) -> GlibcVersion {
        GlibcVersion::from_need(name).unwrap()
    }

    #[test]
    fn version_names_parse() {
        assert_eq!(v("GLIBC_2.34"), GlibcVersion::new(2, 34, 0));
        assert_eq!(v("GLIBC_2.2.5"), GlibcVersion::new(2, 2, 5));
        assert_eq!(v("GLIBC_ABI_DT_RELR"), GlibcVersion::new(2, 36, 0));
        for other in [
            "GLIBC_PRIVATE",
            "GLIBCXX_3.4",
            "GCC_3.0",
            "GLIBC_2",
            "GLIBC_2.x",
            "GLIBC_2.1.2.3",
            "",
        ] {
            assert_eq!(GlibcVersion::from_need(other), None, "{other}");
        }
        assert_eq!(v("GLIBC_2.34").to_string(), "2.34");
        assert_eq!(v("GLIBC_2.2.5").to_string(), "2.2.5");
        assert_eq!(serde_json::to_string(&v("GLIBC_2.17")).unwrap(), "\"2.17\"");
    }

    #[test]
    fn versions_compare_numerically() {
        // 2.4 is older than 2.34 though "2.4" > "2.34" as text.
        assert!(v("GLIBC_2.4") < v("GLIBC_2.34"));
        assert!(v("GLIBC_2.2.5") < v("GLIBC_2.3"));
        assert!(v("GLIBC_2.2") < v("GLIBC_2.2.5"));
        assert!(v("GLIBC_2.34") < v("GLIBC_2.35"));
        assert!(v("GLIBC_2.34").fits_lambda());
        assert!(v("GLIBC_2.4").fits_lambda());
        assert!(!v("GLIBC_2.35").fits_lambda());
        assert!(!v("GLIBC_2.39").fits_lambda());
        assert!(!v("GLIBC_ABI_DT_RELR").fits_lambda());
        assert!(fits_lambda(None), "a static executable needs no glibc");
        assert!(!fits_lambda(Some(v("GLIBC_2.36"))));
    }

    #[test]
    fn reads_the_needs_of_a_real_executable() {
        // This test binary is a dynamically linked glibc executable.
        let exe = std::env::current_exe().unwrap();
        let data = std::fs::read(&exe).unwrap();
        let info = inspect(&data).unwrap();
        let glibc = info
            .glibc
            .expect("a glibc executable needs some GLIBC version");
        assert_eq!(glibc.major, 2);
        // x86_64's baseline is 2.2.5, aarch64's 2.17: every glibc binary needs at least that.
        assert!(glibc >= GlibcVersion::new(2, 2, 5), "{glibc}");
        let host = match std::env::consts::ARCH {
            "x86_64" => Some(Arch::X86_64),
            "aarch64" => Some(Arch::Arm64),
            _ => None,
        };
        assert_eq!(info.arch, host);
    }

    #[test]
    fn the_highest_need_wins() {
        // The need list of the test binary, read independently of `inspect`'s
        // max, must contain the version `inspect` reports.
        let data = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let header = elf::FileHeader64::<Endianness>::parse(&*data).unwrap();
        let endian = header.endian().unwrap();
        let sections = header.sections(endian, &*data).unwrap();
        let (mut needs, link) = sections.gnu_verneed(endian, &*data).unwrap().unwrap();
        let strings = sections.strings(endian, &*data, link).unwrap();
        let mut all = Vec::new();
        while let Some((_, mut aux)) = needs.next().unwrap() {
            while let Some(a) = aux.next().unwrap() {
                let name = String::from_utf8_lossy(a.name(endian, strings).unwrap()).into_owned();
                all.extend(GlibcVersion::from_need(&name));
            }
        }
        assert!(all.len() > 1, "expected several GLIBC needs, got {all:?}");
        assert_eq!(inspect(&data).unwrap().glibc, all.iter().copied().max());
    }

    #[test]
    fn rejects_what_is_not_an_elf() {
        let err = inspect(b"#!/bin/sh\necho not an executable\n").unwrap_err();
        assert!(format!("{err:#}").contains("not a 64-bit ELF"), "{err:#}");
    }
}
