//! Every command sample of README.md, run as written against a moto server,
//! so the README and the program cannot drift apart.
//!
//! A sample is a line `$ COMMAND` in a ```` ```text ```` block (or
//! ````` ````text `````, for output that holds fences); the lines
//! after it, up to the next `$ ` line, are what it prints (stderr, where
//! progress and errors go, then stdout). `$ echo $?` checks the exit status of the command before it.
//! The samples run in order, as one session, in a copy of this repository
//! (its built function zips included, so nothing compiles) whose `local`
//! and `dev` environments point at the test's moto server through
//! `AWS_ENDPOINT_URL`.
//!
//! Output is compared after normalising what changes from run to run
//! (hashes, durations, times, sizes, ports, pids, column padding). An
//! expected line `...` stands for any number of lines, and `…` inside a
//! line for any text.
//!
//! A comment `<!-- readme-test: ACTION -->` right before a block prepares
//! it; the actions (separated by ` ; `) are:
//! - `edit FILE: OLD => NEW` replaces text in the copy, for this block only
//!   (`\n` in OLD or NEW is a newline);
//! - `put-object BUCKET KEY` stores a small object in the emulator.

mod common;

use lambda_shared::testing::Moto;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One fenced block with its samples.
#[derive(Debug)]
struct Block {
    /// Line of the opening fence in README.md.
    line: usize,
    /// Its `readme-test:` actions.
    actions: Vec<String>,
    /// Each command and the lines it is expected to print.
    samples: Vec<Sample>,
}

#[derive(Debug)]
struct Sample {
    line: usize,
    command: String,
    expected: Vec<String>,
}

fn blocks(readme: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut lines = readme.lines().enumerate().peekable();
    let mut pending_actions: Vec<String> = Vec::new();
    while let Some((i, line)) = lines.next() {
        if let Some(rest) = line.trim().strip_prefix("<!-- readme-test:") {
            let body = rest.trim_end_matches("-->").trim();
            pending_actions = body.split(" ; ").map(|a| a.trim().to_string()).collect();
            continue;
        }
        // ```text, or ````text for a sample whose output holds fences.
        let fence: String = line.trim().chars().take_while(|c| *c == '`').collect();
        if fence.len() < 3 || line.trim()[fence.len()..] != *"text" {
            if !line.trim().is_empty() {
                pending_actions.clear();
            }
            continue;
        }
        let mut block = Block {
            line: i + 1,
            actions: std::mem::take(&mut pending_actions),
            samples: Vec::new(),
        };
        for (j, l) in lines.by_ref() {
            if l.trim() == fence {
                break;
            }
            if let Some(cmd) = l.strip_prefix("$ ") {
                block.samples.push(Sample {
                    line: j + 1,
                    command: cmd.to_string(),
                    expected: Vec::new(),
                });
            } else if let Some(s) = block.samples.last_mut() {
                s.expected.push(l.to_string());
            }
        }
        if !block.samples.is_empty() {
            out.push(block);
        }
    }
    out
}

/// What varies between runs, made the same on both sides.
fn normalise(text: &str) -> String {
    use regex_lite::Regex;
    let rules: &[(&str, &str)] = &[
        (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "<time>"),
        (r"[0-9a-f]{12,}", "<hex>"),
        (r"\[\s*\d+\.\ds\]", "[<t>]"),
        (r"\d+(\.\d+)? (ms|s)\b", "<n> s"),
        (r"\d+(\.\d)? (B|KiB|MiB)\b", "<size>"),
        (r"127\.0\.0\.1:\d+", "127.0.0.1:<port>"),
        (r"pid \d+", "pid <pid>"),
        (r"kill \d+", "kill <pid>"),
        (r"[ \t]+", " "),
    ];
    let mut t = text.to_string();
    for (pattern, to) in rules {
        t = Regex::new(pattern)
            .unwrap()
            .replace_all(&t, *to)
            .into_owned();
    }
    t.trim_end().to_string()
}

/// Whether `actual` matches the expected line (`…` matches any text).
fn line_matches(expected: &str, actual: &str) -> bool {
    let parts: Vec<&str> = expected.split('…').collect();
    if parts.len() == 1 {
        return expected == actual;
    }
    let mut rest = actual;
    for (k, part) in parts.iter().enumerate() {
        if k == 0 {
            let Some(r) = rest.strip_prefix(part) else {
                return false;
            };
            rest = r;
        } else if k == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            let Some(at) = rest.find(part) else {
                return false;
            };
            rest = &rest[at + part.len()..];
        }
    }
    true
}

/// Whether `actual` lines match `expected` lines, `...` standing for any
/// number of lines.
fn lines_match(expected: &[String], actual: &[String]) -> bool {
    match expected.split_first() {
        None => actual.is_empty(),
        Some((first, rest)) if first == "..." => {
            (0..=actual.len()).any(|skip| lines_match(rest, &actual[skip..]))
        }
        Some((first, rest)) => {
            !actual.is_empty() && line_matches(first, &actual[0]) && lines_match(rest, &actual[1..])
        }
    }
}

