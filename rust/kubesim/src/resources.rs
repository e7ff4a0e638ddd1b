//! The table of resource types kubesim serves: group, version, plural, kind, scope, short names,
//! subresources and the fields each type can be selected by.

/// Index of a resource type in [`RESOURCES`].
pub type ResId = usize;

/// One servable resource type, as it appears in discovery.
#[derive(Debug)]
pub struct ResourceType {
    /// API group ("" for the core group).
    pub group: &'static str,
    /// API version within the group.
    pub version: &'static str,
    /// Plural resource name used in URLs.
    pub plural: &'static str,
    /// Singular name, as discovery reports it.
    pub singular: &'static str,
    /// The `kind` of one object.
    pub kind: &'static str,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// Short names kubectl accepts (`po`, `svc`, …).
    pub short_names: &'static [&'static str],
    /// Subresources served under `{name}/{sub}`.
    pub subresources: &'static [&'static str],
    /// Field paths usable in field selectors besides metadata.name/namespace.
    pub fields: &'static [&'static str],
    /// Whether only `create` is served (review-style resources that are never stored).
    pub create_only: bool,
    /// Categories (`all`) as discovery reports them.
    pub categories: &'static [&'static str],
}

impl ResourceType {
    /// `group/version`, or just `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The verbs discovery lists for this type.
    pub fn verbs(&self) -> &'static [&'static str] {
        if self.create_only {
            &["create"]
        } else {
            &[
                "create",
                "delete",
                "deletecollection",
                "get",
                "list",
                "patch",
                "update",
                "watch",
            ]
        }
    }

    /// Whether `sub` is a subresource of this type.
    pub fn has_subresource(&self, sub: &str) -> bool {
        self.subresources.contains(&sub)
    }
}

const fn res(
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
) -> ResourceType {
    ResourceType {
        group,
        version,
        plural,
        singular,
        kind,
        namespaced,
        short_names: &[],
        subresources: &[],
        fields: &[],
        create_only: false,
        categories: &[],
    }
}

