//! A container's environment as a kubelet computes it: the image's variables, the
//! `KUBERNETES_SERVICE_*` links, `envFrom`, then `env` (`value`, `fieldRef`,
//! `resourceFieldRef`, `configMapKeyRef`, `secretKeyRef`), each value expanded with `$(VAR)`
//! against what came before. Pure: objects are looked up through [`Sources`].

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::Value;

use crate::runtime::StartError;

/// Reads the ConfigMaps and Secrets a container refers to.
pub trait Sources {
    /// The ConfigMap `ns/name`, if it exists.
    fn config_map(&self, ns: &str, name: &str) -> Option<Value>;
    /// The Secret `ns/name`, if it exists.
    fn secret(&self, ns: &str, name: &str) -> Option<Value>;
}

/// What the environment needs besides the pod and its sources.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// The image's own variables (overridden by the container's).
    pub image_env: Vec<(String, String)>,
    /// The pod's IP (`status.podIP` is not written yet when containers start).
    pub pod_ip: String,
    /// The node's IP.
    pub host_ip: String,
    /// Where in-cluster clients reach the API server.
    pub api_host: String,
    /// Its port.
    pub api_port: u16,
    /// Allocatable cpu of the node, in cores: the default of `limits.cpu`.
    pub node_cpu: f64,
    /// Allocatable memory of the node, in bytes: the default of `limits.memory`.
    pub node_memory: f64,
}

fn config_error(message: String) -> StartError {
    StartError {
        reason: "CreateContainerConfigError".into(),
        message,
    }
}

/// An ordered environment where a later definition replaces an earlier one in place.
#[derive(Debug, Default)]
struct Env(Vec<(String, String)>);

