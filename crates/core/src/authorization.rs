//! The authorization endpoint's decisions (RFC 6749 §4.1.1-§4.1.2, OIDC
//! Core §3.1.2.3-§3.1.2.5): what a valid request leads to given the
//! browser's session (login, consent, or a redirect with a code or an
//! error), and the code's issuance under a new grant. The request's checks
//! themselves are in [`crate::authorize`].

use crate::authorize::{self, AuthorizeError, Params, ValidRequest};
use crate::error::{ErrorCode, OAuthError};
use crate::model::{AuthorizationCode, Client, Grant, Session, User};
use crate::secret;
use crate::{Provider, StoreError};

/// What the authorization endpoint does next for a valid request.
#[derive(Debug)]
pub enum Next {
    /// Show the login page.
    Login,
    /// Show the consent page for this user.
    Consent(User),
    /// Redirect to the client (a code or an error).
    Redirect(String),
}

fn store_failure(e: StoreError) -> AuthorizeError {
    match e {
        StoreError::Unavailable(_) => {
            tracing::error!(error = %e, "database unavailable");
            AuthorizeError::Unavailable
        }
        StoreError::Refused(_) => AuthorizeError::Unavailable,
        other => AuthorizeError::Page(OAuthError::from(other).description),
    }
}

/// The client a request names, if registered (or, for a metadata document
/// client, why it cannot be used: said on the page, RFC 6749 §4.1.2.1).
async fn client_of(p: &Provider, params: &Params) -> Result<Option<Client>, AuthorizeError> {
    let Ok(Some(id)) = params.get("client_id") else {
        return Ok(None);
    };
    match p.clients().find(id).await.map_err(store_failure)? {
        Ok(c) => Ok(Some(c)),
        Err(why) if crate::cimd::is_metadata_client_id(id) => Err(AuthorizeError::Page(why)),
        Err(_) => Ok(None),
    }
}

/// Validates an authorization request (see [`authorize::validate`]),
/// sent in full or pushed before (RFC 9126 §4: `request_uri`).
pub async fn validate(p: &Provider, params: &Params) -> Result<ValidRequest, AuthorizeError> {
    match params.get("request_uri") {
        Ok(Some(uri)) => return pushed(p, params, uri).await,
        Ok(None) => {}
        Err(e) => return Err(AuthorizeError::Page(e)),
    }
    let client = client_of(p, params).await?;
    let req = check(p, params, client).await?;
    // RFC 9126 §5, §6: a request that must be pushed and was not.
    if p.config().require_pushed_authorization_requests
        || req.client.require_pushed_authorization_requests
    {
        return Err(AuthorizeError::Redirect {
            redirect_uri: req.redirect_uri.clone(),
            error: OAuthError::invalid_request(
                "authorization requests must be pushed to the PAR endpoint first (RFC 9126)",
            ),
            state: req.state.clone(),
        });
    }
    Ok(req)
}

/// Every check of an authorization request's parameters for `client`,
/// wherever they came from: the front channel or the PAR endpoint.
pub async fn check(
    p: &Provider,
    params: &Params,
    client: Option<Client>,
) -> Result<ValidRequest, AuthorizeError> {
    let mut req = authorize::validate(params, client, &p.config().pkce)?;
    // RFC 8707 §2: after the redirect URI is established, so that
    // `invalid_target` goes back to the client.
    let checked = match crate::resource::values(params) {
        Ok(values) => crate::resource::for_new_grant(p, &req.client, &values, &req.scopes).await,
        Err(e) => Err(e),
    };
    match checked {
        Ok(resources) => req.resources = resources,
        Err(e) if e.code == ErrorCode::TemporarilyUnavailable => {
            return Err(AuthorizeError::Unavailable)
        }
        Err(error) => {
            return Err(AuthorizeError::Redirect {
                redirect_uri: req.redirect_uri.clone(),
                error,
                state: req.state.clone(),
            })
        }
    }
    Ok(req)
}

/// How long after its push a pushed request may still be used once a
/// browser brought it to `/authorize`: the user's time to sign in and
/// decide (the login form's CSRF token lives as long).
pub const SIGN_IN_ALLOWANCE: i64 = 3600;

