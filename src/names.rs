//! Names: logical ids (PascalCase of keys) and the AWS rules for physical
//! names, checked before anything reaches AWS.

/// `create_upload` -> `CreateUpload`; `POST /video/{id}` -> `PostVideoId`.
pub fn pascal(text: &str) -> String {
    let mut out = String::new();
    for word in text
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            out.push(first.to_ascii_uppercase());
            out.extend(chars);
        }
    }
    out
}

/// The placeholders of a name pattern (`name:` of a resource, `naming:` of
/// the project): `{project}`, `{stack}`, `{name}` (the resource key with `_`
/// as `-`) and `{env}`.
pub const PLACEHOLDERS: &[&str] = &["project", "stack", "name", "env"];

/// One piece of a parsed name pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamePart {
    /// Literal text.
    Text(String),
    /// One of [`PLACEHOLDERS`].
    Placeholder(&'static str),
}

/// What is wrong with a name pattern, and how to write it instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternProblem {
    /// What is wrong.
    pub message: String,
    /// The syntax to use, with the corrected pattern where there is one.
    pub hint: String,
}

/// The placeholders as users write them, for hints.
fn placeholder_list() -> String {
    PLACEHOLDERS
        .iter()
        .map(|p| format!("`{{{p}}}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Parses a name pattern. Placeholders are `{project}`, `{stack}`, `{name}`
/// and `{env}`; `${...}` is the syntax of references in other values, so it
/// is an error here, with the pattern to write instead.
pub fn name_pattern(pattern: &str) -> Result<Vec<NamePart>, PatternProblem> {
    let syntax = || format!("placeholders are {}", placeholder_list());
    let mut parts = Vec::new();
    let mut text = String::new();
    let mut rest = pattern;
    while let Some(i) = rest.find(['{', '}', '$']) {
        text.push_str(&rest[..i]);
        let at = &rest[i..];
        if at.starts_with('}') {
            return Err(PatternProblem {
                message: format!("unmatched `}}` in name pattern `{pattern}`"),
                hint: syntax(),
            });
        }
        if at.starts_with('$') && !at.starts_with("${") {
            text.push('$');
            rest = &at[1..];
            continue;
        }
        let reference = at.starts_with('$');
        let open = if reference { 2 } else { 1 };
        let Some(end) = at.find('}') else {
            let what = if reference { "${" } else { "{" };
            return Err(PatternProblem {
                message: format!("unclosed `{what}` in name pattern `{pattern}`"),
                hint: syntax(),
            });
        };
        let body = &at[open..end];
        if reference {
            return Err(reference_problem(pattern, body));
        }
        let Some(p) = PLACEHOLDERS.iter().find(|p| **p == body) else {
            let hint = crate::diagnostics::closest(body, PLACEHOLDERS.iter().copied())
                .map(|b| format!("did you mean `{{{b}}}`?"))
                .unwrap_or_else(syntax);
            return Err(PatternProblem {
                message: format!("unknown placeholder `{{{body}}}` in name pattern `{pattern}`"),
                hint,
            });
        };
        if !text.is_empty() {
            parts.push(NamePart::Text(std::mem::take(&mut text)));
        }
        parts.push(NamePart::Placeholder(p));
        rest = &at[end + 1..];
    }
    text.push_str(rest);
    if !text.is_empty() {
        parts.push(NamePart::Text(text));
    }
    Ok(parts)
}

/// The problem of `${body}` in a name pattern: the placeholder it probably
/// means, and the whole pattern rewritten where that makes it valid.
fn reference_problem(pattern: &str, body: &str) -> PatternProblem {
    let message = format!("name pattern `{pattern}` uses the reference `${{{body}}}`");
    let mut fixed = pattern.to_string();
    for p in PLACEHOLDERS {
        fixed = fixed.replace(&format!("${{{p}}}"), &format!("{{{p}}}"));
    }
    // Only a rewrite without `${` is parsed again, so this cannot recurse.
    let write = if !fixed.contains("${") && name_pattern(&fixed).is_ok() {
        format!(": write `{fixed}`")
    } else {
        String::new()
    };
    let hint = match PLACEHOLDERS.iter().find(|p| **p == body.trim()) {
        Some(p) => format!("name patterns use `{{{p}}}`, not `${{{p}}}`{write}"),
        None => format!(
            "name patterns take only the placeholders {}, not `${{...}}` references",
            placeholder_list()
        ),
    };
    PatternProblem { message, hint }
}

/// A parsed name pattern with its placeholders filled in.
pub fn expand_name(parts: &[NamePart], project: &str, stack: &str, key: &str, env: &str) -> String {
    parts
        .iter()
        .map(|p| match p {
            NamePart::Text(t) => t.clone(),
            NamePart::Placeholder("project") => project.to_string(),
            NamePart::Placeholder("stack") => stack.to_string(),
            NamePart::Placeholder("name") => key.replace('_', "-"),
            NamePart::Placeholder(_) => env.to_string(),
        })
        .collect()
}

/// The CloudFormation stack name of `stack` in `env`.
pub fn stack_name(project: &crate::model::Project, stack: &str, env: &str) -> String {
    format!("{}-{}-{}", project.file.project, stack, env)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pascal_case_of_keys_and_routes() {
        assert_eq!(pascal("create_upload"), "CreateUpload");
        assert_eq!(pascal("POST /video/upload/create"), "POSTVideoUploadCreate");
        assert_eq!(pascal("$connect"), "Connect");
        assert_eq!(pascal("GET /status/{jobId}"), "GETStatusJobId");
    }

    fn expand(pattern: &str) -> Result<String, PatternProblem> {
        name_pattern(pattern).map(|p| expand_name(&p, "studio", "upload", "ingest_bucket", "dev"))
    }

    #[test]
    fn name_patterns_fill_their_placeholders() {
        assert_eq!(
            expand("{project}-{stack}-{name}-{env}").unwrap(),
            "studio-upload-ingest-bucket-dev"
        );
        assert_eq!(expand("plain").unwrap(), "plain");
        assert_eq!(expand("a$b-{env}").unwrap(), "a$b-dev");
        assert_eq!(expand("").unwrap(), "");
    }

    #[test]
    fn references_in_name_patterns_show_the_placeholder_syntax() {
        let p = expand("uploads-${env}").unwrap_err();
        assert_eq!(
            p.message,
            "name pattern `uploads-${env}` uses the reference `${env}`"
        );
        assert_eq!(
            p.hint,
            "name patterns use `{env}`, not `${env}`: write `uploads-{env}`"
        );
        let p = expand("${project}-x-${env}").unwrap_err();
        assert!(p.hint.ends_with("write `{project}-x-{env}`"), "{}", p.hint);
        // No rewrite is offered when it would still be wrong.
        let p = expand("${env}-{bogus}").unwrap_err();
        assert_eq!(p.hint, "name patterns use `{env}`, not `${env}`");
        let p = expand("x-${param.size}").unwrap_err();
        assert!(
            p.hint.contains("only the placeholders `{project}`"),
            "{}",
            p.hint
        );
    }

    #[test]
    fn broken_name_patterns_say_what_is_wrong() {
        let p = expand("{projct}-files").unwrap_err();
        assert_eq!(
            p.message,
            "unknown placeholder `{projct}` in name pattern `{projct}-files`"
        );
        assert_eq!(p.hint, "did you mean `{project}`?");
        assert!(expand("{zzz}")
            .unwrap_err()
            .hint
            .starts_with("placeholders are"));
        assert!(expand("a-{env")
            .unwrap_err()
            .message
            .starts_with("unclosed `{`"));
        assert!(expand("a-${env")
            .unwrap_err()
            .message
            .starts_with("unclosed `${`"));
        assert!(expand("a}-{env}")
            .unwrap_err()
            .message
            .starts_with("unmatched `}`"));
        assert!(expand("{}").unwrap_err().message.contains("`{}`"));
        assert!(expand("${}").is_err());
    }
}