impl Env {
    fn set(&mut self, name: &str, value: String) {
        match self.0.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value,
            None => self.0.push((name.to_string(), value)),
        }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Expands `$(VAR)` references with `lookup`; `$$` is a literal `$`; unknown references stay.
pub fn expand(input: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('(')
            && let Some(end) = inner.find(')')
        {
            let name = &inner[..end];
            match lookup(name) {
                Some(v) => out.push_str(&v),
                None => {
                    out.push_str("$(");
                    out.push_str(name);
                    out.push(')');
                }
            }
            rest = &inner[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// Reads a `metadata.labels['key']`-style path.
fn bracketed<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    path.strip_prefix(prefix)?
        .strip_prefix("['")?
        .strip_suffix("']")
}

/// The value of a downward-API `fieldRef` (env variables and `downwardAPI` volume files).
pub fn field_ref(pod: &Value, ctx: &Context, path: &str) -> Result<String, StartError> {
    let meta = &pod["metadata"];
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let pairs = |m: &Value| {
        let mut lines: Vec<String> = m
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| format!("{k}=\"{}\"", v.as_str().unwrap_or_default()))
            .collect();
        lines.sort();
        lines.join("\n")
    };
    Ok(match path {
        "metadata.name" => text(&meta["name"]),
        "metadata.namespace" => text(&meta["namespace"]),
        "metadata.uid" => text(&meta["uid"]),
        "metadata.labels" => pairs(&meta["labels"]),
        "metadata.annotations" => pairs(&meta["annotations"]),
        "spec.nodeName" => text(&pod["spec"]["nodeName"]),
        "spec.serviceAccountName" => text(&pod["spec"]["serviceAccountName"]),
        "status.podIP" | "status.podIPs" => ctx.pod_ip.clone(),
        "status.hostIP" | "status.hostIPs" => ctx.host_ip.clone(),
        other => {
            if let Some(k) = bracketed(other, "metadata.labels") {
                text(&meta["labels"][k])
            } else if let Some(k) = bracketed(other, "metadata.annotations") {
                text(&meta["annotations"][k])
            } else {
                return Err(config_error(format!("unsupported fieldRef {other:?}")));
            }
        }
    })
}

fn resource_field_ref(
    pod: &Value,
    container: &Value,
    ctx: &Context,
    r: &Value,
) -> Result<String, StartError> {
    let resource = r["resource"].as_str().unwrap_or_default();
    let target = match r["containerName"].as_str().filter(|n| !n.is_empty()) {
        Some(name) => pod["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["name"] == name)
            .unwrap_or(container),
        None => container,
    };
    let (kind, what) = resource
        .split_once('.')
        .ok_or_else(|| config_error(format!("unsupported resourceFieldRef {resource:?}")))?;
    let res = &target["resources"];
    let declared = |k: &str| crate::quantity::parse_value(&res[k][what]);
    let value = match (kind, what) {
        ("limits", "cpu") => declared("limits").unwrap_or(ctx.node_cpu),
        ("limits", "memory") => declared("limits").unwrap_or(ctx.node_memory),
        ("requests", "cpu") => declared("requests").or(declared("limits")).unwrap_or(0.0),
        ("requests", "memory") => declared("requests").or(declared("limits")).unwrap_or(0.0),
        ("limits" | "requests", _) => declared(kind).unwrap_or(0.0),
        _ => return Err(config_error(format!("unsupported resource {resource:?}"))),
    };
    let divisor = crate::quantity::parse_value(&r["divisor"])
        .filter(|d| *d > 0.0)
        .unwrap_or(1.0);
    // The kubelet rounds up: 500m of cpu with divisor 1 is 1.
    Ok(format!("{}", (value / divisor).ceil().max(0.0) as u64))
}

fn decoded(obj: &Value, key: &str, secret: bool) -> Option<String> {
    if secret {
        let raw = obj["data"][key].as_str()?;
        let bytes = B64.decode(raw).ok()?;
        Some(String::from_utf8_lossy(&bytes).into_owned())
    } else {
        obj["data"][key]
            .as_str()
            .map(str::to_string)
            .or_else(|| obj["binaryData"][key].as_str().map(str::to_string))
    }
}

/// Reads `key` of the ConfigMap or Secret a `*KeyRef` names; `Ok(None)` when optional and absent.
fn key_ref(
    sources: &dyn Sources,
    ns: &str,
    r: &Value,
    secret: bool,
) -> Result<Option<String>, StartError> {
    let name = r["name"].as_str().unwrap_or_default();
    let key = r["key"].as_str().unwrap_or_default();
    let optional = r["optional"] == true;
    let kind = if secret { "secret" } else { "configmap" };
    let obj = if secret {
        sources.secret(ns, name)
    } else {
        sources.config_map(ns, name)
    };
    let Some(obj) = obj else {
        return if optional {
            Ok(None)
        } else {
            Err(config_error(format!("{kind} \"{name}\" not found")))
        };
    };
    match decoded(&obj, key, secret) {
        Some(v) => Ok(Some(v)),
        None if optional => Ok(None),
        None => Err(config_error(format!(
            "couldn't find key {key} in {} {ns}/{name}",
            if secret { "Secret" } else { "ConfigMap" }
        ))),
    }
}

/// The environment of `container` in `pod`, in the order a process sees it.
pub fn resolve(
    pod: &Value,
    container: &Value,
    ctx: &Context,
    sources: &dyn Sources,
) -> Result<Vec<(String, String)>, StartError> {
    let ns = pod["metadata"]["namespace"].as_str().unwrap_or("default");
    let mut env = Env::default();
    for (k, v) in &ctx.image_env {
        env.set(k, v.clone());
    }
    let host = &ctx.api_host;
    let port = ctx.api_port;
    let url = format!("tcp://{host}:{port}");
    let links = [
        ("KUBERNETES_SERVICE_HOST".to_string(), host.clone()),
        ("KUBERNETES_SERVICE_PORT".into(), port.to_string()),
        ("KUBERNETES_SERVICE_PORT_HTTPS".into(), port.to_string()),
        ("KUBERNETES_PORT".into(), url.clone()),
        (format!("KUBERNETES_PORT_{port}_TCP"), url),
        (format!("KUBERNETES_PORT_{port}_TCP_PROTO"), "tcp".into()),
        (format!("KUBERNETES_PORT_{port}_TCP_PORT"), port.to_string()),
        (format!("KUBERNETES_PORT_{port}_TCP_ADDR"), host.clone()),
    ];
    for (k, v) in links {
        env.set(&k, v);
    }
    for source in container["envFrom"].as_array().into_iter().flatten() {
        let prefix = source["prefix"].as_str().unwrap_or_default();
        let (r, secret) = if source["secretRef"].is_object() {
            (&source["secretRef"], true)
        } else {
            (&source["configMapRef"], false)
        };
        let name = r["name"].as_str().unwrap_or_default();
        let obj = if secret {
            sources.secret(ns, name)
        } else {
            sources.config_map(ns, name)
        };
        let Some(obj) = obj else {
            if r["optional"] == true {
                continue;
            }
            let kind = if secret { "secret" } else { "configmap" };
            return Err(config_error(format!("{kind} \"{name}\" not found")));
        };
        let keys: Vec<String> = obj["data"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, _)| k.clone())
            .collect();
        for key in keys {
            if let Some(v) = decoded(&obj, &key, secret) {
                env.set(&format!("{prefix}{key}"), v);
            }
        }
    }
    for e in container["env"].as_array().into_iter().flatten() {
        let name = e["name"].as_str().unwrap_or_default();
        if name.is_empty() {
            continue;
        }
        let from = &e["valueFrom"];
        let value = if let Some(v) = e["value"].as_str() {
            Some(expand(v, &|n| env.get(n).map(str::to_string)))
        } else if from["fieldRef"].is_object() {
            Some(field_ref(
                pod,
                ctx,
                from["fieldRef"]["fieldPath"].as_str().unwrap_or_default(),
            )?)
        } else if from["resourceFieldRef"].is_object() {
            Some(resource_field_ref(
                pod,
                container,
                ctx,
                &from["resourceFieldRef"],
            )?)
        } else if from["configMapKeyRef"].is_object() {
            key_ref(sources, ns, &from["configMapKeyRef"], false)?
        } else if from["secretKeyRef"].is_object() {
            key_ref(sources, ns, &from["secretKeyRef"], true)?
        } else {
            Some(String::new())
        };
        if let Some(v) = value {
            env.set(name, v);
        }
    }
    Ok(env.0)
}

/// The container's command line: `command`/`args` over the image's entrypoint and arguments,
/// with `$(VAR)` expanded from `env`.
pub fn command_line(
    container: &Value,
    image_entrypoint: &[String],
    image_args: &[String],
    env: &[(String, String)],
) -> Vec<String> {
    let strings = |v: &Value| -> Option<Vec<String>> {
        v.as_array().map(|a| {
            a.iter()
                .map(|s| s.as_str().unwrap_or_default().to_string())
                .collect()
        })
    };
    let command = strings(&container["command"]);
    let args = strings(&container["args"]);
    let (cmd, args) = match (command, args) {
        (Some(c), Some(a)) => (c, a),
        (Some(c), None) => (c, Vec::new()),
        (None, Some(a)) => (image_entrypoint.to_vec(), a),
        (None, None) => (image_entrypoint.to_vec(), image_args.to_vec()),
    };
    let lookup = |n: &str| env.iter().find(|(k, _)| k == n).map(|(_, v)| v.to_string());
    cmd.iter()
        .chain(args.iter())
        .map(|s| expand(s, &lookup))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Objects(Vec<Value>);

    impl Objects {
        fn find(&self, kind: &str, ns: &str, name: &str) -> Option<Value> {
            self.0
                .iter()
                .find(|o| {
                    o["kind"] == kind
                        && o["metadata"]["namespace"] == ns
                        && o["metadata"]["name"] == name
                })
                .cloned()
        }
    }

    impl Sources for Objects {
        fn config_map(&self, ns: &str, name: &str) -> Option<Value> {
            self.find("ConfigMap", ns, name)
        }
        fn secret(&self, ns: &str, name: &str) -> Option<Value> {
            self.find("Secret", ns, name)
        }
    }

    fn sources() -> Objects {
        Objects(vec![
            json!({"kind": "ConfigMap", "metadata": {"namespace": "ns", "name": "cm"}, "data": {"A": "from-cm", "B": "b"}}),
            json!({"kind": "Secret", "metadata": {"namespace": "ns", "name": "sec"}, "data": {"password": B64.encode("hunter2")}}),
        ])
    }

    fn pod() -> Value {
        json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u-1", "labels": {"app": "x"}},
            "spec": {"nodeName": "node-1", "serviceAccountName": "sa",
                     "containers": [{"name": "c", "resources": {"limits": {"memory": "1Gi"}, "requests": {"cpu": "500m"}}}]}
        })
    }

