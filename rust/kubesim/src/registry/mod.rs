//! Writes with kube-apiserver's semantics on top of the store: admission (namespace checks,
//! generateName, defaults, validation), updates that keep status and metadata rules, graceful
//! deletion with finalizers and propagation policies, and the event recorder.

pub mod defaults;
pub mod quota;
pub mod validation;

use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::api::patch;
use crate::api::status::{ApiError, Cause, Result};
use crate::clock;
use crate::cluster::Cluster;
use crate::resources::{self, ResId, ids};
use crate::store::{self, Obj};

/// Options of a create or update.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// `dryRun=All`: validate and return without storing.
    pub dry_run: bool,
    /// `fieldManager`.
    pub field_manager: Option<String>,
    /// The subresource written (`status`), if any.
    pub subresource: Option<String>,
}

/// Who runs a server-side apply.
pub struct Applier<'a> {
    /// `fieldManager`.
    pub manager: &'a str,
    /// Runs before an apply creates its object (kube-apiserver authorizes an apply that creates
    /// as `create` as well as `patch`); its error ends the apply and nothing is created.
    pub authorize_create: &'a dyn Fn() -> Result<()>,
}

/// `propagationPolicy` of a deletion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    /// Delete now; the garbage collector deletes dependents afterwards.
    Background,
    /// Delete dependents first, then the owner.
    Foreground,
    /// Leave dependents, removing their owner references.
    Orphan,
}

/// Options of a deletion.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    /// `gracePeriodSeconds`.
    pub grace: Option<i64>,
    /// `propagationPolicy` (or the legacy orphanDependents).
    pub propagation: Option<Propagation>,
    /// `preconditions.uid`.
    pub uid: Option<String>,
    /// `preconditions.resourceVersion`.
    pub rv: Option<u64>,
    /// `dryRun=All`.
    pub dry_run: bool,
}

/// What a deletion did.
pub enum Deleted {
    /// The object is gone; this is its last state.
    Gone(Arc<Obj>),
    /// The object is being deleted (grace period or finalizers); this is its current state.
    Pending(Arc<Obj>),
}

fn managed_entry(
    manager: &str,
    operation: &str,
    api_version: &str,
    fields: Value,
    sub: Option<&str>,
) -> Value {
    let mut e = json!({
        "manager": manager,
        "operation": operation,
        "apiVersion": api_version,
        "time": clock::now(),
        "fieldsType": "FieldsV1",
        "fieldsV1": fields,
    });
    if let Some(s) = sub {
        e["subresource"] = json!(s);
    }
    e
}

fn strip_status_and_meta_noise(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.as_object_mut() {
        m.shift_remove("status");
        if let Some(meta) = m.get_mut("metadata").and_then(Value::as_object_mut) {
            for k in [
                "resourceVersion",
                "managedFields",
                "generation",
                "uid",
                "creationTimestamp",
            ] {
                meta.shift_remove(k);
            }
        }
    }
    v
}

/// Records `manager` as having written the fields of `written` with `operation`.
fn record_manager(
    obj: &mut Value,
    manager: &str,
    operation: &str,
    written: &Value,
    sub: Option<&str>,
) {
    let api_version = obj["apiVersion"].as_str().unwrap_or("v1").to_string();
    let fields = patch::fields_v1(&strip_status_and_meta_noise(written));
    let meta = &mut obj["metadata"];
    if !meta["managedFields"].is_array() {
        meta["managedFields"] = json!([]);
    }
    if let Some(list) = meta["managedFields"].as_array_mut() {
        list.retain(|e| {
            !(e["manager"] == manager
                && e["operation"] == operation
                && e["subresource"].as_str() == sub)
        });
        list.push(managed_entry(manager, operation, &api_version, fields, sub));
    }
}

