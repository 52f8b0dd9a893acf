//! Pushing images through the OCI distribution API
//! (<https://github.com/opencontainers/distribution-spec/blob/main/spec.md>):
//! each blob is checked with `HEAD /v2/NAME/blobs/DIGEST` and uploaded only
//! when missing (`POST /v2/NAME/blobs/uploads/`, then one `PUT ...?digest=`),
//! the manifest is checked by digest and put by digest, and a tag is put
//! only when it is new (ECR repositories are immutable: a tag never moves).
//!
//! Credentials: ECR's `GetAuthorizationToken` (base64 `AWS:password` and
//! the registry's endpoint) as Basic auth; the local registry stackctl
//! starts takes none, over http on loopback. HTTP is ureq (blocking: run it
//! on a blocking thread from async code) with the rustls set-up of the
//! health probes.

use super::{Image, MANIFEST_MEDIA_TYPE};
use anyhow::{bail, Context, Result};
use base64::Engine as _;
use serde::Serialize;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// How long one request may take (a layer of tens of MB on a slow link).
const TIMEOUT: Duration = Duration::from_secs(600);

/// A registry and how to authenticate to it.
#[derive(Clone)]
pub struct Registry {
    /// `http://127.0.0.1:5050` or `https://ACCOUNT.dkr.ecr.REGION.amazonaws.com`.
    pub base: String,
    /// The registry's host (and port) as image references name it.
    pub host: String,
    /// Whether tags never move (ECR's immutable repositories).
    pub immutable_tags: bool,
    authorization: Option<String>,
    agent: ureq::Agent,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("base", &self.base)
            .field("authorized", &self.authorization.is_some())
            .finish()
    }
}

/// Registry credentials from ECR.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name (`AWS` for ECR).
    pub username: String,
    /// Password (a 12-hour token for ECR).
    pub password: String,
    /// The registry's endpoint, `https://ACCOUNT.dkr.ecr.REGION.amazonaws.com`.
    pub endpoint: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

/// Decodes an ECR authorization token (base64 of `USER:PASSWORD`).
pub fn decode_token(token: &str, endpoint: &str) -> Result<Credentials> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .context("ECR's authorization token is not base64")?;
    let text = String::from_utf8(raw).context("ECR's authorization token is not text")?;
    let Some((user, password)) = text.split_once(':') else {
        bail!("ECR's authorization token is not USER:PASSWORD");
    };
    Ok(Credentials {
        username: user.to_string(),
        password: password.to_string(),
        endpoint: endpoint.trim_end_matches('/').to_string(),
    })
}

/// Asks ECR (through `sdk`'s region, endpoint and credentials) for the
/// credentials of the account's registry.
pub async fn ecr_credentials(sdk: &aws_config::SdkConfig) -> Result<Credentials> {
    let ecr = aws_sdk_ecr::Client::new(sdk);
    let out = ecr
        .get_authorization_token()
        .send()
        .await
        .map_err(|e| anyhow::anyhow!(aws_sdk_ecr::error::DisplayErrorContext(e)))
        .context("asking ECR for registry credentials (GetAuthorizationToken)")?;
    let data = out
        .authorization_data()
        .first()
        .context("ECR returned no authorization data")?;
    decode_token(
        data.authorization_token()
            .context("ECR returned no token")?,
        data.proxy_endpoint()
            .context("ECR returned no registry endpoint")?,
    )
}

/// An HTTP agent for registries: statuses as values, a few redirects
/// (blobs may be served from elsewhere; credentials are not sent there),
/// rustls with the web PKI roots as the health probes use.
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(5)
        .timeout_global(Some(TIMEOUT))
        .user_agent(concat!("stackctl/", env!("CARGO_PKG_VERSION")))
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .provider(ureq::tls::TlsProvider::Rustls)
                .root_certs(ureq::tls::RootCerts::WebPki)
                .unversioned_rustls_crypto_provider(Arc::new(
                    rustls::crypto::aws_lc_rs::default_provider(),
                ))
                .build(),
        )
        .build()
        .into()
}

