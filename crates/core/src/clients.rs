//! Registered clients as the endpoints see them: read through a short
//! cache, with the browser origins they allow (CORS) and the JWK Sets they
//! publish at a `jwks_uri` (RFC 7523 §2.2).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::model::{Client, ClientKind};
use crate::store::StoreError;
use crate::{Clock, Store};

/// How long a client read from the store is reused. Admin commands run in
/// other processes, so a change (a deleted client, a rotated secret) takes
/// effect within this time on every running server.
pub const CLIENT_CACHE_TTL: Duration = Duration::from_secs(5);

/// Fetches a client's `jwks_uri` (the HTTP layer provides it; core does no I/O).
#[async_trait::async_trait]
pub trait JwksFetcher: Send + Sync + std::fmt::Debug {
    /// The JWK Set document at `uri`; from any address when `anywhere`
    /// (an operator's client), else over https from a public address
    /// only (a client nobody vouched for).
    async fn fetch(&self, uri: &str, anywhere: bool) -> Result<String, String>;
}

/// Clients, their CORS origins and their fetched JWK Sets, cached.
///
/// **Invariant:** clients are cached for [`CLIENT_CACHE_TTL`] by the
/// injected clock; unknown ids are never cached, so a client created by an
/// admin command is usable at once.
#[derive(Debug)]
pub struct ClientRegistry {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    /// client id -> (fetched at; client).
    cache: Mutex<HashMap<String, (i64, Client)>>,
    /// (fetched at; origins allowed for CORS).
    cors_origins: Mutex<Option<(i64, Vec<String>)>>,
    /// jwks_uri -> (fetched at; the document, or None if the fetch failed).
    pub(crate) jwks_cache: Mutex<HashMap<String, (i64, Option<Value>)>>,
    pub(crate) jwks_fetcher: Option<Arc<dyn JwksFetcher>>,
    pub(crate) metadata_fetcher: Option<Arc<dyn crate::cimd::MetadataFetcher>>,
    metadata_policy: crate::cimd::Policy,
    /// metadata client id -> (reuse until; why it was refused, if it was).
    metadata_seen: Mutex<HashMap<String, (i64, Option<String>)>>,
    /// Fetches under way, one per document URL (later requests for the
    /// same document wait for it).
    metadata_inflight: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Fetches at once, across documents; past it, a document not fetched
    /// yet is refused for now (never queued behind slow ones).
    metadata_fetches: tokio::sync::Semaphore,
    /// (read at; the scopes clients may register and discovery lists).
    scopes: Mutex<Option<(i64, Vec<String>)>>,
}

