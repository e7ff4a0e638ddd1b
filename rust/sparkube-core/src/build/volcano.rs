//! Spark's Volcano feature step, the one driver feature step sparkube runs: with
//! `org.apache.spark.deploy.k8s.features.VolcanoFeatureStep` in
//! `spark.kubernetes.driver.pod.featureSteps`, spark-submit creates a Volcano `PodGroup`
//! (`scheduling.volcano.sh/v1beta1`) named `<app id>-podgroup` *before* the driver pod, points
//! the pod at it with the `scheduling.k8s.io/group-name` annotation, and once the pod exists
//! applies the group again with an ownerReference to it. The group's spec comes from
//! `spark.kubernetes.scheduler.volcano.podGroupTemplateFile` (else the inline
//! `...podGroupTemplateJson`); its metadata is always replaced by the name and namespace.
//! Without the group, gang-scheduled executors would wait for one that never comes.
//!
//! Any other feature-step class is refused by the conf lint: a JVM class cannot run here.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Context, SparkPod};
use crate::conf::SparkConf;
use crate::error::{Error, Result};

/// The class name of Spark's Volcano feature step.
pub const VOLCANO_STEP: &str = "org.apache.spark.deploy.k8s.features.VolcanoFeatureStep";
/// `spark.kubernetes.driver.pod.featureSteps`.
pub const DRIVER_FEATURE_STEPS: &str = "spark.kubernetes.driver.pod.featureSteps";
/// `spark.kubernetes.scheduler.volcano.podGroupTemplateFile`.
pub const TEMPLATE_FILE: &str = "spark.kubernetes.scheduler.volcano.podGroupTemplateFile";
/// `spark.kubernetes.scheduler.volcano.podGroupTemplateJson`.
pub const TEMPLATE_JSON: &str = "spark.kubernetes.scheduler.volcano.podGroupTemplateJson";
/// The pod annotation naming the pod's group.
pub const POD_GROUP_ANNOTATION: &str = "scheduling.k8s.io/group-name";

/// A Volcano `PodGroup` (`scheduling.volcano.sh/v1beta1`), with its spec kept as JSON.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct PodGroup {
    /// Name and namespace (and, once the driver exists, its ownerReference).
    pub metadata: ObjectMeta,
    /// The spec as given by the template (`minMember`, `queue`, `minResources`, ...).
    #[serde(default)]
    pub spec: Map<String, Value>,
}

impl Serialize for PodGroup {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_struct("PodGroup", 4)?;
        out.serialize_field("apiVersion", <Self as k8s_openapi::Resource>::API_VERSION)?;
        out.serialize_field("kind", <Self as k8s_openapi::Resource>::KIND)?;
        out.serialize_field("metadata", &self.metadata)?;
        out.serialize_field("spec", &self.spec)?;
        out.end()
    }
}

impl k8s_openapi::Resource for PodGroup {
    const API_VERSION: &'static str = "scheduling.volcano.sh/v1beta1";
    const GROUP: &'static str = "scheduling.volcano.sh";
    const KIND: &'static str = "PodGroup";
    const VERSION: &'static str = "v1beta1";
    const URL_PATH_SEGMENT: &'static str = "podgroups";
    type Scope = k8s_openapi::NamespaceResourceScope;
}