/// What a push did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PushReport {
    /// The repository pushed to.
    pub repository: String,
    /// The image's digest.
    pub digest: String,
    /// The reference by digest: `HOST/REPOSITORY@sha256:...`.
    pub reference: String,
    /// Blobs (layers, config) uploaded.
    pub blobs_pushed: usize,
    /// Blobs the registry already had.
    pub blobs_skipped: usize,
    /// Bytes uploaded (blobs and manifest).
    pub bytes_pushed: u64,
    /// Bytes not sent because the registry had them.
    pub bytes_skipped: u64,
    /// Whether the manifest was put (false: it was there).
    pub manifest_pushed: bool,
    /// The tag put, when one was new.
    pub tag_pushed: Option<String>,
}

impl PushReport {
    /// Whether anything was sent.
    pub fn pushed_anything(&self) -> bool {
        self.blobs_pushed > 0 || self.manifest_pushed || self.tag_pushed.is_some()
    }
}

impl fmt::Display for PushReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.pushed_anything() {
            return write!(f, "{} already there", self.reference);
        }
        write!(
            f,
            "{}: {} blob{} pushed ({}), {} already there ({})",
            self.reference,
            self.blobs_pushed,
            if self.blobs_pushed == 1 { "" } else { "s" },
            human(self.bytes_pushed),
            self.blobs_skipped,
            human(self.bytes_skipped)
        )?;
        if let Some(t) = &self.tag_pushed {
            write!(f, ", tagged {t}")?;
        }
        Ok(())
    }
}

fn human(n: u64) -> String {
    if n < 1024 {
        format!("{n} B")
    } else if n < 1024 * 1024 {
        format!("{:.1} KiB", n as f64 / 1024.0)
    } else {
        format!("{:.1} MiB", n as f64 / (1024.0 * 1024.0))
    }
}

type Response = ureq::http::Response<ureq::Body>;

impl Registry {
    /// A registry at `base` (`http://host:port` or `https://host`).
    fn new(base: &str, authorization: Option<String>, immutable_tags: bool) -> Self {
        let base = base.trim_end_matches('/').to_string();
        let host = base
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .to_string();
        Self {
            base,
            host,
            immutable_tags,
            authorization,
            agent: agent(),
        }
    }

    /// A registry without authentication, e.g. the local one stackctl
    /// starts (`http://127.0.0.1:5050`); tags may move.
    pub fn anonymous(base: &str) -> Self {
        Self::new(base, None, false)
    }

    /// An ECR registry from its credentials: Basic auth, immutable tags.
    pub fn ecr(creds: &Credentials) -> Self {
        let basic = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", creds.username, creds.password));
        Self::new(&creds.endpoint, Some(format!("Basic {basic}")), true)
    }

