//! Printing results: every result is a value that implements both `Display`
//! (text) and `Serialize` (`--output json`).

use crate::cli::OutputFormat;
use serde::Serialize;
use std::fmt::Display;
use std::io::Write;

/// Where results and progress go.
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    /// Text or JSON.
    pub format: OutputFormat,
    /// Suppress progress and notes.
    pub quiet: bool,
}

impl Printer {
    /// Prints a command's result on stdout.
    pub fn result<T: Display + Serialize>(&self, value: &T) -> anyhow::Result<()> {
        let mut out = std::io::stdout().lock();
        match self.format {
            // Only `diff` takes --output markdown, and prints it itself.
            OutputFormat::Text | OutputFormat::Markdown => {
                let text = value.to_string();
                if !text.is_empty() {
                    write!(out, "{text}")?;
                    if !text.ends_with('\n') {
                        writeln!(out)?;
                    }
                }
            }
            OutputFormat::Json => {
                serde_json::to_writer_pretty(&mut out, value)?;
                writeln!(out)?;
            }
        }
        Ok(())
    }

    /// A note on stderr (not shown with --quiet or --output json).
    pub fn note(&self, text: impl Display) {
        if !self.quiet && self.format == OutputFormat::Text {
            eprintln!("{text}");
        }
    }
}
