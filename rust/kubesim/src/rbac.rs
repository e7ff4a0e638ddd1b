//! Authorization from the stored RBAC objects (Roles, ClusterRoles and their bindings), the
//! bootstrap roles kube-apiserver creates, and 403 messages in Kubernetes' format.

use serde_json::{Value, json};

use crate::auth::UserInfo;
use crate::resources::ids;
use crate::store::Store;

/// What a request wants to do.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attributes {
    /// get, list, watch, create, update, patch, delete, deletecollection (or an HTTP verb for
    /// non-resource requests).
    pub verb: String,
    /// API group ("" for core).
    pub group: String,
    /// Resource plural ("" for non-resource requests).
    pub resource: String,
    /// Subresource or "".
    pub subresource: String,
    /// Object name or "".
    pub name: String,
    /// Namespace or "".
    pub namespace: String,
    /// URL path, for non-resource requests.
    pub path: String,
    /// Whether this is a resource request.
    pub resource_request: bool,
}

fn strs(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn rule_allows(rule: &Value, a: &Attributes) -> bool {
    let verbs = strs(&rule["verbs"]);
    if !verbs.iter().any(|v| *v == "*" || *v == a.verb) {
        return false;
    }
    if !a.resource_request {
        return strs(&rule["nonResourceURLs"]).iter().any(|u| {
            *u == "*" || *u == a.path || u.strip_suffix('*').is_some_and(|p| a.path.starts_with(p))
        });
    }
    if !strs(&rule["apiGroups"])
        .iter()
        .any(|g| *g == "*" || *g == a.group)
    {
        return false;
    }
    let full = if a.subresource.is_empty() {
        a.resource.clone()
    } else {
        format!("{}/{}", a.resource, a.subresource)
    };
    let resources = strs(&rule["resources"]);
    let res_ok = resources.iter().any(|r| {
        *r == "*"
            || *r == full
            || (a.subresource.is_empty() && *r == a.resource)
            || r.strip_prefix("*/").is_some_and(|s| s == a.subresource)
    });
    if !res_ok {
        return false;
    }
    let names = strs(&rule["resourceNames"]);
    names.is_empty() || (!a.name.is_empty() && names.contains(&a.name.as_str()))
}

fn subject_matches(s: &Value, user: &UserInfo, binding_ns: &str) -> bool {
    let name = s["name"].as_str().unwrap_or_default();
    match s["kind"].as_str().unwrap_or_default() {
        "User" => name == user.username,
        "Group" => user.groups.iter().any(|g| g == name),
        "ServiceAccount" => {
            let ns = s["namespace"]
                .as_str()
                .filter(|n| !n.is_empty())
                .unwrap_or(binding_ns);
            user.username == format!("system:serviceaccount:{ns}:{name}")
        }
        _ => false,
    }
}

fn role_rules(store: &Store, role_ref: &Value, binding_ns: &str) -> Vec<Value> {
    let name = role_ref["name"].as_str().unwrap_or_default();
    let obj = match role_ref["kind"].as_str().unwrap_or_default() {
        "ClusterRole" => store.get(ids::CLUSTERROLES, "", name),
        "Role" => store.get(ids::ROLES, binding_ns, name),
        _ => None,
    };
    obj.map(|o| o.value()["rules"].as_array().cloned().unwrap_or_default())
        .unwrap_or_default()
}

/// Whether `user` may do `a`, and which binding allowed it.
pub fn authorize(store: &Store, user: &UserInfo, a: &Attributes) -> (bool, String) {
    if user.is_admin() {
        return (true, String::new());
    }
    for b in store.all(ids::CLUSTERROLEBINDINGS, None) {
        let v = b.value();
        if strs_obj(&v["subjects"])
            .iter()
            .any(|s| subject_matches(s, user, ""))
            && role_rules(store, &v["roleRef"], "")
                .iter()
                .any(|r| rule_allows(r, a))
        {
            return (
                true,
                format!(
                    "RBAC: allowed by ClusterRoleBinding \"{}\" of ClusterRole \"{}\" to User \"{}\"",
                    b.name,
                    v["roleRef"]["name"].as_str().unwrap_or_default(),
                    user.username
                ),
            );
        }
    }
    if a.resource_request && !a.namespace.is_empty() {
        for b in store.all(ids::ROLEBINDINGS, Some(&a.namespace)) {
            let v = b.value();
            if strs_obj(&v["subjects"])
                .iter()
                .any(|s| subject_matches(s, user, &a.namespace))
                && role_rules(store, &v["roleRef"], &a.namespace)
                    .iter()
                    .any(|r| rule_allows(r, a))
            {
                return (
                    true,
                    format!(
                        "RBAC: allowed by RoleBinding \"{}/{}\" of {} \"{}\" to User \"{}\"",
                        a.namespace,
                        b.name,
                        v["roleRef"]["kind"].as_str().unwrap_or_default(),
                        v["roleRef"]["name"].as_str().unwrap_or_default(),
                        user.username
                    ),
                );
            }
        }
    }
    (false, String::new())
}

fn strs_obj(v: &Value) -> Vec<Value> {
    v.as_array().cloned().unwrap_or_default()
}

/// The rules that apply to `user` in `namespace` (for SelfSubjectRulesReview).
pub fn rules_for(store: &Store, user: &UserInfo, namespace: &str) -> Vec<Value> {
    if user.is_admin() {
        return vec![
            json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}),
            json!({"verbs": ["*"], "nonResourceURLs": ["*"]}),
        ];
    }
    let mut out = Vec::new();
    for b in store.all(ids::CLUSTERROLEBINDINGS, None) {
        let v = b.value();
        if strs_obj(&v["subjects"])
            .iter()
            .any(|s| subject_matches(s, user, ""))
        {
            out.extend(role_rules(store, &v["roleRef"], ""));
        }
    }
    for b in store.all(ids::ROLEBINDINGS, Some(namespace)) {
        let v = b.value();
        if strs_obj(&v["subjects"])
            .iter()
            .any(|s| subject_matches(s, user, namespace))
        {
            out.extend(role_rules(store, &v["roleRef"], namespace));
        }
    }
    out
}