/// RFC 9126 §4: the request a `request_uri` stands for, pushed by the
/// same client, unexpired and unused. Only the pushed parameters count;
/// the forms then carry `client_id` and `request_uri` alone. An unknown
/// `request_uri` is said on the page: there is no redirect URI to trust.
async fn pushed(
    p: &Provider,
    outer: &Params,
    request_uri: &str,
) -> Result<ValidRequest, AuthorizeError> {
    let Ok(Some(client_id)) = outer.get("client_id") else {
        return Err(AuthorizeError::Page("the request has no client_id".into()));
    };
    let hash = secret::hash_token(request_uri);
    let found = p
        .store()
        .get_pushed_request(&hash, p.now())
        .await
        .map_err(store_failure)?;
    let Some(found) = found.filter(|f| f.client_id == client_id) else {
        return Err(AuthorizeError::Page(
            "the request_uri is unknown, has expired or has been used (RFC 9126 §4)".into(),
        ));
    };
    // RFC 9126 §2.2: its lifetime is the client's time to send the user
    // here. Once here, the user has SIGN_IN_ALLOWANCE (from the push) to
    // sign in and decide, through the forms that carry the request_uri.
    let until = found.created_at + SIGN_IN_ALLOWANCE;
    if found.expires_at < until {
        p.store()
            .extend_pushed_request(&hash, p.now(), until)
            .await
            .map_err(store_failure)?;
    }
    let inner = Params::new(url::form_urlencoded::parse(found.params.as_bytes()).into_owned());
    let client = client_of(p, &inner).await?;
    let mut req = check(p, &inner, client).await?;
    req.pushed = Some(hash);
    req.pushed_at = Some(found.created_at);
    req.params = vec![
        ("client_id".to_owned(), client_id.to_owned()),
        ("request_uri".to_owned(), request_uri.to_owned()),
    ];
    Ok(req)
}

fn redirect_error(p: &Provider, req: &ValidRequest, code: ErrorCode, description: &str) -> String {
    authorize::error_redirect(
        &req.redirect_uri,
        &OAuthError::new(code, description),
        req.state.as_deref(),
        &p.config().issuer,
    )
}

/// What to do with a valid request, given the browser's session and its
/// user's consent to the client, as [`crate::session::find_with_consent`]
/// read them (OIDC Core §3.1.2.3 and §3.1.2.4; `prompt` per §3.1.2.1).
pub async fn next(
    p: &Provider,
    req: &ValidRequest,
    signed_in: Option<&(Session, Vec<String>)>,
) -> Result<Next, OAuthError> {
    let session = signed_in.map(|(s, _)| s);
    let granted = signed_in.map_or(&[][..], |(_, c)| c.as_slice());
    // OIDC Core §3.1.2.1 max_age: an older authentication must be redone.
    let fresh = |s: &&Session| req.max_age.is_none_or(|max| p.now() - s.auth_time <= max);
    // `prompt=login` is honoured by a sign-in during this request: the
    // forms drop it from a request sent in full; a pushed one keeps it,
    // and a sign-in since its push counts.
    let login_done =
        |s: &&Session| !req.prompt.login || req.pushed_at.is_some_and(|at| s.auth_time >= at);
    let Some(session) = session.filter(login_done).filter(fresh) else {
        if req.prompt.none {
            return Ok(Next::Redirect(redirect_error(
                p,
                req,
                ErrorCode::LoginRequired,
                "the user is not logged in",
            )));
        }
        return Ok(Next::Login);
    };
    // A live session implies its user: deleting a user deletes its
    // sessions (ON DELETE CASCADE), so the user is read only for the
    // consent page, not on every silent authorization.
    // A client that registered itself, or is known only by its metadata
    // document, is asked about every time: nobody vouched for it.
    let vetted = req.client.registration == crate::model::Registration::Admin;
    if !(req.client.skip_consent && vetted) {
        // The client itself must have been approved once, whatever the
        // scopes: a request with none is not a silent first authorization;
        // and each resource (RFC 8707) is approved like a scope.
        let covered = vetted
            && granted.iter().any(|s| s == CLIENT_APPROVED)
            && req.scopes.iter().all(|s| granted.contains(s))
            && crate::scope::parse(&req.resources)
                .iter()
                .all(|r| granted.contains(&resource_consent(r)));
        if req.prompt.consent || !covered {
            if req.prompt.none {
                return Ok(Next::Redirect(redirect_error(
                    p,
                    req,
                    ErrorCode::ConsentRequired,
                    "the user has not consented to this client and scope",
                )));
            }
            let Some(user) = p.store().get_user(&session.user_id).await? else {
                return Ok(Next::Login);
            };
            return Ok(Next::Consent(user));
        }
    }
    Ok(Next::Redirect(issue_code(p, req, session).await?))
}

