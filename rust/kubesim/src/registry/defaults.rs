//! Defaulting done at create time, per kind, as kube-apiserver's defaulters and admission
//! plugins do (pod and container defaults, service account token volume, service cluster IPs,
//! job selectors and template labels, namespace finalizers, secret stringData).

use base64::Engine;
use serde_json::{Map, Value, json};

use crate::resources::ResId;
use crate::resources::ids;

fn set_default(obj: &mut Value, key: &str, v: Value) {
    if let Some(m) = obj.as_object_mut()
        && m.get(key).is_none_or(Value::is_null)
    {
        m.insert(key.to_string(), v);
    }
}

fn ensure_object<'a>(obj: &'a mut Value, key: &str) -> &'a mut Value {
    if !obj[key].is_object() {
        obj[key] = Value::Object(Map::new());
    }
    &mut obj[key]
}

/// Random lowercase suffix of `n` characters from the alphabet kube uses for generated names.
pub fn random_suffix(n: usize) -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    (0..n)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

fn default_container(c: &mut Value) {
    let image = c["image"].as_str().unwrap_or_default().to_string();
    let last = image.rsplit('/').next().unwrap_or_default();
    let tagged = last.contains(':') && !last.ends_with(":latest") || image.contains('@');
    set_default(
        c,
        "imagePullPolicy",
        json!(if tagged { "IfNotPresent" } else { "Always" }),
    );
    set_default(c, "terminationMessagePath", json!("/dev/termination-log"));
    set_default(c, "terminationMessagePolicy", json!("File"));
    let res = ensure_object(c, "resources");
    if let Some(limits) = res["limits"].as_object().cloned() {
        let req = ensure_object(res, "requests");
        for (k, v) in limits {
            set_default(req, &k, v);
        }
    }
    if let Some(ports) = c.get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports {
            set_default(p, "protocol", json!("TCP"));
        }
    }
}

/// Pod spec defaults, shared by pods and pod templates.
pub fn default_pod_spec(spec: &mut Value) {
    set_default(spec, "restartPolicy", json!("Always"));
    set_default(spec, "terminationGracePeriodSeconds", json!(30));
    set_default(spec, "dnsPolicy", json!("ClusterFirst"));
    set_default(spec, "securityContext", json!({}));
    set_default(spec, "schedulerName", json!("default-scheduler"));
    set_default(spec, "enableServiceLinks", json!(true));
    set_default(spec, "preemptionPolicy", json!("PreemptLowerPriority"));
    set_default(spec, "priority", json!(0));
    if spec["serviceAccountName"]
        .as_str()
        .unwrap_or_default()
        .is_empty()
    {
        let sa = spec["serviceAccount"]
            .as_str()
            .filter(|s| !s.is_empty())
            .unwrap_or("default")
            .to_string();
        spec["serviceAccountName"] = json!(sa);
    }
    spec["serviceAccount"] = spec["serviceAccountName"].clone();
    for list in ["containers", "initContainers"] {
        if let Some(cs) = spec.get_mut(list).and_then(Value::as_array_mut) {
            for c in cs {
                default_container(c);
            }
        }
    }
}

fn qos_class(spec: &Value) -> &'static str {
    let mut any = false;
    let mut guaranteed = true;
    for c in spec["containers"].as_array().into_iter().flatten() {
        let r = &c["resources"];
        for res in ["cpu", "memory"] {
            let req = &r["requests"][res];
            let lim = &r["limits"][res];
            if !req.is_null() || !lim.is_null() {
                any = true;
            }
            if lim.is_null() || req != lim {
                guaranteed = false;
            }
        }
    }
    if !any {
        "BestEffort"
    } else if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

