//! Resource indicators (RFC 8707): the protected resources a client asks
//! tokens for, checked against the registered ones, and the audience of
//! the access tokens issued for them.
//!
//! A `resource` is refused with `invalid_target` (RFC 8707 §2) unless it
//! is an absolute URI without a fragment (§2), registered here, and
//! allowed for the client (a client with no resources listed may ask for
//! any registered one). What a grant is given belongs to it: every access
//! token issued under it has one of its resources (or all of them) as
//! `aud` (RFC 9068 §3, RFC 8707 §2.2); a token request may narrow to some
//! of them, never widen (§2.2). Without any `resource`, the configured
//! [`DefaultResource`] applies.

use crate::error::{ErrorCode, OAuthError};
use crate::model::{Client, Resource};
use crate::{scope, Provider};

/// The longest resource indicator accepted, in bytes.
pub const MAX_URI_LEN: usize = 2048;
/// The most resources one request may name.
pub const MAX_PER_REQUEST: usize = 10;

/// What a request without `resource` gets (the `default_resource` setting).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum DefaultResource {
    /// `"issuer"`: tokens for this server itself (`aud` is the issuer; its
    /// UserInfo endpoint accepts them). The default: what clients unaware
    /// of RFC 8707 expect.
    #[default]
    Issuer,
    /// `"required"`: every authorization and token request must name a
    /// resource (`invalid_target` otherwise).
    Required,
    /// A registered resource's URI: tokens for it.
    Uri(String),
}

impl DefaultResource {
    /// From the setting's value.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "issuer" => Ok(Self::Issuer),
            "required" => Ok(Self::Required),
            uri => check_uri(uri)
                .map(|()| Self::Uri(uri.to_owned()))
                .map_err(|e| format!("must be \"issuer\", \"required\" or a resource URI: {e}")),
        }
    }
}

fn target(description: impl Into<String>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidTarget, description)
}

/// RFC 8707 §2: an absolute URI, no fragment, of a bounded length.
pub fn check_uri(uri: &str) -> Result<(), String> {
    if uri.len() > MAX_URI_LEN {
        return Err(format!("a resource is longer than {MAX_URI_LEN} bytes"));
    }
    if uri.contains('#') {
        return Err(format!(
            "resource {uri:?} has a fragment; RFC 8707 §2 forbids one"
        ));
    }
    if uri.contains(' ') {
        return Err(format!("resource {uri:?} contains a space"));
    }
    url::Url::parse(uri).map_err(|e| format!("resource {uri:?} is not an absolute URI: {e}"))?;
    Ok(())
}

/// The `resource` values of a request, in order, without duplicates;
/// `invalid_target` for too many or a malformed one.
pub fn parse_request(values: &[&str]) -> Result<Vec<String>, OAuthError> {
    let mut out: Vec<String> = Vec::new();
    for v in values {
        if v.is_empty() {
            return Err(target("resource is empty"));
        }
        check_uri(v).map_err(target)?;
        if !out.iter().any(|o| o == v) {
            out.push((*v).to_owned());
        }
        if out.len() > MAX_PER_REQUEST {
            return Err(target(format!(
                "a request may name at most {MAX_PER_REQUEST} resources"
            )));
        }
    }
    Ok(out)
}

/// The resources `client` asks for at the authorization, device
/// authorization or `client_credentials` request, checked (RFC 8707 §2):
/// each registered and allowed for the client, and every requested scope
/// that is not an OpenID Connect one understood by one of them (when they
/// list scopes). With none asked for, the configured default. The result
/// is stored with the grant, space-separated.
pub async fn for_new_grant(
    p: &Provider,
    client: &Client,
    values: &[&str],
    scopes: &[String],
) -> Result<String, OAuthError> {
    let mut asked = parse_request(values)?;
    if asked.is_empty() {
        match &p.config().default_resource {
            DefaultResource::Issuer => return Ok(String::new()),
            DefaultResource::Required => {
                return Err(target(
                    "this server requires a resource parameter naming the API the token is for (RFC 8707)",
                ))
            }
            DefaultResource::Uri(uri) => asked.push(uri.clone()),
        }
    }
    let mut understood: Vec<String> = Vec::new();
    let mut any_unscoped = false;
    for uri in &asked {
        let Some(r) = p.store().get_resource(uri).await? else {
            return Err(target(format!("resource {uri:?} is not registered here")));
        };
        if !client.resources.is_empty() && !client.resources.contains(uri) {
            return Err(target(format!(
                "this client may not ask for tokens for resource {uri:?}"
            )));
        }
        any_unscoped |= r.scopes.is_empty();
        understood.extend(r.scopes);
    }
    if !any_unscoped {
        if let Some(s) = scopes
            .iter()
            .find(|s| !scope::OIDC_SCOPES.contains(&s.as_str()) && !understood.contains(s))
        {
            return Err(OAuthError::new(
                ErrorCode::InvalidScope,
                format!("scope {s:?} is not a scope of the requested resource"),
            ));
        }
    }
    Ok(asked.join(" "))
}

