//! Publishing: built function zips into the environment's artefact bucket
//! under content-addressed keys, creating the bucket when missing and
//! skipping every zip already stored. The result also says which template
//! parameter takes which value, which is how rendered templates meet the
//! published code.

use crate::aws::artefacts::ArtefactStore;
use crate::build::BuiltFunction;
use crate::render::context::ARTEFACT_BUCKET_PARAM;
use crate::render::Rendered;
use anyhow::Result;
use futures_util::future::join_all;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// What publishing did.
#[derive(Debug, Serialize)]
pub struct PublishReport {
    /// Environment.
    pub env: String,
    /// The artefact bucket.
    pub bucket: String,
    /// Whether this run created it.
    pub bucket_created: bool,
    /// One entry per function crate.
    pub functions: Vec<Published>,
    /// Per stack: the template parameters that locate the code.
    pub parameters: BTreeMap<String, BTreeMap<String, String>>,
}

/// One published zip.
#[derive(Debug, Serialize)]
pub struct Published {
    /// Crate.
    pub crate_name: String,
    /// S3 key.
    pub key: String,
    /// Zip size, bytes.
    pub size: u64,
    /// sha256 of the zip.
    pub sha256: String,
    /// False when the key was already stored.
    pub uploaded: bool,
}

impl fmt::Display for PublishReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let created = if self.bucket_created {
            " (created: private, encrypted, versioned)"
        } else {
            ""
        };
        writeln!(f, "artefact bucket {}{created}", self.bucket)?;
        let width = self
            .functions
            .iter()
            .map(|p| p.crate_name.len())
            .max()
            .unwrap_or(0);
        for p in &self.functions {
            let what = if p.uploaded {
                "uploaded"
            } else {
                "already there"
            };
            writeln!(
                f,
                "  {:width$}  {:>13}  s3://{}/{}",
                p.crate_name, what, self.bucket, p.key
            )?;
        }
        if !self.parameters.is_empty() {
            writeln!(f, "template parameters that locate the code:")?;
            for (stack, params) in &self.parameters {
                writeln!(f, "  {stack}")?;
                let w = params.keys().map(String::len).max().unwrap_or(0);
                for (k, v) in params {
                    writeln!(f, "    {k:w$}  {v}")?;
                }
            }
        }
        let n = self.functions.iter().filter(|p| p.uploaded).count();
        write!(f, "{n} uploaded, {} unchanged", self.functions.len() - n)
    }
}

/// Uploads `built` to `bucket` in `region` through `store`.
pub async fn publish<S: ArtefactStore>(
    store: &S,
    root: &std::path::Path,
    env: &str,
    bucket: &str,
    region: &str,
    built: &[BuiltFunction],
    rendered: &[Rendered],
) -> Result<PublishReport> {
    // Every key at once: when all are stored (the usual redeploy), that
    // one round trip is the whole of publishing, and the bucket evidently
    // exists.
    let stored: Vec<bool> = join_all(built.iter().map(|b| store.exists(bucket, &b.artefact_key)))
        .await
        .into_iter()
        .collect::<Result<_>>()?;
    let mut bucket_created = false;
    if stored.iter().any(|s| !s) {
        bucket_created = !store.bucket_exists(bucket).await?;
        if bucket_created {
            store.create_bucket(bucket, region).await?;
        }
    }
    join_all(
        built
            .iter()
            .zip(&stored)
            .filter(|(_, stored)| !**stored)
            .map(|(b, _)| async move {
                let path = root.join(&b.zip);
                store
                    .upload(bucket, &b.artefact_key, &path, &b.sha256)
                    .await
            }),
    )
    .await
    .into_iter()
    .collect::<Result<Vec<()>>>()?;
    let functions = built
        .iter()
        .zip(stored)
        .map(|(b, stored)| Published {
            crate_name: b.crate_name.clone(),
            key: b.artefact_key.clone(),
            size: b.size,
            sha256: b.sha256.clone(),
            uploaded: !stored,
        })
        .collect();
    Ok(PublishReport {
        env: env.to_string(),
        bucket: bucket.to_string(),
        bucket_created,
        functions,
        parameters: code_parameters(bucket, built, rendered, env),
    })
}

