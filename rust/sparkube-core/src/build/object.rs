//! One object of a submission, typed: what the builder makes and what `sparkube` sends, with
//! the few accessors sending needs (name, kind, owner, immutability) in one place instead of
//! JSON pointers.

use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Pod, Secret, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use serde::Serialize;
use serde_json::Value;

/// An object spark-submit creates for an application.
// A submission has a handful of objects: boxing the pod would save nothing worth a detour.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Object {
    /// The driver pod.
    Pod(Pod),
    /// The driver's Kubernetes credentials.
    Secret(Secret),
    /// The headless driver service.
    Service(Service),
    /// The network policy of the app's pods.
    NetworkPolicy(NetworkPolicy),
    /// A claim for a `persistentVolumeClaim` volume.
    PersistentVolumeClaim(PersistentVolumeClaim),
    /// The driver's or the executor template's ConfigMap.
    ConfigMap(ConfigMap),
    /// Volcano's PodGroup, created before the driver pod.
    PodGroup(super::volcano::PodGroup),
}

/// Runs `$body` with `$object` bound to the typed object inside any variant.
#[macro_export]
macro_rules! with_object {
    ($value:expr, $object:ident => $body:expr) => {
        match $value {
            $crate::build::Object::Pod($object) => $body,
            $crate::build::Object::Secret($object) => $body,
            $crate::build::Object::Service($object) => $body,
            $crate::build::Object::NetworkPolicy($object) => $body,
            $crate::build::Object::PersistentVolumeClaim($object) => $body,
            $crate::build::Object::ConfigMap($object) => $body,
            $crate::build::Object::PodGroup($object) => $body,
        }
    };
}

impl Object {
    /// The object's `kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            Object::Pod(_) => "Pod",
            Object::Secret(_) => "Secret",
            Object::Service(_) => "Service",
            Object::NetworkPolicy(_) => "NetworkPolicy",
            Object::PersistentVolumeClaim(_) => "PersistentVolumeClaim",
            Object::ConfigMap(_) => "ConfigMap",
            Object::PodGroup(_) => "PodGroup",
        }
    }

    /// The object's metadata.
    pub fn meta(&self) -> &ObjectMeta {
        with_object!(self, o => &o.metadata)
    }

    /// The object's metadata, to change.
    pub fn meta_mut(&mut self) -> &mut ObjectMeta {
        with_object!(self, o => &mut o.metadata)
    }

    /// The object's name (empty when it has none).
    pub fn name(&self) -> &str {
        self.meta().name.as_deref().unwrap_or_default()
    }

    /// Whether the API server refuses changes to the object once created.
    pub fn is_immutable(&self) -> bool {
        match self {
            Object::Secret(s) => s.immutable == Some(true),
            Object::ConfigMap(c) => c.immutable == Some(true),
            _ => false,
        }
    }

    /// Points every ownerReference to the driver pod `pod_name` at `pod_uid`, adding one
    /// when missing, as spark-submit does once the pod exists.
    pub fn set_owner(&mut self, pod_name: &str, pod_uid: &str) {
        let refs = self
            .meta_mut()
            .owner_references
            .get_or_insert_with(Vec::new);
        let mut found = false;
        for r in refs
            .iter_mut()
            .filter(|r| r.kind == "Pod" && r.name == pod_name)
        {
            r.uid = pod_uid.to_owned();
            found = true;
        }
        if !found {
            refs.push(OwnerReference {
                api_version: "v1".into(),
                kind: "Pod".into(),
                name: pod_name.to_owned(),
                uid: pod_uid.to_owned(),
                controller: Some(true),
                ..OwnerReference::default()
            });
        }
    }

    /// The object as JSON, with `apiVersion` and `kind`.
    pub fn to_json(&self) -> serde_json::Result<Value> {
        serde_json::to_value(self)
    }

    /// An object from its JSON, chosen by `kind`; `None` for a kind a submission never has.
    pub fn from_json(value: Value) -> Option<serde_json::Result<Object>> {
        let kind = value.get("kind").and_then(Value::as_str)?.to_owned();
        let object = match kind.as_str() {
            "Pod" => serde_json::from_value(value).map(Object::Pod),
            "Secret" => serde_json::from_value(value).map(Object::Secret),
            "Service" => serde_json::from_value(value).map(Object::Service),
            "NetworkPolicy" => serde_json::from_value(value).map(Object::NetworkPolicy),
            "PersistentVolumeClaim" => {
                serde_json::from_value(value).map(Object::PersistentVolumeClaim)
            }
            "ConfigMap" => serde_json::from_value(value).map(Object::ConfigMap),
            "PodGroup" => serde_json::from_value(value).map(Object::PodGroup),
            _ => return None,
        };
        Some(object)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn owner_is_set_once_and_filled_in() {
        let mut cm = Object::ConfigMap(ConfigMap {
            metadata: ObjectMeta {
                name: Some("conf".into()),
                owner_references: Some(vec![OwnerReference {
                    api_version: "v1".into(),
                    kind: "Pod".into(),
                    name: "drv".into(),
                    ..OwnerReference::default()
                }]),
                ..ObjectMeta::default()
            },
            ..ConfigMap::default()
        });
        cm.set_owner("drv", "uid-1");
        let mut svc = Object::Service(Service::default());
        svc.set_owner("drv", "uid-2");
        for (object, uid) in [(&cm, "uid-1"), (&svc, "uid-2")] {
            let refs = object.meta().owner_references.clone().unwrap_or_default();
            assert_eq!(refs.len(), 1, "{object:?}");
            assert_eq!((refs[0].name.as_str(), refs[0].uid.as_str()), ("drv", uid));
        }
    }

    #[test]
    fn json_round_trip_keeps_kind_and_api_version() {
        let policy = json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "p"}, "spec": {"podSelector": {}}});
        let object = match Object::from_json(policy.clone()) {
            Some(Ok(o)) => o,
            other => panic!("{other:?}"),
        };
        assert_eq!((object.kind(), object.name()), ("NetworkPolicy", "p"));
        assert_eq!(object.to_json().ok(), Some(policy));
        assert!(Object::from_json(json!({"kind": "Deployment"})).is_none());
    }
}
