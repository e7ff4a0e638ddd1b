//! Validation of names, labels and the required fields of each kind, with kube-apiserver's
//! messages.

use serde_json::Value;

use crate::api::status::Cause;
use crate::resources::ResId;
use crate::resources::ids;

const DNS1123_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const DNS1035_LABEL_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const QUALIFIED_NAME_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

fn is_label_chars(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// Problems with `s` as a DNS-1123 label (namespace names, container names).
pub fn dns1123_label_errors(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    if s.len() > 63 {
        out.push("must be no more than 63 characters".into());
    }
    if !is_label_chars(s) {
        out.push(DNS1123_LABEL_MSG.into());
    }
    out
}

/// Problems with `s` as a DNS-1123 subdomain (most object names).
pub fn dns1123_subdomain_errors(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    if s.len() > 253 {
        out.push("must be no more than 253 characters".into());
    }
    if s.is_empty() || !s.split('.').all(is_label_chars) {
        out.push(DNS1123_SUBDOMAIN_MSG.into());
    }
    out
}

/// Problems with `s` as a DNS-1035 label (service names).
pub fn dns1035_label_errors(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    if s.len() > 63 {
        out.push("must be no more than 63 characters".into());
    }
    if !is_label_chars(s) || !s.as_bytes()[0].is_ascii_lowercase() {
        out.push(DNS1035_LABEL_MSG.into());
    }
    out
}

fn is_qualified_part(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

/// Problems with `s` as a label or annotation key (`[prefix/]name`).
pub fn label_key_errors(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (prefix, name) = match s.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    if let Some(p) = prefix {
        if p.is_empty() {
            out.push("prefix part must be non-empty".into());
        } else {
            for e in dns1123_subdomain_errors(p) {
                out.push(format!("prefix part {e}"));
            }
        }
    }
    if name.is_empty() {
        out.push("name part must be non-empty".into());
    } else {
        if name.len() > 63 {
            out.push("name part must be no more than 63 characters".into());
        }
        if !is_qualified_part(name) {
            out.push(QUALIFIED_NAME_MSG.into());
        }
    }
    out
}

/// Problems with `s` as a label value.
pub fn label_value_errors(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    if s.len() > 63 {
        out.push("must be no more than 63 characters".into());
    }
    if !s.is_empty() && !is_qualified_part(s) {
        out.push(LABEL_VALUE_MSG.into());
    }
    out
}

/// The name rule of a resource type.
pub fn name_errors(res: ResId, name: &str) -> Vec<String> {
    match res {
        ids::NAMESPACES => dns1123_label_errors(name),
        ids::SERVICES => dns1035_label_errors(name),
        ids::ROLES | ids::ROLEBINDINGS | ids::CLUSTERROLES | ids::CLUSTERROLEBINDINGS => {
            let mut e = Vec::new();
            if name == "." || name == ".." {
                e.push(format!("may not be '{name}'"));
            }
            if name.contains('/') || name.contains('%') {
                e.push("may not contain '/' or '%'".into());
            }
            e
        }
        _ => {
            let mut e = dns1123_subdomain_errors(name);
            if name.contains('/') || name.contains('%') {
                e.push("may not contain '/' or '%'".into());
            }
            e
        }
    }
}

/// Validates metadata (name, labels, annotations) and the kind's required fields.
pub fn validate(res: ResId, obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let meta = &obj["metadata"];
    let name = meta["name"].as_str().unwrap_or_default();
    if name.is_empty() {
        causes.push(Cause::required("metadata.name"));
    } else {
        for e in name_errors(res, name) {
            causes.push(Cause::invalid("metadata.name", name, &e));
        }
    }
    if let Some(labels) = meta["labels"].as_object() {
        for (k, v) in labels {
            for e in label_key_errors(k) {
                causes.push(Cause::invalid("metadata.labels", k, &e));
            }
            match v.as_str() {
                Some(v) => {
                    for e in label_value_errors(v) {
                        causes.push(Cause::invalid("metadata.labels", v, &e));
                    }
                }
                None => causes.push(Cause::invalid(
                    "metadata.labels",
                    &v.to_string(),
                    "must be a string",
                )),
            }
        }
    }
    if let Some(ann) = meta["annotations"].as_object() {
        let mut total = 0;
        for (k, v) in ann {
            total += k.len() + v.as_str().map_or(0, str::len);
            for e in label_key_errors(k) {
                causes.push(Cause::invalid("metadata.annotations", k, &e));
            }
        }
        if total > 256 * 1024 {
            causes.push(Cause {
                reason: "FieldValueTooLong",
                message: format!("Too long: may not be more than {} bytes", 256 * 1024),
                field: "metadata.annotations".into(),
            });
        }
    }
    match res {
        ids::PODS => validate_pod_spec(
            &obj["spec"],
            "spec",
            &mut causes,
            &["Always", "OnFailure", "Never"],
        ),
        ids::JOBS => {
            let spec = &obj["spec"]["template"]["spec"];
            if !obj["spec"]["template"].is_object() {
                causes.push(Cause::required("spec.template"));
            } else {
                let rp = spec["restartPolicy"].as_str().unwrap_or_default();
                if rp != "Never" && rp != "OnFailure" {
                    causes.push(Cause::not_supported(
                        "spec.template.spec.restartPolicy",
                        rp,
                        &["OnFailure", "Never"],
                    ));
                }
                validate_pod_spec(
                    spec,
                    "spec.template.spec",
                    &mut causes,
                    &["Always", "OnFailure", "Never"],
                );
            }
        }
        ids::SERVICES => {
            let spec = &obj["spec"];
            let headless = spec["clusterIP"].as_str() == Some("None");
            let ports = spec["ports"].as_array().map(Vec::len).unwrap_or(0);
            if ports == 0 && !headless && spec["type"].as_str() != Some("ExternalName") {
                causes.push(Cause::required("spec.ports"));
            }
            if let Some(ps) = spec["ports"].as_array() {
                for (i, p) in ps.iter().enumerate() {
                    let port = p["port"].as_i64().unwrap_or(0);
                    if !(1..=65535).contains(&port) {
                        causes.push(Cause::invalid(
                            &format!("spec.ports[{i}].port"),
                            &port.to_string(),
                            "must be between 1 and 65535, inclusive",
                        ));
                    }
                    if ps.len() > 1 && p["name"].as_str().unwrap_or_default().is_empty() {
                        causes.push(Cause::required(&format!("spec.ports[{i}].name")));
                    }
                }
            }
        }
        ids::CONFIGMAPS | ids::SECRETS => {
            for field in ["data", "binaryData", "stringData"] {
                if let Some(m) = obj[field].as_object() {
                    for k in m.keys() {
                        let ok = !k.is_empty()
                            && k.len() <= 253
                            && k.bytes().all(|c| {
                                c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.')
                            });
                        if !ok {
                            causes.push(Cause::invalid(
                                &format!("{field}[{k}]"),
                                k,
                                "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
                            ));
                        }
                    }
                }
            }
        }
        _ => {}
    }
    causes
}

fn validate_pod_spec(spec: &Value, path: &str, causes: &mut Vec<Cause>, policies: &[&str]) {
    let containers = spec["containers"].as_array();
    if containers.is_none_or(|c| c.is_empty()) {
        causes.push(Cause::required(&format!("{path}.containers")));
    }
    let mut seen: Vec<&str> = Vec::new();
    for (list, field) in [
        (containers, "containers"),
        (spec["initContainers"].as_array(), "initContainers"),
    ] {
        for (i, c) in list.into_iter().flatten().enumerate() {
            let name = c["name"].as_str().unwrap_or_default();
            let base = format!("{path}.{field}[{i}]");
            if name.is_empty() {
                causes.push(Cause::required(&format!("{base}.name")));
            } else {
                for e in dns1123_label_errors(name) {
                    causes.push(Cause::invalid(&format!("{base}.name"), name, &e));
                }
                if seen.contains(&name) {
                    causes.push(Cause {
                        reason: "FieldValueDuplicate",
                        message: format!("Duplicate value: {}", serde_json::json!(name)),
                        field: format!("{base}.name"),
                    });
                }
                seen.push(name);
            }
            if c["image"].as_str().unwrap_or_default().trim().is_empty() {
                causes.push(Cause::required(&format!("{base}.image")));
            }
            for (j, p) in c["ports"].as_array().into_iter().flatten().enumerate() {
                let port = p["containerPort"].as_i64().unwrap_or(0);
                if !(1..=65535).contains(&port) {
                    causes.push(Cause::invalid(
                        &format!("{base}.ports[{j}].containerPort"),
                        &port.to_string(),
                        "must be between 1 and 65535, inclusive",
                    ));
                }
            }
            for (j, e) in c["env"].as_array().into_iter().flatten().enumerate() {
                if e["name"].as_str().unwrap_or_default().is_empty() {
                    causes.push(Cause::required(&format!("{base}.env[{j}].name")));
                }
            }
        }
    }
    if let Some(rp) = spec["restartPolicy"].as_str()
        && !policies.contains(&rp)
    {
        causes.push(Cause::not_supported(
            &format!("{path}.restartPolicy"),
            rp,
            policies,
        ));
    }
    let mut vols: Vec<&str> = Vec::new();
    for (i, v) in spec["volumes"].as_array().into_iter().flatten().enumerate() {
        let name = v["name"].as_str().unwrap_or_default();
        if name.is_empty() {
            causes.push(Cause::required(&format!("{path}.volumes[{i}].name")));
        } else if vols.contains(&name) {
            causes.push(Cause {
                reason: "FieldValueDuplicate",
                message: format!("Duplicate value: {}", serde_json::json!(name)),
                field: format!("{path}.volumes[{i}].name"),
            });
        }
        vols.push(name);
    }
    for (list, field) in [
        (containers, "containers"),
        (spec["initContainers"].as_array(), "initContainers"),
    ] {
        for (i, c) in list.into_iter().flatten().enumerate() {
            for (j, m) in c["volumeMounts"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
            {
                let n = m["name"].as_str().unwrap_or_default();
                if !vols.contains(&n) {
                    causes.push(Cause {
                        reason: "FieldValueNotFound",
                        message: format!("Not found: {}", serde_json::json!(n)),
                        field: format!("{path}.{field}[{i}].volumeMounts[{j}].name"),
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn name_rules() {
        let cases = [
            ("abc", true, true),
            ("a.b-c", false, true),
            ("A", false, false),
            ("-a", false, false),
            ("a_b", false, false),
            (&"a".repeat(64), false, true),
        ];
        for (name, label_ok, sub_ok) in cases {
            assert_eq!(dns1123_label_errors(name).is_empty(), label_ok, "{name}");
            assert_eq!(dns1123_subdomain_errors(name).is_empty(), sub_ok, "{name}");
        }
        assert!(!dns1035_label_errors("1abc").is_empty());
    }

    #[test]
    fn label_rules() {
        assert!(label_key_errors("app").is_empty());
        assert!(label_key_errors("spark.apache.org/role").is_empty());
        assert!(!label_key_errors("/x").is_empty());
        assert!(!label_key_errors("a b").is_empty());
        assert!(label_value_errors("").is_empty());
        assert!(label_value_errors("My_Value.1").is_empty());
        assert!(!label_value_errors("-x").is_empty());
        assert!(!label_value_errors(&"x".repeat(64)).is_empty());
    }

    #[test]
    fn pod_requires_containers_and_images() {
        let pod = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]}});
        let causes = validate(ids::PODS, &pod);
        assert_eq!(causes.len(), 1);
        assert_eq!(causes[0].field, "spec.containers[0].image");
        let pod = json!({"metadata": {"name": "P_"}, "spec": {}});
        let fields: Vec<String> = validate(ids::PODS, &pod)
            .into_iter()
            .map(|c| c.field)
            .collect();
        assert_eq!(fields, vec!["metadata.name", "spec.containers"]);
    }
}
