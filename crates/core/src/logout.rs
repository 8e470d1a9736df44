//! OpenID Connect RP-Initiated Logout 1.0: the end-session request.

use crate::authorize::{redirect_with, Params};
use crate::{Provider, StoreError};

/// A validated end-session request (§2).
#[derive(Debug, Clone, Default)]
pub struct EndSession {
    /// Where to send the browser afterwards, `state` included (§3). Only a
    /// URI registered for the client identified by the request.
    pub redirect: Option<String>,
    /// `sub` of a valid `id_token_hint`.
    pub hinted_subject: Option<String>,
    /// The client, when identified.
    pub client_name: Option<String>,
}

/// Validates `id_token_hint`, `client_id`, `post_logout_redirect_uri`
/// and `state` (§2, §3). An error is shown to the user, never redirected.
pub async fn end_session_request(p: &Provider, params: &Params) -> Result<EndSession, String> {
    let get = |n: &str| params.get(n);
    let hint = get("id_token_hint")?;
    let client_id = get("client_id")?;
    let post_logout = get("post_logout_redirect_uri")?;
    let state = get("state")?;

    let mut out = EndSession::default();
    let mut audience: Vec<String> = vec![];
    if let Some(hint) = hint {
        // An expired ID token is a fine hint (§2); its signature and
        // issuer must still be ours.
        let (_, claims) = p
            .keys()
            .current()
            .verify_jwt(hint)
            .map_err(|_| "the id_token_hint is not an ID token issued here".to_owned())?;
        if claims["iss"] != p.config().issuer.as_str() {
            return Err("the id_token_hint is not an ID token issued here".into());
        }
        out.hinted_subject = claims["sub"].as_str().map(str::to_owned);
        audience = match &claims["aud"] {
            serde_json::Value::Array(a) => a
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            serde_json::Value::String(s) => vec![s.clone()],
            _ => vec![],
        };
    }
    let client_id = match (client_id, audience.first()) {
        (Some(id), _) if !audience.is_empty() && !audience.iter().any(|a| a == id) => {
            return Err("client_id is not the audience of the id_token_hint".into())
        }
        (Some(id), _) => Some(id.to_owned()),
        (None, Some(aud)) => Some(aud.clone()),
        (None, None) => None,
    };
    let client = match &client_id {
        Some(id) => p
            .clients()
            .get(id)
            .await
            .map_err(|e: StoreError| {
                // The detail is for the log, never for the page.
                tracing::error!(error = %e, "client lookup failed");
                "the server is temporarily unavailable".to_owned()
            })?
            .ok_or_else(|| "the client is not registered here".to_owned())
            .map(Some)?,
        None => None,
    };
    out.client_name = client.as_ref().map(|c| c.name.clone());
    if let Some(uri) = post_logout {
        let Some(client) = &client else {
            return Err(
                "post_logout_redirect_uri needs client_id or id_token_hint to identify the client"
                    .into(),
            );
        };
        if !client.post_logout_redirect_uris.iter().any(|r| r == uri) {
            return Err("the post_logout_redirect_uri is not registered for this client".into());
        }
        // Anyone can register a client (RFC 7591, metadata documents):
        // its redirect is followed only with proof that the user signed
        // in to it, or /logout would be an open redirect.
        if client.registration != crate::model::Registration::Admin && out.hinted_subject.is_none()
        {
            return Err(
                "this client registered itself: its post_logout_redirect_uri is followed only with a valid id_token_hint".into(),
            );
        }
        let extra: Vec<(&str, &str)> = state.map(|s| ("state", s)).into_iter().collect();
        out.redirect = Some(redirect_with(uri, &extra));
    }
    Ok(out)
}