impl ClientRegistry {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        metadata_policy: crate::cimd::Policy,
    ) -> Self {
        Self {
            store,
            clock,
            cache: Mutex::new(HashMap::new()),
            cors_origins: Mutex::new(None),
            jwks_cache: Mutex::new(HashMap::new()),
            jwks_fetcher: None,
            metadata_fetcher: None,
            metadata_policy,
            metadata_seen: Mutex::new(HashMap::new()),
            metadata_inflight: Mutex::new(HashMap::new()),
            metadata_fetches: tokio::sync::Semaphore::new(crate::cimd::MAX_FETCHES),
            scopes: Mutex::new(None),
        }
    }

    fn fresh(&self, at: i64) -> bool {
        self.clock.now() - at < CLIENT_CACHE_TTL.as_secs() as i64
    }

    /// A client by id, cached for [`CLIENT_CACHE_TTL`]; a client whose id
    /// is the URL of its metadata document as [`ClientRegistry::find`]
    /// says (`None` if it cannot be had).
    pub async fn get(&self, id: &str) -> Result<Option<Client>, StoreError> {
        Ok(self.find(id).await?.ok())
    }

    /// A client by id, or why there is none. An id that is an https URL
    /// names a client metadata document (see [`crate::cimd`]): unless an
    /// operator registered that id, the document is fetched (again once
    /// its caching time has passed, at most `client_id_metadata_cache_max`
    /// after the last fetch), checked, and kept as the client's
    /// registration. A refusal is remembered for
    /// [`crate::cimd::FAILURE_CACHE`], so that a `client_id` cannot make
    /// this server fetch a URL again and again.
    pub async fn find(&self, id: &str) -> Result<Result<Client, String>, StoreError> {
        if crate::cimd::is_metadata_client_id(id) {
            return self.metadata_client(id).await;
        }
        Ok(self
            .cached(id)
            .await?
            .ok_or_else(|| "the client_id is not registered here".to_owned()))
    }

    async fn metadata_client(&self, id: &str) -> Result<Result<Client, String>, StoreError> {
        use crate::cimd;
        let now = self.clock.now();
        let seen = |this: &Self| {
            this.metadata_seen
                .lock()
                .ok()
                .and_then(|m| m.get(id).filter(|(until, _)| *until > now).cloned())
        };
        let stored = self.cached(id).await?;
        if let Some(c) = &stored {
            if c.registration != crate::model::Registration::Metadata {
                // Registered by an operator under this id: never fetched.
                return Ok(Ok(c.clone()));
            }
        }
        if !self.metadata_policy.enabled {
            return Ok(Err(
                "client metadata documents are not accepted here; the client_id is not registered"
                    .into(),
            ));
        }
        if let Err(e) = cimd::check_url(&self.metadata_policy, id) {
            return Ok(Err(e));
        }
        match (seen(self), &stored) {
            (Some((_, Some(refused))), _) => return Ok(Err(refused)),
            (Some((_, None)), Some(c)) => return Ok(Ok(c.clone())),
            _ => {}
        }
        let Some(fetcher) = &self.metadata_fetcher else {
            return Ok(Err("client metadata documents cannot be fetched".into()));
        };
        let flight = match self.metadata_inflight.lock() {
            Ok(mut m) => Arc::clone(m.entry(id.to_owned()).or_default()),
            Err(_) => Arc::new(tokio::sync::Mutex::new(())),
        };
        let _same_document = flight.lock().await;
        // Fetched meanwhile by the request this one waited for?
        match seen(self) {
            Some((_, Some(refused))) => return Ok(Err(refused)),
            Some((_, None)) => {
                if let Some(c) = self.store.get_client(id).await? {
                    return Ok(Ok(c));
                }
            }
            None => {}
        }
        let Ok(_permit) = self.metadata_fetches.try_acquire() else {
            self.forget_flight(id);
            // Under a flood of slow documents: a client known already
            // keeps working on what was fetched last; a new one waits.
            return Ok(match stored {
                Some(c) => Ok(c),
                None => Err(
                    "too many client metadata documents are being fetched; try again shortly"
                        .into(),
                ),
            });
        };
        let outcome = match fetcher
            .fetch(id, self.metadata_policy.allow_insecure_addresses)
            .await
        {
            Err(e) => Err(format!(
                "the client metadata document could not be fetched: {e}"
            )),
            Ok(fetched) => {
                let scopes = self.available_scopes().await?;
                match cimd::client_from_document(id, &fetched.body, &scopes, now) {
                    Err(e) => Err(format!("the client metadata document is refused: {e}")),
                    Ok(client) => {
                        let stored = if self.store.update_client(&client).await? {
                            true
                        } else {
                            match self.store.create_client(&client).await {
                                Ok(()) => true,
                                Err(StoreError::Conflict(_)) => false,
                                Err(e) => return Err(e),
                            }
                        };
                        if stored {
                            Ok((cimd::reuse_for(&self.metadata_policy, &fetched), client))
                        } else {
                            Err("the client_id is registered otherwise here".into())
                        }
                    }
                }
            }
        };
        if let Ok(mut m) = self.metadata_seen.lock() {
            if m.len() >= cimd::MAX_CACHED {
                m.retain(|_, (until, _)| *until > now);
            }
            if m.len() < cimd::MAX_CACHED {
                let entry = match &outcome {
                    Ok((reuse, _)) => (now + reuse, None),
                    Err(e) => (now + cimd::FAILURE_CACHE.as_secs() as i64, Some(e.clone())),
                };
                m.insert(id.to_owned(), entry);
            }
        }
        if let Ok(mut cache) = self.cache.lock() {
            cache.remove(id);
        }
        if let Err(e) = &outcome {
            tracing::warn!(client_id = id, reason = %e, "client metadata document refused");
        }
        self.forget_flight(id);
        Ok(outcome.map(|(_, c)| c))
    }

    fn forget_flight(&self, id: &str) {
        if let Ok(mut m) = self.metadata_inflight.lock() {
            m.remove(id);
        }
    }

    /// OpenID Connect's scopes and the registered resources' (RFC 8707),
    /// for discovery: cached like clients, so that discovery costs no
    /// query per request.
    pub(crate) async fn advertised_scopes(&self) -> Result<Vec<String>, StoreError> {
        let cached = self.scopes.lock().ok().and_then(|c| {
            c.as_ref()
                .filter(|(at, _)| self.fresh(*at))
                .map(|(_, s)| s.clone())
        });
        if let Some(s) = cached {
            return Ok(s);
        }
        let all = self.available_scopes().await?;
        if let Ok(mut c) = self.scopes.lock() {
            *c = Some((self.clock.now(), all.clone()));
        }
        Ok(all)
    }

    /// The same, read now: what a client registering itself (or its
    /// metadata document) may ask for, so that a resource an operator has
    /// just registered can be asked for at once.
    pub(crate) async fn available_scopes(&self) -> Result<Vec<String>, StoreError> {
        let mut all: Vec<String> = crate::scope::OIDC_SCOPES
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        for r in self.store.list_resources().await? {
            for s in r.scopes {
                if !all.contains(&s) {
                    all.push(s);
                }
            }
        }
        Ok(all)
    }

    /// Drops `id` from this node's cache, after a change this node made
    /// (RFC 7592 §2.2 and §2.3), so that it takes effect here at once;
    /// other nodes see it within [`CLIENT_CACHE_TTL`].
    pub fn forget(&self, id: &str) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.remove(id);
        }
    }

    /// A client by id from the cache or the store.
    async fn cached(&self, id: &str) -> Result<Option<Client>, StoreError> {
        if let Ok(cache) = self.cache.lock() {
            if let Some((at, c)) = cache.get(id) {
                if self.fresh(*at) {
                    return Ok(Some(c.clone()));
                }
            }
        }
        let client = self.store.get_client(id).await?;
        if let Ok(mut cache) = self.cache.lock() {
            match &client {
                Some(c) => {
                    cache.insert(id.to_owned(), (self.clock.now(), c.clone()));
                }
                None => {
                    cache.remove(id);
                }
            }
        }
        Ok(client)
    }

    /// Whether a browser `Origin` may call the token, revocation, userinfo,
    /// JWKS and discovery endpoints: the origin of a public client's
    /// registered redirect URI (for a loopback IP literal, on any port, as
    /// RFC 8252 §7.3 allows for the redirect itself). Cached like clients.
    pub async fn cors_allowed(&self, origin: &str) -> Result<bool, StoreError> {
        let cached = self.cors_origins.lock().ok().and_then(|c| {
            c.as_ref()
                .filter(|(at, _)| self.fresh(*at))
                .map(|(_, o)| o.clone())
        });
        let origins = match cached {
            Some(o) => o,
            None => {
                let mut o: Vec<String> = self
                    .store
                    .list_clients()
                    .await?
                    .iter()
                    .filter(|c| c.kind == ClientKind::Public)
                    .flat_map(|c| {
                        c.redirect_uris
                            .iter()
                            .filter_map(|u| crate::redirect_uri::web_origin(u))
                    })
                    .collect();
                o.sort();
                o.dedup();
                if let Ok(mut c) = self.cors_origins.lock() {
                    *c = Some((self.clock.now(), o.clone()));
                }
                o
            }
        };
        Ok(origins.iter().any(|o| o == origin)
            || crate::redirect_uri::loopback_origin_without_port(origin)
                .is_some_and(|bare| origins.contains(&bare)))
    }
}
