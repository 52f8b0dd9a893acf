//! What the engine reports while it works, and to whom: the terminal UI
//! (`crate::ui`) implements [`Observer`]; tests record the calls.

use crate::aws::cloudformation::StackEvent;

/// What is happening to a stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Creating it.
    Create,
    /// Updating it.
    Update,
    /// Deleting it.
    Delete,
    /// Waiting for an operation someone else started.
    Wait,
}

impl Operation {
    /// The verb, for progress lines.
    pub fn verb(self) -> &'static str {
        match self {
            Operation::Create => "creating",
            Operation::Update => "updating",
            Operation::Delete => "deleting",
            Operation::Wait => "waiting for",
        }
    }
}

/// Receives progress. Every method has a default that does nothing, so a
/// quiet run passes [`Silent`].
pub trait Observer: Sync {
    /// An operation on `stack` starts; `total` is the number of resources
    /// it involves, where known.
    fn begin(&self, _stack: &str, _op: Operation, _total: usize) {}
    /// A new stack event.
    fn event(&self, _stack: &str, _event: &StackEvent) {}
    /// The stack's current status.
    fn status(&self, _stack: &str, _status: &str) {}
    /// A remark about a stack ("no changes", "waiting for another operation").
    fn note(&self, _stack: &str, _text: &str) {}
    /// The operation on `stack` ended.
    fn end(&self, _stack: &str, _summary: &str, _ok: bool) {}
    /// Runs `f` with live output paused (for a prompt).
    fn suspend(&self, f: &mut dyn FnMut()) {
        f()
    }
}

/// Shows nothing.
pub struct Silent;

impl Observer for Silent {}
