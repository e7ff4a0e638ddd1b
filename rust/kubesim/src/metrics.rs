//! Prometheus metrics under kube-apiserver's names: `apiserver_request_total` and
//! `apiserver_longrunning_requests`, plus object counts.

use std::collections::HashMap;
use std::fmt::Write;

use parking_lot::Mutex;

use crate::resources::{self, ResId};

/// Labels of one request counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestKey {
    /// GET, LIST, WATCH, POST, PUT, PATCH, APPLY, DELETE, DELETECOLLECTION, CONNECT.
    pub verb: &'static str,
    /// Resource type, when the request is about one.
    pub res: Option<ResId>,
    /// Subresource ("" for none).
    pub subresource: &'static str,
    /// namespace, cluster or resource.
    pub scope: &'static str,
    /// HTTP status code.
    pub code: u16,
    /// Whether the request was a dry run (`dryRun=All`): kube-apiserver's `dry_run="All"`.
    pub dry_run: bool,
}

/// Labels of the long-running gauge: verb, resource, subresource, scope.
type LongKey = (&'static str, Option<ResId>, &'static str, &'static str);

/// The counters.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<HashMap<RequestKey, u64>>,
    longrunning: Mutex<HashMap<LongKey, i64>>,
}

/// Maps a subresource name to a static string (unknown ones become "").
pub fn static_subresource(s: &str) -> &'static str {
    match s {
        "status" => "status",
        "log" => "log",
        "eviction" => "eviction",
        "binding" => "binding",
        "token" => "token",
        "finalize" => "finalize",
        "ephemeralcontainers" => "ephemeralcontainers",
        "proxy" => "proxy",
        "exec" => "exec",
        "portforward" => "portforward",
        _ => "",
    }
}

impl Metrics {
    /// Counts one finished request.
    pub fn count(&self, key: RequestKey) {
        *self.requests.lock().entry(key).or_default() += 1;
    }

    /// Adds `delta` to the open long-running requests (watch, log follow) gauge.
    pub fn add_long_running(
        &self,
        verb: &'static str,
        res: Option<ResId>,
        subresource: &'static str,
        scope: &'static str,
        delta: i64,
    ) {
        *self
            .longrunning
            .lock()
            .entry((verb, res, subresource, scope))
            .or_default() += delta;
    }

    /// The Prometheus text exposition.
    pub fn render(&self, counts: &[(ResId, usize)]) -> String {
        let mut out = String::new();
        let names = |res: Option<ResId>| match res {
            Some(r) => {
                let t = resources::get(r);
                (t.group, t.version, t.plural)
            }
            None => ("", "", ""),
        };
        out.push_str("# HELP apiserver_request_total [STABLE] Counter of apiserver requests broken out for each verb, dry run value, group, version, resource, scope, component, and HTTP response code.\n# TYPE apiserver_request_total counter\n");
        let mut reqs: Vec<(RequestKey, u64)> =
            self.requests.lock().iter().map(|(k, v)| (*k, *v)).collect();
        reqs.sort_by_key(|(k, _)| (k.res, k.verb, k.subresource, k.code));
        for (k, v) in reqs {
            let (g, ver, r) = names(k.res);
            let _ = writeln!(
                out,
                "apiserver_request_total{{code=\"{}\",component=\"apiserver\",dry_run=\"{}\",group=\"{g}\",resource=\"{r}\",scope=\"{}\",subresource=\"{}\",verb=\"{}\",version=\"{ver}\"}} {v}",
                k.code,
                if k.dry_run { "All" } else { "" },
                k.scope,
                k.subresource,
                k.verb
            );
        }
        out.push_str("# HELP apiserver_longrunning_requests [STABLE] Gauge of all active long-running apiserver requests broken out by verb, group, version, resource, scope and component. Not all requests are tracked this way.\n# TYPE apiserver_longrunning_requests gauge\n");
        let mut lr: Vec<_> = self
            .longrunning
            .lock()
            .iter()
            .map(|(k, v)| (*k, *v))
            .collect();
        lr.sort_by_key(|(k, _)| (k.1, k.0, k.2));
        for ((verb, res, sub, scope), v) in lr {
            let (g, ver, r) = names(res);
            let _ = writeln!(
                out,
                "apiserver_longrunning_requests{{component=\"apiserver\",group=\"{g}\",resource=\"{r}\",scope=\"{scope}\",subresource=\"{sub}\",verb=\"{verb}\",version=\"{ver}\"}} {v}"
            );
        }
        out.push_str("# HELP apiserver_storage_objects [STABLE] Number of stored objects at the time of last check split by kind.\n# TYPE apiserver_storage_objects gauge\n");
        for (res, n) in counts {
            let t = resources::get(*res);
            if t.create_only {
                continue;
            }
            let name = if t.group.is_empty() {
                t.plural.to_string()
            } else {
                format!("{}.{}", t.plural, t.group)
            };
            let _ = writeln!(out, "apiserver_storage_objects{{resource=\"{name}\"}} {n}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_gauges() {
        let m = Metrics::default();
        m.count(RequestKey {
            verb: "POST",
            res: Some(1),
            subresource: "",
            scope: "namespace",
            code: 201,
            dry_run: false,
        });
        m.count(RequestKey {
            verb: "POST",
            res: Some(1),
            subresource: "",
            scope: "namespace",
            code: 201,
            dry_run: false,
        });
        m.add_long_running("WATCH", Some(1), "", "namespace", 1);
        let text = m.render(&[]);
        assert!(text.contains("apiserver_request_total{code=\"201\",component=\"apiserver\",dry_run=\"\",group=\"\",resource=\"pods\",scope=\"namespace\",subresource=\"\",verb=\"POST\",version=\"v1\"} 2"));
        assert!(text.contains("verb=\"WATCH\",version=\"v1\"} 1"));
        m.add_long_running("WATCH", Some(1), "", "namespace", -1);
        assert!(m.render(&[]).contains("verb=\"WATCH\",version=\"v1\"} 0"));
    }
}
