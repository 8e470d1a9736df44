//! kubectl's exec credential plugin protocol: `proofkey token --format
//! k8s-exec` prints an `ExecCredential` (Kubernetes
//! `client.authentication.k8s.io`, v1 or v1beta1, as kubectl asks in
//! `KUBERNETES_EXEC_INFO`) with the token and its `expirationTimestamp`,
//! so that kubectl reuses it until then and runs the plugin again after.

use std::time::{Duration, UNIX_EPOCH};

use serde_json::{json, Value};

/// The versions of the exec credential API this plugin answers.
pub const API_VERSIONS: &[&str] = &[
    "client.authentication.k8s.io/v1",
    "client.authentication.k8s.io/v1beta1",
];

/// The `ExecCredential` for `token`, expiring at `expires_at` (Unix
/// seconds), in the API version that `exec_info` (the content of
/// `KUBERNETES_EXEC_INFO`) names; v1 when there is none. An unknown or
/// unreadable version is an error: kubectl would reject the answer.
pub fn exec_credential(
    token: &str,
    expires_at: Option<i64>,
    exec_info: Option<&str>,
) -> Result<Value, String> {
    let version = match exec_info.filter(|s| !s.trim().is_empty()) {
        None => API_VERSIONS[0].to_owned(),
        Some(info) => {
            let info: Value = serde_json::from_str(info)
                .map_err(|e| format!("KUBERNETES_EXEC_INFO is not JSON: {e}"))?;
            let v = info["apiVersion"]
                .as_str()
                .ok_or("KUBERNETES_EXEC_INFO has no apiVersion")?;
            if !API_VERSIONS.contains(&v) {
                return Err(format!(
                    "KUBERNETES_EXEC_INFO asks for {v:?}; this plugin speaks {}",
                    API_VERSIONS.join(", ")
                ));
            }
            v.to_owned()
        }
    };
    let mut status = json!({ "token": token });
    if let Some(exp) = expires_at.and_then(|e| u64::try_from(e).ok()) {
        let at = UNIX_EPOCH + Duration::from_secs(exp);
        status["expirationTimestamp"] = json!(humantime::format_rfc3339_seconds(at).to_string());
    }
    Ok(json!({
        "apiVersion": version,
        "kind": "ExecCredential",
        "status": status,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_in_the_version_kubectl_asks_for() {
        let v1 = exec_credential("tok", Some(1_800_000_000), None).unwrap();
        assert_eq!(
            v1,
            json!({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                   "status": {"token": "tok", "expirationTimestamp": "2027-01-15T08:00:00Z"}})
        );
        let info = r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1beta1","spec":{"interactive":false}}"#;
        let beta = exec_credential("tok", None, Some(info)).unwrap();
        assert_eq!(beta["apiVersion"], "client.authentication.k8s.io/v1beta1");
        assert!(beta["status"].get("expirationTimestamp").is_none());
        for bad in [
            "{",
            "{}",
            r#"{"apiVersion":"client.authentication.k8s.io/v2"}"#,
        ] {
            assert!(exec_credential("tok", None, Some(bad)).is_err(), "{bad}");
        }
    }
}
