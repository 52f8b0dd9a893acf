//! The Lambda Runtime API and warm processes.

/// How an invocation ended, as the Runtime API saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `POST /invocation/{id}/response`: the raw body.
    Response(Vec<u8>),
    /// `POST /invocation/{id}/error`: a handled function error.
    Error {
        error_type: String,
        error_message: String,
    },
    /// Killed at the function's deadline.
    Timeout,
    /// Exited while handling the event.
    Crashed { status: String },
    /// `/init/error`, or exited before asking for an event.
    InitError {
        error_type: String,
        error_message: String,
    },
}
