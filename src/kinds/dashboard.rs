//! `dashboard`: a CloudWatch dashboard generated from the stack's own
//! resources. Each kind says what is worth watching of it ([`Kind::graphs`]:
//! a service's CPU and memory, a load balancer's 5xx, a table's throttles, a
//! cache's CPU, ...); the dashboard lays out one graph per (resource, graph)
//! in two columns under a title, for every resource of the stack or those
//! named in `resources:`. Resources an environment binds to a server of its
//! own are not in the stack, so not on its dashboard.

use super::{Graph, Kind};
use crate::limits::simple_problem;
use crate::model::source::{index, join};
use crate::names::pascal;
use crate::render::context::Builder;
use serde::Deserialize;
use serde_json::{json, Value as Json};

/// A CloudWatch dashboard of the stack's resources.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dashboard {
    /// Physical name pattern.
    #[serde(default)]
    pub name: Option<String>,
    /// The resources it shows, in this order (default: every resource of
    /// the stack with graphs, by kind, then key).
    #[serde(default)]
    pub resources: Option<Vec<String>>,
    /// Seconds per datapoint: 60 or a multiple (default 300).
    #[serde(default)]
    pub period: Option<u32>,
}

/// The order kinds come in when the dashboard shows every resource: the
/// front door first, then compute, then data.
const KIND_ORDER: &[&str] = &[
    "load_balancer",
    "cdn",
    "rest_api",
    "http_api",
    "websocket_api",
    "service",
    "function",
    "queue",
    "table",
    "cache",
    "database",
];

/// Graph width and height in the dashboard's 24-column grid: two per row.
const WIDTH: u32 = 12;
const HEIGHT: u32 = 6;
/// The height of the title.
const TITLE_HEIGHT: u32 = 2;

/// A dashboard body whose CloudFormation expressions (dimension values, the
/// region) are joined into the JSON text: each is a token in the text while
/// it is built.
struct Body {
    parts: Vec<Json>,
}

impl Body {
    /// A token standing for `expr` in the body's text.
    fn token(&mut self, expr: Json) -> Json {
        self.parts.push(expr);
        json!(format!("\u{1}{}\u{1}", self.parts.len() - 1))
    }

    /// `body` as a CloudFormation string: the text when nothing in it is an
    /// expression, else `Fn::Join` of the text's pieces and the expressions.
    fn render(self, body: &Json) -> Json {
        let text = body.to_string();
        if self.parts.is_empty() {
            return json!(text);
        }
        let mut pieces = Vec::new();
        // Tokens are \u0001N\u0001, written by serde_json as "\u0001N\u0001".
        let mut rest = text.as_str();
        while let Some(start) = rest.find("\\u0001") {
            let after = &rest[start + 6..];
            let Some(end) = after.find("\\u0001") else {
                break;
            };
            let n: usize = after[..end].parse().unwrap_or(usize::MAX);
            let Some(expr) = self.parts.get(n) else {
                break;
            };
            if start > 0 {
                pieces.push(json!(rest[..start]));
            }
            pieces.push(expr.clone());
            rest = &after[end + 6..];
        }
        if !rest.is_empty() {
            pieces.push(json!(rest));
        }
        json!({"Fn::Join": ["", pieces]})
    }
}

/// One graph as a CloudWatch metric widget at `(x, y)`.
fn widget(b: &mut Body, key: &str, g: &Graph, period: u32, x: u32, y: u32) -> Json {
    let metrics: Vec<Json> = g
        .metrics
        .iter()
        .map(|(metric, stat)| {
            let mut row = vec![json!(g.namespace), json!(metric)];
            for (name, value) in &g.dimensions {
                row.push(json!(name));
                row.push(b.token(value.clone()));
            }
            row.push(json!({"stat": stat}));
            Json::Array(row)
        })
        .collect();
    let region = b.token(json!({"Ref": "AWS::Region"}));
    json!({
        "type": "metric",
        "x": x,
        "y": y,
        "width": WIDTH,
        "height": HEIGHT,
        "properties": {
            "title": format!("{key}: {}", g.title),
            "view": "timeSeries",
            "stacked": false,
            "region": region,
            "period": period,
            "metrics": metrics,
        },
    })
}