/// Every resource type kubesim serves.
pub static RESOURCES: &[ResourceType] = &[
    ResourceType {
        short_names: &["ns"],
        subresources: &["status", "finalize"],
        fields: &["status.phase"],
        ..res("", "v1", "namespaces", "namespace", "Namespace", false)
    },
    ResourceType {
        short_names: &["po"],
        subresources: &[
            "status",
            "log",
            "eviction",
            "binding",
            "ephemeralcontainers",
            "proxy",
            "portforward",
            "exec",
        ],
        fields: &[
            "status.phase",
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        categories: &["all"],
        ..res("", "v1", "pods", "pod", "Pod", true)
    },
    ResourceType {
        short_names: &["svc"],
        subresources: &["status", "proxy"],
        categories: &["all"],
        ..res("", "v1", "services", "service", "Service", true)
    },
    ResourceType {
        short_names: &["ep"],
        ..res("", "v1", "endpoints", "endpoints", "Endpoints", true)
    },
    ResourceType {
        short_names: &["cm"],
        ..res("", "v1", "configmaps", "configmap", "ConfigMap", true)
    },
    ResourceType {
        fields: &["type"],
        ..res("", "v1", "secrets", "secret", "Secret", true)
    },
    ResourceType {
        short_names: &["sa"],
        subresources: &["token"],
        ..res(
            "",
            "v1",
            "serviceaccounts",
            "serviceaccount",
            "ServiceAccount",
            true,
        )
    },
    ResourceType {
        short_names: &["ev"],
        fields: &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        ..res("", "v1", "events", "event", "Event", true)
    },
    ResourceType {
        short_names: &["pvc"],
        subresources: &["status"],
        ..res(
            "",
            "v1",
            "persistentvolumeclaims",
            "persistentvolumeclaim",
            "PersistentVolumeClaim",
            true,
        )
    },
    ResourceType {
        short_names: &["pv"],
        subresources: &["status"],
        ..res(
            "",
            "v1",
            "persistentvolumes",
            "persistentvolume",
            "PersistentVolume",
            false,
        )
    },
    ResourceType {
        short_names: &["no"],
        subresources: &["status"],
        fields: &["spec.unschedulable"],
        ..res("", "v1", "nodes", "node", "Node", false)
    },
    ResourceType {
        short_names: &["quota"],
        subresources: &["status"],
        ..res(
            "",
            "v1",
            "resourcequotas",
            "resourcequota",
            "ResourceQuota",
            true,
        )
    },
    ResourceType {
        short_names: &["limits"],
        ..res("", "v1", "limitranges", "limitrange", "LimitRange", true)
    },
    ResourceType {
        short_names: &["netpol"],
        ..res(
            "networking.k8s.io",
            "v1",
            "networkpolicies",
            "networkpolicy",
            "NetworkPolicy",
            true,
        )
    },
    ResourceType {
        subresources: &["status"],
        fields: &["status.successful"],
        categories: &["all"],
        ..res("batch", "v1", "jobs", "job", "Job", true)
    },
    ResourceType {
        short_names: &["cj"],
        subresources: &["status"],
        categories: &["all"],
        ..res("batch", "v1", "cronjobs", "cronjob", "CronJob", true)
    },
    ResourceType {
        ..res(
            "rbac.authorization.k8s.io",
            "v1",
            "roles",
            "role",
            "Role",
            true,
        )
    },
    ResourceType {
        ..res(
            "rbac.authorization.k8s.io",
            "v1",
            "rolebindings",
            "rolebinding",
            "RoleBinding",
            true,
        )
    },
    ResourceType {
        ..res(
            "rbac.authorization.k8s.io",
            "v1",
            "clusterroles",
            "clusterrole",
            "ClusterRole",
            false,
        )
    },
    ResourceType {
        ..res(
            "rbac.authorization.k8s.io",
            "v1",
            "clusterrolebindings",
            "clusterrolebinding",
            "ClusterRoleBinding",
            false,
        )
    },
    ResourceType {
        create_only: true,
        ..res(
            "authorization.k8s.io",
            "v1",
            "selfsubjectaccessreviews",
            "selfsubjectaccessreview",
            "SelfSubjectAccessReview",
            false,
        )
    },
    ResourceType {
        create_only: true,
        ..res(
            "authorization.k8s.io",
            "v1",
            "subjectaccessreviews",
            "subjectaccessreview",
            "SubjectAccessReview",
            false,
        )
    },
    ResourceType {
        create_only: true,
        ..res(
            "authorization.k8s.io",
            "v1",
            "selfsubjectrulesreviews",
            "selfsubjectrulesreview",
            "SelfSubjectRulesReview",
            true,
        )
    },
    ResourceType {
        create_only: true,
        ..res(
            "authentication.k8s.io",
            "v1",
            "tokenreviews",
            "tokenreview",
            "TokenReview",
            false,
        )
    },
    ResourceType {
        create_only: true,
        ..res(
            "authentication.k8s.io",
            "v1",
            "selfsubjectreviews",
            "selfsubjectreview",
            "SelfSubjectReview",
            false,
        )
    },
    ResourceType {
        ..res(
            "coordination.k8s.io",
            "v1",
            "leases",
            "lease",
            "Lease",
            true,
        )
    },
    ResourceType {
        short_names: &["pdb"],
        subresources: &["status"],
        ..res(
            "policy",
            "v1",
            "poddisruptionbudgets",
            "poddisruptionbudget",
            "PodDisruptionBudget",
            true,
        )
    },
    // Workloads of deployment/: Deployments roll ReplicaSets, which keep their pods
    // (controllers::deployment, controllers::replicaset); Ingresses are stored only.
    ResourceType {
        short_names: &["deploy"],
        subresources: &["status"],
        categories: &["all"],
        ..res(
            "apps",
            "v1",
            "deployments",
            "deployment",
            "Deployment",
            true,
        )
    },
    ResourceType {
        short_names: &["rs"],
        subresources: &["status"],
        categories: &["all"],
        ..res(
            "apps",
            "v1",
            "replicasets",
            "replicaset",
            "ReplicaSet",
            true,
        )
    },
    ResourceType {
        short_names: &["ing"],
        subresources: &["status"],
        ..res(
            "networking.k8s.io",
            "v1",
            "ingresses",
            "ingress",
            "Ingress",
            true,
        )
    },
    // Volcano's PodGroup, a custom resource in a real cluster, built in here (stored as
    // written): spark-submit's Volcano feature step creates one before the driver pod.
    ResourceType {
        short_names: &["pg", "podgroup-v1beta1"],
        subresources: &["status"],
        ..res(
            "scheduling.volcano.sh",
            "v1beta1",
            "podgroups",
            "podgroup",
            "PodGroup",
            true,
        )
    },
];

/// Well-known resource ids, checked against the table by a unit test.
pub mod ids {
    use super::ResId;
    /// namespaces
    pub const NAMESPACES: ResId = 0;
    /// pods
    pub const PODS: ResId = 1;
    /// services
    pub const SERVICES: ResId = 2;
    /// endpoints
    pub const ENDPOINTS: ResId = 3;
    /// configmaps
    pub const CONFIGMAPS: ResId = 4;
    /// secrets
    pub const SECRETS: ResId = 5;
    /// serviceaccounts
    pub const SERVICEACCOUNTS: ResId = 6;
    /// events
    pub const EVENTS: ResId = 7;
    /// nodes
    pub const NODES: ResId = 10;
    /// resourcequotas
    pub const RESOURCEQUOTAS: ResId = 11;
    /// limitranges
    pub const LIMITRANGES: ResId = 12;
    /// jobs
    pub const JOBS: ResId = 14;
    /// roles
    pub const ROLES: ResId = 16;
    /// rolebindings
    pub const ROLEBINDINGS: ResId = 17;
    /// clusterroles
    pub const CLUSTERROLES: ResId = 18;
    /// clusterrolebindings
    pub const CLUSTERROLEBINDINGS: ResId = 19;
    /// selfsubjectaccessreviews
    pub const SELFSUBJECTACCESSREVIEWS: ResId = 20;
    /// subjectaccessreviews
    pub const SUBJECTACCESSREVIEWS: ResId = 21;
    /// selfsubjectrulesreviews
    pub const SELFSUBJECTRULESREVIEWS: ResId = 22;
    /// tokenreviews
    pub const TOKENREVIEWS: ResId = 23;
    /// selfsubjectreviews
    pub const SELFSUBJECTREVIEWS: ResId = 24;
    /// deployments
    pub const DEPLOYMENTS: ResId = 27;
    /// replicasets
    pub const REPLICASETS: ResId = 28;
}

/// Finds a resource type by group, version and plural name.
pub fn lookup(group: &str, version: &str, plural: &str) -> Option<ResId> {
    RESOURCES
        .iter()
        .position(|r| r.group == group && r.version == version && r.plural == plural)
}

/// Finds a resource type by its `apiVersion` and `kind`.
pub fn lookup_kind(api_version: &str, kind: &str) -> Option<ResId> {
    let (group, version) = split_api_version(api_version);
    RESOURCES
        .iter()
        .position(|r| r.group == group && r.version == version && r.kind == kind)
}

/// Splits `group/version` (or `version` alone for the core group).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

/// The resource type with id `id`.
pub fn get(id: ResId) -> &'static ResourceType {
    &RESOURCES[id]
}

