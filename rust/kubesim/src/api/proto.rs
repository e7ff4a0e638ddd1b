//! Decoding Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`, as
//! kubectl's typed clients send) into JSON, driven by the generated message table.

use base64::Engine;
use serde_json::{Map, Value, json};
use thiserror::Error;

use super::proto_schema::MESSAGES;

/// Errors from decoding protobuf.
#[derive(Debug, Error, PartialEq)]
pub enum Error {
    /// The bytes are not a Kubernetes protobuf envelope or message.
    #[error("failed to decode protobuf: {0}")]
    Malformed(String),
    /// The envelope names a type kubesim has no schema for.
    #[error("no protobuf schema for {0}")]
    UnknownType(String),
}

/// Result alias for decoding.
pub type Result<T> = std::result::Result<T, Error>;

/// How one field is encoded.
#[derive(Debug)]
pub enum Kind {
    /// string
    Str,
    /// bytes (base64 in JSON)
    Bytes,
    /// any varint integer
    Int,
    /// bool
    Bool,
    /// double
    Double,
    /// meta.v1.Time / MicroTime
    Time,
    /// resource.Quantity
    Quantity,
    /// intstr.IntOrString
    IntOrString,
    /// runtime.RawExtension / FieldsV1 (embedded JSON)
    Raw,
    /// meta.v1.Duration
    Duration,
    /// A nested message.
    Msg(&'static str),
    /// A message Go embeds inline: its fields go into the parent object.
    Inline(&'static str),
    /// map<string, V>
    Map(&'static Kind),
}

/// One field of a message.
#[derive(Debug)]
pub struct Field {
    /// Field number.
    pub num: u32,
    /// JSON name.
    pub name: &'static str,
    /// Encoding.
    pub kind: Kind,
    /// Whether repeated.
    pub repeated: bool,
}

/// The magic prefix of Kubernetes protobuf bodies.
pub const MAGIC: &[u8] = b"k8s\x00";

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64> {
        let mut out = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self
                .buf
                .get(self.pos)
                .ok_or_else(|| Error::Malformed("truncated varint".into()))?;
            self.pos += 1;
            out |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(out);
            }
        }
        Err(Error::Malformed("varint too long".into()))
    }

    fn bytes(&mut self) -> Result<&'a [u8]> {
        let len = usize::try_from(self.varint()?)
            .map_err(|_| Error::Malformed("length too large".into()))?;
        let end = self
            .pos
            .checked_add(len)
            .filter(|e| *e <= self.buf.len())
            .ok_or_else(|| Error::Malformed("truncated field".into()))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn skip(&mut self, wire: u64) -> Result<()> {
        match wire {
            0 => self.varint().map(|_| ()),
            1 => self.advance(8),
            2 => self.bytes().map(|_| ()),
            5 => self.advance(4),
            w => Err(Error::Malformed(format!("unsupported wire type {w}"))),
        }
    }

    fn advance(&mut self, n: usize) -> Result<()> {
        if self.pos + n > self.buf.len() {
            return Err(Error::Malformed("truncated fixed field".into()));
        }
        self.pos += n;
        Ok(())
    }

    fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }
}

fn schema(name: &str) -> Result<&'static [Field]> {
    MESSAGES
        .binary_search_by(|(n, _)| (*n).cmp(name))
        .map(|i| MESSAGES[i].1)
        .map_err(|_| Error::UnknownType(name.to_string()))
}

fn string(b: &[u8]) -> Result<String> {
    String::from_utf8(b.to_vec()).map_err(|_| Error::Malformed("string is not UTF-8".into()))
}