impl Dashboard {
    /// The resources shown, with their graphs, in order; problems with
    /// `resources:` reported.
    fn shown(&self, cx: &mut Builder, key: &str, path: &str) -> Vec<(String, Vec<Graph>)> {
        let stack = cx.stack;
        match &self.resources {
            Some(keys) => {
                let mut out = Vec::new();
                for (i, k) in keys.iter().enumerate() {
                    let kpath = index(&join(path, "resources"), i);
                    let Some(r) = cx.target(k, &kpath, super::KINDS) else {
                        continue;
                    };
                    let graphs = r.graphs(cx, k);
                    if graphs.is_empty() {
                        cx.error_hint(
                            &kpath,
                            format!("a {} has no metrics a dashboard shows", r.kind()),
                            format!("dashboards show: {}", KIND_ORDER.join(", ")),
                        );
                    } else if out.iter().any(|(o, _)| o == k) {
                        cx.error_hint(&kpath, format!("`{k}` is listed twice"), "remove one");
                    } else if cx.replaced(k).is_none() {
                        out.push((k.clone(), graphs));
                    }
                }
                out
            }
            None => {
                let mut all: Vec<(usize, String, Vec<Graph>)> = stack
                    .resources
                    .iter()
                    .filter(|(k, _)| k.as_str() != key && cx.replaced(k).is_none())
                    .map(|(k, r)| {
                        let rank = KIND_ORDER
                            .iter()
                            .position(|n| *n == r.kind())
                            .unwrap_or(KIND_ORDER.len());
                        (rank, k.clone(), r.graphs(cx, k))
                    })
                    .filter(|(_, _, g)| !g.is_empty())
                    .collect();
                all.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
                all.into_iter().map(|(_, k, g)| (k, g)).collect()
            }
        }
    }
}

