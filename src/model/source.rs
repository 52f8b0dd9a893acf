//! A YAML file as read from disk: its text, its parsed value, and an index
//! from YAML paths to line/column so that every later check can say where a
//! problem is. Parsing is done by serde_yaml; the positions come from a
//! second, event-level pass with yaml-rust2 (serde_yaml keeps none once a
//! value is built).

use crate::diagnostics::Diagnostic;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// One parsed YAML file.
#[derive(Debug, Clone)]
pub struct Source {
    /// Path shown to the user (relative to the project root).
    pub display: PathBuf,
    /// The parsed document.
    pub value: serde_yaml::Value,
    positions: BTreeMap<String, (usize, usize)>,
}

impl Source {
    /// Parses `text`; a syntax error becomes one located diagnostic.
    pub fn parse(display: &Path, text: &str) -> Result<Self, Diagnostic> {
        let value: serde_yaml::Value = match serde_yaml::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                let mut d = Diagnostic::new(
                    display,
                    "",
                    format!("invalid YAML: {}", strip_location(&e.to_string())),
                )
                .hint("check indentation and quoting around this line");
                if let Some(loc) = e.location() {
                    d = d.at(loc.line(), loc.column());
                }
                return Err(d);
            }
        };
        let mut index = Indexer::default();
        // serde_yaml accepted the text, so this pass only fails on the rare
        // constructs the two parsers disagree on; positions are then missing,
        // which costs line numbers, never correctness.
        let _ = Parser::new_from_str(text).load(&mut index, false);
        Ok(Self {
            display: display.to_path_buf(),
            value,
            positions: index.positions,
        })
    }

    /// Line and column of `path`, or of its nearest located ancestor.
    pub fn position(&self, path: &str) -> Option<(usize, usize)> {
        let mut p = path;
        loop {
            if let Some(pos) = self.positions.get(p) {
                return Some(*pos);
            }
            let cut = p.rfind(['.', '['])?;
            p = &p[..cut];
        }
    }

    /// A diagnostic at `path` in this file, already located.
    pub fn error(&self, path: impl Into<String>, message: impl Into<String>) -> Diagnostic {
        let path = path.into();
        let d = Diagnostic::new(&self.display, path.clone(), message);
        match self.position(&path) {
            Some((line, col)) => d.at(line, col),
            None => d,
        }
    }
}

/// serde_yaml appends " at line X column Y"; the diagnostic carries those separately.
fn strip_location(msg: &str) -> String {
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// Appends a mapping key to a dotted path.
pub fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Appends a sequence index to a path.
pub fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

enum Frame {
    Map { path: String, key: Option<String> },
    Seq { path: String, next: usize },
}

#[derive(Default)]
struct Indexer {
    stack: Vec<Frame>,
    positions: BTreeMap<String, (usize, usize)>,
}

impl Indexer {
    /// The path of the node starting now, advancing the parent's state.
    /// Returns None when this scalar is a mapping key.
    fn child_path(&mut self, scalar: Option<&str>) -> Option<String> {
        match self.stack.last_mut() {
            None => Some(String::new()),
            Some(Frame::Seq { path, next }) => {
                let p = index(path, *next);
                *next += 1;
                Some(p)
            }
            Some(Frame::Map { path, key }) => match key.take() {
                Some(k) => Some(join(path, &k)),
                None => {
                    *key = Some(scalar.unwrap_or("").to_string());
                    None
                }
            },
        }
    }
}

impl MarkedEventReceiver for Indexer {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let pos = (mark.line(), mark.col() + 1);
        match ev {
            Event::Scalar(ref s, ..) => {
                let is_key = matches!(self.stack.last(), Some(Frame::Map { key: None, .. }));
                match self.child_path(Some(s)) {
                    Some(p) => {
                        self.positions.entry(p).or_insert(pos);
                    }
                    None if is_key => {
                        // A key's own line is the best place to point at its value.
                        if let Some(Frame::Map { path, key: Some(k) }) = self.stack.last() {
                            self.positions.insert(join(path, k), pos);
                            // A block mapping's start is marked after its
                            // first key; the mapping starts at that key.
                            let start = self.positions.entry(path.clone()).or_insert(pos);
                            *start = (*start).min(pos);
                        }
                    }
                    None => {}
                }
            }
            Event::Alias(_) => {
                if let Some(p) = self.child_path(Some("")) {
                    self.positions.entry(p).or_insert(pos);
                }
            }
            Event::MappingStart(..) => {
                let p = self.child_path(None).unwrap_or_default();
                self.positions.entry(p.clone()).or_insert(pos);
                self.stack.push(Frame::Map { path: p, key: None });
            }
            Event::SequenceStart(..) => {
                let p = self.child_path(None).unwrap_or_default();
                self.positions.entry(p.clone()).or_insert(pos);
                self.stack.push(Frame::Seq { path: p, next: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "a: 1\nb:\n  c: x\n  d:\n    - one\n    - e: 2\n";

    #[test]
    fn positions_point_at_keys_and_items() {
        let s = Source::parse(Path::new("f.yaml"), TEXT).unwrap();
        assert_eq!(s.position("a"), Some((1, 1)));
        assert_eq!(s.position("b.c"), Some((3, 3)));
        assert_eq!(s.position("b.d[0]"), Some((5, 7)));
        assert_eq!(s.position("b.d[1].e"), Some((6, 7)));
        assert_eq!(s.position("b.d[1]"), Some((6, 7)));
    }

    #[test]
    fn unknown_paths_fall_back_to_the_nearest_ancestor() {
        let s = Source::parse(Path::new("f.yaml"), TEXT).unwrap();
        assert_eq!(s.position("b.c.missing"), Some((3, 3)));
        assert_eq!(s.position("b.d[7]"), Some((4, 3)));
    }

    #[test]
    fn syntax_errors_are_located() {
        let d = Source::parse(Path::new("f.yaml"), "a: [1, 2\nb: 3\n").unwrap_err();
        assert!(d.message.starts_with("invalid YAML"), "{}", d.message);
        assert!(d.line.is_some());
    }
}