fn scalar(kind: &Kind, r: &mut Reader<'_>, wire: u64, depth: usize) -> Result<Value> {
    Ok(match kind {
        Kind::Str => json!(string(r.bytes()?)?),
        Kind::Bytes => json!(base64::engine::general_purpose::STANDARD.encode(r.bytes()?)),
        Kind::Int => json!(r.varint()? as i64),
        Kind::Bool => json!(r.varint()? != 0),
        Kind::Double => {
            if wire != 1 {
                return Err(Error::Malformed("double with wrong wire type".into()));
            }
            let b = r
                .buf
                .get(r.pos..r.pos + 8)
                .ok_or_else(|| Error::Malformed("truncated double".into()))?;
            r.pos += 8;
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            json!(f64::from_le_bytes(a))
        }
        Kind::Time => {
            let m = decode_fields(&[], r.bytes()?, depth + 1, &mut Map::new(), true)?;
            let secs = m.get("1").and_then(Value::as_i64).unwrap_or(0);
            if secs == 0 {
                Value::Null
            } else {
                chrono::DateTime::from_timestamp(secs, 0)
                    .map(crate::clock::format)
                    .map(Value::String)
                    .unwrap_or(Value::Null)
            }
        }
        Kind::Quantity => {
            let mut sub = Reader {
                buf: r.bytes()?,
                pos: 0,
            };
            let mut out = Value::Null;
            while !sub.done() {
                let key = sub.varint()?;
                if key >> 3 == 1 && key & 7 == 2 {
                    out = json!(string(sub.bytes()?)?);
                } else {
                    sub.skip(key & 7)?;
                }
            }
            out
        }
        Kind::IntOrString => {
            let mut sub = Reader {
                buf: r.bytes()?,
                pos: 0,
            };
            let (mut ty, mut int, mut s) = (0u64, 0i64, String::new());
            while !sub.done() {
                let key = sub.varint()?;
                match (key >> 3, key & 7) {
                    (1, 0) => ty = sub.varint()?,
                    (2, 0) => int = sub.varint()? as i64,
                    (3, 2) => s = string(sub.bytes()?)?,
                    (_, w) => sub.skip(w)?,
                }
            }
            if ty == 1 { json!(s) } else { json!(int) }
        }
        Kind::Raw => {
            let mut sub = Reader {
                buf: r.bytes()?,
                pos: 0,
            };
            let mut out = Value::Null;
            while !sub.done() {
                let key = sub.varint()?;
                if key >> 3 == 1 && key & 7 == 2 {
                    out = serde_json::from_slice(sub.bytes()?).unwrap_or(Value::Null);
                } else {
                    sub.skip(key & 7)?;
                }
            }
            out
        }
        Kind::Duration => {
            let mut sub = Reader {
                buf: r.bytes()?,
                pos: 0,
            };
            let mut nanos = 0i64;
            while !sub.done() {
                let key = sub.varint()?;
                if key >> 3 == 1 && key & 7 == 0 {
                    nanos = sub.varint()? as i64;
                } else {
                    sub.skip(key & 7)?;
                }
            }
            json!(format!("{}s", nanos as f64 / 1e9))
        }
        Kind::Msg(name) | Kind::Inline(name) => decode_message(name, r.bytes()?, depth + 1)?,
        Kind::Map(_) => return Err(Error::Malformed("nested map".into())),
    })
}

/// Decodes fields into `out`; with `raw_numbers`, unknown fields are kept by number (used for
/// small well-known messages).
fn decode_fields(
    fields: &[Field],
    buf: &[u8],
    depth: usize,
    out: &mut Map<String, Value>,
    raw_numbers: bool,
) -> Result<Map<String, Value>> {
    if depth > 64 {
        return Err(Error::Malformed("message nested too deeply".into()));
    }
    let mut r = Reader { buf, pos: 0 };
    while !r.done() {
        let key = r.varint()?;
        let (num, wire) = (key >> 3, key & 7);
        let Some(f) = fields.iter().find(|f| u64::from(f.num) == num) else {
            if raw_numbers && wire == 0 {
                out.insert(num.to_string(), json!(r.varint()? as i64));
            } else {
                r.skip(wire)?;
            }
            continue;
        };
        match &f.kind {
            Kind::Map(vk) => {
                let entry = r.bytes()?;
                let mut er = Reader { buf: entry, pos: 0 };
                let (mut k, mut v) = (String::new(), Value::Null);
                while !er.done() {
                    let ek = er.varint()?;
                    match (ek >> 3, ek & 7) {
                        (1, 2) => k = string(er.bytes()?)?,
                        (2, w) => v = scalar(vk, &mut er, w, depth)?,
                        (_, w) => er.skip(w)?,
                    }
                }
                if v.is_null() && matches!(vk, Kind::Str) {
                    v = json!("");
                }
                let m = out.entry(f.name).or_insert_with(|| json!({}));
                if let Some(m) = m.as_object_mut() {
                    m.insert(k, v);
                }
            }
            Kind::Inline(name) => {
                let inner = decode_message(name, r.bytes()?, depth + 1)?;
                if let Value::Object(m) = inner {
                    out.extend(m);
                }
            }
            Kind::Int | Kind::Bool if f.repeated && wire == 2 => {
                let mut pr = Reader {
                    buf: r.bytes()?,
                    pos: 0,
                };
                while !pr.done() {
                    let v = if matches!(f.kind, Kind::Bool) {
                        json!(pr.varint()? != 0)
                    } else {
                        json!(pr.varint()? as i64)
                    };
                    push(out, f.name, v);
                }
            }
            kind => {
                let v = scalar(kind, &mut r, wire, depth)?;
                if f.repeated {
                    push(out, f.name, v);
                } else if !(v.is_null() || v == json!("")) {
                    out.insert(f.name.to_string(), v);
                }
            }
        }
    }
    Ok(std::mem::take(out))
}