/// The 403 message kube-apiserver gives for a denied request.
pub fn forbidden_message(user: &UserInfo, a: &Attributes) -> String {
    if !a.resource_request {
        return format!(
            "forbidden: User \"{}\" cannot {} path \"{}\"",
            user.username,
            a.verb.to_lowercase(),
            a.path
        );
    }
    let qualified = if a.group.is_empty() {
        a.resource.clone()
    } else {
        format!("{}.{}", a.resource, a.group)
    };
    let subject = if a.name.is_empty() {
        qualified
    } else {
        format!("{qualified} \"{}\"", a.name)
    };
    let resource = if a.subresource.is_empty() {
        a.resource.clone()
    } else {
        format!("{}/{}", a.resource, a.subresource)
    };
    let scope = if a.namespace.is_empty() {
        "at the cluster scope".to_string()
    } else {
        format!("in the namespace \"{}\"", a.namespace)
    };
    format!(
        "{subject} is forbidden: User \"{}\" cannot {} resource \"{resource}\" in API group \"{}\" {scope}",
        user.username, a.verb, a.group
    )
}

/// The 403 message of a patch that would create its object without `create` permission:
/// apimachinery's `NewForbidden(group resource, name, reason)`, where RBAC's reason for a
/// denial is empty (`configmaps "x" is forbidden: `).
pub fn create_on_patch_forbidden_message(a: &Attributes) -> String {
    let qualified = if a.group.is_empty() {
        a.resource.clone()
    } else {
        format!("{}.{}", a.resource, a.group)
    };
    format!("{qualified} \"{}\" is forbidden: ", a.name)
}