/// The distinct `(group, version)` pairs, core group first, in table order.
pub fn group_versions() -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&'static str, &'static str)> = Vec::new();
    for r in RESOURCES {
        if !out.contains(&(r.group, r.version)) {
            out.push((r.group, r.version));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_ids_match_the_table() {
        let table = [
            (ids::NAMESPACES, "namespaces"),
            (ids::PODS, "pods"),
            (ids::SERVICES, "services"),
            (ids::ENDPOINTS, "endpoints"),
            (ids::CONFIGMAPS, "configmaps"),
            (ids::SECRETS, "secrets"),
            (ids::SERVICEACCOUNTS, "serviceaccounts"),
            (ids::EVENTS, "events"),
            (ids::NODES, "nodes"),
            (ids::RESOURCEQUOTAS, "resourcequotas"),
            (ids::LIMITRANGES, "limitranges"),
            (ids::JOBS, "jobs"),
            (ids::ROLES, "roles"),
            (ids::ROLEBINDINGS, "rolebindings"),
            (ids::CLUSTERROLES, "clusterroles"),
            (ids::CLUSTERROLEBINDINGS, "clusterrolebindings"),
            (ids::SELFSUBJECTACCESSREVIEWS, "selfsubjectaccessreviews"),
            (ids::SUBJECTACCESSREVIEWS, "subjectaccessreviews"),
            (ids::SELFSUBJECTRULESREVIEWS, "selfsubjectrulesreviews"),
            (ids::TOKENREVIEWS, "tokenreviews"),
            (ids::SELFSUBJECTREVIEWS, "selfsubjectreviews"),
            (ids::DEPLOYMENTS, "deployments"),
            (ids::REPLICASETS, "replicasets"),
        ];
        for (id, plural) in table {
            assert_eq!(get(id).plural, plural);
        }
    }

    #[test]
    fn lookup_finds_by_path_and_kind() {
        assert_eq!(lookup("batch", "v1", "jobs"), Some(ids::JOBS));
        assert_eq!(lookup("", "v1", "jobs"), None);
        assert_eq!(lookup_kind("v1", "Pod"), Some(ids::PODS));
        assert_eq!(
            lookup_kind("rbac.authorization.k8s.io/v1", "Role"),
            Some(ids::ROLES)
        );
    }
}