    /// `HOST/REPOSITORY@DIGEST`, the reference a task definition uses.
    pub fn reference(&self, repository: &str, digest: &str) -> String {
        format!("{}/{repository}@{digest}", self.host)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn request(&self, method: &str, url: &str) -> ureq::http::request::Builder {
        let mut b = ureq::http::Request::builder().method(method).uri(url);
        if let Some(a) = &self.authorization {
            b = b.header("Authorization", a);
        }
        b
    }

    fn send(&self, req: ureq::http::request::Builder, body: &[u8]) -> Result<Response> {
        let req = req
            .body(body.to_vec())
            .context("building a registry request")?;
        let what = format!("{} {}", req.method(), req.uri());
        self.agent
            .run(req)
            .with_context(|| format!("{what}: no answer from the registry"))
    }

    /// Whether the registry has blob `digest` in `repository`.
    pub fn has_blob(&self, repository: &str, digest: &str) -> Result<bool> {
        let url = self.url(&format!("/v2/{repository}/blobs/{digest}"));
        let resp = self.send(self.request("HEAD", &url), &[])?;
        exists(resp, &url)
    }

    /// Uploads `bytes` as blob `digest` (monolithic: POST, then one PUT).
    pub fn put_blob(&self, repository: &str, digest: &str, bytes: &[u8]) -> Result<()> {
        let url = self.url(&format!("/v2/{repository}/blobs/uploads/"));
        let resp = self.send(self.request("POST", &url), &[])?;
        let resp = expect(resp, &[202], &format!("POST {url}"))?;
        let location = resp
            .headers()
            .get("Location")
            .and_then(|v| v.to_str().ok())
            .context("the registry gave no upload Location")?
            .to_string();
        let location = if location.starts_with("http://") || location.starts_with("https://") {
            location
        } else {
            self.url(&location)
        };
        let sep = if location.contains('?') { '&' } else { '?' };
        let put = format!("{location}{sep}digest={digest}");
        let req = self
            .request("PUT", &put)
            .header("Content-Type", "application/octet-stream");
        let resp = self.send(req, bytes)?;
        expect(resp, &[201], &format!("PUT blob {digest}"))?;
        Ok(())
    }

    /// The digest the registry has for `reference` (a digest or a tag) in
    /// `repository`, when it has one.
    pub fn manifest_digest(&self, repository: &str, reference: &str) -> Result<Option<String>> {
        let url = self.url(&format!("/v2/{repository}/manifests/{reference}"));
        let resp = self.send(
            self.request("HEAD", &url)
                .header("Accept", MANIFEST_MEDIA_TYPE),
            &[],
        )?;
        if !exists_ref(&resp, &url)? {
            return Ok(None);
        }
        Ok(resp
            .headers()
            .get("Docker-Content-Digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .or_else(|| {
                reference
                    .starts_with("sha256:")
                    .then(|| reference.to_string())
            }))
    }

    /// Puts `manifest` under `reference` (its digest, or a tag).
    pub fn put_manifest(&self, repository: &str, reference: &str, manifest: &[u8]) -> Result<()> {
        let url = self.url(&format!("/v2/{repository}/manifests/{reference}"));
        let req = self
            .request("PUT", &url)
            .header("Content-Type", MANIFEST_MEDIA_TYPE);
        let resp = self.send(req, manifest)?;
        expect(resp, &[201], &format!("PUT manifest {reference}"))?;
        Ok(())
    }

    /// Pushes `image` to `repository`, skipping what is there, and tags
    /// it `tag` when given and new.
    pub fn push(&self, repository: &str, image: &Image, tag: Option<&str>) -> Result<PushReport> {
        let mut report = PushReport {
            repository: repository.to_string(),
            digest: image.digest().to_string(),
            reference: self.reference(repository, image.digest()),
            ..PushReport::default()
        };
        for blob in image.blobs() {
            let size = blob.bytes.len() as u64;
            if self.has_blob(repository, &blob.digest)? {
                report.blobs_skipped += 1;
                report.bytes_skipped += size;
            } else {
                self.put_blob(repository, &blob.digest, &blob.bytes)?;
                report.blobs_pushed += 1;
                report.bytes_pushed += size;
            }
        }
        let manifest = &image.manifest;
        if self
            .manifest_digest(repository, &manifest.digest)?
            .is_some()
        {
            report.bytes_skipped += manifest.bytes.len() as u64;
        } else {
            self.put_manifest(repository, &manifest.digest, &manifest.bytes)?;
            report.manifest_pushed = true;
            report.bytes_pushed += manifest.bytes.len() as u64;
        }
        if let Some(tag) = tag {
            match self.manifest_digest(repository, tag)? {
                Some(d) if d == manifest.digest => {}
                Some(d) if self.immutable_tags => bail!(
                    "tag `{tag}` of {repository} names {d}, and the repository's tags are immutable\nhint: push under another tag; the image is referenced by digest ({})",
                    manifest.digest
                ),
                _ => {
                    self.put_manifest(repository, tag, &manifest.bytes)?;
                    report.tag_pushed = Some(tag.to_string());
                }
            }
        }
        Ok(report)
    }