/// The audience of an access token issued under a grant holding
/// `granted` (space-separated), for a token request naming `values`
/// (RFC 8707 §2.2): exactly one resource, or `None` (the issuer) when the
/// grant has none. The one named, which must have been granted (a token
/// request may narrow, never widen) and still be registered; or, with none
/// named, the grant's only one. Several named, or several granted and none
/// named, is `invalid_target` (§2.2 lets a server refuse to issue one token
/// for several resources): a token for two resource servers could be
/// replayed by either at the other.
async fn audience(
    p: &Provider,
    granted: &str,
    values: &[&str],
) -> Result<Option<Resource>, OAuthError> {
    let granted: Vec<&str> = granted.split(' ').filter(|s| !s.is_empty()).collect();
    let asked = parse_request(values)?;
    let uri = match (asked.as_slice(), granted.as_slice()) {
        ([], []) => return Ok(None),
        ([], [only]) => (*only).to_owned(),
        ([], _) => {
            return Err(target(
                "several resources were granted: name the one this token is for with resource (RFC 8707 §2.2)",
            ))
        }
        ([one], _) => one.clone(),
        _ => {
            return Err(target(
                "one resource per access token: name one (RFC 8707 §2.2)",
            ))
        }
    };
    if !granted.contains(&uri.as_str()) {
        return Err(target_error_wider(&uri));
    }
    match p.store().get_resource(&uri).await? {
        Some(r) => Ok(Some(r)),
        None => Err(target(format!(
            "resource {uri:?} is no longer registered here"
        ))),
    }
}

fn target_error_wider(uri: &str) -> OAuthError {
    target(format!(
        "resource {uri:?} was not granted; a token request may narrow the resources of the authorization, never widen them (RFC 8707 §2.2)"
    ))
}

/// What an access token is for, at the token endpoint: its `aud` (one
/// resource, see [`audience`]; `None` for the issuer) and its scope, the
/// granted `scope` cut down to what that resource understands (see
/// [`scope_for`]).
pub async fn for_token(
    p: &Provider,
    granted: &str,
    values: &[&str],
    scope: &str,
) -> Result<(Option<String>, String), OAuthError> {
    let resource = audience(p, granted, values).await?;
    let scope = scope_for(resource.as_ref(), scope);
    Ok((resource.map(|r| r.uri), scope))
}

/// The scope of an access token for `resource`: the granted `scope` cut
/// down to what the resource understands (its scopes and OpenID
/// Connect's), when it lists any.
fn scope_for(resource: Option<&Resource>, scope: &str) -> String {
    match resource {
        Some(r) if !r.scopes.is_empty() => scope
            .split(' ')
            .filter(|s| {
                !s.is_empty()
                    && (crate::scope::OIDC_SCOPES.contains(s) || r.scopes.iter().any(|x| x == s))
            })
            .collect::<Vec<_>>()
            .join(" "),
        _ => scope.to_owned(),
    }
}

/// The `resource` values of a request's parameters (RFC 8707 §2: the
/// parameter may be repeated).
pub fn values(params: &crate::authorize::Params) -> Result<Vec<&str>, OAuthError> {
    params
        .get_all("resource")
        .map_err(OAuthError::invalid_request)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_indicators_are_invalid_target() {
        for bad in [
            "https://mcp.example/mcp#frag",
            "/relative",
            "mcp.example",
            "",
            "https://a.example/a b",
        ] {
            let e = parse_request(&[bad]).expect_err(bad);
            assert_eq!(e.code, ErrorCode::InvalidTarget, "{bad}");
        }
        let long = format!("https://a.example/{}", "x".repeat(MAX_URI_LEN));
        assert!(parse_request(&[&long]).is_err());
        let many: Vec<String> = (0..=MAX_PER_REQUEST)
            .map(|i| format!("https://a.example/{i}"))
            .collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert!(parse_request(&many).is_err());
        assert_eq!(
            parse_request(&["https://a.example/", "https://a.example/"]).ok(),
            Some(vec!["https://a.example/".to_owned()])
        );
    }

    #[test]
    fn a_token_s_scope_is_what_its_resource_understands() {
        let r = Resource {
            uri: "https://a.example/mcp".into(),
            name: String::new(),
            scopes: vec!["mcp:tools".into()],
            created_at: 0,
        };
        assert_eq!(
            scope_for(Some(&r), "openid mcp:tools payroll:read offline_access"),
            "openid mcp:tools offline_access"
        );
        let open = Resource {
            scopes: vec![],
            ..r
        };
        assert_eq!(scope_for(Some(&open), "a b"), "a b");
        assert_eq!(scope_for(None, "a b"), "a b");
    }

    #[test]
    fn the_default_setting() {
        assert_eq!(
            DefaultResource::parse("issuer"),
            Ok(DefaultResource::Issuer)
        );
        assert_eq!(
            DefaultResource::parse("required"),
            Ok(DefaultResource::Required)
        );
        assert_eq!(
            DefaultResource::parse("https://a.example/mcp"),
            Ok(DefaultResource::Uri("https://a.example/mcp".into()))
        );
        assert!(DefaultResource::parse("nonsense").is_err());
    }
}
