//! Route matching with API Gateway's precedence.
//!
//! <https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-routes.html>
//! ("Routing API requests"): the most specific route wins, a full path
//! match over a path variable over a greedy `{proxy+}` variable, segment by
//! segment from the left; a route naming the method wins over `ANY` for
//! the same path; `$default` catches what nothing else matches. REST
//! resources follow the same order.

use std::collections::BTreeMap;

/// The routes of one API, from their route keys.
#[derive(Debug, Clone, Default)]
pub struct Routes(Vec<Route>);

#[derive(Debug, Clone)]
struct Route {
    key: String,
    /// `None` for `ANY`.
    method: Option<String>,
    resource: String,
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Static(String),
    Param(String),
    Greedy(String),
}

impl Segment {
    /// Lower is more specific.
    fn rank(&self) -> u8 {
        match self {
            Segment::Static(_) => 0,
            Segment::Param(_) => 1,
            Segment::Greedy(_) => 2,
        }
    }
}

/// The route a request matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    /// As declared: `GET /a/{id}`, `$default`.
    pub route_key: String,
    /// The path template: `/a/{id}` (`/{proxy+}` for `$default`, the way
    /// REST's catch-all resource reads; HTTP API events do not show it).
    pub resource: String,
    /// Percent-decoded values; a greedy variable takes the rest of the path
    /// (without its leading `/`).
    pub path_parameters: BTreeMap<String, String>,
}

fn segments(path: &str) -> Vec<&str> {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    if trimmed.is_empty() {
        Vec::new()
    } else {
        trimmed.split('/').collect()
    }
}

impl Routes {
    /// Route keys: `METHOD /path` (`ANY` for every method) or `$default`.
    /// A key of any other shape is kept but never matches.
    pub fn new<'a>(keys: impl IntoIterator<Item = &'a str>) -> Routes {
        let mut routes = Vec::new();
        for key in keys {
            let key = key.trim();
            let Some((method, path)) = key.split_once(' ') else {
                routes.push(Route {
                    key: key.to_string(),
                    method: None,
                    resource: String::new(),
                    segments: Vec::new(),
                });
                continue;
            };
            let path = path.trim();
            let method = method.to_ascii_uppercase();
            let segs = segments(path)
                .into_iter()
                .map(|s| {
                    if let Some(name) = s.strip_prefix('{').and_then(|s| s.strip_suffix("+}")) {
                        Segment::Greedy(name.to_string())
                    } else if let Some(name) = s.strip_prefix('{').and_then(|s| s.strip_suffix('}'))
                    {
                        Segment::Param(name.to_string())
                    } else {
                        Segment::Static(s.to_string())
                    }
                })
                .collect();
            routes.push(Route {
                key: key.to_string(),
                method: (method != "ANY").then_some(method),
                resource: path.to_string(),
                segments: segs,
            });
        }
        Routes(routes)
    }

    /// The route keys, as given.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|r| r.key.as_str())
    }

    /// The route API Gateway picks for this method and path (the path
    /// without the stage prefix: see [`super::route_path`]).
    pub fn find(&self, method: &str, path: &str) -> Option<RouteMatch> {
        let method = method.to_ascii_uppercase();
        let raw: Vec<&str> = segments(path);
        let decoded: Vec<String> = raw.iter().map(|s| super::decode(s)).collect();
        // (segment ranks, method rank, route, parameters) of the best so far.
        type Candidate<'r> = (Vec<u8>, u8, &'r Route, BTreeMap<String, String>);
        let mut best: Option<Candidate> = None;
        for route in &self.0 {
            if route.resource.is_empty() {
                continue;
            }
            match &route.method {
                Some(m) if *m != method => continue,
                _ => {}
            }
            let Some(params) = matches(&route.segments, &decoded) else {
                continue;
            };
            let rank: Vec<u8> = route.segments.iter().map(Segment::rank).collect();
            let method_rank = u8::from(route.method.is_none());
            let better = match &best {
                None => true,
                Some((r, m, _, _)) => (&rank, method_rank) < (r, *m),
            };
            if better {
                best = Some((rank, method_rank, route, params));
            }
        }
        if let Some((_, _, route, params)) = best {
            return Some(RouteMatch {
                route_key: route.key.clone(),
                resource: route.resource.clone(),
                path_parameters: params,
            });
        }
        self.0
            .iter()
            .find(|r| r.key == "$default")
            .map(|r| RouteMatch {
                route_key: r.key.clone(),
                resource: "/{proxy+}".into(),
                path_parameters: BTreeMap::new(),
            })
    }
}

