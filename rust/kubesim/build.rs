//! Generates the table of Kubernetes protobuf messages kubesim decodes request bodies with
//! (`$OUT_DIR/proto_messages.rs`, read by `src/api/proto.rs`): field numbers, JSON names and
//! types, from the upstream `generated.proto` files pinned under `proto/` (see its README).
//!
//! Only the messages reachable from [`ROOTS`] are emitted: the kinds kubesim serves and the
//! request bodies kubectl sends as protobuf. The JSON names are the proto names, except that
//! go-to-protobuf froze some from Go field names with initialisms (`uID`, `aPIGroup`) where the
//! JSON tag is lower case (`uid`, `apiGroup`); `json_name` undoes that. The test
//! `tests/proto_schema.rs` checks every name against k8s-openapi.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The messages a request body can be: what the rest of the table is reached from.
const ROOTS: &[&str] = &[
    "k8s.io.api.core.v1.Namespace",
    "k8s.io.api.core.v1.Pod",
    "k8s.io.api.core.v1.Service",
    "k8s.io.api.core.v1.Endpoints",
    "k8s.io.api.core.v1.ConfigMap",
    "k8s.io.api.core.v1.Secret",
    "k8s.io.api.core.v1.ServiceAccount",
    "k8s.io.api.core.v1.Event",
    "k8s.io.api.core.v1.PersistentVolumeClaim",
    "k8s.io.api.core.v1.PersistentVolume",
    "k8s.io.api.core.v1.Node",
    "k8s.io.api.core.v1.ResourceQuota",
    "k8s.io.api.core.v1.LimitRange",
    "k8s.io.api.core.v1.Binding",
    "k8s.io.api.batch.v1.Job",
    "k8s.io.api.batch.v1.CronJob",
    "k8s.io.api.rbac.v1.Role",
    "k8s.io.api.rbac.v1.RoleBinding",
    "k8s.io.api.rbac.v1.ClusterRole",
    "k8s.io.api.rbac.v1.ClusterRoleBinding",
    "k8s.io.api.authentication.v1.TokenRequest",
    "k8s.io.api.authentication.v1.TokenReview",
    "k8s.io.api.authentication.v1.SelfSubjectReview",
    "k8s.io.api.authorization.v1.SelfSubjectAccessReview",
    "k8s.io.api.authorization.v1.SubjectAccessReview",
    "k8s.io.api.authorization.v1.SelfSubjectRulesReview",
    "k8s.io.api.policy.v1.Eviction",
    "k8s.io.api.policy.v1.PodDisruptionBudget",
    "k8s.io.api.networking.v1.NetworkPolicy",
    "k8s.io.api.coordination.v1.Lease",
    "k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions",
];

/// Proto scalar types and the decoder's `Kind` for each.
const SCALARS: &[(&str, &str)] = &[
    ("string", "Str"),
    ("bytes", "Bytes"),
    ("int32", "Int"),
    ("int64", "Int"),
    ("uint32", "Int"),
    ("uint64", "Int"),
    ("bool", "Bool"),
    ("double", "Double"),
    ("float", "Double"),
];

/// Messages whose JSON form is not an object (a timestamp, a quantity string, …).
const SPECIAL: &[(&str, &str)] = &[
    ("k8s.io.apimachinery.pkg.apis.meta.v1.Time", "Time"),
    ("k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime", "Time"),
    ("k8s.io.apimachinery.pkg.api.resource.Quantity", "Quantity"),
    (
        "k8s.io.apimachinery.pkg.util.intstr.IntOrString",
        "IntOrString",
    ),
    ("k8s.io.apimachinery.pkg.runtime.RawExtension", "Raw"),
    ("k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1", "Raw"),
    ("k8s.io.apimachinery.pkg.apis.meta.v1.Duration", "Duration"),
];

/// Fields Go embeds with `json:",inline"`: their members appear in the parent JSON object.
const INLINE: &[(&str, &str)] = &[
    ("*", "localObjectReference"),
    ("*", "ephemeralContainerCommon"),
    ("*", "persistentVolumeSource"),
    ("*", "volumeSource"),
    ("k8s.io.api.core.v1.Probe", "handler"),
];

struct Field {
    num: u32,
    name: String,
    /// A scalar, a qualified message name, or `map:` and the value type.
    ty: String,
    repeated: bool,
}

