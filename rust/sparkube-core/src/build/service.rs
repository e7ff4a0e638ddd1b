//! The headless driver service (Spark's service step): its name (with the 63-char fallback),
//! ports, IP families, labels and annotations, and the `spark.driver.host/port` keys that
//! point executors at it.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::Context;
use super::driver::{DRIVER_PORTS, port};
use super::labels::{self, APP_ID_LABEL};
use super::names::service_name;
use crate::conf::{SparkConf, keys, split_list};
use crate::error::{Error, Result};

/// The service, and `spark.driver.host`, `spark.driver.port`, `spark.driver.blockManager.port`.
pub fn build(ctx: &Context<'_>, props: &mut SparkConf) -> Result<Service> {
    let conf = ctx.conf;
    let name = service_name(&ctx.prefix, &ctx.ids.service_unique_id);
    let mut ports = Vec::new();
    for (port_name, key, default) in DRIVER_PORTS {
        let number = port(conf, key, default)?;
        ports.push(ServicePort {
            name: Some(port_name.to_owned()),
            port: number,
            target_port: Some(IntOrString::Int(number)),
            app_protocol: (port_name == "spark-connect").then(|| "grpc".to_owned()),
            ..Default::default()
        });
    }
    let mut service_labels = BTreeMap::from([(APP_ID_LABEL.to_owned(), ctx.ids.app_id.clone())]);
    for (key, value) in conf.with_prefix(keys::DRIVER_SERVICE_LABEL_PREFIX) {
        let option = format!("{}{key}", keys::DRIVER_SERVICE_LABEL_PREFIX);
        if key == APP_ID_LABEL {
            return Err(Error::invalid(
                &option,
                format!(
                    "Label with key {key} is not allowed as it is reserved for Spark bookkeeping operations."
                ),
            ));
        }
        if !super::names::is_qualified_name(key) || !super::names::is_label_value(value) {
            return Err(Error::invalid(
                &option,
                format!("{option}={value:?} is not a valid label"),
            ));
        }
        service_labels.insert(key.to_owned(), value.to_owned());
    }
    // Unlike the pod's, the service's annotations are taken as written (as Spark does).
    let annotations = labels::verbatim_annotations(conf, keys::DRIVER_SERVICE_ANNOTATION_PREFIX)?;
    let mut metadata = ctx.owned_meta(name.clone());
    metadata.labels = Some(service_labels);
    if !annotations.is_empty() {
        metadata.annotations = Some(annotations.into_iter().collect());
    }
    let service = Service {
        metadata,
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".to_owned()),
            ip_family_policy: Some(
                conf.get_or(keys::DRIVER_SERVICE_IP_FAMILY_POLICY, "SingleStack")
                    .to_owned(),
            ),
            ip_families: Some(split_list(
                conf.get_or(keys::DRIVER_SERVICE_IP_FAMILIES, "IPv4"),
            )),
            ports: Some(ports),
            publish_not_ready_addresses: Some(
                super::driver::boolean(conf, keys::DRIVER_SERVICE_PUBLISH_NOT_READY)?
                    .unwrap_or(false),
            ),
            selector: Some(ctx.driver_labels.iter().cloned().collect()),
            ..Default::default()
        }),
        ..Default::default()
    };
    props.set(keys::DRIVER_HOST, format!("{name}.{}.svc", ctx.namespace));
    props.set(
        keys::DRIVER_PORT,
        port(conf, keys::DRIVER_PORT, 7078)?.to_string(),
    );
    props.set(
        keys::DRIVER_BLOCK_MANAGER_PORT,
        port(conf, keys::DRIVER_BLOCK_MANAGER_PORT, 7079)?.to_string(),
    );
    Ok(service)
}
