//! Static checks on the published metadata: RFC 8414 §2/§3.3, OpenID
//! Connect Discovery §3/§4.3, RFC 9207 §3, and the JWKS (RFC 7517).

use serde_json::Value;
use url::Url;

use crate::catalog::{self, Check};
use crate::engine::is_loopback;
use crate::report::{CheckResult, Evidence, Status};

fn strings<'a>(doc: &'a Value, key: &str) -> Option<Vec<&'a str>> {
    doc.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
}

/// The discovery document and where it came from.
#[derive(Debug)]
pub struct Published<'a> {
    /// The issuer the audit was asked about.
    pub issuer: &'a str,
    /// The URL the document was read from.
    pub document_url: &'a str,
    /// The document.
    pub document: &'a Value,
    /// The JWKS, when `jwks_uri` could be read.
    pub jwks: Option<(&'a str, &'a Value)>,
}

/// Runs every static check.
pub fn check(p: &Published<'_>) -> Vec<CheckResult> {
    let doc = p.document;
    let evidence = |key: &str| {
        Some(Evidence {
            endpoint: p.document_url.to_owned(),
            sent: format!("GET {}", p.document_url),
            received: format!(
                "\"{key}\": {}",
                doc.get(key).map_or("(absent)".into(), Value::to_string)
            ),
        })
    };
    let result = |check: &'static Check, found: bool, yes: String, no: String, key: &str| {
        let (status, detail) = if found {
            (Status::Finding, yes)
        } else {
            (Status::Pass, no)
        };
        CheckResult::new(check, status, detail).with(evidence(key))
    };
    let methods = strings(doc, "code_challenge_methods_supported");
    let mut out = Vec::new();

    let s256 = methods.as_ref().is_some_and(|m| m.contains(&"S256"));
    out.push(result(
        &catalog::S256_NOT_ADVERTISED,
        !s256,
        match &methods {
            None => "code_challenge_methods_supported is absent: clients cannot tell whether PKCE is supported".into(),
            Some(m) => format!("code_challenge_methods_supported is {m:?}, without S256"),
        },
        "S256 is advertised".into(),
        "code_challenge_methods_supported",
    ));
    let plain = methods.as_ref().is_some_and(|m| m.contains(&"plain"));
    out.push(result(
        &catalog::PLAIN_ADVERTISED,
        plain,
        "plain is listed in code_challenge_methods_supported".into(),
        "plain is not advertised".into(),
        "code_challenge_methods_supported",
    ));
    let iss = doc
        .get("authorization_response_iss_parameter_supported")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    out.push(result(
        &catalog::ISS_NOT_ADVERTISED,
        !iss,
        "authorization_response_iss_parameter_supported is absent or false".into(),
        "authorization_response_iss_parameter_supported is true".into(),
        "authorization_response_iss_parameter_supported",
    ));

    // The front-channel access token is what RFC 9700 §2.1.2 forbids; an
    // OIDC server may list `implicit` for `id_token` alone, which is not.
    let response_types = strings(doc, "response_types_supported");
    let token_response_types: Vec<&str> = response_types
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|rt| rt.split(' ').any(|t| t == "token"))
        .collect();
    let implicit_grant = strings(doc, "grant_types_supported")
        .unwrap_or_default()
        .contains(&"implicit");
    out.push(if !token_response_types.is_empty() {
        result(
            &catalog::IMPLICIT_GRANT,
            true,
            format!("response_types_supported lists {token_response_types:?}"),
            String::new(),
            "response_types_supported",
        )
    } else if implicit_grant && response_types.is_none() {
        result(
            &catalog::IMPLICIT_GRANT,
            true,
            "grant_types_supported lists implicit, and no response_types_supported says which".into(),
            String::new(),
            "grant_types_supported",
        )
    } else {
        result(
            &catalog::IMPLICIT_GRANT,
            false,
            String::new(),
            if implicit_grant {
                "grant_types_supported lists implicit, but no response type returns an access token (id_token alone is not forbidden)".into()
            } else {
                "no response type returns an access token from the authorization endpoint".into()
            },
            "response_types_supported",
        )
    });
    let password = strings(doc, "grant_types_supported")
        .unwrap_or_default()
        .contains(&"password");
    out.push(result(
        &catalog::PASSWORD_GRANT,
        password,
        "grant_types_supported lists password".into(),
        "the password grant is not offered".into(),
        "grant_types_supported",
    ));

    let published = doc.get("issuer").and_then(Value::as_str).unwrap_or("");
    out.push(result(
        &catalog::ISSUER_MISMATCH,
        published != p.issuer,
        format!(
            "the document says issuer {published:?}, fetched for {:?}",
            p.issuer
        ),
        "the issuer is identical to the one asked for".into(),
        "issuer",
    ));

    out.push(match p.jwks {
        None => CheckResult::new(
            &catalog::JWKS_PRIVATE_KEY,
            Status::Skipped,
            "no JWKS to read (no jwks_uri, or it could not be fetched)",
        ),
        Some((uri, jwks)) => {
            let leaked: Vec<String> = jwks
                .get("keys")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|k| {
                    let private: Vec<&str> = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"]
                        .into_iter()
                        .filter(|m| k.get(*m).is_some())
                        .collect();
                    (!private.is_empty()).then(|| {
                        format!(
                            "key {} has {}",
                            k.get("kid").and_then(Value::as_str).unwrap_or("(no kid)"),
                            private.join(", ")
                        )
                    })
                })
                .collect();
            let ev = Some(Evidence {
                endpoint: uri.to_owned(),
                sent: format!("GET {uri}"),
                received: if leaked.is_empty() {
                    "public members only".into()
                } else {
                    leaked.join("; ")
                },
            });
            if leaked.is_empty() {
                CheckResult::new(
                    &catalog::JWKS_PRIVATE_KEY,
                    Status::Pass,
                    "the JWKS holds public key members only",
                )
                .with(ev)
            } else {
                CheckResult::new(
                    &catalog::JWKS_PRIVATE_KEY,
                    Status::Finding,
                    format!("private key material published: {}", leaked.join("; ")),
                )
                .with(ev)
            }
        }
    });

    let https = Url::parse(p.issuer)
        .map(|u| u.scheme() == "https" || is_loopback(&u))
        .unwrap_or(false);
    out.push(
        CheckResult::new(
            &catalog::ISSUER_NOT_HTTPS,
            if https { Status::Pass } else { Status::Finding },
            if https {
                "https, or a loopback address".to_owned()
            } else {
                format!("{} is plain http on a non-loopback host", p.issuer)
            },
        )
        .with(evidence("issuer")),
    );
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;

    fn run(issuer: &str, doc: Value, jwks: Option<Value>) -> Vec<(&'static str, Status)> {
        let j = jwks.as_ref().map(|j| ("https://as.example/jwks", j));
        check(&Published {
            issuer,
            document_url: "https://as.example/.well-known/openid-configuration",
            document: &doc,
            jwks: j,
        })
        .into_iter()
        .map(|r| (r.id, r.status))
        .collect()
    }

    #[test]
    fn a_good_document_passes_everything() {
        let doc = json!({
            "issuer": "https://as.example",
            "code_challenge_methods_supported": ["S256"],
            "authorization_response_iss_parameter_supported": true,
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
        });
        let jwks = json!({"keys": [{"kty": "RSA", "kid": "a", "n": "x", "e": "AQAB"}]});
        for (id, status) in run("https://as.example", doc, Some(jwks)) {
            assert_eq!(status, Status::Pass, "{id}");
        }
    }

    #[test]
    fn a_weak_document_fires_every_static_check() {
        let doc = json!({
            "issuer": "http://as.example/other",
            "code_challenge_methods_supported": ["plain"],
            "response_types_supported": ["code", "code id_token token"],
            "grant_types_supported": ["authorization_code", "password"],
        });
        let jwks = json!({"keys": [{"kty": "RSA", "kid": "a", "n": "x", "e": "AQAB", "d": "y", "p": "z"}]});
        let got = run("http://as.example", doc, Some(jwks));
        assert_eq!(got.len(), 8);
        for (id, status) in got {
            assert_eq!(status, Status::Finding, "{id}");
        }
    }

    #[test]
    fn loopback_issuers_may_be_http() {
        let doc = json!({"issuer": "http://127.0.0.1:8080"});
        let got = run("http://127.0.0.1:8080", doc, None);
        assert!(got.contains(&("discovery.issuer-not-https", Status::Pass)));
        assert!(got.contains(&("discovery.jwks-private-key", Status::Skipped)));
    }
}
