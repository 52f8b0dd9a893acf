//! The AWS boundary: narrow traits in stackctl's own words, and their thin
//! SDK implementations. Everything above this module is testable with
//! in-memory fakes; the implementations are tested against moto.

pub mod artefacts;

use crate::model::Environment;

/// SDK configuration for an environment: its region, its endpoint (after
/// `--endpoint-url` / `AWS_ENDPOINT_URL`), and the standard credential chain.
/// An environment with an endpoint (the local emulator) gets static test
/// credentials when the caller has configured none, since emulators accept
/// any.
pub async fn sdk_config(
    env: &Environment,
    endpoint_override: Option<&str>,
) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new(env.region.clone()));
    if let Some(url) = env.endpoint(endpoint_override) {
        loader = loader.endpoint_url(url);
        let configured = [
            "AWS_ACCESS_KEY_ID",
            "AWS_PROFILE",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
        ]
        .iter()
        .any(|v| std::env::var_os(v).is_some());
        if !configured {
            loader = loader.credentials_provider(aws_sdk_s3::config::Credentials::new(
                "stackctl-local",
                "stackctl-local",
                None,
                None,
                "stackctl-emulator",
            ));
        }
    }
    loader.load().await
}

/// One line for an SDK error: the service's code and message when there is
/// one, else the innermost cause (an unreachable endpoint, say), never a
/// parser dump.
pub fn explain<E, R>(context: &str, err: &aws_sdk_s3::error::SdkError<E, R>) -> String
where
    E: std::error::Error + aws_sdk_s3::error::ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_s3::error::SdkError;
    match err {
        SdkError::ServiceError(s) => {
            let e = s.err();
            match (e.code(), e.message()) {
                (Some(c), Some(m)) => format!("{context}: {c}: {m}"),
                (Some(c), None) => format!("{context}: {c}"),
                _ => format!("{context}: {e}"),
            }
        }
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => {
            let mut inner: &dyn std::error::Error = err;
            while let Some(s) = inner.source() {
                inner = s;
            }
            format!("{context}: cannot reach the endpoint ({inner})")
        }
        other => {
            let mut msg = format!("{context}: {other}");
            let mut source = std::error::Error::source(other);
            while let Some(s) = source {
                msg.push_str(&format!(": {s}"));
                source = s.source();
            }
            msg
        }
    }
}
