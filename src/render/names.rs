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

/// Why `name` is not a valid S3 bucket name, if it is not.
pub fn bucket_problem(name: &str) -> Option<String> {
    let len = name.len();
    if !(3..=63).contains(&len) {
        return Some(format!(
            "bucket name `{name}` is {len} characters; S3 allows 3 to 63"
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '.'))
    {
        return Some(format!(
            "bucket name `{name}` contains `{c}`; S3 allows lowercase letters, digits, `-` and `.`"
        ));
    }
    let first = name.chars().next().unwrap_or('-');
    let last = name.chars().last().unwrap_or('-');
    if !first.is_ascii_alphanumeric() || !last.is_ascii_alphanumeric() {
        return Some(format!(
            "bucket name `{name}` must begin and end with a letter or digit"
        ));
    }
    if name.contains("..") || name.contains(".-") || name.contains("-.") {
        return Some(format!(
            "bucket name `{name}` has adjacent `.`/`-` characters"
        ));
    }
    if name.starts_with("xn--")
        || name.starts_with("sthree-")
        || name.ends_with("-s3alias")
        || name.ends_with("--ol-s3")
    {
        return Some(format!(
            "bucket name `{name}` uses a prefix or suffix S3 reserves"
        ));
    }
    if name.split('.').count() == 4 && name.split('.').all(|p| p.parse::<u8>().is_ok()) {
        return Some(format!("bucket name `{name}` looks like an IP address"));
    }
    None
}

/// Why `name` breaks a "letters, digits and these characters, at most N" rule.
pub fn simple_problem(what: &str, name: &str, max: usize, extra: &str) -> Option<String> {
    if name.is_empty() || name.len() > max {
        return Some(format!(
            "{what} `{name}` is {} characters; the limit is {max}",
            name.len()
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || extra.contains(*c)))
    {
        let allowed: Vec<String> = extra.chars().map(|c| format!("`{c}`")).collect();
        return Some(format!(
            "{what} `{name}` contains `{c}`; allowed are letters, digits and {}",
            allowed.join(" ")
        ));
    }
    None
}

/// The physical-name rule for a resource kind, if it has a name.
pub fn physical_problem(kind: &str, name: &str) -> Option<String> {
    match kind {
        "bucket" => bucket_problem(name),
        "table" => simple_problem("table name", name, 255, "_-.").or_else(|| {
            (name.len() < 3).then(|| format!("table name `{name}` is shorter than 3 characters"))
        }),
        // The log group `/aws/lambda/NAME` and the function share this limit.
        "function" => simple_problem("function name", name, 64, "-_"),
        "http_api" | "websocket_api" => simple_problem("API name", name, 128, "-_. "),
        "schedule" => simple_problem("rule name", name, 64, "-_."),
        "alarm" => simple_problem("alarm name", name, 255, "-_./ "),
        _ => None,
    }
}

/// Why a CloudFormation stack name is invalid.
pub fn stack_name_problem(name: &str) -> Option<String> {
    if name.len() > 128 {
        return Some(format!("stack name `{name}` is longer than 128 characters"));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Some(format!("stack name `{name}` must start with a letter"));
    }
    simple_problem("stack name", name, 128, "-")
}

/// Checks that `text` is a lowercase identifier of the form `[a-z][a-z0-9<extra>]*`.
pub fn identifier_problem(what: &str, text: &str, extra: char, max: usize) -> Option<String> {
    let ok_first = text.starts_with(|c: char| c.is_ascii_lowercase());
    let ok_rest = text
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == extra);
    if !ok_first || !ok_rest || text.len() > max {
        return Some(format!(
            "{what} `{text}` must be lowercase letters, digits and `{extra}`, start with a letter, and be at most {max} characters"
        ));
    }
    None
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

    #[test]
    fn bucket_rules() {
        assert!(bucket_problem("studio-upload-ingest-dev").is_none());
        assert!(bucket_problem("ab").unwrap().contains("3 to 63"));
        assert!(bucket_problem(&"a".repeat(64))
            .unwrap()
            .contains("64 characters"));
        assert!(bucket_problem("Upper").unwrap().contains("contains `U`"));
        assert!(bucket_problem("a_b").unwrap().contains("contains `_`"));
        assert!(bucket_problem("-ab").unwrap().contains("begin and end"));
        assert!(bucket_problem("a..b").unwrap().contains("adjacent"));
        assert!(bucket_problem("192.168.5.4")
            .unwrap()
            .contains("IP address"));
        assert!(bucket_problem("xn--abc").unwrap().contains("reserves"));
    }

    #[test]
    fn function_and_stack_names() {
        assert!(physical_problem("function", &"f".repeat(65))
            .unwrap()
            .contains("limit is 64"));
        assert!(physical_problem("function", "a.b")
            .unwrap()
            .contains("contains `.`"));
        assert!(stack_name_problem("studio-upload-dev").is_none());
        assert!(stack_name_problem("1abc").is_some());
        assert!(stack_name_problem("a_b").is_some());
    }
}
