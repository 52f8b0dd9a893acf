//! Schema migrations: SQL files beside a stack's file
//! (`stacks/STACK/migrations/NNNN_name.sql`, or
//! `stacks/STACK/migrations/DATABASE/` when the stack has several
//! databases), applied in order once each, every one in its own
//! transaction, and recorded in the database (`stackctl_migrations`, with
//! each file's SHA-256, so a file changed after it ran is refused).
//!
//! `validate` checks the files (names, numbers, which database); `deploy`
//! applies the pending ones after the stack is up, to a database it can
//! reach (a binding); `diff` lists them.

use crate::diagnostics::{Diagnostic, Diagnostics};
use crate::kinds::Resource;
use crate::model::{Project, Stack};
use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The table recording what ran.
pub const TABLE: &str = "stackctl_migrations";

/// One migration file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Migration {
    /// Its number (`0001` is 1).
    pub version: i64,
    /// The name after the number.
    pub name: String,
    /// The file, relative to the project root.
    pub file: PathBuf,
    /// Its text.
    #[serde(skip)]
    pub sql: String,
    /// SHA-256 of its text, hex.
    pub sha256: String,
}

/// The migrations of one database of a stack.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Set {
    /// The stack.
    pub stack: String,
    /// The `database` resource they apply to.
    pub database: String,
    /// In order.
    pub migrations: Vec<Migration>,
}

/// The folder of `stack`'s migrations, relative to the project root: beside
/// its file, named after the stack.
pub fn folder(project: &Project, stack: &str) -> PathBuf {
    let file = project.file.stacks[stack]
        .file
        .clone()
        .unwrap_or_else(|| format!("stacks/{stack}.yaml"));
    Path::new(&file)
        .parent()
        .unwrap_or(Path::new(""))
        .join(stack)
        .join("migrations")
}