/// A file's text before this block's edits.
struct Edited {
    path: PathBuf,
    text: String,
}

fn apply(actions: &[String], dir: &Path, moto: &Moto, at: usize) -> Vec<Edited> {
    let mut undo = Vec::new();
    for action in actions {
        if let Some(rest) = action.strip_prefix("edit ") {
            let (file, change) = rest
                .split_once(": ")
                .unwrap_or_else(|| panic!("README.md:{at}: `edit FILE: OLD => NEW`"));
            let (old, new) = change
                .split_once(" => ")
                .unwrap_or_else(|| panic!("README.md:{at}: `edit FILE: OLD => NEW`"));
            let (old, new) = (old.replace("\\n", "\n"), new.replace("\\n", "\n"));
            let path = dir.join(file);
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(
                text.contains(&old),
                "README.md:{at}: {file} does not contain {old:?}"
            );
            std::fs::write(&path, text.replacen(&old, &new, 1)).unwrap();
            undo.push(Edited { path, text });
        } else if let Some(rest) = action.strip_prefix("put-object ") {
            let (bucket, key) = rest.split_once(' ').unwrap();
            common::block(async {
                let s3 = aws_sdk_s3::Client::from_conf(
                    aws_sdk_s3::config::Builder::from(&moto.sdk_config().await)
                        .force_path_style(true)
                        .build(),
                );
                s3.put_object()
                    .bucket(bucket)
                    .key(key)
                    .body(b"readme".to_vec().into())
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("README.md:{at}: put-object: {e:?}"));
            });
        } else {
            panic!("README.md:{at}: unknown readme-test action `{action}`");
        }
    }
    undo
}

#[test]
fn every_command_sample_of_the_readme_runs_as_written() {
    let repo = common::repo();
    let readme = std::fs::read_to_string(repo.join("README.md")).unwrap();
    let blocks = blocks(&readme);
    assert!(
        blocks.iter().map(|b| b.samples.len()).sum::<usize>() >= 20,
        "the README's samples were not found"
    );

    // The repository's functions, built once (shared with the other
    // tests through cargo's target directory), then copied with the
    // project, whose local servers listen on free ports.
    let copy = common::system_copy();
    let project = copy.project.clone();

    let moto = Moto::start();
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_stackctl"));
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut failures = Vec::new();
    let mut last_status: Option<i32> = None;
    for block in &blocks {
        let undo = apply(&block.actions, &project, &moto, block.line);
        for sample in &block.samples {
            if let Some(code) = sample.command.strip_prefix("echo $?") {
                assert!(
                    code.is_empty(),
                    "README.md:{}: `echo $?` alone",
                    sample.line
                );
                let want: Option<i32> = sample.expected.first().and_then(|l| l.trim().parse().ok());
                if want != last_status {
                    failures.push(format!(
                        "README.md:{}: exit status {last_status:?}, README says {want:?} (after the command above it)",
                        sample.line
                    ));
                }
                continue;
            }
            let out = Command::new("sh")
                .arg("-c")
                .arg(&sample.command)
                .current_dir(&project)
                .env("PATH", &path)
                .env("AWS_ENDPOINT_URL", &moto.endpoint)
                .env("AWS_ACCESS_KEY_ID", "readme")
                .env("AWS_SECRET_ACCESS_KEY", "readme")
                .env_remove("AWS_PROFILE")
                .stdin(std::process::Stdio::null())
                .output()
                .unwrap();
            last_status = out.status.code();
            let actual = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stderr),
                String::from_utf8_lossy(&out.stdout)
            );
            let actual: Vec<String> = normalise(&actual).lines().map(str::to_string).collect();
            let expected: Vec<String> = sample
                .expected
                .iter()
                .map(|l| {
                    if l.trim() == "..." {
                        "...".to_string()
                    } else {
                        normalise(l)
                    }
                })
                .collect();
            if !lines_match(&expected, &actual) {
                failures.push(format!(
                    "README.md:{}: `{}` printed (normalised):\n{}\n--- README expects (normalised):\n{}",
                    sample.line,
                    sample.command,
                    actual.join("\n"),
                    expected.join("\n")
                ));
            }
        }
        for e in undo.into_iter().rev() {
            std::fs::write(&e.path, e.text).unwrap();
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn the_matcher_skips_with_dots_and_ellipses() {
    let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert!(lines_match(
        &v(&["a", "...", "d"]),
        &v(&["a", "b", "c", "d"])
    ));
    assert!(lines_match(&v(&["a", "..."]), &v(&["a"])));
    assert!(!lines_match(&v(&["a", "d"]), &v(&["a", "b", "d"])));
    assert!(line_matches("sha256 …  glibc", "sha256 3f2a  glibc"));
    assert!(!line_matches("x …", "y z"));
    assert_eq!(
        normalise("created in 0.3 s at 2026-11-23T17:06:34Z  on 127.0.0.1:5000"),
        "created in <n> s at <time> on 127.0.0.1:<port>"
    );
}
