//! `Status` bodies and HTTP codes for every failure, worded as kube-apiserver words them.

use serde_json::{Value, json};

use crate::resources::{self, ResId};

/// An API failure: becomes an HTTP status code and a `Status` body.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status code.
    pub code: u16,
    /// `reason` (NotFound, AlreadyExists, …).
    pub reason: &'static str,
    /// Human message.
    pub message: String,
    /// `details`, when the failure is about one object.
    pub details: Option<Box<Value>>,
    /// Seconds for a `Retry-After` header.
    pub retry_after: Option<u64>,
}

/// Result alias for API handlers.
pub type Result<T> = std::result::Result<T, ApiError>;

/// `pods` or `jobs.batch`: how kube-apiserver names a resource in messages.
pub fn qualified(res: ResId) -> String {
    let r = resources::get(res);
    if r.group.is_empty() {
        r.plural.to_string()
    } else {
        format!("{}.{}", r.plural, r.group)
    }
}

/// `Pod` or `Job.batch`: how kube-apiserver names a kind in Invalid messages.
pub fn qualified_kind(res: ResId) -> String {
    let r = resources::get(res);
    if r.group.is_empty() {
        r.kind.to_string()
    } else {
        format!("{}.{}", r.kind, r.group)
    }
}

fn details(res: ResId, name: &str) -> Value {
    let r = resources::get(res);
    let mut d = json!({"name": name});
    if !r.group.is_empty() {
        d["group"] = json!(r.group);
    }
    d["kind"] = json!(r.plural);
    d
}

/// One field-level cause of an Invalid error.
#[derive(Debug, Clone, PartialEq)]
pub struct Cause {
    /// FieldValueInvalid, FieldValueRequired, …
    pub reason: &'static str,
    /// The message, starting with what was wrong ("Invalid value: …", "Required value").
    pub message: String,
    /// The field path (`metadata.name`).
    pub field: String,
}

impl Cause {
    /// A FieldValueInvalid cause.
    pub fn invalid(field: &str, value: &str, why: &str) -> Self {
        Cause {
            reason: "FieldValueInvalid",
            message: format!("Invalid value: {}: {why}", json!(value)),
            field: field.into(),
        }
    }

    /// A FieldValueRequired cause.
    pub fn required(field: &str) -> Self {
        Cause {
            reason: "FieldValueRequired",
            message: "Required value".into(),
            field: field.into(),
        }
    }

    /// A FieldValueForbidden cause.
    pub fn forbidden(field: &str, why: &str) -> Self {
        Cause {
            reason: "FieldValueForbidden",
            message: format!("Forbidden: {why}"),
            field: field.into(),
        }
    }

    /// A FieldValueNotSupported cause.
    pub fn not_supported(field: &str, value: &str, supported: &[&str]) -> Self {
        let list: Vec<String> = supported.iter().map(|s| json!(s).to_string()).collect();
        Cause {
            reason: "FieldValueNotSupported",
            message: format!(
                "Unsupported value: {}: supported values: {}",
                json!(value),
                list.join(", ")
            ),
            field: field.into(),
        }
    }
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    /// 404 for an object.
    pub fn not_found(res: ResId, name: &str) -> Self {
        ApiError {
            details: Some(Box::new(details(res, name))),
            ..Self::new(
                404,
                "NotFound",
                format!("{} {} not found", qualified(res), json!(name)),
            )
        }
    }

    /// 404 for a path nothing is served at.
    pub fn no_route() -> Self {
        ApiError {
            details: Some(Box::new(json!({}))),
            ..Self::new(
                404,
                "NotFound",
                "the server could not find the requested resource",
            )
        }
    }

    /// 409 AlreadyExists.
    pub fn already_exists(res: ResId, name: &str) -> Self {
        ApiError {
            details: Some(Box::new(details(res, name))),
            ..Self::new(
                409,
                "AlreadyExists",
                format!("{} {} already exists", qualified(res), json!(name)),
            )
        }
    }

    /// 409 Conflict with the standard optimistic-concurrency message.
    pub fn conflict(res: ResId, name: &str, why: &str) -> Self {
        ApiError {
            details: Some(Box::new(details(res, name))),
            ..Self::new(
                409,
                "Conflict",
                format!(
                    "Operation cannot be fulfilled on {} {}: {why}",
                    qualified(res),
                    json!(name)
                ),
            )
        }
    }