/// Reads and checks the migrations of `stack`: every problem (a file name
/// that is not `NNNN_name.sql`, two files with one number, migrations
/// without a database to apply them to, a folder per database naming none)
/// is a diagnostic on that file.
pub fn load(project: &Project, stack: &Stack) -> Result<Vec<Set>, Diagnostics> {
    let rel = folder(project, &stack.name);
    let dir = project.root.join(&rel);
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut diags = Diagnostics::default();
    let databases: Vec<&String> = stack
        .resources
        .iter()
        .filter(|(_, r)| matches!(r, Resource::Database(_)))
        .map(|(k, _)| k)
        .collect();
    let mut sets = Vec::new();
    let mut folders: Vec<(String, PathBuf)> = Vec::new();
    let subdirs: Vec<String> = entries(&dir)
        .into_iter()
        .filter(|n| dir.join(n).is_dir())
        .collect();
    if subdirs.is_empty() {
        match databases.as_slice() {
            [only] => folders.push(((*only).clone(), rel.clone())),
            [] => diags.push(
                Diagnostic::new(
                    &rel,
                    "",
                    format!("stack `{}` has migrations but no database", stack.name),
                )
                .hint("declare a `database` in the stack, or remove the folder"),
            ),
            several => diags.push(
                Diagnostic::new(
                    &rel,
                    "",
                    format!(
                        "stack `{}` has {} databases: which one do these migrations change?",
                        stack.name,
                        several.len()
                    ),
                )
                .hint(format!(
                    "put each database's files in a folder of its own: {}",
                    several
                        .iter()
                        .map(|d| rel.join(d).display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            ),
        }
    } else {
        for sub in subdirs {
            if databases.iter().any(|d| **d == sub) {
                folders.push((sub.clone(), rel.join(&sub)));
            } else {
                let names: Vec<&str> = databases.iter().map(|d| d.as_str()).collect();
                diags.push(
                    Diagnostic::new(
                        &rel.join(&sub),
                        "",
                        format!("`{sub}` is not a database of stack `{}`", stack.name),
                    )
                    .suggest(&sub, names),
                );
            }
        }
    }
    for (database, folder) in folders {
        let mut by_version: BTreeMap<i64, Migration> = BTreeMap::new();
        for name in entries(&project.root.join(&folder)) {
            let file = folder.join(&name);
            if project.root.join(&file).is_dir() {
                continue;
            }
            let Some((version, label)) = parse_name(&name) else {
                diags.push(
                    Diagnostic::new(&file, "", format!("`{name}` is not a migration file name"))
                        .hint("name it `NNNN_what_it_does.sql`: a number, then lowercase words, e.g. `0002_add_outputs.sql`"),
                );
                continue;
            };
            let sql = match std::fs::read_to_string(project.root.join(&file)) {
                Ok(s) => s,
                Err(e) => {
                    diags.push(Diagnostic::new(&file, "", format!("cannot read file: {e}")));
                    continue;
                }
            };
            if let Some(other) = by_version.get(&version) {
                diags.push(
                    Diagnostic::new(
                        &file,
                        "",
                        format!("migration {version:04} is also {}", other.file.display()),
                    )
                    .hint("each migration has a number of its own: renumber one of the two"),
                );
                continue;
            }
            by_version.insert(
                version,
                Migration {
                    version,
                    name: label,
                    file,
                    sha256: hex::encode(Sha256::digest(sql.as_bytes())),
                    sql,
                },
            );
        }
        sets.push(Set {
            stack: stack.name.clone(),
            database,
            migrations: by_version.into_values().collect(),
        });
    }
    if diags.is_empty() {
        Ok(sets)
    } else {
        Err(diags)
    }
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    names
}

/// `0001_create_jobs.sql` → (1, `create_jobs`).
fn parse_name(name: &str) -> Option<(i64, String)> {
    let (number, label) = name.strip_suffix(".sql")?.split_once('_')?;
    if number.len() < 4 || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let words = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_';
    if label.is_empty() || !label.bytes().all(words) {
        return None;
    }
    Some((number.parse().ok()?, label.to_string()))
}

/// What a database holds of a set: what ran (version to SHA-256).
pub async fn applied(client: &tokio_postgres::Client) -> Result<BTreeMap<i64, String>> {
    client
        .batch_execute(&format!(
            "CREATE TABLE IF NOT EXISTS {TABLE} (
                version bigint PRIMARY KEY,
                name text NOT NULL,
                sha256 text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )"
        ))
        .await
        .context("creating the migrations table")?;
    let rows = client
        .query(&format!("SELECT version, sha256 FROM {TABLE}"), &[])
        .await
        .context("reading the migrations table")?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// What a database holds of a set, without changing it (for `health`):
/// what ran (version to SHA-256), empty when nothing ever ran there.
pub async fn recorded(client: &tokio_postgres::Client) -> Result<BTreeMap<i64, String>> {
    let exists: Option<String> = client
        .query_one(&format!("SELECT to_regclass('{TABLE}')::text"), &[])
        .await
        .context("looking for the migrations table")?
        .get(0);
    if exists.is_none() {
        return Ok(BTreeMap::new());
    }
    let rows = client
        .query(&format!("SELECT version, sha256 FROM {TABLE}"), &[])
        .await
        .context("reading the migrations table")?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// The migrations of `set` not applied yet, in order; an error when one
/// that ran has changed since, or when a pending one is numbered below
/// one that ran (they run in order).
pub fn pending<'s>(set: &'s Set, applied: &BTreeMap<i64, String>) -> Result<Vec<&'s Migration>> {
    let last = applied.keys().next_back().copied();
    let mut out = Vec::new();
    for m in &set.migrations {
        match applied.get(&m.version) {
            Some(sha) if *sha != m.sha256 => bail!(
                "{} changed after it was applied to database `{}`\nhint: a migration that ran stays as it ran: restore it, and make the change in a new file",
                m.file.display(),
                set.database
            ),
            Some(_) => {}
            None if last.is_some_and(|l| l > m.version) => bail!(
                "{} is numbered {:04}, below {:04}, which already ran on database `{}`\nhint: migrations run in order: give it a number above {:04}",
                m.file.display(),
                m.version,
                last.unwrap_or_default(),
                set.database,
                last.unwrap_or_default()
            ),
            None => out.push(m),
        }
    }
    Ok(out)
}

/// Applies the pending migrations of `set`, each in its own transaction
/// with its record; stops at the first failure, naming the file, the line
/// and the database's message. Returns the files applied.
pub async fn apply(client: &mut tokio_postgres::Client, set: &Set) -> Result<Vec<PathBuf>> {
    let applied = applied(client).await?;
    let todo = pending(set, &applied)?;
    let mut done = Vec::new();
    for m in todo {
        let tx = client
            .transaction()
            .await
            .context("starting a transaction")?;
        for (line, statement) in statements(&m.sql) {
            if let Err(e) = tx.batch_execute(statement).await {
                bail!("{}", failure(m, line, statement, &e));
            }
        }
        tx.execute(
            &format!("INSERT INTO {TABLE} (version, name, sha256) VALUES ($1, $2, $3)"),
            &[&m.version, &m.name, &m.sha256],
        )
        .await
        .with_context(|| format!("recording {}", m.file.display()))?;
        tx.commit()
            .await
            .with_context(|| format!("committing {}", m.file.display()))?;
        done.push(m.file.clone());
    }
    Ok(done)
}

/// The statements of `sql` with the line each starts on (1-based): split
/// at `;` outside quotes, quoted identifiers, dollar-quoted bodies and
/// comments, so each can be run, and blamed, on its own.
pub fn statements(sql: &str) -> Vec<(usize, &str)> {
    let bytes = sql.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    let mut line = 1;
    let mut start_line = None;
    while i < bytes.len() {
        let c = bytes[i];
        let rest = &sql[i..];
        if rest.starts_with("--") {
            let end = rest.find('\n').map_or(bytes.len(), |n| i + n);
            i = end;
            continue;
        }
        if rest.starts_with("/*") {
            let end = rest.find("*/").map_or(bytes.len(), |n| i + n + 2);
            line += sql[i..end].matches('\n').count();
            i = end;
            continue;
        }
        if c == b'\'' || c == b'"' {
            start_line.get_or_insert(line);
            let close = rest[1..]
                .find(c as char)
                .map_or(bytes.len(), |n| i + 1 + n + 1);
            line += sql[i..close].matches('\n').count();
            i = close;
            continue;
        }
        if c == b'$' {
            // $tag$ ... $tag$
            if let Some(tag_end) = rest[1..].find('$') {
                let tag = &rest[..tag_end + 2];
                if tag[1..tag.len() - 1]
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_')
                {
                    start_line.get_or_insert(line);
                    let body = i + tag.len();
                    let close = sql[body..]
                        .find(tag)
                        .map_or(bytes.len(), |n| body + n + tag.len());
                    line += sql[i..close].matches('\n').count();
                    i = close;
                    continue;
                }
            }
        }
        if c == b'\n' {
            line += 1;
        } else if c == b';' {
            let text = sql[start..i].trim();
            if !text.is_empty() {
                out.push((start_line.unwrap_or(line), text));
            }
            start = i + 1;
            start_line = None;
        } else if !c.is_ascii_whitespace() {
            start_line.get_or_insert(line);
        }
        i += 1;
    }
    let text = sql[start..].trim();
    if !text.is_empty() && start_line.is_some() {
        out.push((start_line.unwrap_or(line), text));
    }
    out
}

/// `FILE:LINE: MESSAGE` for a statement (starting at `line`) PostgreSQL
/// refused.
fn failure(m: &Migration, line: usize, statement: &str, e: &tokio_postgres::Error) -> String {
    let Some(db) = e.as_db_error() else {
        return format!("{}:{line}: {e}", m.file.display());
    };
    let line = match db.position() {
        Some(tokio_postgres::error::ErrorPosition::Original(pos)) => {
            // A character offset into the statement, 1-based.
            let upto: String = statement
                .chars()
                .take((*pos as usize).saturating_sub(1))
                .collect();
            line + upto.matches('\n').count()
        }
        _ => line,
    };
    let mut text = format!("{}:{line}: {}", m.file.display(), db.message());
    if let Some(detail) = db.detail() {
        text.push_str(&format!("\n  {detail}"));
    }
    text.push_str("\nhint: nothing of this migration was applied (it ran in a transaction); fix the file and deploy again");
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_split_outside_quotes_bodies_and_comments() {
        let sql = "-- jobs; and more\nCREATE TABLE jobs (id text);\n\nINSERT INTO jobs VALUES ('a;b');\n/* x; */ CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;\nSELECT \"odd;name\" FROM jobs";
        let got = statements(sql);
        let lines: Vec<usize> = got.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, [2, 4, 5, 6], "{got:?}");
        assert_eq!(got[1].1, "INSERT INTO jobs VALUES ('a;b')");
        assert!(got[2].1.ends_with("LANGUAGE sql"), "{got:?}");
        assert_eq!(got[3].1, "SELECT \"odd;name\" FROM jobs");
    }

    #[test]
    fn names_are_a_number_then_lowercase_words() {
        assert_eq!(parse_name("0001_jobs.sql"), Some((1, "jobs".into())));
        assert_eq!(
            parse_name("0012_add_media_outputs.sql"),
            Some((12, "add_media_outputs".into()))
        );
        assert_eq!(parse_name("1_jobs.sql"), None);
        assert_eq!(parse_name("0001-jobs.sql"), None);
        assert_eq!(parse_name("0001_Jobs.sql"), None);
        assert_eq!(parse_name("0001_jobs.txt"), None);
        assert_eq!(parse_name("0001_.sql"), None);
    }

    fn set(versions: &[(i64, &str)]) -> Set {
        Set {
            stack: "media".into(),
            database: "db".into(),
            migrations: versions
                .iter()
                .map(|(v, sha)| Migration {
                    version: *v,
                    name: "x".into(),
                    file: PathBuf::from(format!("stacks/media/migrations/{v:04}_x.sql")),
                    sql: String::new(),
                    sha256: sha.to_string(),
                })
                .collect(),
        }
    }

    #[test]
    fn pending_is_what_did_not_run_in_order_and_nothing_changed() {
        let s = set(&[(1, "a"), (2, "b"), (3, "c")]);
        let ran = BTreeMap::from([(1, "a".to_string())]);
        let p: Vec<i64> = pending(&s, &ran)
            .unwrap()
            .iter()
            .map(|m| m.version)
            .collect();
        assert_eq!(p, [2, 3]);
        let changed = BTreeMap::from([(1, "other".to_string())]);
        assert!(pending(&s, &changed)
            .unwrap_err()
            .to_string()
            .contains("changed after it was applied"));
        let later = BTreeMap::from([(1, "a".to_string()), (3, "c".to_string())]);
        let err = pending(&s, &later).unwrap_err().to_string();
        assert!(err.contains("numbered 0002, below 0003"), "{err}");
    }
}