fn add_token_volume(pod: &mut Value) {
    let spec = &mut pod["spec"];
    if spec["automountServiceAccountToken"] == json!(false) {
        return;
    }
    const MOUNT: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
    let already = spec["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| {
            c["volumeMounts"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|m| m["mountPath"] == MOUNT)
        });
    if already {
        return;
    }
    let name = format!("kube-api-access-{}", random_suffix(5));
    let volume = json!({
        "name": name,
        "projected": {
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}
            ],
            "defaultMode": 420
        }
    });
    if !spec["volumes"].is_array() {
        spec["volumes"] = json!([]);
    }
    if let Some(v) = spec["volumes"].as_array_mut() {
        v.push(volume);
    }
    for list in ["containers", "initContainers"] {
        if let Some(cs) = spec.get_mut(list).and_then(Value::as_array_mut) {
            for c in cs {
                if !c["volumeMounts"].is_array() {
                    c["volumeMounts"] = json!([]);
                }
                if let Some(m) = c["volumeMounts"].as_array_mut() {
                    m.push(json!({"name": name, "readOnly": true, "mountPath": MOUNT}));
                }
            }
        }
    }
}

fn default_tolerations(spec: &mut Value) {
    if !spec["tolerations"].is_array() {
        spec["tolerations"] = json!([]);
    }
    if let Some(t) = spec["tolerations"].as_array_mut() {
        for key in [
            "node.kubernetes.io/not-ready",
            "node.kubernetes.io/unreachable",
        ] {
            if !t.iter().any(|x| x["key"] == key) {
                t.push(json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}));
            }
        }
    }
}

/// Applies create-time defaults to `obj` of type `res`; `uid` is the new object's uid.
pub fn on_create(
    res: ResId,
    obj: &mut Value,
    uid: &str,
    alloc_cluster_ip: impl FnOnce() -> String,
) {
    match res {
        ids::PODS => {
            let spec = ensure_object(obj, "spec");
            default_pod_spec(spec);
            default_tolerations(spec);
            add_token_volume(obj);
            let qos = qos_class(&obj["spec"]);
            let status = ensure_object(obj, "status");
            set_default(status, "phase", json!("Pending"));
            status["qosClass"] = json!(qos);
        }
        ids::SERVICES => {
            let spec = ensure_object(obj, "spec");
            set_default(spec, "type", json!("ClusterIP"));
            set_default(spec, "sessionAffinity", json!("None"));
            set_default(spec, "internalTrafficPolicy", json!("Cluster"));
            if spec["clusterIP"].as_str().unwrap_or_default().is_empty() {
                spec["clusterIP"] = json!(alloc_cluster_ip());
            }
            spec["clusterIPs"] = json!([spec["clusterIP"].clone()]);
            set_default(spec, "ipFamilies", json!(["IPv4"]));
            set_default(spec, "ipFamilyPolicy", json!("SingleStack"));
            if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
                for p in ports {
                    set_default(p, "protocol", json!("TCP"));
                    let port = p["port"].clone();
                    set_default(p, "targetPort", port);
                }
            }
            set_default(obj, "status", json!({"loadBalancer": {}}));
        }
        ids::NAMESPACES => {
            let name = obj["metadata"]["name"].clone();
            let labels = ensure_object(ensure_object(obj, "metadata"), "labels");
            labels["kubernetes.io/metadata.name"] = name;
            let spec = ensure_object(obj, "spec");
            set_default(spec, "finalizers", json!(["kubernetes"]));
            obj["status"] = json!({"phase": "Active"});
        }
        ids::SECRETS => {
            set_default(obj, "type", json!("Opaque"));
            if let Some(Value::Object(sd)) = obj
                .as_object_mut()
                .and_then(|m| m.shift_remove("stringData"))
            {
                let data = ensure_object(obj, "data");
                for (k, v) in sd {
                    let s = v.as_str().unwrap_or_default();
                    data[k.as_str()] = json!(base64::engine::general_purpose::STANDARD.encode(s));
                }
            }
        }
        ids::JOBS => {
            let spec = ensure_object(obj, "spec");
            set_default(spec, "parallelism", json!(1));
            if spec["completions"].is_null() && spec["parallelism"] == json!(1) {
                spec["completions"] = json!(1);
            }
            set_default(spec, "backoffLimit", json!(6));
            set_default(spec, "completionMode", json!("NonIndexed"));
            set_default(spec, "suspend", json!(false));
            set_default(spec, "podReplacementPolicy", json!("TerminatingOrFailed"));
            set_default(spec, "manualSelector", Value::Null);
            if let Some(m) = spec.as_object_mut() {
                m.shift_remove("manualSelector");
            }
            let name = obj["metadata"]["name"].clone();
            let spec = &mut obj["spec"];
            if spec["selector"].is_null() {
                spec["selector"] =
                    json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}});
            }
            let tmpl = ensure_object(spec, "template");
            let labels = ensure_object(ensure_object(tmpl, "metadata"), "labels");
            for (k, v) in [
                ("batch.kubernetes.io/controller-uid", json!(uid)),
                ("batch.kubernetes.io/job-name", name.clone()),
                ("controller-uid", json!(uid)),
                ("job-name", name),
            ] {
                set_default(labels, k, v);
            }
            let pspec = ensure_object(tmpl, "spec");
            default_pod_spec(pspec);
            set_default(obj, "status", json!({}));
        }
        ids::DEPLOYMENTS | ids::REPLICASETS => apps_defaults(res, obj),
        _ => {}
    }
}

