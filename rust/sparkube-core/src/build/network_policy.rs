//! The NetworkPolicy spark-submit 4.3 creates: the app's executors accept traffic only from
//! pods of the same app.

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::Context;
use super::labels::{APP_ID_LABEL, ROLE_LABEL};

/// `{prefix}-policy`: selects `spark-role: executor` pods of the app and allows ingress
/// from pods with the same `spark-app-selector`.
pub fn build(ctx: &Context<'_>) -> NetworkPolicy {
    let app = || (APP_ID_LABEL.to_owned(), ctx.ids.app_id.clone());
    let mut metadata = ctx.owned_meta(format!("{}-policy", ctx.prefix));
    metadata.labels = Some(BTreeMap::from([app()]));
    NetworkPolicy {
        metadata,
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector {
                match_labels: Some(BTreeMap::from([
                    (ROLE_LABEL.to_owned(), "executor".to_owned()),
                    app(),
                ])),
                match_expressions: None,
            }),
            ingress: Some(vec![NetworkPolicyIngressRule {
                from: Some(vec![NetworkPolicyPeer {
                    pod_selector: Some(LabelSelector {
                        match_labels: Some(BTreeMap::from([app()])),
                        match_expressions: None,
                    }),
                    ..Default::default()
                }]),
                ports: None,
            }]),
            ..Default::default()
        }),
    }
}
