//! `--junit FILE`: the report as JUnit XML, which CI systems (GitHub
//! Actions test reporters, GitLab, Jenkins, Azure Pipelines) show as test
//! results: one `<testsuite>` per stack, one `<testcase>` per check, named
//! by its id. A failed check is a `<failure>`, an unknown one an
//! `<error>` (it could not be run), a skipped one `<skipped>`; a warning
//! passes, its reason in `<system-out>`. Every text goes through
//! [`escape`], so a reason holding `<`, `&`, quotes or control characters
//! stays well-formed XML. The file is written whole or not at all
//! ([`write`]).

use super::report::Report;
use super::{Check, Status};
use anyhow::Context;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

/// The report as a JUnit XML document.
pub fn render(report: &Report) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let c = &report.counts;
    let _ = writeln!(
        out,
        "<testsuites name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{}\">",
        escape(&format!("stackctl health {}", report.env)),
        report.checks.len(),
        c.fail,
        c.unknown,
        c.skip,
        secs(report.duration_ms)
    );
    // Checks are sorted by id, so each stack's are together.
    let mut stacks: Vec<(&str, Vec<&Check>)> = Vec::new();
    for check in &report.checks {
        match stacks.last_mut() {
            Some((stack, checks)) if *stack == check.stack => checks.push(check),
            _ => stacks.push((&check.stack, vec![check])),
        }
    }
    for (stack, checks) in stacks {
        let n = |s: Status| checks.iter().filter(|c| c.status == s).count();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{}\">",
            escape(stack),
            checks.len(),
            n(Status::Fail),
            n(Status::Unknown),
            n(Status::Skip),
            secs(checks.iter().map(|c| c.duration_ms).sum())
        );
        for check in checks {
            testcase(&mut out, check);
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

/// One check as a `<testcase>`.
fn testcase(out: &mut String, c: &Check) {
    let class = match &c.resource {
        Some(r) => format!("{}.{}.{r}", c.stack, c.kind),
        None => format!("{}.{}", c.stack, c.kind),
    };
    let _ = write!(
        out,
        "    <testcase name=\"{}\" classname=\"{}\" time=\"{}\"",
        escape(&c.id),
        escape(&class),
        secs(c.duration_ms)
    );
    let (tag, kind) = match c.status {
        Status::Pass => {
            out.push_str("/>\n");
            return;
        }
        Status::Skip => {
            let _ = writeln!(out, ">\n      <skipped message=\"{}\"/>", escape(&c.reason));
            out.push_str("    </testcase>\n");
            return;
        }
        Status::Warn => {
            let _ = writeln!(
                out,
                ">\n      <system-out>WARN: {}</system-out>",
                escape(&details(c))
            );
            out.push_str("    </testcase>\n");
            return;
        }
        Status::Fail => ("failure", "fail"),
        Status::Unknown => ("error", "unknown"),
    };
    let _ = writeln!(
        out,
        ">\n      <{tag} message=\"{}\" type=\"{kind}\">{}</{tag}>",
        escape(&c.reason),
        escape(&details(c))
    );
    out.push_str("    </testcase>\n");
}

/// The reason, then what was observed and expected and the hint, a line
/// each.
fn details(c: &Check) -> String {
    let mut text = c.reason.clone();
    for (label, value) in [
        ("observed", &c.observed),
        ("expected", &c.expected),
        ("hint", &c.hint),
    ] {
        if let Some(v) = value {
            text.push_str(&format!("\n{label}: {v}"));
        }
    }
    text
}

fn secs(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// `text` made safe in XML 1.0 content and attribute values: the five
/// special characters as entities, line breaks and tabs as character
/// references (an attribute would otherwise fold them into spaces), and
/// the characters XML 1.0 forbids (other control characters, U+FFFE,
/// U+FFFF) as U+FFFD.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c if c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Writes the report's JUnit XML to `path` atomically: into a file beside
/// it, then renamed over it, so a reader never sees half a document.
pub fn write(path: &Path, report: &Report) -> anyhow::Result<()> {
    let what = || format!("writing the JUnit report {}", path.display());
    let name = path
        .file_name()
        .with_context(|| format!("{}: not a file name", path.display()))
        .with_context(what)?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let partial = dir.join(format!(
        ".{}.{}.partial",
        name.to_string_lossy(),
        std::process::id()
    ));
    let written = (|| {
        let mut f = std::fs::File::create(&partial)?;
        f.write_all(render(report).as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&partial, path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&partial);
        return Err(anyhow::Error::new(e).context(what()));
    }
    Ok(())
}
