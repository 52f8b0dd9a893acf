//! The deployment zip of one function: a single `bootstrap` entry, made so
//! that the same executable always gives the same bytes (and so the same
//! sha256 and the same artefact key).
//!
//! Nothing from the build machine enters the archive: the timestamp is the
//! zip epoch (1980-01-01 00:00:00), the mode is 0755, compression is deflate
//! at a fixed level, and there are no extra fields.

use ::zip::write::SimpleFileOptions;
use ::zip::{CompressionMethod, DateTime, ZipWriter};
use sha2::{Digest, Sha256};
use std::io::{Cursor, Write};

/// The one entry of a Lambda zip for the `provided.al2023` runtime.
pub const ENTRY: &str = "bootstrap";

/// The entry's unix mode: executable by everyone, as the runtime requires.
pub const MODE: u32 = 0o755;

/// Deflate level: the smallest output zlib gives; fixed, so zips are stable.
const LEVEL: i64 = 9;

/// Names how zips are made. A zip on disk is reused only when it was made
/// this way from the same executable; change this with anything above.
pub const FORMAT: &str = "bootstrap-zip/1 deflate-9 mode-0755 epoch-1980";

/// Zips `executable` as the single entry `bootstrap`, deterministically.
pub fn bootstrap_zip(executable: &[u8]) -> ::zip::result::ZipResult<Vec<u8>> {
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .compression_level(Some(LEVEL))
        .last_modified_time(DateTime::default())
        .unix_permissions(MODE)
        .large_file(false);
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    zip.start_file(ENTRY, options)?;
    zip.write_all(executable)?;
    Ok(zip.finish()?.into_inner())
}

/// The sha256 of `bytes` as 64 lowercase hex digits.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::zip::ZipArchive;
    use std::io::Read;

    /// Something the size and shape of a small executable.
    fn payload() -> Vec<u8> {
        let mut data = b"\x7fELF fake executable\n".to_vec();
        for i in 0u32..50_000 {
            data.extend_from_slice(&(i.wrapping_mul(2_654_435_761) >> 7).to_le_bytes());
        }
        data
    }

    #[test]
    fn the_same_bytes_give_the_same_zip() {
        let a = bootstrap_zip(&payload()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let b = bootstrap_zip(&payload()).unwrap();
        assert_eq!(a, b, "two zips of the same executable differ");
        assert_eq!(sha256_hex(&a), sha256_hex(&b));
        let c = bootstrap_zip(b"another executable").unwrap();
        assert_ne!(a, c);
    }

    #[test]
    fn the_zip_holds_one_executable_bootstrap() {
        let data = payload();
        let bytes = bootstrap_zip(&data).unwrap();
        let mut archive = ZipArchive::new(Cursor::new(bytes.as_slice())).unwrap();
        assert_eq!(archive.len(), 1);
        let mut entry = archive.by_index(0).unwrap();
        assert_eq!(entry.name(), "bootstrap");
        assert_eq!(entry.unix_mode().map(|m| m & 0o777), Some(0o755));
        assert_eq!(entry.compression(), CompressionMethod::Deflated);
        let time = entry.last_modified().expect("a timestamp");
        assert_eq!(
            (
                time.year(),
                time.month(),
                time.day(),
                time.hour(),
                time.minute(),
                time.second()
            ),
            (1980, 1, 1, 0, 0, 0)
        );
        assert!(entry.extra_data().is_none_or(|e| e.is_empty()));
        let mut back = Vec::new();
        entry.read_to_end(&mut back).unwrap();
        assert_eq!(back, data);
        assert!(
            entry.compressed_size() < entry.size(),
            "deflate should shrink the payload"
        );
    }

    #[test]
    fn sha256_known_answers() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
