//! The one place where outcomes become exit codes.

use std::process::ExitCode;

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Everything worked.
    Success,
    /// An operation failed.
    Failure,
    /// `diff --exit-code` found changes (2, as terraform's `-detailed-exitcode`).
    Changes,
    /// The command line or the project files are invalid.
    Invalid,
    /// `diff --fail-on broadening` found a change that broadens access.
    Broadens,
    /// `health` found nothing failed, but some check could not be made
    /// (denied, throttled, out of time): never 0.
    Incomplete,
    /// Ctrl-C stopped the command (130, as shells report SIGINT).
    Interrupted,
}

impl ExitStatus {
    /// The numeric code.
    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::Failure => 1,
            ExitStatus::Changes => 2,
            ExitStatus::Invalid => 3,
            ExitStatus::Broadens => 4,
            ExitStatus::Incomplete => 5,
            ExitStatus::Interrupted => 130,
        }
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(s: ExitStatus) -> Self {
        ExitCode::from(s.code())
    }
}

/// An error caused by what the user asked for (an unknown environment, say),
/// as opposed to something that failed while working.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct UsageError {
    /// What is wrong.
    pub message: String,
}

impl UsageError {
    /// A usage error with `message` (which may carry a `hint:` line).
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

/// The user answered no to a question: nothing was changed (exit 1, as
/// `terraform apply` when cancelled).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Declined {
    /// What did not happen.
    pub message: String,
}

impl Declined {
    /// A decline saying `message`.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

/// Ctrl-C while stackctl waited for CloudFormation: the operations go on
/// without it.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Interrupted {
    /// What was left running, and how to follow it.
    pub message: String,
}

/// The exit status for an error that ended a command.
pub fn status_of(err: &anyhow::Error) -> ExitStatus {
    if err.downcast_ref::<Interrupted>().is_some() {
        return ExitStatus::Interrupted;
    }
    if err
        .downcast_ref::<crate::diagnostics::Diagnostics>()
        .is_some()
        || err.downcast_ref::<UsageError>().is_some()
    {
        ExitStatus::Invalid
    } else {
        ExitStatus::Failure
    }
}
