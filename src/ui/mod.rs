//! The terminal: live progress for the deploy engine ([`progress`]),
//! questions to the user ([`prompt`]), `health --wait`'s runs
//! ([`wait`]), and where the time went
//! ([`timings`], for `--timings`).

pub mod progress;
pub mod prompt;
pub mod timings;
pub mod wait;
