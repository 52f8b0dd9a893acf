//! The terminal: live progress for the deploy engine ([`progress`]) and
//! questions to the user ([`prompt`]).

pub mod progress;
pub mod prompt;