    fn ctx() -> Context {
        Context {
            image_env: vec![("PATH".into(), "/bin".into()), ("A".into(), "image".into())],
            pod_ip: "127.9.1.2".into(),
            host_ip: "172.18.0.2".into(),
            api_host: "127.9.0.1".into(),
            api_port: 443,
            node_cpu: 16.0,
            node_memory: 64.0 * 1024.0 * 1024.0 * 1024.0,
        }
    }

    fn get<'a>(env: &'a [(String, String)], k: &str) -> Option<&'a str> {
        env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }

    #[test]
    fn every_source_of_a_value() {
        let p = pod();
        let c = json!({"name": "c",
        "resources": {"limits": {"memory": "1Gi"}, "requests": {"cpu": "500m"}},
        "envFrom": [{"configMapRef": {"name": "cm"}, "prefix": "CM_"}, {"configMapRef": {"name": "cm"}}],
        "env": [
            {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
            {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
            {"name": "SA", "valueFrom": {"fieldRef": {"fieldPath": "spec.serviceAccountName"}}},
            {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
            {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "requests.cpu"}}},
            {"name": "NODE_CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
            {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "password"}}},
            {"name": "B2", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "B"}}},
            {"name": "GREETING", "value": "$(NAME) at $(IP), $$(NAME) and $(UNKNOWN)"},
        ]});
        let env = resolve(&p, &c, &ctx(), &sources()).unwrap_or_default();
        let expected = [
            ("PATH", "/bin"),
            ("A", "from-cm"),
            ("CM_A", "from-cm"),
            ("KUBERNETES_SERVICE_HOST", "127.9.0.1"),
            ("KUBERNETES_SERVICE_PORT", "443"),
            ("KUBERNETES_PORT_443_TCP_ADDR", "127.9.0.1"),
            ("IP", "127.9.1.2"),
            ("NAME", "p"),
            ("APP", "x"),
            ("NODE", "node-1"),
            ("SA", "sa"),
            ("MEM", "1024"),
            ("CPU", "1"),
            ("NODE_CPU", "16"),
            ("PW", "hunter2"),
            ("B2", "b"),
            ("GREETING", "p at 127.9.1.2, $(NAME) and $(UNKNOWN)"),
        ];
        for (k, v) in expected {
            assert_eq!(get(&env, k), Some(v), "{k}");
        }
        // A replaced variable keeps its first position.
        assert_eq!(env[1].0, "A");
    }

    #[test]
    fn missing_sources_fail_unless_optional() {
        let p = pod();
        let cases = [
            (
                json!({"name": "X", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k"}}}),
                Some("secret \"nope\" not found"),
            ),
            (
                json!({"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "missing"}}}),
                Some("couldn't find key missing in ConfigMap ns/cm"),
            ),
            (
                json!({"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "missing", "optional": true}}}),
                None,
            ),
            (
                json!({"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "spec.bogus"}}}),
                Some("unsupported fieldRef \"spec.bogus\""),
            ),
        ];
        for (entry, error) in cases {
            let c = json!({"name": "c", "env": [entry]});
            match (resolve(&p, &c, &ctx(), &sources()), error) {
                (Err(e), Some(msg)) => {
                    assert_eq!(e.reason, "CreateContainerConfigError");
                    assert_eq!(e.message, msg);
                }
                (Ok(env), None) => assert_eq!(get(&env, "X"), None),
                (other, want) => panic!("{entry}: got {other:?}, want {want:?}"),
            }
        }
        let c =
            json!({"name": "c", "envFrom": [{"secretRef": {"name": "gone", "optional": true}}]});
        assert!(resolve(&p, &c, &ctx(), &sources()).is_ok());
    }

    #[test]
    fn command_and_args_over_the_image() {
        let env = vec![("WHO".to_string(), "spark".to_string())];
        let entry = vec!["/opt/entrypoint.sh".to_string()];
        let img_args = vec!["--help".to_string()];
        let cases = [
            (json!({}), vec!["/opt/entrypoint.sh", "--help"]),
            (
                json!({"args": ["driver", "$(WHO)"]}),
                vec!["/opt/entrypoint.sh", "driver", "spark"],
            ),
            (json!({"command": ["sh", "-c"]}), vec!["sh", "-c"]),
            (
                json!({"command": ["echo"], "args": ["$$(WHO)", "$(WHO)"]}),
                vec!["echo", "$(WHO)", "spark"],
            ),
        ];
        for (c, want) in cases {
            assert_eq!(command_line(&c, &entry, &img_args, &env), want, "{c}");
        }
    }

    #[test]
    fn expansion_edge_cases() {
        let lookup = |n: &str| (n == "A").then(|| "1".to_string());
        assert_eq!(expand("$(A)$(A)", &lookup), "11");
        assert_eq!(expand("$A $( $(A", &lookup), "$A $( $(A");
        assert_eq!(expand("cost $$5", &lookup), "cost $5");
        assert_eq!(expand("", &lookup), "");
    }
}