fn finalizers(v: &Value) -> Vec<String> {
    v["metadata"]["finalizers"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn pod_immutable_view(spec: &Value) -> Value {
    let mut s = spec.clone();
    for list in ["containers", "initContainers"] {
        if let Some(cs) = s[list].as_array_mut() {
            for c in cs {
                if let Some(m) = c.as_object_mut() {
                    m.shift_remove("image");
                }
            }
        }
    }
    if let Some(m) = s.as_object_mut() {
        for k in [
            "activeDeadlineSeconds",
            "tolerations",
            "schedulingGates",
            "terminationGracePeriodSeconds",
        ] {
            m.shift_remove(k);
        }
    }
    s
}

impl Cluster {
    fn check_namespace(&self, res: ResId, ns: &str, creating: bool) -> Result<()> {
        if !resources::get(res).namespaced {
            return Ok(());
        }
        match self.store.get(ids::NAMESPACES, "", ns) {
            None => Err(ApiError::not_found(ids::NAMESPACES, ns)),
            Some(n) if creating && n.deleting && res != ids::EVENTS => Err(ApiError::forbidden(
                format!(
                    "{} {} is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                    crate::api::status::qualified(res),
                    json!(n.name)
                ),
                Some(
                    json!({"name": "", "kind": resources::get(res).plural, "causes": [{"reason": "NamespaceTerminating", "message": format!("namespace {ns} is being terminated"), "field": "metadata.namespace"}]}),
                ),
            )),
            Some(_) => Ok(()),
        }
    }

    /// Creates an object in namespace `ns` (ignored for cluster-scoped types) with admission.
    pub fn create_object(
        &self,
        res: ResId,
        ns: &str,
        mut body: Value,
        opts: &WriteOptions,
    ) -> Result<Arc<Obj>> {
        let rt = resources::get(res);
        if !body.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request must be an object",
            ));
        }
        let api_version = rt.api_version();
        match body["kind"].as_str() {
            Some(k) if !k.is_empty() && k != rt.kind => {
                return Err(ApiError::bad_request(format!(
                    "the API version in the data ({}) does not match the expected API version ({api_version})",
                    body["apiVersion"].as_str().unwrap_or_default()
                ))
                .with_kind_mismatch(k, rt.kind));
            }
            _ => {}
        }
        body["apiVersion"] = json!(api_version);
        body["kind"] = json!(rt.kind);
        if !body["metadata"].is_object() {
            body["metadata"] = Value::Object(Map::new());
        }
        let meta = &mut body["metadata"];
        if rt.namespaced {
            match meta["namespace"].as_str() {
                Some(n) if !n.is_empty() && n != ns => {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                }
                _ => meta["namespace"] = json!(ns),
            }
        } else if let Some(m) = meta.as_object_mut() {
            m.shift_remove("namespace");
        }
        if meta["name"].as_str().unwrap_or_default().is_empty()
            && let Some(prefix) = meta["generateName"].as_str().filter(|p| !p.is_empty())
        {
            let base: String = prefix.chars().take(58).collect();
            meta["name"] = json!(format!("{base}{}", defaults::random_suffix(5)));
        }
        self.check_namespace(res, ns, true)?;
        let uid = uuid::Uuid::new_v4().to_string();
        let meta = &mut body["metadata"];
        for k in [
            "resourceVersion",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
        ] {
            if let Some(m) = meta.as_object_mut() {
                m.shift_remove(k);
            }
        }
        meta["uid"] = json!(uid);
        meta["creationTimestamp"] = json!(clock::now());
        if defaults::has_generation(res) {
            meta["generation"] = json!(1);
        }
        let name = meta["name"].as_str().unwrap_or_default().to_string();
        let causes = validation::validate(res, &body);
        if !causes.is_empty() {
            return Err(ApiError::invalid(res, &name, causes));
        }
        let written = body.clone();
        if res == ids::PODS {
            quota::apply_limit_ranges(&self.store, ns, &name, &mut body)?;
        }
        defaults::on_create(res, &mut body, &uid, || self.addresses.lock().service_ip());
        let _admission = (res == ids::PODS).then(quota::admission_lock);
        if res == ids::PODS {
            quota::admit_pod(&self.store, ns, &name, &body)?;
        }
        if let Some(manager) = &opts.field_manager
            && body["metadata"]["managedFields"].is_null()
        {
            record_manager(&mut body, manager, "Update", &written, None);
        }
        if opts.dry_run {
            if self.store.get(res, ns, &name).is_some() {
                return Err(ApiError::already_exists(res, &name));
            }
            let rv = self.store.rv();
            return store::make_obj(res, &body, rv)
                .map(Arc::new)
                .map_err(ApiError::from);
        }
        Ok(self.store.create(res, body)?)
    }

    /// Replaces an object (or its `status` subresource) with `body`; the body's
    /// resourceVersion, when set, must be current.
    pub fn update_object(
        &self,
        res: ResId,
        ns: &str,
        name: &str,
        mut body: Value,
        opts: &WriteOptions,
    ) -> Result<Arc<Obj>> {
        let rt = resources::get(res);
        if !body.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request must be an object",
            ));
        }
        let body_name = body["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if !body_name.is_empty() && body_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        if rt.namespaced
            && let Some(bns) = body["metadata"]["namespace"].as_str()
            && !bns.is_empty()
            && bns != ns
        {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        let expect_rv = match body["metadata"]["resourceVersion"].as_str() {
            Some(s) if !s.is_empty() => Some(s.parse::<u64>().map_err(|_| {
                ApiError::invalid(
                    res,
                    name,
                    vec![Cause::invalid(
                        "metadata.resourceVersion",
                        s,
                        "must be a valid resource version",
                    )],
                )
            })?),
            _ => None,
        };
        let Some(old_obj) = self.store.get(res, ns, name) else {
            return Err(ApiError::not_found(res, name));
        };
        if let Some(want) = expect_rv
            && want != old_obj.rv
        {
            return Err(ApiError::from(store::Error::Conflict {
                res,
                name: name.into(),
            }));
        }
        let old = old_obj.value();
        let sub = opts.subresource.as_deref();
        let written = body.clone();
        let mut new = if sub == Some("status") {
            let mut n = old.clone();
            n["status"] = body.get("status").cloned().unwrap_or(Value::Null);
            n
        } else {
            body["apiVersion"] = json!(rt.api_version());
            body["kind"] = json!(rt.kind);
            if defaults::has_status_subresource(res) {
                match old.get("status") {
                    Some(s) => body["status"] = s.clone(),
                    None => {
                        if let Some(m) = body.as_object_mut() {
                            m.shift_remove("status");
                        }
                    }
                }
            }
            body
        };
        // Metadata that only the server sets.
        {
            let om = &old["metadata"];
            let nm = &mut new["metadata"];
            if !nm.is_object() {
                *nm = Value::Object(Map::new());
            }
            nm["name"] = json!(name);
            if rt.namespaced {
                nm["namespace"] = json!(ns);
            }
            for k in [
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
                "generateName",
            ] {
                match om.get(k) {
                    Some(v) => nm[k] = v.clone(),
                    None => {
                        if let Some(m) = nm.as_object_mut() {
                            m.shift_remove(k);
                        }
                    }
                }
            }
            if nm["managedFields"].is_null() && !om["managedFields"].is_null() {
                nm["managedFields"] = om["managedFields"].clone();
            }
        }
        if old_obj.deleting {
            let before = finalizers(&old);
            if finalizers(&new).iter().any(|f| !before.contains(f)) {
                return Err(ApiError::invalid(
                    res,
                    name,
                    vec![Cause::forbidden(
                        "metadata.finalizers",
                        "no new finalizers can be added if the object is being deleted",
                    )],
                ));
            }
        }
        if res == ids::PODS
            && sub.is_none()
            && pod_immutable_view(&new["spec"]) != pod_immutable_view(&old["spec"])
        {
            return Err(ApiError::invalid(
                res,
                name,
                vec![Cause::forbidden(
                    "spec",
                    "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
                )],
            ));
        }
        if res == ids::NAMESPACES {
            new["status"] = old["status"].clone();
            if sub != Some("finalize") {
                new["spec"] = old["spec"].clone();
            }
        }
        if defaults::has_generation(res) && sub.is_none() && new.get("spec") != old.get("spec") {
            let g = old["metadata"]["generation"].as_i64().unwrap_or(1);
            new["metadata"]["generation"] = json!(g + 1);
        }
        let causes = validation::validate(res, &new);
        if !causes.is_empty() {
            return Err(ApiError::invalid(res, name, causes));
        }
        let managed_fields_edited =
            new["metadata"]["managedFields"] != old["metadata"]["managedFields"];
        if let Some(manager) = &opts.field_manager
            && written != old
            && !managed_fields_edited
        {
            record_manager(&mut new, manager, "Update", &written, sub);
        }
        if new == old {
            return Ok(old_obj);
        }
        if opts.dry_run {
            return store::make_obj(res, &new, old_obj.rv)
                .map(Arc::new)
                .map_err(ApiError::from);
        }
        let obj = self.store.update(res, new, Some(old_obj.rv))?;
        self.finish_if_released(&obj)
    }

    /// Applies a server-side apply configuration for `applier.manager`.
    pub fn apply_object(
        &self,
        res: ResId,
        ns: &str,
        name: &str,
        applied: Value,
        applier: &Applier<'_>,
        opts: &WriteOptions,
    ) -> Result<Arc<Obj>> {
        let manager = applier.manager;
        if !applied.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request must be an object",
            ));
        }
        let an = applied["metadata"]["name"].as_str().unwrap_or_default();
        if !an.is_empty() && an != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({an}) does not match the name on the URL ({name})"
            )));
        }
        let sub = opts.subresource.as_deref();
        for _ in 0..16 {
            let Some(cur) = self.store.get(res, ns, name) else {
                (applier.authorize_create)()?;
                let mut body = applied.clone();
                body["metadata"]["name"] = json!(name);
                let mut created = body.clone();
                let uid = uuid::Uuid::new_v4().to_string();
                let _ = uid;
                record_manager(&mut created, manager, "Apply", &applied, sub);
                let managed = created["metadata"]["managedFields"].clone();
                body["metadata"]["managedFields"] = managed;
                return self.create_object(
                    res,
                    ns,
                    body,
                    &WriteOptions {
                        field_manager: None,
                        ..opts.clone()
                    },
                );
            };
            let mut live = cur.value();
            let old_owned = live["metadata"]["managedFields"]
                .as_array()
                .and_then(|l| {
                    l.iter().find(|e| {
                        e["manager"] == manager
                            && e["operation"] == "Apply"
                            && e["subresource"].as_str() == sub
                    })
                })
                .map(|e| e["fieldsV1"].clone());
            let new_owned = patch::fields_v1(&strip_status_and_meta_noise(&applied));
            if let Some(old_owned) = &old_owned {
                let mut others = json!({});
                for e in live["metadata"]["managedFields"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    let mine = e["manager"] == manager
                        && e["operation"] == "Apply"
                        && e["subresource"].as_str() == sub;
                    if !mine && e["subresource"].as_str() == sub {
                        patch::union_fields(&mut others, &e["fieldsV1"]);
                    }
                }
                remove_unapplied_target(&mut live, old_owned, &new_owned, &others, sub);
            }
            let mut merge = applied.clone();
            if let Some(m) = merge.get_mut("metadata").and_then(Value::as_object_mut) {
                m.shift_remove("resourceVersion");
                m.shift_remove("managedFields");
            }
            if sub == Some("status") {
                let st = merge.get("status").cloned().unwrap_or(Value::Null);
                patch::strategic_merge(&mut live["status"], &st)
                    .map_err(|e| ApiError::bad_request(e.to_string()))?;
            } else {
                patch::strategic_merge(&mut live, &merge)
                    .map_err(|e| ApiError::bad_request(e.to_string()))?;
            }
            record_manager(&mut live, manager, "Apply", &applied, sub);
            live["metadata"]["resourceVersion"] = json!(cur.rv.to_string());
            match self.update_object(
                res,
                ns,
                name,
                live,
                &WriteOptions {
                    field_manager: None,
                    ..opts.clone()
                },
            ) {
                Err(e) if e.code == 409 && e.reason == "Conflict" => continue,
                other => return other,
            }
        }
        Err(ApiError::conflict(res, name, "too many concurrent updates"))
    }

    /// Read-modify-write for controllers: `f` edits the object and returns whether it changed.
    /// Retries on conflicts; returns `None` when the object does not exist or `f` changed nothing.
    pub fn modify(
        &self,
        res: ResId,
        ns: &str,
        name: &str,
        mut f: impl FnMut(&mut Value) -> bool,
    ) -> Option<Arc<Obj>> {
        for _ in 0..32 {
            let cur = self.store.get(res, ns, name)?;
            let mut v = cur.value();
            if !f(&mut v) {
                return None;
            }
            match self.store.update(res, v, Some(cur.rv)) {
                Ok(obj) => return self.finish_if_released(&obj).ok(),
                Err(store::Error::Conflict { .. }) => continue,
                Err(_) => return None,
            }
        }
        None
    }

    /// Removes an object under deletion once nothing holds it (no finalizers, no grace left).
    fn finish_if_released(&self, obj: &Arc<Obj>) -> Result<Arc<Obj>> {
        if !obj.deleting {
            return Ok(obj.clone());
        }
        let v = obj.value();
        let grace = v["metadata"]["deletionGracePeriodSeconds"]
            .as_i64()
            .unwrap_or(0);
        let ns_pending = obj.res == ids::NAMESPACES
            && v["spec"]["finalizers"]
                .as_array()
                .is_some_and(|a| !a.is_empty());
        if finalizers(&v).is_empty() && grace == 0 && !ns_pending {
            match self
                .store
                .delete(obj.res, &obj.ns, &obj.name, None, Some(&obj.uid))
            {
                Ok(gone) => return Ok(gone),
                Err(store::Error::NotFound { .. }) => return Ok(obj.clone()),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(obj.clone())
    }

    /// Deletes an object with graceful deletion, finalizers and a propagation policy.
    pub fn delete_object(
        &self,
        res: ResId,
        ns: &str,
        name: &str,
        opts: &DeleteOptions,
    ) -> Result<Deleted> {
        for _ in 0..32 {
            let Some(cur) = self.store.get(res, ns, name) else {
                return Err(ApiError::not_found(res, name));
            };
            if let Some(uid) = &opts.uid
                && *uid != cur.uid
            {
                return Err(store::Error::UidMismatch {
                    res,
                    name: name.into(),
                    want: uid.clone(),
                    have: cur.uid.clone(),
                }
                .into());
            }
            if let Some(rv) = opts.rv
                && rv != cur.rv
            {
                return Err(ApiError::conflict(
                    res,
                    name,
                    &format!(
                        "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                        cur.rv
                    ),
                ));
            }
            let mut v = cur.value();
            let default_propagation = if res == ids::JOBS {
                Propagation::Orphan
            } else {
                Propagation::Background
            };
            let propagation = opts.propagation.unwrap_or(default_propagation);
            let mut fins = finalizers(&v);
            let has_dependents = !self.store.dependents(&cur.uid).is_empty();
            match propagation {
                Propagation::Foreground
                    if (has_dependents || cur.deleting)
                        && !fins.iter().any(|f| f == "foregroundDeletion") =>
                {
                    fins.push("foregroundDeletion".into());
                }
                Propagation::Orphan if has_dependents && !fins.iter().any(|f| f == "orphan") => {
                    fins.push("orphan".into());
                }
                _ => {}
            }
            let grace = if res == ids::PODS {
                let phase = v["status"]["phase"].as_str().unwrap_or_default();
                let unscheduled = v["spec"]["nodeName"]
                    .as_str()
                    .unwrap_or_default()
                    .is_empty();
                if unscheduled || phase == "Succeeded" || phase == "Failed" {
                    0
                } else {
                    opts.grace
                        .unwrap_or_else(|| {
                            v["spec"]["terminationGracePeriodSeconds"]
                                .as_i64()
                                .unwrap_or(30)
                        })
                        .max(0)
                }
            } else {
                0
            };
            let ns_pending = res == ids::NAMESPACES;
            if opts.dry_run {
                return Ok(if fins.is_empty() && grace == 0 && !ns_pending {
                    Deleted::Gone(cur)
                } else {
                    Deleted::Pending(cur)
                });
            }
            if fins.is_empty() && grace == 0 && !ns_pending && !cur.deleting {
                return match self.store.delete(res, ns, name, Some(cur.rv), None) {
                    Ok(o) => Ok(Deleted::Gone(o)),
                    Err(store::Error::Conflict { .. }) => continue,
                    Err(e) => Err(e.into()),
                };
            }
            let meta = &mut v["metadata"];
            let mut changed = false;
            if cur.deleting {
                let cur_grace = meta["deletionGracePeriodSeconds"].as_i64().unwrap_or(0);
                if grace < cur_grace {
                    meta["deletionGracePeriodSeconds"] = json!(grace);
                    changed = true;
                }
            } else {
                let at = chrono::Utc::now() + chrono::Duration::seconds(grace);
                meta["deletionTimestamp"] = json!(clock::format(at));
                meta["deletionGracePeriodSeconds"] = json!(grace);
                changed = true;
            }
            if finalizers(&v) != fins {
                v["metadata"]["finalizers"] = json!(fins);
                changed = true;
            }
            if res == ids::NAMESPACES && v["status"]["phase"] != "Terminating" {
                v["status"]["phase"] = json!("Terminating");
                changed = true;
            }
            if !changed {
                return Ok(Deleted::Pending(cur));
            }
            match self.store.update(res, v, Some(cur.rv)) {
                Ok(obj) => {
                    let after = self.finish_if_released(&obj)?;
                    return Ok(
                        if after.rv != obj.rv || self.store.get(res, ns, name).is_none() {
                            Deleted::Gone(after)
                        } else {
                            Deleted::Pending(after)
                        },
                    );
                }
                Err(store::Error::Conflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ApiError::conflict(res, name, "too many concurrent updates"))
    }

    /// Records a core/v1 Event about `involved`, aggregating repeats into `count`.
    pub fn record_event(
        &self,
        involved: &Value,
        field_path: Option<&str>,
        ty: &str,
        reason: &str,
        message: &str,
        source: (&str, &str),
    ) {
        let (component, host) = source;
        let meta = &involved["metadata"];
        let ns = meta["namespace"]
            .as_str()
            .filter(|s| !s.is_empty())
            .unwrap_or("default")
            .to_string();
        let uid = meta["uid"].as_str().unwrap_or_default().to_string();
        let key = (uid.clone(), reason.to_string(), message.to_string());
        let now = clock::now();
        let existing = self.event_keys.lock().get(&key).cloned();
        if let Some(name) = existing
            && self
                .modify(ids::EVENTS, &ns, &name, |e| {
                    let c = e["count"].as_i64().unwrap_or(1);
                    e["count"] = json!(c + 1);
                    e["lastTimestamp"] = json!(now);
                    true
                })
                .is_some()
        {
            return;
        }
        let obj_name = meta["name"].as_str().unwrap_or_default();
        let name = format!(
            "{obj_name}.{:x}{:04x}",
            chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0),
            self.next_seq() & 0xffff
        );
        let mut involved_ref = json!({
            "kind": involved["kind"],
            "namespace": meta["namespace"],
            "name": obj_name,
            "uid": uid,
            "apiVersion": involved["apiVersion"],
            "resourceVersion": meta["resourceVersion"],
        });
        if meta["namespace"].is_null()
            && let Some(m) = involved_ref.as_object_mut()
        {
            m.shift_remove("namespace");
        }
        if let Some(fp) = field_path {
            involved_ref["fieldPath"] = json!(fp);
        }
        let mut source = json!({"component": component});
        if !host.is_empty() {
            source["host"] = json!(host);
        }
        let ev = json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": ns},
            "involvedObject": involved_ref,
            "reason": reason,
            "message": message,
            "source": source,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "type": ty,
            "eventTime": null,
            "reportingComponent": component,
            "reportingInstance": host,
        });
        if self
            .create_object(ids::EVENTS, &ns, ev, &WriteOptions::default())
            .is_ok()
        {
            let mut keys = self.event_keys.lock();
            if keys.len() > 4096 {
                keys.clear();
            }
            keys.insert(key, name);
        }
    }
}

fn remove_unapplied_target(
    live: &mut Value,
    old_owned: &Value,
    new_owned: &Value,
    others: &Value,
    sub: Option<&str>,
) {
    if sub == Some("status") {
        if let Some(o) = old_owned.get("f:status") {
            let empty = json!({});
            let n = new_owned.get("f:status").unwrap_or(&empty);
            let others = others.get("f:status").unwrap_or(&empty);
            patch::remove_unapplied(&mut live["status"], o, n, others);
        }
    } else {
        patch::remove_unapplied(live, old_owned, new_owned, others);
    }
}

impl ApiError {
    /// Rewords a kind mismatch the way kube-apiserver does.
    fn with_kind_mismatch(mut self, got: &str, want: &str) -> Self {
        self.message =
            format!("the kind in the data ({got}) does not match the expected kind ({want})");
        self
    }
}
