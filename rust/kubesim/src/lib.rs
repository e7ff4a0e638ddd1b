//! kubesim: a Kubernetes API emulator that speaks the real HTTP API, used by sparkube's tests,
//! benchmarks and local demo where no cluster can run.
//!
//! Layout: [`store`] keeps objects and events; [`registry`] adds kube-apiserver's write
//! semantics; [`api`] serves HTTP (routing, discovery, verbs, patch, watch, logs, status
//! errors); [`controllers`] run the scheduler, kubelet, garbage collector, namespace, endpoints,
//! job and node loops over a [`runtime`]; [`auth`] and [`rbac`] decide who may do what;
//! [`faults`], [`metrics`], [`audit`], [`persist`] and [`kubeconfig`] serve tests and operators.

pub mod api;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod cluster;
pub mod controllers;
pub mod faults;
pub mod kubeconfig;
pub mod logs;
pub mod metrics;
pub mod persist;
pub mod quantity;
pub mod rbac;
pub mod registry;
pub mod resources;
pub mod runtime;
pub mod selectors;
pub mod server;
pub mod store;
pub mod tls;

pub use cluster::{Options, RuntimeKind};
pub use server::{Server, start, start_with_runtime};
