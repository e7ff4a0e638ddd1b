//! Decoding a request URL into a route: discovery endpoints, kubesim's own endpoints, or a
//! resource path with namespace, name and subresource. Pure and total: never panics on input.

use crate::resources::{self, ResId};

/// Where a request goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    /// `/version`
    Version,
    /// `/api`
    CoreVersions,
    /// `/apis`
    Groups,
    /// `/apis/{group}`
    Group(String),
    /// `/api/v1` or `/apis/{group}/{version}`
    ResourceList(String, String),
    /// `/openapi/v2`
    OpenApiV2,
    /// `/openapi/v3` and below (the part after `/openapi/v3`)
    OpenApiV3(String),
    /// `/healthz`, `/livez`, `/readyz` (and their sub-checks)
    Health,
    /// `/metrics`
    Metrics,
    /// `/kubesim/...` (the part after `/kubesim/`)
    Admin(String),
    /// A resource request.
    Resource(ResourcePath),
    /// Nothing served here.
    NotFound,
}

/// A resource request's target.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourcePath {
    /// Resource type.
    pub res: ResId,
    /// Namespace from the URL.
    pub namespace: Option<String>,
    /// Object name.
    pub name: Option<String>,
    /// Subresource.
    pub subresource: Option<String>,
    /// Legacy `/watch/` prefix.
    pub legacy_watch: bool,
}