fn push(out: &mut Map<String, Value>, name: &str, v: Value) {
    let slot = out.entry(name).or_insert_with(|| json!([]));
    if let Some(a) = slot.as_array_mut() {
        a.push(v);
    }
}

/// Decodes one message of type `name` (fully qualified) into JSON.
pub fn decode_message(name: &str, buf: &[u8], depth: usize) -> Result<Value> {
    let fields = schema(name)?;
    Ok(Value::Object(decode_fields(
        fields,
        buf,
        depth,
        &mut Map::new(),
        false,
    )?))
}

fn package_for(api_version: &str) -> Option<String> {
    let (group, version) = crate::resources::split_api_version(api_version);
    let short = match group {
        "" => "core",
        "batch" => "batch",
        "rbac.authorization.k8s.io" => "rbac",
        "authentication.k8s.io" => "authentication",
        "authorization.k8s.io" => "authorization",
        "policy" => "policy",
        "networking.k8s.io" => "networking",
        "coordination.k8s.io" => "coordination",
        "meta.k8s.io" => return Some(format!("k8s.io.apimachinery.pkg.apis.meta.{version}")),
        _ => return None,
    };
    Some(format!("k8s.io.api.{short}.{version}"))
}

/// Fields whose zero or false value is meaningful (pointers in the Go types); other zero and
/// false values are dropped, as Go's JSON encoding omits them.
const KEEP_ZERO: &[&str] = &[
    "terminationGracePeriodSeconds",
    "backoffLimit",
    "parallelism",
    "completions",
    "activeDeadlineSeconds",
    "automountServiceAccountToken",
    "exitCode",
    "replicas",
    "gracePeriodSeconds",
    "suspend",
    "allowed",
];

fn drop_zeros(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|k, x| {
                KEEP_ZERO.contains(&k.as_str()) || !(*x == json!(0) || *x == json!(false))
            });
            for x in m.values_mut() {
                drop_zeros(x);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(drop_zeros),
        _ => {}
    }
}

/// Decodes a Kubernetes protobuf body (`k8s\0` + runtime.Unknown) into a JSON object with
/// `apiVersion` and `kind`.
pub fn decode(body: &[u8]) -> Result<Value> {
    let rest = body
        .strip_prefix(MAGIC)
        .ok_or_else(|| Error::Malformed("missing k8s protobuf prefix".into()))?;
    let mut r = Reader { buf: rest, pos: 0 };
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), &[][..]);
    while !r.done() {
        let key = r.varint()?;
        match (key >> 3, key & 7) {
            (1, 2) => {
                let mut tr = Reader {
                    buf: r.bytes()?,
                    pos: 0,
                };
                while !tr.done() {
                    let k = tr.varint()?;
                    match (k >> 3, k & 7) {
                        (1, 2) => api_version = string(tr.bytes()?)?,
                        (2, 2) => kind = string(tr.bytes()?)?,
                        (_, w) => tr.skip(w)?,
                    }
                }
            }
            (2, 2) => raw = r.bytes()?,
            (_, w) => r.skip(w)?,
        }
    }
    let package = package_for(&api_version)
        .ok_or_else(|| Error::UnknownType(format!("{api_version}/{kind}")))?;
    let mut v = decode_message(&format!("{package}.{kind}"), raw, 0)?;
    drop_zeros(&mut v);
    v["apiVersion"] = json!(api_version);
    v["kind"] = json!(kind);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(num: u32, wire: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![((num << 3) | u32::from(wire)) as u8];
        if wire == 2 {
            out.push(payload.len() as u8);
        }
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn decodes_a_configmap_envelope() {
        let meta = [field(1, 2, b"cfg"), field(3, 2, b"ns")].concat();
        let entry = [field(1, 2, b"k"), field(2, 2, b"v")].concat();
        let cm = [field(1, 2, &meta), field(2, 2, &entry)].concat();
        let type_meta = [field(1, 2, b"v1"), field(2, 2, b"ConfigMap")].concat();
        let unknown = [field(1, 2, &type_meta), field(2, 2, &cm)].concat();
        let body = [MAGIC, &unknown].concat();
        let v = decode(&body).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            v,
            json!({"metadata": {"name": "cfg", "namespace": "ns"}, "data": {"k": "v"}, "apiVersion": "v1", "kind": "ConfigMap"})
        );
    }

    #[test]
    fn rejects_garbage_without_panicking() {
        for body in [&b""[..], b"k8s\x00\x0a\xff", b"k8s\x00\x12\x05ab", b"nope"] {
            assert!(decode(body).is_err());
        }
    }
}