/// Defaults of the apps/v1 workloads (`SetDefaults_Deployment`, `SetDefaults_ReplicaSet`).
fn apps_defaults(res: ResId, obj: &mut Value) {
    let spec = ensure_object(obj, "spec");
    set_default(spec, "replicas", json!(1));
    if res == ids::DEPLOYMENTS {
        set_default(spec, "revisionHistoryLimit", json!(10));
        set_default(spec, "progressDeadlineSeconds", json!(600));
        let strategy = ensure_object(spec, "strategy");
        set_default(strategy, "type", json!("RollingUpdate"));
        if strategy["type"] == "RollingUpdate" {
            let rolling = ensure_object(strategy, "rollingUpdate");
            set_default(rolling, "maxUnavailable", json!("25%"));
            set_default(rolling, "maxSurge", json!("25%"));
        }
    }
    let tmpl = ensure_object(spec, "template");
    default_pod_spec(ensure_object(tmpl, "spec"));
    set_default(obj, "status", json!({}));
}

/// Which kinds carry `metadata.generation`.
pub fn has_generation(res: ResId) -> bool {
    matches!(
        res,
        ids::PODS | ids::JOBS | ids::DEPLOYMENTS | ids::REPLICASETS
    ) || crate::resources::get(res).plural == "networkpolicies"
        || crate::resources::get(res).plural == "cronjobs"
        || crate::resources::get(res).plural == "poddisruptionbudgets"
        || crate::resources::get(res).plural == "ingresses"
}

/// Which kinds keep `status` apart from the main resource (updates of one ignore the other).
pub fn has_status_subresource(res: ResId) -> bool {
    crate::resources::get(res).has_subresource("status")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_defaults() {
        let mut pod = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]}});
        on_create(ids::PODS, &mut pod, "u", String::new);
        assert_eq!(pod["spec"]["restartPolicy"], "Always");
        assert_eq!(pod["spec"]["serviceAccountName"], "default");
        assert_eq!(pod["spec"]["containers"][0]["imagePullPolicy"], "Always");
        assert_eq!(
            pod["spec"]["containers"][0]["resources"]["requests"]["cpu"],
            "1"
        );
        assert_eq!(pod["status"]["qosClass"], "Guaranteed");
        assert_eq!(pod["status"]["phase"], "Pending");
        assert_eq!(
            pod["spec"]["containers"][0]["volumeMounts"][0]["mountPath"],
            "/var/run/secrets/kubernetes.io/serviceaccount"
        );
    }

    #[test]
    fn job_defaults_label_the_template() {
        let mut job = json!({"metadata": {"name": "j"}, "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i:1"}]}}}});
        on_create(ids::JOBS, &mut job, "uid1", String::new);
        assert_eq!(
            job["spec"]["selector"]["matchLabels"]["batch.kubernetes.io/controller-uid"],
            "uid1"
        );
        assert_eq!(
            job["spec"]["template"]["metadata"]["labels"]["job-name"],
            "j"
        );
        assert_eq!(job["spec"]["backoffLimit"], 6);
        assert_eq!(
            job["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"],
            "IfNotPresent"
        );
    }

    #[test]
    fn secret_string_data_becomes_data() {
        let mut s = json!({"metadata": {"name": "s"}, "stringData": {"k": "v"}});
        on_create(ids::SECRETS, &mut s, "u", String::new);
        assert_eq!(s["data"]["k"], "dg==");
        assert!(s.get("stringData").is_none());
        assert_eq!(s["type"], "Opaque");
    }
}