fn decode(seg: &str) -> Option<String> {
    let bytes = seg.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = seg.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Splits a proxy path `/api/v1/namespaces/{ns}/{plural}/{id}/proxy[/{rest}]` into the part up
/// to and including `/proxy` and the rest, still percent-encoded: `""` or starting with `/`.
pub fn proxy_split(path: &str) -> Option<(&str, &str)> {
    let parts: Vec<&str> = path.splitn(9, '/').collect();
    match parts.as_slice() {
        ["", "api", "v1", "namespaces", _, _, _, "proxy", rest @ ..] => {
            let rest_len = rest.first().map_or(0, |r| r.len() + 1);
            let split = path.len() - rest_len;
            Some((&path[..split], &path[split..]))
        }
        _ => None,
    }
}

/// The route of a proxy path: the resource must have a `proxy` subresource.
fn proxy_route(prefix: &str) -> Route {
    let segs: Option<Vec<String>> = prefix.split('/').skip(4).take(3).map(decode).collect();
    let Some([ns, plural, name]) = segs.as_deref() else {
        return Route::NotFound;
    };
    match resources::lookup("", "v1", plural) {
        Some(res)
            if resources::get(res).has_subresource("proxy")
                && !ns.is_empty()
                && !name.is_empty() =>
        {
            Route::Resource(ResourcePath {
                res,
                namespace: Some(ns.clone()),
                name: Some(name.clone()),
                subresource: Some("proxy".into()),
                legacy_watch: false,
            })
        }
        _ => Route::NotFound,
    }
}

/// Parses a URL path (without the query string).
pub fn parse(path: &str) -> Route {
    if let Some((prefix, _)) = proxy_split(path) {
        return proxy_route(prefix);
    }
    let trimmed = path.trim_end_matches('/');
    match trimmed {
        "/version" => return Route::Version,
        "/api" => return Route::CoreVersions,
        "/apis" => return Route::Groups,
        "/openapi/v2" => return Route::OpenApiV2,
        "/metrics" => return Route::Metrics,
        _ => {}
    }
    if let Some(rest) = trimmed.strip_prefix("/openapi/v3") {
        return Route::OpenApiV3(rest.trim_start_matches('/').to_string());
    }
    for h in ["/healthz", "/livez", "/readyz"] {
        if trimmed == h || trimmed.starts_with(&format!("{h}/")) {
            return Route::Health;
        }
    }
    if let Some(rest) = trimmed.strip_prefix("/kubesim/") {
        return Route::Admin(rest.to_string());
    }
    let Some(segs) = trimmed
        .split('/')
        .skip(1)
        .map(decode)
        .collect::<Option<Vec<String>>>()
    else {
        return Route::NotFound;
    };
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let (group, version, rest): (&str, &str, &[&str]) = match segs.as_slice() {
        ["api", v, rest @ ..] => ("", v, rest),
        ["apis", g] => return Route::Group((*g).to_string()),
        ["apis", g, v, rest @ ..] => (g, v, rest),
        _ => return Route::NotFound,
    };
    if rest.is_empty() {
        if resources::RESOURCES
            .iter()
            .any(|r| r.group == group && r.version == version)
        {
            return Route::ResourceList(group.to_string(), version.to_string());
        }
        return Route::NotFound;
    }
    let (legacy_watch, rest) = match rest {
        ["watch", r @ ..] => (true, r),
        r => (false, r),
    };
    let resource_path =
        |plural: &str, namespace: Option<&str>, name: Option<&str>, sub: Option<&str>| {
            let res = resources::lookup(group, version, plural)?;
            let rt = resources::get(res);
            if namespace.is_some() && !rt.namespaced {
                return None;
            }
            if let Some(s) = sub
                && !rt.has_subresource(s)
            {
                return None;
            }
            if name.is_some_and(str::is_empty) || namespace.is_some_and(str::is_empty) {
                return None;
            }
            if rt.namespaced && namespace.is_none() && name.is_some() {
                return None;
            }
            Some(Route::Resource(ResourcePath {
                res,
                namespace: namespace.map(str::to_string),
                name: name.map(str::to_string),
                subresource: sub.map(str::to_string),
                legacy_watch,
            }))
        };
    let route = match rest {
        ["namespaces", ns, plural] => resource_path(plural, Some(ns), None, None).or_else(|| {
            if group.is_empty() && (*plural == "status" || *plural == "finalize") {
                resource_path("namespaces", None, Some(ns), Some(plural))
            } else {
                None
            }
        }),
        ["namespaces", ns, plural, name] => resource_path(plural, Some(ns), Some(name), None),
        ["namespaces", ns, plural, name, sub] => {
            resource_path(plural, Some(ns), Some(name), Some(sub))
        }
        [plural] => resource_path(plural, None, None, None),
        [plural, name] => resource_path(plural, None, Some(name), None),
        [plural, name, sub] => resource_path(plural, None, Some(name), Some(sub)),
        _ => None,
    };
    route.unwrap_or(Route::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::ids;

    fn rp(res: ResId, ns: Option<&str>, name: Option<&str>, sub: Option<&str>) -> Route {
        Route::Resource(ResourcePath {
            res,
            namespace: ns.map(Into::into),
            name: name.map(Into::into),
            subresource: sub.map(Into::into),
            legacy_watch: false,
        })
    }

    #[test]
    fn paths() {
        let cases = vec![
            ("/version", Route::Version),
            ("/api", Route::CoreVersions),
            ("/api/v1", Route::ResourceList("".into(), "v1".into())),
            (
                "/apis/batch/v1",
                Route::ResourceList("batch".into(), "v1".into()),
            ),
            ("/apis/batch", Route::Group("batch".into())),
            ("/api/v1/pods", rp(ids::PODS, None, None, None)),
            ("/api/v1/namespaces", rp(ids::NAMESPACES, None, None, None)),
            (
                "/api/v1/namespaces/ns1",
                rp(ids::NAMESPACES, None, Some("ns1"), None),
            ),
            (
                "/api/v1/namespaces/ns1/status",
                rp(ids::NAMESPACES, None, Some("ns1"), Some("status")),
            ),
            (
                "/api/v1/namespaces/ns1/finalize",
                rp(ids::NAMESPACES, None, Some("ns1"), Some("finalize")),
            ),
            (
                "/api/v1/namespaces/ns1/pods",
                rp(ids::PODS, Some("ns1"), None, None),
            ),
            (
                "/api/v1/namespaces/ns1/pods/p",
                rp(ids::PODS, Some("ns1"), Some("p"), None),
            ),
            (
                "/api/v1/namespaces/ns1/pods/p/log",
                rp(ids::PODS, Some("ns1"), Some("p"), Some("log")),
            ),
            ("/api/v1/namespaces/ns1/pods/p/nope", Route::NotFound),
            ("/api/v1/nodes/n1", rp(ids::NODES, None, Some("n1"), None)),
            ("/api/v1/namespaces/ns1/nodes", Route::NotFound),
            ("/api/v1/pods/p", Route::NotFound),
            (
                "/apis/batch/v1/namespaces/x/jobs/j/status",
                rp(ids::JOBS, Some("x"), Some("j"), Some("status")),
            ),
            ("/apis/nope/v1/things", Route::NotFound),
            ("/healthz/ping", Route::Health),
            ("/kubesim/faults", Route::Admin("faults".into())),
            (
                "/api/v1/namespaces/a%2Fb/pods",
                rp(ids::PODS, Some("a/b"), None, None),
            ),
            ("/api/v1/namespaces/%zz/pods", Route::NotFound),
            (
                "/api/v1/namespaces/ns1/services/https:web:8443/proxy",
                rp(
                    ids::SERVICES,
                    Some("ns1"),
                    Some("https:web:8443"),
                    Some("proxy"),
                ),
            ),
            (
                "/api/v1/namespaces/ns1/pods/p%3A80/proxy/a/%zz/b/",
                rp(ids::PODS, Some("ns1"), Some("p:80"), Some("proxy")),
            ),
            (
                "/api/v1/namespaces/ns1/configmaps/c/proxy/x",
                Route::NotFound,
            ),
            ("/api/v1/namespaces/ns1/pods//proxy/x", Route::NotFound),
            ("/", Route::NotFound),
        ];
        for (path, want) in cases {
            assert_eq!(parse(path), want, "{path}");
        }
        assert_eq!(
            proxy_split("/api/v1/namespaces/n/services/s:80/proxy"),
            Some(("/api/v1/namespaces/n/services/s:80/proxy", ""))
        );
        assert_eq!(
            proxy_split("/api/v1/namespaces/n/services/s/proxy/"),
            Some(("/api/v1/namespaces/n/services/s/proxy", "/"))
        );
        assert_eq!(
            proxy_split("/api/v1/namespaces/n/pods/p/proxy/a/b%2Fc?"),
            Some(("/api/v1/namespaces/n/pods/p/proxy", "/a/b%2Fc?"))
        );
        assert_eq!(proxy_split("/api/v1/namespaces/n/pods/p/proxyx"), None);
        assert_eq!(proxy_split("/api/v1/namespaces/n/pods/p/log"), None);
        assert!(matches!(
            parse("/api/v1/watch/namespaces/x/pods"),
            Route::Resource(ResourcePath {
                legacy_watch: true,
                ..
            })
        ));
    }
}
