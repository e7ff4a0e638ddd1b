//! Patch types: JSON patch (RFC 6902) and JSON merge patch (RFC 7386) through the `json-patch`
//! crate, strategic merge patch with the merge keys of the built-in types, and server-side apply
//! with managed fields per manager (which no maintained crate does).

use serde_json::{Map, Value, json};
use thiserror::Error;

/// Errors from applying a patch.
#[derive(Debug, Error)]
pub enum Error {
    /// The patch document is not a list of JSON patch operations.
    #[error("{0}")]
    Malformed(#[source] serde_json::Error),
    /// A JSON patch operation did not apply: a `test` that failed, a path that is missing.
    #[error(transparent)]
    Apply(#[from] json_patch::PatchError),
}

/// Result alias for patching.
pub type Result<T> = std::result::Result<T, Error>;

/// The patch content types kube-apiserver accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// application/json-patch+json
    Json,
    /// application/merge-patch+json
    Merge,
    /// application/strategic-merge-patch+json
    Strategic,
    /// application/apply-patch+yaml (server-side apply)
    Apply,
}

impl PatchType {
    /// Maps a Content-Type (parameters ignored) to a patch type.
    pub fn from_content_type(ct: &str) -> Option<Self> {
        match ct.split(';').next().unwrap_or_default().trim() {
            "application/json-patch+json" => Some(PatchType::Json),
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/strategic-merge-patch+json" => Some(PatchType::Strategic),
            "application/apply-patch+yaml"
            | "application/apply-patch+json"
            | "application/apply-patch+cbor" => Some(PatchType::Apply),
            _ => None,
        }
    }
}

/// Applies an RFC 6902 JSON patch with the `json-patch` crate: all operations or none.
pub fn json_patch(doc: &mut Value, patch: &Value) -> Result<()> {
    let ops: json_patch::Patch = serde_json::from_value(patch.clone()).map_err(Error::Malformed)?;
    json_patch::patch(doc, &ops)?;
    Ok(())
}

/// The merge key of a list field of the built-in types, when it has one.
pub fn merge_key(field: &str, sample: Option<&Value>) -> Option<&'static str> {
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "readinessGates" => match field {
            "readinessGates" => Some("conditionType"),
            _ => Some("name"),
        },
        "volumeMounts" | "volumeDevices" => Some("mountPath"),
        "ports" => {
            if sample.is_some_and(|s| s.get("containerPort").is_some()) {
                Some("containerPort")
            } else {
                Some("port")
            }
        }
        "conditions" => Some("type"),
        "ownerReferences" => Some("uid"),
        "hostAliases" => Some("ip"),
        "topologySpreadConstraints" => Some("topologyKey"),
        "resourceClaims" => Some("name"),
        _ => None,
    }
}

/// Fields holding lists of scalars that strategic merge treats as sets.
fn is_merged_scalar_list(field: &str) -> bool {
    field == "finalizers"
}

fn item_key<'a>(item: &'a Value, key: &str) -> Option<&'a Value> {
    item.get(key)
}

/// Applies a strategic merge patch to `doc`.
pub fn strategic_merge(doc: &mut Value, patch: &Value) -> Result<()> {
    let Value::Object(pm) = patch else {
        *doc = patch.clone();
        return Ok(());
    };
    if pm.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut p = pm.clone();
        p.shift_remove("$patch");
        *doc = Value::Object(p);
        return Ok(());
    }
    if pm.get("$patch").and_then(Value::as_str) == Some("delete") {
        *doc = Value::Null;
        return Ok(());
    }
    if !doc.is_object() {
        *doc = Value::Object(Map::new());
    }
    let retain: Option<Vec<String>> = pm.get("$retainKeys").and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(|k| k.as_str().map(str::to_string))
            .collect()
    });
    let Value::Object(dm) = doc else {
        return Ok(());
    };
    for (k, v) in pm {
        if k == "$patch" || k == "$retainKeys" || k.starts_with("$setElementOrder/") {
            continue;
        }
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(list)), Some(del)) = (dm.get_mut(field), v.as_array()) {
                list.retain(|x| !del.contains(x));
            }
            continue;
        }
        if v.is_null() {
            dm.shift_remove(k);
            continue;
        }
        match v {
            Value::Object(_) => {
                let slot = dm.entry(k.clone()).or_insert(Value::Object(Map::new()));
                strategic_merge(slot, v)?;
                if slot.is_null() {
                    dm.shift_remove(k);
                }
            }
            Value::Array(items) => {
                let existing = dm.get(k).and_then(Value::as_array).cloned();
                let merged = merge_list(k, existing, items)?;
                dm.insert(k.clone(), Value::Array(merged));
            }
            other => {
                dm.insert(k.clone(), other.clone());
            }
        }
    }
    if let Some(order) = pm
        .iter()
        .find_map(|(k, v)| k.strip_prefix("$setElementOrder/").map(|f| (f, v)))
    {
        let _ = order;
    }
    if let Some(keep) = retain {
        dm.retain(|k, _| keep.contains(k));
    }
    Ok(())
}

