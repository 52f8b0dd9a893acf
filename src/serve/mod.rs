//! `stackctl serve`: the environment's APIs answered on loopback, their
//! functions run as Lambda runs them (the zips `build` writes, against an
//! embedded Runtime API, warm processes reused), and the stacks' other
//! event sources run against the emulator.
//!
//! - [`plan`]: what runs, read from the stack files, the deployed stacks
//!   and Lambda before anything starts.
//! - [`functions`]: one pool of processes per function, the code picked
//!   up again after each `build`, every invocation reported.
//! - [`front`]: one server per API (HTTP, REST, WebSocket with its
//!   Management API), through `lambda_local::apigw`.
//! - [`report`]: what is printed, as text or JSON lines.
//! - [`sources`]: the stacks' other event sources (schedules, queues,
//!   S3 notifications, EventBridge rules) run against the emulator.

pub mod front;
pub mod functions;
pub mod plan;
pub mod report;
pub mod sources;
pub mod watch;
