//! Functions run as AWS Lambda runs them, on loopback, with API Gateway in
//! front: what `stackctl serve` is made of, and what the functions' tests
//! run their binaries with, so both exercise the same code.
//!
//! - [`runtime`]: an embedded Lambda Runtime API and a pool of warm
//!   processes per function (one invocation per process at a time, a new
//!   process when all are busy, bounded), timeouts enforced, crashes and
//!   init errors reported as Lambda reports them.
//! - [`apigw`]: API Gateway's side: route matching, the events it sends
//!   (HTTP API payload 2.0, REST proxy integration, WebSocket) and how it
//!   turns a function's answer into an HTTP response; Lambda authorizers;
//!   the WebSocket Management API (`@connections`).

pub mod apigw;
pub mod runtime;
