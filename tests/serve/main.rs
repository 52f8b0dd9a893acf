//! `stackctl serve`, in one test binary (each integration test file links
//! the whole of stackctl; one binary links it once):
//!
//! - [`api`]: the three kinds of API in front of a std-only probe function
//!   (events, answers, authorizers, timeouts, crashes, new code, the
//!   WebSocket Management API);
//! - [`sources`]: the event sources serve runs against the emulator;
//! - [`system`]: the upload, qr-upload and media designs' flows through
//!   serve, with the shipped zips.

#[path = "../common/mod.rs"]
mod common;

mod api;
mod sources;
mod system;