    /// 422 Invalid with causes.
    pub fn invalid(res: ResId, name: &str, causes: Vec<Cause>) -> Self {
        let text: Vec<String> = causes
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect();
        let joined = if text.len() == 1 {
            text[0].clone()
        } else {
            format!("[{}]", text.join(", "))
        };
        let r = resources::get(res);
        let mut d = json!({"name": name});
        if !r.group.is_empty() {
            d["group"] = json!(r.group);
        }
        d["kind"] = json!(r.kind);
        d["causes"] = Value::Array(
            causes
                .iter()
                .map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}))
                .collect(),
        );
        ApiError {
            details: Some(Box::new(d)),
            ..Self::new(
                422,
                "Invalid",
                format!(
                    "{} {} is invalid: {joined}",
                    qualified_kind(res),
                    json!(name)
                ),
            )
        }
    }

    /// 400 BadRequest.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// 401 Unauthorized.
    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized")
    }

    /// 403 Forbidden with a message already worded.
    pub fn forbidden(message: impl Into<String>, details: Option<Value>) -> Self {
        ApiError {
            details: details.map(Box::new),
            ..Self::new(403, "Forbidden", message)
        }
    }

    /// 405 MethodNotAllowed.
    pub fn method_not_allowed() -> Self {
        ApiError {
            details: Some(Box::new(json!({}))),
            ..Self::new(
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
            )
        }
    }

    /// 406 NotAcceptable.
    pub fn not_acceptable(accept: &str) -> Self {
        Self::new(
            406,
            "NotAcceptable",
            format!(
                "only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf; got {accept}"
            ),
        )
    }

    /// 410 Gone (Expired) for a resourceVersion that is too old.
    pub fn expired(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    /// 413 RequestEntityTooLarge.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            413,
            "RequestEntityTooLarge",
            format!("Request entity too large: limit is {limit}"),
        )
    }

    /// 415 UnsupportedMediaType.
    pub fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {content_type:?})"
            ),
        )
    }

    /// 422 Invalid for a JSON patch that does not apply (a failed `test`, a missing path), as
    /// kube-apiserver answers it: the generic message, the patch error as the one cause.
    pub fn patch_failed(why: &str) -> Self {
        ApiError {
            details: Some(Box::new(
                json!({"causes": [{"reason": "UnexpectedServerResponse", "message": why}]}),
            )),
            ..Self::for_code(422, None)
        }
    }

    /// 500 InternalError.
    pub fn internal(message: impl Into<String>) -> Self {
        let m = message.into();
        ApiError {
            details: Some(Box::new(json!({"causes": [{"message": m}]}))),
            ..Self::new(
                500,
                "InternalError",
                format!("Internal error occurred: {m}"),
            )
        }
    }

    /// Any code with the reason kube-apiserver uses for it (for injected faults).
    pub fn for_code(code: u16, message: Option<&str>) -> Self {
        let (reason, default) = match code {
            400 => (
                "BadRequest",
                "the server rejected our request for an unknown reason",
            ),
            401 => ("Unauthorized", "Unauthorized"),
            403 => ("Forbidden", "forbidden"),
            404 => (
                "NotFound",
                "the server could not find the requested resource",
            ),
            409 => ("Conflict", "the server reported a conflict"),
            410 => ("Expired", "the resource version is too old"),
            422 => (
                "Invalid",
                "the server rejected our request due to an error in our request",
            ),
            429 => (
                "TooManyRequests",
                "Too many requests, please try again later.",
            ),
            500 => ("InternalError", "Internal error occurred: injected fault"),
            503 => (
                "ServiceUnavailable",
                "the server is currently unable to handle the request",
            ),
            504 => (
                "Timeout",
                "the server was unable to return a response in the time allotted, but may still be processing the request",
            ),
            _ => ("", "injected fault"),
        };
        Self::new(code, reason, message.unwrap_or(default))
    }

    /// The `Status` object.
    pub fn to_status(&self) -> Value {
        let mut v = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
        });
        if self.reason.is_empty()
            && let Some(m) = v.as_object_mut()
        {
            m.remove("reason");
        }
        let mut details = self.details.as_deref().cloned();
        if let Some(secs) = self.retry_after {
            let d = details.get_or_insert_with(|| json!({}));
            d["retryAfterSeconds"] = json!(secs);
        }
        if let Some(d) = details {
            v["details"] = d;
        }
        v["code"] = json!(self.code);
        v
    }
}

/// A `Status` of success, as returned by deletions that do not return the object.
pub fn success(res: ResId, name: &str, uid: &str) -> Value {
    let mut d = details(res, name);
    d["uid"] = json!(uid);
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": d})
}

impl From<crate::store::Error> for ApiError {
    fn from(e: crate::store::Error) -> Self {
        use crate::store::Error as E;
        match e {
            E::NotFound { res, name } => ApiError::not_found(res, &name),
            E::AlreadyExists { res, name } => ApiError::already_exists(res, &name),
            E::Conflict { res, name } => ApiError::conflict(
                res,
                &name,
                "the object has been modified; please apply your changes to the latest version and try again",
            ),
            E::UidMismatch {
                res,
                name,
                want,
                have,
            } => ApiError::conflict(
                res,
                &name,
                &format!(
                    "Precondition failed: UID in precondition: {want}, UID in object meta: {have}"
                ),
            ),
            E::Expired { asked, oldest } => {
                ApiError::expired(format!("too old resource version: {asked} ({oldest})"))
            }
            E::Serialize(m) => ApiError::internal(m),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::ids::{JOBS, PODS};

    #[test]
    fn messages_match_kube_apiserver() {
        assert_eq!(
            ApiError::not_found(PODS, "x").message,
            "pods \"x\" not found"
        );
        assert_eq!(
            ApiError::already_exists(JOBS, "j").message,
            "jobs.batch \"j\" already exists"
        );
        let e = ApiError::invalid(PODS, "X", vec![Cause::required("spec.containers")]);
        assert_eq!(
            e.message,
            "Pod \"X\" is invalid: spec.containers: Required value"
        );
        let s = e.to_status();
        assert_eq!(s["details"]["causes"][0]["field"], "spec.containers");
        assert_eq!(s["code"], 422);
        let mut t = ApiError::for_code(429, None);
        t.retry_after = Some(2);
        assert_eq!(t.to_status()["details"]["retryAfterSeconds"], 2);
    }
}