fn merge_list(field: &str, existing: Option<Vec<Value>>, items: &[Value]) -> Result<Vec<Value>> {
    if items.len() == 1 && items[0].get("$patch").and_then(Value::as_str) == Some("replace") {
        return Ok(Vec::new());
    }
    if is_merged_scalar_list(field) {
        let mut out = existing.unwrap_or_default();
        for it in items {
            if !out.contains(it) {
                out.push(it.clone());
            }
        }
        return Ok(out);
    }
    let Some(key) = merge_key(
        field,
        items.first().or(existing.as_ref().and_then(|e| e.first())),
    ) else {
        return Ok(items
            .iter()
            .filter(|i| i.get("$patch").is_none())
            .cloned()
            .collect());
    };
    let mut out = existing.unwrap_or_default();
    for it in items {
        let Some(kv) = item_key(it, key) else {
            out.push(it.clone());
            continue;
        };
        let pos = out.iter().position(|o| item_key(o, key) == Some(kv));
        match (it.get("$patch").and_then(Value::as_str), pos) {
            (Some("delete"), Some(i)) => {
                out.remove(i);
            }
            (Some("delete"), None) => {}
            (Some("replace"), Some(i)) => {
                let mut it = it.clone();
                if let Some(m) = it.as_object_mut() {
                    m.shift_remove("$patch");
                }
                out[i] = it;
            }
            (_, Some(i)) => strategic_merge(&mut out[i], it)?,
            (_, None) => {
                let mut fresh = Value::Object(Map::new());
                strategic_merge(&mut fresh, it)?;
                out.push(fresh);
            }
        }
    }
    Ok(out)
}

/// The set of fields an applied configuration sets, in `fieldsV1` form
/// (`{"f:metadata":{"f:labels":{"f:app":{}}}}`, list items by key as `k:{"name":"c"}`).
pub fn fields_v1(applied: &Value) -> Value {
    fn walk(field: Option<&str>, v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut out = Map::new();
                for (k, child) in m {
                    if field.is_none() && (k == "apiVersion" || k == "kind") {
                        continue;
                    }
                    if field == Some("metadata")
                        && matches!(
                            k.as_str(),
                            "name"
                                | "namespace"
                                | "resourceVersion"
                                | "uid"
                                | "managedFields"
                                | "creationTimestamp"
                                | "generation"
                        )
                    {
                        continue;
                    }
                    out.insert(format!("f:{k}"), walk(Some(k), child));
                }
                Value::Object(out)
            }
            Value::Array(items) => {
                let mut out = Map::new();
                let key = field.and_then(|f| merge_key(f, items.first()));
                for it in items {
                    match key.and_then(|k| it.get(k).map(|kv| (k, kv))) {
                        Some((k, kv)) => {
                            let mut inner = walk(None, it);
                            if let Some(m) = inner.as_object_mut() {
                                m.insert(".".into(), json!({}));
                            }
                            out.insert(format!("k:{}", json!({k: kv})), inner);
                        }
                        None => {
                            out.insert(format!("v:{it}"), json!({}));
                        }
                    }
                }
                Value::Object(out)
            }
            _ => json!({}),
        }
    }
    walk(None, applied)
}

/// Deep union of `fieldsV1` sets.
pub fn union_fields(into: &mut Value, other: &Value) {
    let (Some(a), Some(b)) = (into.as_object_mut(), other.as_object()) else {
        return;
    };
    for (k, v) in b {
        union_fields(a.entry(k.clone()).or_insert_with(|| json!({})), v);
    }
}

