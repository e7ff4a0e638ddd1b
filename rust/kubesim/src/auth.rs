//! Authentication: the admin bearer token from the kubeconfig and signed ServiceAccount tokens
//! (JWT-shaped, verified with a per-cluster secret that `--state-dir` keeps across restarts).

use std::hash::{Hash, Hasher};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

/// Who made a request.
#[derive(Debug, Clone, PartialEq)]
pub struct UserInfo {
    /// `kubesim-admin` or `system:serviceaccount:NS:NAME`.
    pub username: String,
    /// Groups, `system:authenticated` included.
    pub groups: Vec<String>,
    /// The ServiceAccount uid, for SA tokens.
    pub uid: String,
}

impl UserInfo {
    /// The administrator (member of `system:masters`).
    pub fn admin() -> Self {
        UserInfo {
            username: "kubesim-admin".into(),
            groups: vec!["system:masters".into(), "system:authenticated".into()],
            uid: String::new(),
        }
    }

    /// Whether RBAC is bypassed for this user.
    pub fn is_admin(&self) -> bool {
        self.groups.iter().any(|g| g == "system:masters")
    }
}

/// Token issuing and checking.
pub struct Tokens {
    admin: String,
    secret: String,
}

fn sign(secret: &str, payload: &str) -> String {
    let mut out = Vec::with_capacity(32);
    for salt in 0u8..4 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        salt.hash(&mut h);
        secret.hash(&mut h);
        payload.hash(&mut h);
        out.extend_from_slice(&h.finish().to_be_bytes());
    }
    URL_SAFE_NO_PAD.encode(out)
}

/// A random hex string of `bytes` random bytes.
pub fn random_hex(bytes: usize) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..bytes)
        .map(|_| format!("{:02x}", rng.random::<u8>()))
        .collect()
}

impl Tokens {
    /// Tokens with this admin token and signing secret.
    pub fn new(admin: String, secret: String) -> Self {
        Tokens { admin, secret }
    }

    /// The admin token.
    pub fn admin_token(&self) -> &str {
        &self.admin
    }

    /// Issues a token for a ServiceAccount valid for `seconds`; returns it and its expiry (unix).
    pub fn issue(
        &self,
        ns: &str,
        sa: &str,
        sa_uid: &str,
        seconds: i64,
        audiences: &[String],
        bound_pod: Option<(&str, &str)>,
    ) -> (String, i64) {
        let now = chrono::Utc::now().timestamp();
        let exp = now + seconds;
        let header = URL_SAFE_NO_PAD.encode(json!({"alg": "RS256", "kid": "kubesim"}).to_string());
        let mut k8s = json!({"namespace": ns, "serviceaccount": {"name": sa, "uid": sa_uid}});
        if let Some((pod, uid)) = bound_pod {
            k8s["pod"] = json!({"name": pod, "uid": uid});
        }
        let aud: Vec<String> = if audiences.is_empty() {
            vec!["https://kubernetes.default.svc.cluster.local".into()]
        } else {
            audiences.to_vec()
        };
        let claims = json!({
            "aud": aud,
            "exp": exp,
            "iat": now,
            "nbf": now,
            "iss": "https://kubernetes.default.svc.cluster.local",
            "jti": random_hex(8),
            "kubernetes.io": k8s,
            "sub": format!("system:serviceaccount:{ns}:{sa}"),
        });
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        let unsigned = format!("{header}.{payload}");
        let sig = sign(&self.secret, &unsigned);
        (format!("{unsigned}.{sig}"), exp)
    }

    /// Checks a ServiceAccount token; returns (namespace, name, uid) when it is valid and unexpired.
    pub fn verify_sa(&self, token: &str) -> Option<(String, String, String)> {
        let (unsigned, sig) = token.rsplit_once('.')?;
        if sign(&self.secret, unsigned) != sig {
            return None;
        }
        let payload = unsigned.split('.').nth(1)?;
        let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        if claims["exp"].as_i64()? < chrono::Utc::now().timestamp() {
            return None;
        }
        let k = &claims["kubernetes.io"];
        Some((
            k["namespace"].as_str()?.to_string(),
            k["serviceaccount"]["name"].as_str()?.to_string(),
            k["serviceaccount"]["uid"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        ))
    }

    /// Authenticates an `Authorization` header value. `None` means 401.
    pub fn authenticate(&self, header: Option<&str>) -> Option<UserInfo> {
        let token = header?
            .strip_prefix("Bearer ")
            .or_else(|| header?.strip_prefix("bearer "))?
            .trim();
        if token == self.admin {
            return Some(UserInfo::admin());
        }
        let (ns, name, uid) = self.verify_sa(token)?;
        Some(UserInfo {
            username: format!("system:serviceaccount:{ns}:{name}"),
            groups: vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{ns}"),
                "system:authenticated".into(),
            ],
            uid,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_and_sa_tokens() {
        let t = Tokens::new("admin".into(), "secret".into());
        assert!(
            t.authenticate(Some("Bearer admin"))
                .is_some_and(|u| u.is_admin())
        );
        assert!(t.authenticate(Some("Bearer nope")).is_none());
        assert!(t.authenticate(None).is_none());
        let (tok, _) = t.issue("ns", "sa", "uid", 600, &[], None);
        let u = t
            .authenticate(Some(&format!("Bearer {tok}")))
            .unwrap_or_else(UserInfo::admin);
        assert_eq!(u.username, "system:serviceaccount:ns:sa");
        assert!(!u.is_admin());
        let other = Tokens::new("admin".into(), "other".into());
        assert!(other.verify_sa(&tok).is_none());
        let (expired, _) = t.issue("ns", "sa", "uid", -10, &[], None);
        assert!(t.verify_sa(&expired).is_none());
    }
}