impl Kind for Dashboard {
    const NAME: &'static str = "dashboard";
    const TEMPLATE_FILE: &'static str = "dashboard.yaml.tera";
    const TEMPLATE: &'static str = include_str!("../../templates/dashboard.yaml.tera");
    const ATTRIBUTES: &'static [&'static str] = &["name", "url"];

    fn name_pattern(&self) -> Option<&str> {
        self.name.as_deref()
    }

    fn name_problem(name: &str) -> Option<String> {
        simple_problem("dashboard name", name, 255, "-_")
    }

    fn resolve(&self, cx: &mut Builder, key: &str, path: &str) -> Json {
        let l = pascal(key);
        cx.claim(&l, path);
        let period = self.period.unwrap_or(300);
        if period == 0 || !period.is_multiple_of(60) {
            cx.error_hint(
                &join(path, "period"),
                format!("period {period} is not valid"),
                "use 60 seconds or a multiple of it",
            );
        }
        let shown = self.shown(cx, key, path);
        if shown.is_empty() && self.resources.as_ref().is_none_or(Vec::is_empty) {
            cx.error_hint(
                path,
                format!("dashboard `{key}` has nothing to show"),
                format!(
                    "it shows the stack's resources of these kinds: {}",
                    KIND_ORDER.join(", ")
                ),
            );
        }
        let mut body = Body { parts: Vec::new() };
        let title = format!(
            "# {} · {} · {}\nGenerated by stackctl from the stack file: every graph is a resource of the stack (`{}`).",
            cx.project.file.project,
            cx.stack.name,
            cx.env,
            cx.name(key)
        );
        let mut widgets = vec![json!({
            "type": "text",
            "x": 0,
            "y": 0,
            "width": 2 * WIDTH,
            "height": TITLE_HEIGHT,
            "properties": {"markdown": title},
        })];
        let mut n = 0u32;
        for (k, graphs) in &shown {
            for g in graphs {
                let (x, y) = ((n % 2) * WIDTH, TITLE_HEIGHT + (n / 2) * HEIGHT);
                widgets.push(widget(&mut body, k, g, period, x, y));
                n += 1;
            }
        }
        let text = json!({"widgets": widgets});
        json!({
            "logical": l,
            "name": cx.name(key),
            "body": body.render(&text),
        })
    }

    fn attribute(&self, _cx: &mut Builder, key: &str, attr: &str, _path: &str) -> Json {
        let l = pascal(key);
        match attr {
            "name" => json!({"Ref": l}),
            "url" => json!({"Fn::Sub": format!(
                "https://${{AWS::Region}}.console.aws.amazon.com/cloudwatch/home?region=${{AWS::Region}}#dashboards:name=${{{l}}}"
            )}),
            // Not an attribute of a dashboard (ATTRIBUTES is checked first).
            _ => Json::Null,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::render;
    use serde_json::{json, Value as Json};

    /// The dashboard body of `t`'s `Ops`, with its expressions as `<…>`.
    fn body(t: &Json) -> Json {
        let b = &t["Resources"]["Ops"]["Properties"]["DashboardBody"];
        let text: String = match b.as_str() {
            Some(s) => s.to_string(),
            None => b["Fn::Join"][1]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| match p.as_str() {
                    Some(s) => s.to_string(),
                    None => format!("<{p}>").replace('"', "'"),
                })
                .collect(),
        };
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn it_graphs_every_resource_of_the_stack_by_kind() {
        let t = render(
            "resources:
  ops:
    type: dashboard
  worlds:
    type: table
    attributes: {id: string}
    key: [id]
  jobs:
    type: queue
  work:
    type: function
    crate: work
",
        );
        let b = body(&t);
        let w = b["widgets"].as_array().unwrap();
        assert_eq!(w[0]["type"], "text");
        let titles: Vec<&str> = w[1..]
            .iter()
            .map(|w| w["properties"]["title"].as_str().unwrap())
            .collect();
        // Functions, then queues, then tables: compute before data.
        assert_eq!(
            titles,
            [
                "work: errors and throttles",
                "work: duration",
                "jobs: backlog",
                "worlds: throttles",
                "worlds: errors",
            ]
        );
        // Two per row, under the title.
        assert_eq!((w[1]["x"].clone(), w[1]["y"].clone()), (json!(0), json!(2)));
        assert_eq!(
            (w[2]["x"].clone(), w[2]["y"].clone()),
            (json!(12), json!(2))
        );
        assert_eq!((w[3]["x"].clone(), w[3]["y"].clone()), (json!(0), json!(8)));
        // The dimension is the resource's own expression.
        assert_eq!(
            w[4]["properties"]["metrics"][0],
            json!(["AWS/DynamoDB", "ReadThrottleEvents", "TableName", "<{'Ref':'Worlds'}>", {"stat": "Sum"}])
        );
        assert_eq!(w[4]["properties"]["region"], "<{'Ref':'AWS::Region'}>");
        assert_eq!(w[2]["properties"]["metrics"][0][4], json!({"stat": "p95"}));
    }

    #[test]
    fn resources_chooses_and_orders_what_it_shows() {
        let t = render(
            "resources:
  ops:
    type: dashboard
    period: 60
    resources: [jobs, worlds]
  worlds:
    type: table
    attributes: {id: string}
    key: [id]
  jobs:
    type: queue
  work:
    type: function
    crate: work
",
        );
        let b = body(&t);
        let titles: Vec<&str> = b["widgets"].as_array().unwrap()[1..]
            .iter()
            .map(|w| w["properties"]["title"].as_str().unwrap())
            .collect();
        assert_eq!(
            titles,
            ["jobs: backlog", "worlds: throttles", "worlds: errors"]
        );
        assert_eq!(b["widgets"][1]["properties"]["period"], 60);
    }
}
