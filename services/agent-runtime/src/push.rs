//! Pushing to the world's WebSocket clients through the API Gateway
//! Management API (PostToConnection), as lambdas/qr-websocket-event does.
//! A connection that is gone (410, GoneException) is deleted from the
//! Connections table so it is not tried again.

use aws_sdk_apigatewaymanagement::primitives::Blob;

/// Why a message could not be posted.
#[derive(Debug)]
pub enum PostError {
    /// The connection no longer exists.
    Gone,
    /// Anything else.
    Failed(String),
}

/// A Management API client bound to one API's stage.
#[derive(Clone, Debug)]
pub struct Connections {
    client: aws_sdk_apigatewaymanagement::Client,
}

impl Connections {
    /// A client for `endpoint` (`https://{api}.execute-api.{region}.amazonaws.com/{stage}`),
    /// set on the client's own configuration so it wins over a general
    /// `AWS_ENDPOINT_URL`.
    pub fn new(sdk: &aws_config::SdkConfig, endpoint: &str) -> Connections {
        let conf = aws_sdk_apigatewaymanagement::config::Builder::from(sdk)
            .endpoint_url(endpoint)
            .build();
        Connections {
            client: aws_sdk_apigatewaymanagement::Client::from_conf(conf),
        }
    }

    /// Posts `data` to `connection_id`.
    pub async fn post(&self, connection_id: &str, data: &[u8]) -> Result<(), PostError> {
        match self
            .client
            .post_to_connection()
            .connection_id(connection_id)
            .data(Blob::new(data))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error().is_some_and(|s| s.is_gone_exception())
                    || e.raw_response().is_some_and(|r| r.status().as_u16() == 410) =>
            {
                Err(PostError::Gone)
            }
            Err(e) => Err(PostError::Failed(world_core::chain(&e))),
        }
    }
}
