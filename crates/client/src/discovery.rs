//! Authorization server metadata: OIDC Discovery 1.0 §4, falling back to
//! RFC 8414 §3.

use serde::Deserialize;

use crate::ClientError;

/// The metadata the client uses.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct Metadata {
    /// `issuer`.
    pub issuer: String,
    /// `authorization_endpoint`.
    pub authorization_endpoint: Option<String>,
    /// `token_endpoint`.
    pub token_endpoint: String,
    /// `jwks_uri`.
    pub jwks_uri: Option<String>,
    /// `revocation_endpoint`.
    pub revocation_endpoint: Option<String>,
    /// `userinfo_endpoint` (OIDC Discovery §3).
    #[serde(default)]
    pub userinfo_endpoint: Option<String>,
    /// `device_authorization_endpoint`.
    pub device_authorization_endpoint: Option<String>,
    /// `code_challenge_methods_supported`.
    #[serde(default)]
    pub code_challenge_methods_supported: Vec<String>,
    /// `authorization_response_iss_parameter_supported` (RFC 9207).
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
    /// `pushed_authorization_request_endpoint` (RFC 9126 §5).
    #[serde(default)]
    pub pushed_authorization_request_endpoint: Option<String>,
    /// `dpop_signing_alg_values_supported` (RFC 9449 §5.1).
    #[serde(default)]
    pub dpop_signing_alg_values_supported: Vec<String>,
}

impl Metadata {
    /// Whether S256 is advertised. PKCE is used regardless; this only
    /// decides whether to warn.
    pub fn advertises_s256(&self) -> bool {
        self.code_challenge_methods_supported
            .iter()
            .any(|m| m == "S256")
    }

    /// Whether the server takes DPoP proofs made by this library's keys
    /// (ES256, RFC 9449 §5.1).
    pub fn supports_dpop(&self) -> bool {
        self.dpop_signing_alg_values_supported
            .iter()
            .any(|a| a == "ES256")
    }

    /// The warning to show when the server does not advertise S256 (the
    /// client sends PKCE S256 anyway; a server that ignores it is weaker,
    /// not broken).
    pub fn pkce_warning(&self) -> Option<String> {
        (!self.advertises_s256()).then(|| {
            format!(
                "warning: {} does not advertise PKCE S256 (code_challenge_methods_supported); sending it anyway",
                self.issuer
            )
        })
    }
}

/// The well-known URLs to try for `issuer`, in order: OIDC Discovery
/// (`{issuer}/.well-known/openid-configuration`), then RFC 8414
/// (`{origin}/.well-known/oauth-authorization-server{path}`).
pub fn well_known_urls(issuer: &str) -> Result<Vec<String>, ClientError> {
    let url = url::Url::parse(issuer).map_err(|e| ClientError::Discovery {
        issuer: issuer.to_owned(),
        reason: format!("not a URL: {e}"),
    })?;
    let trimmed = issuer.trim_end_matches('/');
    let path = url.path().trim_end_matches('/');
    let origin = url.origin().ascii_serialization();
    Ok(vec![
        format!("{trimmed}/.well-known/openid-configuration"),
        format!("{origin}/.well-known/oauth-authorization-server{path}"),
    ])
}

/// Fetches and checks the metadata of `issuer`.
pub async fn discover(http: &reqwest::Client, issuer: &str) -> Result<Metadata, ClientError> {
    let issuer = issuer.trim_end_matches('/');
    let mut reasons = vec![];
    for url in well_known_urls(issuer)? {
        let resp = match http.get(&url).send().await {
            Ok(r) => r,
            Err(e) => {
                reasons.push(format!("{url}: {e}"));
                continue;
            }
        };
        if !resp.status().is_success() {
            reasons.push(format!("{url}: HTTP {}", resp.status()));
            continue;
        }
        let meta: Metadata = match resp.json().await {
            Ok(m) => m,
            Err(e) => {
                reasons.push(format!("{url}: not metadata: {e}"));
                continue;
            }
        };
        if meta.issuer.trim_end_matches('/') != issuer {
            return Err(ClientError::IssuerMismatch {
                asked: issuer.to_owned(),
                got: meta.issuer,
            });
        }
        return Ok(meta);
    }
    Err(ClientError::Discovery {
        issuer: issuer.to_owned(),
        reason: reasons.join("; "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warns_when_s256_is_not_advertised() {
        let mut m: Metadata = serde_json::from_value(serde_json::json!({
            "issuer": "https://a.example", "token_endpoint": "https://a.example/token"
        }))
        .unwrap();
        assert!(m
            .pkce_warning()
            .unwrap()
            .contains("does not advertise PKCE S256"));
        m.code_challenge_methods_supported = vec!["plain".into()];
        assert!(m.pkce_warning().is_some());
        m.code_challenge_methods_supported = vec!["S256".into()];
        assert!(m.pkce_warning().is_none());
    }

    #[test]
    fn well_known_urls_follow_both_specs() {
        assert_eq!(
            well_known_urls("https://a.example").unwrap(),
            [
                "https://a.example/.well-known/openid-configuration",
                "https://a.example/.well-known/oauth-authorization-server"
            ]
        );
        assert_eq!(
            well_known_urls("https://a.example/tenant/1").unwrap(),
            [
                "https://a.example/tenant/1/.well-known/openid-configuration",
                "https://a.example/.well-known/oauth-authorization-server/tenant/1"
            ]
        );
    }
}