/// For each stack of `env` with functions: `ArtefactBucket` and each
/// function's code-key parameter, from the published keys.
pub fn code_parameters(
    bucket: &str,
    built: &[BuiltFunction],
    rendered: &[Rendered],
    env: &str,
) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for r in rendered
        .iter()
        .filter(|r| r.env == env && !r.code_parameters.is_empty())
    {
        let mut params = BTreeMap::new();
        for (resource, param) in &r.code_parameters {
            let key = built
                .iter()
                .find(|b| {
                    b.functions
                        .iter()
                        .any(|u| u.stack == r.stack && &u.resource == resource)
                })
                .map(|b| b.artefact_key.clone());
            if let Some(key) = key {
                params.insert(param.clone(), key);
            }
        }
        if !params.is_empty() {
            params.insert(ARTEFACT_BUCKET_PARAM.to_string(), bucket.to_string());
            out.insert(r.stack.clone(), params);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::Use;
    use std::cell::RefCell;
    use std::collections::BTreeSet;
    use std::path::{Path, PathBuf};

    /// An in-memory bucket store that records its calls.
    #[derive(Default)]
    struct Fake {
        buckets: RefCell<BTreeSet<String>>,
        objects: RefCell<BTreeSet<(String, String)>>,
        uploads: RefCell<u32>,
    }

    impl ArtefactStore for Fake {
        async fn bucket_exists(&self, bucket: &str) -> Result<bool> {
            Ok(self.buckets.borrow().contains(bucket))
        }
        async fn create_bucket(&self, bucket: &str, _: &str) -> Result<()> {
            self.buckets.borrow_mut().insert(bucket.into());
            Ok(())
        }
        async fn exists(&self, bucket: &str, key: &str) -> Result<bool> {
            Ok(self.objects.borrow().contains(&(bucket.into(), key.into())))
        }
        async fn upload(&self, bucket: &str, key: &str, _: &Path, _: &str) -> Result<()> {
            assert!(
                self.buckets.borrow().contains(bucket),
                "upload before the bucket exists"
            );
            self.objects
                .borrow_mut()
                .insert((bucket.into(), key.into()));
            *self.uploads.borrow_mut() += 1;
            Ok(())
        }
        async fn put(&self, bucket: &str, key: &str, _: Vec<u8>) -> Result<()> {
            self.objects
                .borrow_mut()
                .insert((bucket.into(), key.into()));
            Ok(())
        }
        async fn get(&self, _: &str, _: &str) -> Result<Option<Vec<u8>>> {
            Ok(None)
        }
        async fn delete(&self, bucket: &str, key: &str) -> Result<()> {
            self.objects
                .borrow_mut()
                .remove(&(bucket.into(), key.into()));
            Ok(())
        }
        async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<String>> {
            Ok(self
                .objects
                .borrow()
                .iter()
                .filter(|(b, k)| b == bucket && k.starts_with(prefix))
                .map(|(_, k)| k.clone())
                .collect())
        }
        fn url(&self, bucket: &str, key: &str) -> String {
            format!("https://{bucket}/{key}")
        }
    }

    fn built(name: &str, sha: &str) -> BuiltFunction {
        BuiltFunction {
            crate_name: name.into(),
            functions: vec![Use {
                stack: "upload".into(),
                resource: name.replace('-', "_"),
            }],
            architecture: crate::build::Arch::X86_64,
            zip: PathBuf::from(format!("target/zips/{name}/bootstrap.zip")),
            size: 10,
            sha256: sha.into(),
            artefact_key: crate::build::artefact_key(name, crate::build::Arch::X86_64, sha),
            glibc: None,
            built_with: "cargo".into(),
            rebuilt: true,
            reason: None,
        }
    }

    fn rendered() -> Vec<Rendered> {
        vec![Rendered {
            stack: "upload".into(),
            env: "dev".into(),
            stack_name: "p-upload-dev".into(),
            template: String::new(),
            parameters: BTreeMap::new(),
            code_parameters: BTreeMap::from([(
                "create_upload".into(),
                "CreateUploadCodeKey".into(),
            )]),
            output_parameters: BTreeMap::new(),
            tags: BTreeMap::new(),
            inventory: Vec::new(),
            local_secrets: Vec::new(),
            external_secrets: Vec::new(),
            probes: Vec::new(),
        }]
    }

    fn block<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn creates_the_bucket_once_and_skips_stored_zips() {
        let store = Fake::default();
        let a = built("create-upload", "aa");
        let first = block(publish(
            &store,
            Path::new("."),
            "dev",
            "b",
            "us-east-1",
            std::slice::from_ref(&a),
            &rendered(),
        ))
        .unwrap();
        assert!(first.bucket_created);
        assert!(first.functions[0].uploaded);
        let again = block(publish(
            &store,
            Path::new("."),
            "dev",
            "b",
            "us-east-1",
            std::slice::from_ref(&a),
            &rendered(),
        ))
        .unwrap();
        assert!(!again.bucket_created);
        assert!(!again.functions[0].uploaded);
        assert_eq!(*store.uploads.borrow(), 1);
        // A changed function is a new key, uploaded beside the old one.
        let changed = block(publish(
            &store,
            Path::new("."),
            "dev",
            "b",
            "us-east-1",
            &[built("create-upload", "bb")],
            &rendered(),
        ))
        .unwrap();
        assert!(changed.functions[0].uploaded);
        assert_eq!(store.objects.borrow().len(), 2);
        assert_eq!(
            again.to_string().lines().last(),
            Some("0 uploaded, 1 unchanged")
        );
    }

    #[test]
    fn parameters_locate_each_functions_code() {
        let p = code_parameters("b", &[built("create-upload", "aa")], &rendered(), "dev");
        assert_eq!(
            p["upload"]["CreateUploadCodeKey"],
            "functions/create-upload/aa.zip"
        );
        assert_eq!(p["upload"]["ArtefactBucket"], "b");
        assert!(
            code_parameters("b", &[built("create-upload", "aa")], &rendered(), "prod").is_empty()
        );
    }
}