    /// The manifest at `reference`, as bytes.
    pub fn get_manifest(&self, repository: &str, reference: &str) -> Result<Vec<u8>> {
        let url = self.url(&format!("/v2/{repository}/manifests/{reference}"));
        let resp = self.send(
            self.request("GET", &url)
                .header("Accept", MANIFEST_MEDIA_TYPE),
            &[],
        )?;
        read_all(expect(resp, &[200], &format!("GET {url}"))?)
    }

    /// Blob `digest`, checked against its digest.
    pub fn get_blob(&self, repository: &str, digest: &str) -> Result<Vec<u8>> {
        let url = self.url(&format!("/v2/{repository}/blobs/{digest}"));
        let resp = self.send(self.request("GET", &url), &[])?;
        let bytes = read_all(expect(resp, &[200], &format!("GET {url}"))?)?;
        if super::sha256_digest(&bytes) != digest {
            bail!("blob {digest} from {repository} does not match its digest");
        }
        Ok(bytes)
    }

    /// Whether the registry answers the API's base endpoint (`GET /v2/`)
    /// with 200 or 401 (there, but wants credentials).
    pub fn answers(&self) -> bool {
        let url = self.url("/v2/");
        self.send(self.request("GET", &url), &[])
            .is_ok_and(|r| matches!(r.status().as_u16(), 200 | 401))
    }
}

fn read_all(mut resp: Response) -> Result<Vec<u8>> {
    resp.body_mut()
        .with_config()
        .limit(u64::MAX)
        .read_to_vec()
        .context("reading the registry's answer")
}

/// 200 → true, 404 → false, else an error with the registry's words.
fn exists(resp: Response, url: &str) -> Result<bool> {
    exists_ref(&resp, url).map_err(|_| failure(resp, &format!("HEAD {url}")))
}

fn exists_ref(resp: &Response, url: &str) -> Result<bool> {
    match resp.status().as_u16() {
        200 => Ok(true),
        404 => Ok(false),
        s => bail!("HEAD {url}: HTTP {s}"),
    }
}

fn expect(resp: Response, ok: &[u16], what: &str) -> Result<Response> {
    if ok.contains(&resp.status().as_u16()) {
        return Ok(resp);
    }
    Err(failure(resp, what))
}

/// The registry's error, with a hint for the usual causes.
fn failure(mut resp: Response, what: &str) -> anyhow::Error {
    let status = resp.status().as_u16();
    let body = resp
        .body_mut()
        .with_config()
        .limit(64 * 1024)
        .read_to_string()
        .unwrap_or_default();
    let hint = match status {
        401 | 403 => "\nhint: the registry refused the credentials (ECR tokens last 12 hours; check the AWS credentials)",
        404 if body.contains("NAME_UNKNOWN") => "\nhint: the repository does not exist yet: deploy the stack that declares it first",
        _ => "",
    };
    anyhow::anyhow!("{what}: HTTP {status} {}{hint}", body.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecr_tokens_decode_into_basic_credentials() {
        let token = base64::engine::general_purpose::STANDARD.encode("AWS:secret:with:colons");
        let c = decode_token(&token, "https://1.dkr.ecr.us-east-1.amazonaws.com/").unwrap();
        assert_eq!(c.username, "AWS");
        assert_eq!(c.password, "secret:with:colons");
        assert_eq!(c.endpoint, "https://1.dkr.ecr.us-east-1.amazonaws.com");
        let r = Registry::ecr(&c);
        assert_eq!(r.host, "1.dkr.ecr.us-east-1.amazonaws.com");
        assert_eq!(
            r.reference("p-world-api-dev", "sha256:ab"),
            "1.dkr.ecr.us-east-1.amazonaws.com/p-world-api-dev@sha256:ab"
        );
        assert!(r.immutable_tags);
        assert!(!format!("{c:?}").contains("secret"));
        assert!(decode_token("not base64!", "x").is_err());
        let plain = base64::engine::general_purpose::STANDARD.encode("nocolon");
        assert!(decode_token(&plain, "x").is_err());
    }
}