impl k8s_openapi::Metadata for PodGroup {
    type Ty = ObjectMeta;

    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// The classes named by `spark.kubernetes.driver.pod.featureSteps`.
fn feature_steps(conf: &SparkConf) -> impl Iterator<Item = &str> {
    conf.get_or(DRIVER_FEATURE_STEPS, "")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// Whether the driver's feature steps include Volcano's.
pub fn enabled(conf: &SparkConf) -> bool {
    feature_steps(conf).any(|s| s == VOLCANO_STEP)
}

/// Refuses every driver feature step but Volcano's, naming it: spark-submit would run the
/// JVM class on the submitting side, which sparkube cannot.
pub fn refuse_other_steps(conf: &SparkConf) -> Result<()> {
    match feature_steps(conf).find(|s| *s != VOLCANO_STEP) {
        Some(class) => Err(Error::invalid(
            DRIVER_FEATURE_STEPS,
            format!(
                "{DRIVER_FEATURE_STEPS}: {class} is a JVM class that spark-submit would run to change the driver pod; sparkube cannot run a JVM class (of the feature steps it runs only {VOLCANO_STEP})"
            ),
        )),
        None => Ok(()),
    }
}

/// The spec of a PodGroup template given as YAML or JSON `text` (from `option`).
pub fn template_spec(text: &str, option: &str, origin: &str) -> Result<Map<String, Value>> {
    let invalid = |why: String| {
        Error::invalid(
            option,
            format!("Could not load PodGroup from template {origin} ({option}): {why}"),
        )
    };
    let value: Value = serde_norway::from_str(text).map_err(|e| invalid(e.to_string()))?;
    let Value::Object(object) = value else {
        return Err(invalid("it is not a map".to_owned()));
    };
    if let Some(kind) = object.get("kind").and_then(Value::as_str)
        && kind != "PodGroup"
    {
        return Err(invalid(format!("it is a {kind}, not a PodGroup")));
    }
    match object.get("spec") {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(spec)) => Ok(spec.clone()),
        Some(_) => Err(invalid("its spec is not a map".to_owned())),
    }
}

/// Volcano's step: the PodGroup, and the annotation pointing the driver at it; `None` when
/// the step is not asked for.
pub fn configure(ctx: &Context<'_>, spark_pod: &mut SparkPod) -> Option<PodGroup> {
    if !enabled(ctx.conf) {
        return None;
    }
    let name = format!("{}-podgroup", ctx.ids.app_id);
    spark_pod
        .pod
        .metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert(POD_GROUP_ANNOTATION.to_owned(), name.clone());
    // The owner is the pod once it exists; the group is first created without it.
    Some(PodGroup {
        metadata: ctx.owned_meta(name),
        spec: ctx.req.volcano_pod_group_spec.clone().unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn template_specs() {
        let yaml = "apiVersion: scheduling.volcano.sh/v1beta1\nkind: PodGroup\nmetadata:\n  name: x\nspec:\n  minMember: 1\n  queue: q\n";
        assert_eq!(
            template_spec(yaml, TEMPLATE_FILE, "file /t.yaml").ok(),
            json!({"minMember": 1, "queue": "q"}).as_object().cloned()
        );
        assert_eq!(
            template_spec("{}", TEMPLATE_JSON, "json").ok(),
            Some(Map::new())
        );
        for (text, why) in [
            ("kind: Pod\n", "it is a Pod, not a PodGroup"),
            ("[1]", "it is not a map"),
            ("spec: 3", "its spec is not a map"),
            (
                "spec: [",
                "Could not load PodGroup from template file /t.yaml",
            ),
        ] {
            match template_spec(text, TEMPLATE_FILE, "file /t.yaml") {
                Err(e) => {
                    assert!(e.to_string().contains(why), "{e}");
                    assert_eq!(e.option(), TEMPLATE_FILE);
                }
                Ok(spec) => panic!("{text:?} gave {spec:?}"),
            }
        }
    }

    #[test]
    fn only_volcano_runs() {
        let mut conf = SparkConf::new();
        conf.set(DRIVER_FEATURE_STEPS, format!(" {VOLCANO_STEP} "));
        assert!(enabled(&conf) && refuse_other_steps(&conf).is_ok());
        conf.set(
            DRIVER_FEATURE_STEPS,
            format!("{VOLCANO_STEP},org.example.Mine"),
        );
        match refuse_other_steps(&conf) {
            Err(e) => assert!(
                e.to_string().contains("org.example.Mine is a JVM class"),
                "{e}"
            ),
            Ok(()) => panic!("accepted"),
        }
    }

    #[test]
    fn serialises_with_its_kind() {
        let group = PodGroup {
            metadata: ObjectMeta {
                name: Some("g".into()),
                ..ObjectMeta::default()
            },
            spec: Map::new(),
        };
        assert_eq!(
            serde_json::to_value(&group).ok(),
            Some(
                json!({"apiVersion": "scheduling.volcano.sh/v1beta1", "kind": "PodGroup", "metadata": {"name": "g"}, "spec": {}})
            )
        );
    }
}