/// The ClusterRoles and ClusterRoleBindings kube-apiserver bootstraps.
pub fn bootstrap() -> Vec<(usize, Value)> {
    let read = ["get", "list", "watch"];
    let write = [
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch",
    ];
    let common = [
        "pods",
        "pods/log",
        "pods/status",
        "pods/proxy",
        "services",
        "services/proxy",
        "endpoints",
        "configmaps",
        "secrets",
        "serviceaccounts",
        "events",
        "persistentvolumeclaims",
        "resourcequotas",
        "limitranges",
    ];
    let role = |name: &str, rules: Value| json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": name, "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}}, "rules": rules});
    let binding = |name: &str, role: &str, group: &str| {
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": name, "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
               "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group}]})
    };
    vec![
        (
            ids::CLUSTERROLES,
            role(
                "cluster-admin",
                json!([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}, {"nonResourceURLs": ["*"], "verbs": ["*"]}]),
            ),
        ),
        (
            ids::CLUSTERROLES,
            role(
                "admin",
                json!([{"apiGroups": ["", "apps", "batch", "networking.k8s.io", "policy", "coordination.k8s.io"], "resources": ["*"], "verbs": ["*"]}, {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles", "rolebindings"], "verbs": write}]),
            ),
        ),
        (
            ids::CLUSTERROLES,
            role(
                "edit",
                json!([{"apiGroups": [""], "resources": common, "verbs": write}, {"apiGroups": ["apps"], "resources": ["deployments", "replicasets"], "verbs": write}, {"apiGroups": ["batch"], "resources": ["jobs", "cronjobs"], "verbs": write}, {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies", "ingresses"], "verbs": write}, {"apiGroups": [""], "resources": ["pods/eviction", "serviceaccounts/token"], "verbs": ["create"]}]),
            ),
        ),
        (
            ids::CLUSTERROLES,
            role(
                "view",
                json!([{"apiGroups": [""], "resources": ["pods", "pods/log", "pods/status", "services", "endpoints", "configmaps", "serviceaccounts", "events", "persistentvolumeclaims", "namespaces"], "verbs": read}, {"apiGroups": ["apps"], "resources": ["deployments", "replicasets"], "verbs": read}, {"apiGroups": ["batch"], "resources": ["jobs", "cronjobs"], "verbs": read}]),
            ),
        ),
        (
            ids::CLUSTERROLES,
            role(
                "system:discovery",
                json!([{"nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*", "/readyz", "/version", "/version/"], "verbs": ["get"]}]),
            ),
        ),
        (
            ids::CLUSTERROLES,
            role(
                "system:basic-user",
                json!([{"apiGroups": ["authorization.k8s.io"], "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"], "verbs": ["create"]}, {"apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"], "verbs": ["create"]}]),
            ),
        ),
        (
            ids::CLUSTERROLES,
            role(
                "system:public-info-viewer",
                json!([{"nonResourceURLs": ["/healthz", "/livez", "/readyz", "/version", "/version/"], "verbs": ["get"]}]),
            ),
        ),
        (
            ids::CLUSTERROLEBINDINGS,
            binding("cluster-admin", "cluster-admin", "system:masters"),
        ),
        (
            ids::CLUSTERROLEBINDINGS,
            binding(
                "system:discovery",
                "system:discovery",
                "system:authenticated",
            ),
        ),
        (
            ids::CLUSTERROLEBINDINGS,
            binding(
                "system:basic-user",
                "system:basic-user",
                "system:authenticated",
            ),
        ),
        (
            ids::CLUSTERROLEBINDINGS,
            binding(
                "system:public-info-viewer",
                "system:public-info-viewer",
                "system:authenticated",
            ),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(verb: &str, resource: &str, sub: &str, ns: &str) -> Attributes {
        Attributes {
            verb: verb.into(),
            resource: resource.into(),
            subresource: sub.into(),
            namespace: ns.into(),
            resource_request: true,
            ..Default::default()
        }
    }

    #[test]
    fn rules_match_verbs_resources_and_subresources() {
        let rule =
            json!({"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get", "list"]});
        assert!(rule_allows(&rule, &attrs("get", "pods", "", "ns")));
        assert!(rule_allows(&rule, &attrs("get", "pods", "log", "ns")));
        assert!(!rule_allows(&rule, &attrs("get", "pods", "exec", "ns")));
        assert!(!rule_allows(&rule, &attrs("create", "pods", "", "ns")));
        let named = json!({"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["a"], "verbs": ["get"]});
        let mut a = attrs("get", "configmaps", "", "ns");
        assert!(!rule_allows(&named, &a));
        a.name = "a".into();
        assert!(rule_allows(&named, &a));
    }

    #[test]
    fn binding_to_a_service_account_allows_and_messages_are_kube_shaped() {
        let store = Store::new(0, 10, None);
        let _ = store.create(ids::ROLES, json!({"metadata": {"name": "r", "namespace": "ns"}, "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]}));
        let _ = store.create(ids::ROLEBINDINGS, json!({"metadata": {"name": "b", "namespace": "ns"}, "roleRef": {"kind": "Role", "name": "r"}, "subjects": [{"kind": "ServiceAccount", "name": "sa"}]}));
        let user = UserInfo {
            username: "system:serviceaccount:ns:sa".into(),
            groups: vec![],
            uid: String::new(),
        };
        assert!(authorize(&store, &user, &attrs("list", "pods", "", "ns")).0);
        assert!(!authorize(&store, &user, &attrs("list", "pods", "", "other")).0);
        assert!(!authorize(&store, &user, &attrs("create", "pods", "", "ns")).0);
        assert_eq!(
            forbidden_message(&user, &attrs("create", "pods", "", "ns")),
            "pods is forbidden: User \"system:serviceaccount:ns:sa\" cannot create resource \"pods\" in API group \"\" in the namespace \"ns\""
        );
        let mut a = attrs("get", "nodes", "", "");
        a.name = "n1".into();
        assert_eq!(
            forbidden_message(&user, &a),
            "nodes \"n1\" is forbidden: User \"system:serviceaccount:ns:sa\" cannot get resource \"nodes\" in API group \"\" at the cluster scope"
        );
    }

    #[test]
    fn create_on_patch_messages_name_the_group_resource_and_object() {
        for (group, resource, name, want) in [
            ("", "configmaps", "c", "configmaps \"c\" is forbidden: "),
            (
                "networking.k8s.io",
                "networkpolicies",
                "p",
                "networkpolicies.networking.k8s.io \"p\" is forbidden: ",
            ),
        ] {
            let mut a = attrs("create", resource, "", "ns");
            a.group = group.into();
            a.name = name.into();
            assert_eq!(create_on_patch_forbidden_message(&a), want);
        }
    }
}