/// A resource as stored with the consented scopes: a backslash, which no
/// scope token contains (RFC 6749 §3.3), then its URI.
fn resource_consent(uri: &str) -> String {
    format!("\\{uri}")
}

/// Stored with the consented scopes: the user approved the client itself.
/// Not a scope token (those are never empty, RFC 6749 §3.3), so it cannot
/// collide with one.
const CLIENT_APPROVED: &str = "";

/// The user's answer on the consent page.
pub async fn consent(
    p: &Provider,
    req: &ValidRequest,
    session: &Session,
    allow: bool,
) -> Result<String, OAuthError> {
    if !allow {
        return Ok(redirect_error(
            p,
            req,
            ErrorCode::AccessDenied,
            "the user denied the request",
        ));
    }
    let mut approved = req.scopes.clone();
    approved.extend(
        crate::scope::parse(&req.resources)
            .iter()
            .map(|r| resource_consent(r)),
    );
    approved.push(CLIENT_APPROVED.to_owned());
    p.store()
        .grant_consent(&session.user_id, &req.client.id, &approved)
        .await?;
    issue_code(p, req, session).await
}

/// Issues a code (RFC 6749 §4.1.2) under a new grant, stored together:
/// 256 random bits behind a clock part ([`secret::time_ordered_token`]),
/// kept only as a hash with everything the token endpoint checks; the
/// redirect carries `code`, `state` and `iss` (RFC 9207 §2). The grant
/// lives as long as the code's record (`code_retention` past its expiry)
/// and what its redemption will issue, whichever is longer.
pub async fn issue_code(
    p: &Provider,
    req: &ValidRequest,
    session: &Session,
) -> Result<String, OAuthError> {
    let code = secret::Code::generate().map_err(OAuthError::server_error)?;
    let now = p.now();
    // RFC 9126 §4: a pushed request yields one code. Used up before the
    // grant is made: if that then fails, the client starts again.
    if let Some(hash) = &req.pushed {
        if !p.store().consume_pushed_request(hash, now).await? {
            return Err(OAuthError::new(
                ErrorCode::InvalidRequestUri,
                "the request_uri has already been used or has expired (RFC 9126 §4)",
            ));
        }
    }
    let config = p.config();
    let expires_at = now + config.code_lifetime.as_secs() as i64;
    let scope = crate::scope::join(&req.scopes);
    let grant = Grant {
        id: secret::time_ordered_id(10).map_err(OAuthError::server_error)?,
        client_id: req.client.id.clone(),
        user_id: Some(session.user_id.clone()),
        scope: scope.clone(),
        resources: req.resources.clone(),
        auth_time: Some(session.auth_time),
        expires_at: (expires_at + config.code_retention.as_secs() as i64)
            .max(p.issuer().grant_expiry(&req.client, &scope, expires_at)),
        created_at: now,
    };
    let record = AuthorizationCode {
        code_hash: code.hash(),
        grant_id: grant.id.clone(),
        client_id: req.client.id.clone(),
        redirect_uri: req.redirect_uri.clone(),
        code_challenge: req.challenge.as_str(),
        code_challenge_method: req.challenge.method().as_str().to_owned(),
        scope,
        resources: req.resources.clone(),
        nonce: req.nonce.clone(),
        user_id: session.user_id.clone(),
        auth_time: session.auth_time,
        issued_at: now,
        expires_at,
        dpop_jkt: req.dpop_jkt.clone(),
    };
    if !p.store().create_grant_with_code(&grant, &record).await? {
        // The user was revoked (or signed out everywhere), or the client
        // deleted, while this request ran.
        return Err(OAuthError::new(
            ErrorCode::AccessDenied,
            "the session has ended or the client no longer exists",
        ));
    }
    let mut extra = vec![("code", code.expose())];
    if let Some(s) = req.state.as_deref() {
        extra.push(("state", s));
    }
    extra.push(("iss", config.issuer.as_str()));
    Ok(authorize::redirect_with(&req.redirect_uri, &extra))
}
