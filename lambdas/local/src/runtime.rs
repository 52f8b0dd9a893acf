//! The Lambda Runtime API and warm processes.
