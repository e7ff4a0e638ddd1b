//! Request decoding never panics: URL paths, query strings, selectors, protobuf bodies and
//! patches get arbitrary input; then a running server gets arbitrary HTTP requests and must
//! keep answering.

use std::io::{Read, Write};
use std::time::Duration;

use kubesim::api::{Query, patch, path, proto};
use kubesim::selectors::{FieldSelector, LabelSelector};
use proptest::prelude::*;
use serde_json::Value;

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| Value::Number(n.into())),
        "[a-z/~0-9$-]{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z$/]{0,6}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    #[test]
    fn paths_and_queries_never_panic(p in "(/[a-z0-9%.:_-]{0,12}){0,8}/?", q in "[a-zA-Z0-9=&%+.,!()-]{0,40}") {
        let _ = path::parse(&p);
        let query = Query::parse(Some(&q));
        let _ = query.int("limit");
        let _ = LabelSelector::parse(query.get("labelSelector").unwrap_or(&q));
    }

    #[test]
    fn selectors_never_panic(s in "[a-z!=(), .\\\\/-]{0,40}") {
        if let Ok(sel) = LabelSelector::parse(&s) {
            let _ = sel.matches(&[("a".into(), "b".into())]);
        }
        if let Ok(sel) = FieldSelector::parse(&s, &["status.phase"]) {
            let _ = sel.matches(|_| String::new());
        }
    }

    #[test]
    fn protobuf_bodies_never_panic(body in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = proto::decode(&body);
        let mut framed = proto::MAGIC.to_vec();
        framed.extend_from_slice(&body);
        let _ = proto::decode(&framed);
    }

    #[test]
    fn patches_never_panic(doc in json_value(), p in json_value()) {
        let mut d = doc.clone();
        let _ = patch::json_patch(&mut d, &p);
        let mut d = doc.clone();
        let _ = patch::strategic_merge(&mut d, &p);
        let owned = patch::fields_v1(&p);
        let mut d = doc;
        patch::remove_unapplied(&mut d, &owned, &Value::Null, &Value::Null);
    }
}

fn raw_request(addr: std::net::SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let Ok(mut s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5)) else {
        return Vec::new();
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = s.write_all(bytes);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

#[test]
fn a_server_survives_arbitrary_requests() {
    let rt = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("{e}"));
    let server = rt
        .block_on(kubesim::start(kubesim::Options::default()))
        .unwrap_or_else(|e| panic!("{e}"));
    let addr = server.addr;
    let token = server.token.clone();
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];
    let content_types = [
        "application/json",
        "application/yaml",
        "application/merge-patch+json",
        "application/strategic-merge-patch+json",
        "application/json-patch+json",
        "application/apply-patch+yaml",
        "application/vnd.kubernetes.protobuf",
    ];
    let strategy = (
        0..methods.len(),
        "(/[a-z0-9%.:_-]{0,10}){1,7}",
        "[a-z=&0-9]{0,20}",
        0..content_types.len(),
        prop::collection::vec(any::<u8>(), 0..200),
        json_value(),
    );
    let mut answered = 0;
    for _ in 0..300 {
        let Ok(tree) = strategy.new_tree(&mut runner) else {
            continue;
        };
        let (m, p, q, ct, noise, json) = proptest::strategy::ValueTree::current(&tree);
        let body = if noise.len() % 2 == 0 {
            serde_json::to_vec(&json).unwrap_or_default()
        } else {
            noise
        };
        let path = if p.starts_with("/api") || p.len() % 3 == 0 {
            p
        } else {
            format!("/api/v1/namespaces/default{p}")
        };
        let head = format!(
            "{} {path}?{q} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            methods[m],
            content_types[ct],
            body.len()
        );
        let mut req = head.into_bytes();
        req.extend_from_slice(&body);
        let resp = raw_request(addr, &req);
        assert!(
            resp.is_empty() || resp.starts_with(b"HTTP/1.1 "),
            "not an HTTP answer"
        );
        answered += usize::from(!resp.is_empty());
    }
    assert!(
        answered > 250,
        "only {answered} of 300 requests were answered"
    );
    let health = raw_request(
        addr,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(
        health.starts_with(b"HTTP/1.1 200"),
        "server stopped answering"
    );
    rt.block_on(server.shutdown());
}