/// Removes from `live` the fields present in `old_owned` but neither in `new_owned` nor in
/// `others` (the fields other managers own; all `fieldsV1`), as server-side apply does for
/// fields a manager stops applying.
pub fn remove_unapplied(live: &mut Value, old_owned: &Value, new_owned: &Value, others: &Value) {
    let empty = json!({});
    let Some(old) = old_owned.as_object() else {
        return;
    };
    let new = new_owned.as_object();
    for (k, sub_old) in old {
        if k == "." {
            continue;
        }
        let sub_new = new.and_then(|n| n.get(k));
        let sub_others = others.get(k);
        if let Some(name) = k.strip_prefix("f:") {
            match (sub_new, sub_others) {
                (None, None) => {
                    if let Some(m) = live.as_object_mut() {
                        m.shift_remove(name);
                    }
                }
                (sn, so) => {
                    if let Some(child) = live.get_mut(name) {
                        remove_unapplied(
                            child,
                            sub_old,
                            sn.unwrap_or(&empty),
                            so.unwrap_or(&empty),
                        );
                    }
                }
            }
        } else if let Some(kv) = k.strip_prefix("k:") {
            let Ok(Value::Object(keymap)) = serde_json::from_str::<Value>(kv) else {
                continue;
            };
            let Some(list) = live.as_array_mut() else {
                continue;
            };
            let matches = |item: &Value| keymap.iter().all(|(kk, vv)| item.get(kk) == Some(vv));
            match (sub_new, sub_others) {
                (None, None) => list.retain(|i| !matches(i)),
                (sn, so) => {
                    if let Some(item) = list.iter_mut().find(|i| matches(i)) {
                        remove_unapplied(item, sub_old, sn.unwrap_or(&empty), so.unwrap_or(&empty));
                    }
                }
            }
        } else if let Some(v) = k.strip_prefix("v:")
            && sub_new.is_none()
            && sub_others.is_none()
            && let (Ok(val), Some(list)) = (serde_json::from_str::<Value>(v), live.as_array_mut())
        {
            list.retain(|i| *i != val);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_patch_ops() {
        let mut doc = json!({"a": {"b": [1, 2]}, "c": 1});
        let patch = json!([
            {"op": "add", "path": "/a/b/-", "value": 3},
            {"op": "replace", "path": "/c", "value": 2},
            {"op": "test", "path": "/c", "value": 2},
            {"op": "remove", "path": "/a/b/0"},
            {"op": "copy", "from": "/c", "path": "/d"},
            {"op": "move", "from": "/d", "path": "/e"},
            {"op": "add", "path": "/metadata~1x", "value": true},
        ]);
        json_patch(&mut doc, &patch).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            doc,
            json!({"a": {"b": [2, 3]}, "c": 2, "e": 2, "metadata/x": true})
        );
        let before = doc.clone();
        let failed =
            json!([{"op": "remove", "path": "/c"}, {"op": "test", "path": "/e", "value": 9}]);
        assert!(matches!(
            json_patch(&mut doc, &failed),
            Err(Error::Apply(_))
        ));
        assert_eq!(doc, before, "a failed patch changes nothing");
        assert!(matches!(
            json_patch(&mut doc, &json!([{"op": "remove", "path": "/nope"}])),
            Err(Error::Apply(_))
        ));
        assert!(matches!(
            json_patch(&mut doc, &json!({"op": "add"})),
            Err(Error::Malformed(_))
        ));
    }

    #[test]
    fn strategic_merge_uses_merge_keys() {
        let mut doc = json!({"spec": {
            "containers": [{"name": "a", "image": "x", "env": [{"name": "E1", "value": "1"}]}, {"name": "b", "image": "y"}],
            "volumes": [{"name": "v1"}],
        }, "metadata": {"finalizers": ["f1"]}});
        let patch = json!({"spec": {
            "containers": [{"name": "a", "env": [{"name": "E2", "value": "2"}]}, {"name": "b", "$patch": "delete"}],
            "$setElementOrder/containers": [{"name": "a"}],
            "volumes": [{"name": "v2"}],
        }, "metadata": {"finalizers": ["f2"]}});
        strategic_merge(&mut doc, &patch).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            doc["spec"]["containers"],
            json!([{"name": "a", "image": "x", "env": [{"name": "E1", "value": "1"}, {"name": "E2", "value": "2"}]}])
        );
        assert_eq!(
            doc["spec"]["volumes"],
            json!([{"name": "v1"}, {"name": "v2"}])
        );
        assert_eq!(doc["metadata"]["finalizers"], json!(["f1", "f2"]));
        let mut svc = json!({"spec": {"ports": [{"port": 80, "name": "http"}]}});
        strategic_merge(
            &mut svc,
            &json!({"spec": {"ports": [{"port": 443, "name": "https"}]}}),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(svc["spec"]["ports"].as_array().map(Vec::len), Some(2));
        let mut doc = json!({"a": {"x": 1, "y": 2}});
        strategic_merge(&mut doc, &json!({"a": {"$patch": "replace", "z": 3}}))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(doc, json!({"a": {"z": 3}}));
        let mut doc = json!({"metadata": {"finalizers": ["a", "b"]}});
        strategic_merge(
            &mut doc,
            &json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(doc["metadata"]["finalizers"], json!(["b"]));
    }

    #[test]
    fn fields_v1_and_removal_of_unapplied_fields() {
        let first = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"a": "1", "b": "2"}}, "data": {"x": "1"}});
        let second = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"a": "1"}}});
        let f1 = fields_v1(&first);
        assert_eq!(
            f1,
            json!({"f:metadata": {"f:labels": {"f:a": {}, "f:b": {}}}, "f:data": {"f:x": {}}})
        );
        let mut live = first.clone();
        let mut shared = first.clone();
        remove_unapplied(&mut live, &f1, &fields_v1(&second), &json!({}));
        assert_eq!(
            live,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"a": "1"}}})
        );
        // A field another manager also owns stays.
        remove_unapplied(
            &mut shared,
            &f1,
            &fields_v1(&second),
            &json!({"f:data": {"f:x": {}}}),
        );
        assert_eq!(shared["data"]["x"], "1");
        let pod = json!({"spec": {"containers": [{"name": "c", "image": "i"}]}});
        let f = fields_v1(&pod);
        assert!(
            f["f:spec"]["f:containers"]
                .get("k:{\"name\":\"c\"}")
                .is_some()
        );
    }

    #[test]
    fn content_types() {
        assert_eq!(
            PatchType::from_content_type("application/merge-patch+json; charset=utf-8"),
            Some(PatchType::Merge)
        );
        assert_eq!(PatchType::from_content_type("application/json"), None);
    }
}
