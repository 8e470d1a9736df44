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
    /// The JWK Set document at `uri`.
    async fn fetch(&self, uri: &str) -> Result<String, String>;
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
}

impl ClientRegistry {
    pub(crate) fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            clock,
            cache: Mutex::new(HashMap::new()),
            cors_origins: Mutex::new(None),
            jwks_cache: Mutex::new(HashMap::new()),
            jwks_fetcher: None,
        }
    }

    fn fresh(&self, at: i64) -> bool {
        self.clock.now() - at < CLIENT_CACHE_TTL.as_secs() as i64
    }

    /// A client by id, cached for [`CLIENT_CACHE_TTL`].
    pub async fn get(&self, id: &str) -> Result<Option<Client>, StoreError> {
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