fn main() {
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default()).join("proto");
    println!("cargo::rerun-if-changed=proto");
    let mut messages = BTreeMap::new();
    let mut wrappers = BTreeSet::new();
    let mut files = Vec::new();
    collect(&dir, &mut files);
    for file in files {
        let text = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("failed to read {}: {e}", file.display()));
        parse(&text, &mut messages, &mut wrappers);
    }
    // A named Go slice type is a message with one repeated `items`; fields of that type are
    // written as `Kind::Items` of the element.
    let items: BTreeMap<String, String> = wrappers
        .iter()
        .filter_map(|w| match messages.get(w).map(Vec::as_slice) {
            Some([only]) if only.repeated => Some((w.clone(), only.ty.clone())),
            _ => None,
        })
        .collect();
    let mut needed = BTreeSet::new();
    let mut stack: Vec<String> = ROOTS.iter().map(|r| (*r).to_string()).collect();
    while let Some(name) = stack.pop() {
        if needed.contains(&name) || lookup(SPECIAL, &name).is_some() {
            continue;
        }
        if let Some(item) = items.get(&name) {
            if lookup(SCALARS, item).is_none() {
                stack.push(item.clone());
            }
            continue;
        }
        let Some(fields) = messages.get(&name) else {
            panic!("{name} is not in the .proto files under proto/");
        };
        for f in fields {
            let inner = f.ty.strip_prefix("map:").unwrap_or(&f.ty);
            if lookup(SCALARS, inner).is_none() {
                stack.push(inner.to_string());
            }
        }
        needed.insert(name);
    }
    let mut out = String::from("&[\n");
    for name in &needed {
        let mut fields: Vec<&Field> = messages[name].iter().collect();
        fields.sort_by_key(|f| f.num);
        let _ = writeln!(out, "    ({name:?}, &[");
        for f in fields {
            let mut kind = kind(&f.ty, &items);
            if INLINE
                .iter()
                .any(|(m, n)| (*m == "*" || m == name) && *n == f.name)
            {
                kind = kind.replace("Kind::Msg(", "Kind::Inline(");
            }
            let _ = writeln!(
                out,
                "        Field {{ num: {}, name: {:?}, kind: {kind}, repeated: {} }},",
                f.num,
                json_name(&f.name),
                f.repeated
            );
        }
        out.push_str("    ]),\n");
    }
    out.push_str("]\n");
    let target =
        PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default()).join("proto_messages.rs");
    std::fs::write(&target, out)
        .unwrap_or_else(|e| panic!("failed to write {}: {e}", target.display()));
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("failed to list {}: {e}", dir.display()));
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "proto") {
            out.push(path);
        }
    }
}

fn lookup(table: &[(&str, &'static str)], key: &str) -> Option<&'static str> {
    table.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

/// Reads the top-level messages of one `generated.proto` (go-to-protobuf's output: one
/// declaration per line, no nested messages); those marked `+protobuf.nullable=true` (named
/// Go slice types) also go to `wrappers`.
fn parse(text: &str, messages: &mut BTreeMap<String, Vec<Field>>, wrappers: &mut BTreeSet<String>) {
    let mut package = String::new();
    let mut current: Option<String> = None;
    let mut depth = 0i32;
    let mut nullable = false;
    for line in text.lines() {
        let line = line.trim();
        if let Some(comment) = line.strip_prefix("//") {
            nullable |= comment.trim() == "+protobuf.nullable=true";
            continue;
        }
        if let Some(p) = line.strip_prefix("package ") {
            package = p.trim_end_matches(';').trim().to_string();
        }
        if depth == 0
            && let Some(name) = line
                .strip_prefix("message ")
                .and_then(|r| r.strip_suffix('{'))
        {
            let name = format!("{package}.{}", name.trim());
            messages.insert(name.clone(), Vec::new());
            if nullable {
                wrappers.insert(name.clone());
            }
            current = Some(name);
        }
        nullable = false;
        depth += line.matches('{').count() as i32 - line.matches('}').count() as i32;
        let (Some(msg), 1) = (&current, depth) else {
            continue;
        };
        if let Some(f) = field(line, &package) {
            messages.entry(msg.clone()).or_default().push(f);
        }
    }
}

/// One field line: `optional T name = N;`, `repeated T name = N;` or `map<K, V> name = N;`.
fn field(line: &str, package: &str) -> Option<Field> {
    let (head, num) = line.split_once('=')?;
    let num = num.trim().trim_end_matches(';').trim().parse().ok()?;
    if let Some(rest) = head.strip_prefix("map<") {
        let (types, name) = rest.split_once('>')?;
        let (_, value) = types.split_once(',')?;
        return Some(Field {
            num,
            name: name.trim().to_string(),
            ty: format!("map:{}", qualify(value.trim(), package)),
            repeated: false,
        });
    }
    let mut words = head.split_whitespace();
    let label = words.next()?;
    let (ty, name) = (words.next()?, words.next()?);
    if !matches!(label, "optional" | "repeated") {
        return None;
    }
    Some(Field {
        num,
        name: name.to_string(),
        ty: qualify(ty, package),
        repeated: label == "repeated",
    })
}

fn qualify(ty: &str, package: &str) -> String {
    if lookup(SCALARS, ty).is_some() {
        ty.to_string()
    } else if ty.contains('.') {
        ty.trim_start_matches('.').to_string()
    } else {
        format!("{package}.{ty}")
    }
}

fn kind(ty: &str, items: &BTreeMap<String, String>) -> String {
    if let Some(value) = ty.strip_prefix("map:") {
        return format!("Kind::Map(&{})", kind(value, items));
    }
    if let Some(item) = items.get(ty) {
        return format!("Kind::Items(&{})", kind(item, items));
    }
    match lookup(SCALARS, ty).or_else(|| lookup(SPECIAL, ty)) {
        Some(k) => format!("Kind::{k}"),
        None => format!("Kind::Msg({ty:?})"),
    }
}

/// The JSON name of a proto field: `uID` → `uid`, `aPIGroup` → `apiGroup` (a lower-case first
/// letter then an upper-case run is an initialism go-to-protobuf half lowered); others as is.
fn json_name(proto: &str) -> String {
    let chars: Vec<char> = proto.chars().collect();
    if chars.len() < 2 || !chars[0].is_lowercase() || !chars[1].is_uppercase() {
        return proto.to_string();
    }
    let mut out = String::new();
    out.push(chars[0]);
    let mut i = 1;
    while i < chars.len() && chars[i].is_uppercase() {
        let next_lower = chars.get(i + 1).is_some_and(|c| c.is_lowercase());
        if next_lower && i > 1 {
            break;
        }
        out.extend(chars[i].to_lowercase());
        i += 1;
    }
    out.extend(&chars[i..]);
    out
}