/// The path parameters when `segments` match the decoded path segments.
/// Segment ranks compare lexicographically, so `/a/b/{c}` beats `/a/{b}/c`
/// and both beat `/a/{proxy+}`, as "most specific, from the left".
fn matches(route: &[Segment], path: &[String]) -> Option<BTreeMap<String, String>> {
    let mut params = BTreeMap::new();
    for (i, seg) in route.iter().enumerate() {
        match seg {
            Segment::Greedy(name) => {
                // A greedy variable needs at least one segment: `/{proxy+}`
                // does not match `/`.
                let rest = path.get(i..).filter(|r| !r.is_empty())?;
                params.insert(name.clone(), rest.join("/"));
                return Some(params);
            }
            Segment::Static(s) => {
                if path.get(i)? != s {
                    return None;
                }
            }
            Segment::Param(name) => {
                let value = path.get(i)?;
                if value.is_empty() {
                    return None;
                }
                params.insert(name.clone(), value.clone());
            }
        }
    }
    (route.len() == path.len()).then_some(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(routes: &Routes, method: &str, path: &str) -> Option<String> {
        routes.find(method, path).map(|m| m.route_key)
    }

    #[test]
    fn the_most_specific_route_wins() {
        let routes = Routes::new([
            "ANY /{proxy+}",
            "GET /pets/{proxy+}",
            "GET /pets/{id}",
            "GET /pets/dog",
            "ANY /pets/dog",
            "POST /pets/{id}/toys/{toy}",
            "GET /pets/{id}/toys/new",
            "$default",
        ]);
        assert_eq!(key(&routes, "GET", "/pets/dog").unwrap(), "GET /pets/dog");
        assert_eq!(key(&routes, "PUT", "/pets/dog").unwrap(), "ANY /pets/dog");
        assert_eq!(key(&routes, "GET", "/pets/cat").unwrap(), "GET /pets/{id}");
        assert_eq!(
            key(&routes, "GET", "/pets/cat/1").unwrap(),
            "GET /pets/{proxy+}"
        );
        assert_eq!(
            key(&routes, "DELETE", "/pets/cat").unwrap(),
            "ANY /{proxy+}"
        );
        assert_eq!(
            key(&routes, "GET", "/pets/7/toys/new").unwrap(),
            "GET /pets/{id}/toys/new"
        );
        assert_eq!(
            key(&routes, "POST", "/pets/7/toys/new").unwrap(),
            "POST /pets/{id}/toys/{toy}"
        );
        // `/{proxy+}` needs a segment: `/` falls to `$default`.
        assert_eq!(key(&routes, "GET", "/").unwrap(), "$default");
    }

    #[test]
    fn without_default_an_unmatched_request_has_no_route() {
        let routes = Routes::new(["GET /a", "POST /b/{id}"]);
        assert_eq!(key(&routes, "GET", "/b/1"), None);
        assert_eq!(key(&routes, "POST", "/b"), None);
        assert_eq!(key(&routes, "POST", "/b/"), None);
        assert_eq!(key(&routes, "GET", "/a/x"), None);
        assert_eq!(key(&routes, "get", "/a").unwrap(), "GET /a");
    }

    #[test]
    fn root_and_parameters_are_decoded() {
        let routes = Routes::new(["GET /", "GET /files/{key}", "ANY /raw/{path+}", "GET /a b"]);
        let m = routes.find("GET", "/").unwrap();
        assert_eq!((m.route_key.as_str(), m.resource.as_str()), ("GET /", "/"));
        let m = routes.find("GET", "/files/my%20photo%2B1.jpg").unwrap();
        assert_eq!(m.resource, "/files/{key}");
        assert_eq!(m.path_parameters["key"], "my photo+1.jpg");
        let m = routes.find("PATCH", "/raw/x/y%2Fz/").unwrap();
        assert_eq!(m.path_parameters["path"], "x/y/z/");
        assert_eq!(key(&routes, "GET", "/a%20b").unwrap(), "GET /a b");
        // A bad escape does not panic; it stays as sent.
        let m = routes.find("GET", "/files/%zz").unwrap();
        assert_eq!(m.path_parameters["key"], "%zz");
    }

    #[test]
    fn default_alone_catches_everything() {
        let routes = Routes::new(["$default"]);
        let m = routes.find("OPTIONS", "/x/y").unwrap();
        assert_eq!(m.route_key, "$default");
        assert!(m.path_parameters.is_empty());
        assert!(Routes::new(["bogus"]).find("GET", "/").is_none());
        assert_eq!(routes.keys().collect::<Vec<_>>(), ["$default"]);
    }
}
