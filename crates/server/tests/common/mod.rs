//! The test harness: the real server on 127.0.0.1:0 against a temporary
//! SQLite file, a manual clock, and a cookie-keeping "browser" that fills in
//! the login and consent forms.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::Arc;

use proofkey_core::model::{Client, ClientKind, User};
use proofkey_core::{password, Clock, Config, ManualClock, Provider, Store, SystemClock};
use proofkey_pkce::{CodeChallenge, CodeVerifier};
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;

pub const PASSWORD: &str = "correct horse battery";
pub const REDIRECT: &str = "http://127.0.0.1/callback";

pub struct TestServer {
    pub base: String,
    pub clock: ManualClock,
    pub store: Arc<dyn Store>,
    pub provider: Arc<Provider>,
    pub http: reqwest::Client,
    /// The database URL.
    pub db: String,
    _dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = format!("sqlite://{}", dir.path().join("proofkey.db").display());
        Self::start_on(&db, tweak, Some(dir)).await
    }

    /// A node on the database `db` (several nodes may share one).
    pub async fn start_on(
        db: &str,
        tweak: impl FnOnce(&mut Config),
        dir: Option<tempfile::TempDir>,
    ) -> Self {
        let dir = match dir {
            Some(d) => d,
            None => tempfile::tempdir().unwrap(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let mut config = Config::for_issuer(&base, db).unwrap();
        tweak(&mut config);
        let settings = proofkey_store::StoreSettings {
            max_connections: config.database_max_connections,
            acquire_timeout: config.database_acquire_timeout,
            ..proofkey_store::StoreSettings::default()
        };
        let store = proofkey_store::open_with(db, &settings).await.unwrap();
        // The real time, so that independent JWT libraries agree on expiry;
        // tests move it forward instead of sleeping.
        let clock = ManualClock::new(SystemClock.now());
        let provider = Arc::new(
            Provider::new(config, Arc::clone(&store), Arc::new(clock.clone()))
                .await
                .unwrap()
                .with_jwks_fetcher(Arc::new(proofkey_server::HttpJwksFetcher::new().unwrap()))
                .with_metadata_fetcher(Arc::new(
                    proofkey_server::HttpMetadataFetcher::new(
                        &proofkey_server::outbound_roots(Some(std::path::Path::new(SNAKEOIL_CERT)))
                            .unwrap(),
                    )
                    .unwrap(),
                )),
        );
        tokio::spawn(proofkey_server::serve(
            listener,
            Arc::clone(&provider),
            std::future::pending(),
        ));
        TestServer {
            base,
            clock,
            store,
            provider,
            http: http_client(),
            db: db.to_owned(),
            _dir: dir,
        }
    }

    /// Runs SQL on the server's database from outside, as another process
    /// would: to inject a fault (a trigger) or to plant an old row.
    pub async fn sql(&self, statements: &str) {
        if let Some(path) = self.db.strip_prefix("sqlite://") {
            let c = rusqlite::Connection::open(path).unwrap();
            c.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
            c.execute_batch(statements).unwrap();
        } else {
            let admin = proofkey_store::PgAdmin::connect(&self.db).await.unwrap();
            admin.execute(statements).await.unwrap();
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn public_client(
        &self,
        id: &str,
        redirect_uris: &[&str],
        skip_consent: bool,
    ) -> Client {
        self.client(
            id,
            ClientKind::Public,
            redirect_uris,
            skip_consent,
            "RS256",
            None,
        )
        .await
    }

    pub async fn client(
        &self,
        id: &str,
        kind: ClientKind,
        redirect_uris: &[&str],
        skip_consent: bool,
        id_token_alg: &str,
        secret: Option<&str>,
    ) -> Client {
        let secret_hash = secret.map(|s| {
            self.provider
                .hasher()
                .hash(&proofkey_core::secret::ClientSecret::new(s))
        });
        self.client_with(id, kind, redirect_uris, |c| {
            c.skip_consent = skip_consent;
            c.id_token_alg = id_token_alg.into();
            c.secret_hash = secret_hash;
        })
        .await
    }

    /// A client with the test defaults (scopes openid profile email read
    /// offline_access; grants authorization_code and refresh_token; rotating),
    /// changed by `tweak`.
    pub async fn client_with(
        &self,
        id: &str,
        kind: ClientKind,
        redirect_uris: &[&str],
        tweak: impl FnOnce(&mut Client),
    ) -> Client {
        let mut c = Client {
            id: id.into(),
            name: format!("App {id}"),
            kind,
            redirect_uris: redirect_uris.iter().map(|s| (*s).to_owned()).collect(),
            scopes: ["openid", "profile", "email", "read", "offline_access"]
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            grant_types: vec!["authorization_code".into(), "refresh_token".into()],
            id_token_alg: "RS256".into(),
            created_at: self.clock.now(),
            rotate_refresh_tokens: true,
            ..Client::default()
        };
        tweak(&mut c);
        self.store.create_client(&c).await.unwrap();
        c
    }

    pub async fn user(&self, username: &str) -> User {
        let u = User {
            id: format!("sub-{username}"),
            username: username.into(),
            email: Some(format!("{username}@example.com")),
            name: Some(format!("{username} Example")),
            password_hash: password::hash(&proofkey_core::secret::Password::new(PASSWORD)).unwrap(),
            created_at: self.clock.now(),
            disabled_at: None,
        };
        self.store.create_user(&u).await.unwrap();
        u
    }

    /// A browser bound to this server.
    pub fn browser(&self) -> Browser {
        Browser {
            http: http_client(),
            cookies: HashMap::new(),
        }
    }

    /// POST `path` with form pairs; status, headers and JSON body (or Null).
    pub async fn post_form(
        &self,
        path: &str,
        form: &[(&str, &str)],
    ) -> (u16, HeaderMap, serde_json::Value) {
        let resp = self
            .http
            .post(self.url(path))
            .form(form)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.json().await.unwrap_or(serde_json::Value::Null);
        (status, headers, body)
    }

    /// POST /token with form pairs.
    pub async fn token(&self, form: &[(&str, &str)]) -> (u16, HeaderMap, serde_json::Value) {
        let resp = self
            .http
            .post(self.url("/token"))
            .form(form)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.json().await.unwrap_or(serde_json::Value::Null);
        (status, headers, body)
    }
}

pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

/// An authorization request.
pub struct AuthRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: String,
    pub challenge: String,
    pub extra: Vec<(String, String)>,
}

impl AuthRequest {
    pub fn new(client_id: &str, verifier: &CodeVerifier) -> Self {
        Self {
            client_id: client_id.into(),
            redirect_uri: REDIRECT.into(),
            scope: "openid profile email".into(),
            state: "st-123".into(),
            challenge: CodeChallenge::s256(verifier).as_str(),
            extra: vec![],
        }
    }

    pub fn with(mut self, k: &str, v: &str) -> Self {
        self.extra.push((k.into(), v.into()));
        self
    }

    /// Adds a parameter even if it is there already (a repeated one, like
    /// RFC 8707's `resource`).
    pub fn also(mut self, k: &str, v: &str) -> Self {
        self.extra.push((k.into(), v.into()));
        self
    }

    pub fn pairs(&self) -> Vec<(String, String)> {
        let mut p = vec![
            ("response_type".to_owned(), "code".to_owned()),
            ("client_id".to_owned(), self.client_id.clone()),
            ("redirect_uri".to_owned(), self.redirect_uri.clone()),
            ("scope".to_owned(), self.scope.clone()),
            ("state".to_owned(), self.state.clone()),
            ("code_challenge".to_owned(), self.challenge.clone()),
            ("code_challenge_method".to_owned(), "S256".to_owned()),
        ];
        for (k, v) in &self.extra {
            if k == "resource" {
                p.push((k.clone(), v.clone()));
            } else if let Some(slot) = p.iter_mut().find(|(pk, _)| pk == k) {
                slot.1 = v.clone();
            } else {
                p.push((k.clone(), v.clone()));
            }
        }
        p.retain(|(_, v)| v != "<omit>");
        p
    }

    pub fn url(&self, base: &str) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in self.pairs() {
            q.append_pair(&k, &v);
        }
        format!("{base}/authorize?{}", q.finish())
    }
}

/// A cookie-keeping HTTP client that does not follow redirects.
pub struct Browser {
    pub http: reqwest::Client,
    pub cookies: HashMap<String, String>,
}

pub struct Page {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> Option<String> {
        self.headers
            .get(LOCATION)
            .map(|v| v.to_str().unwrap().to_owned())
    }

    /// The query parameters of the redirect.
    pub fn redirect_params(&self) -> HashMap<String, String> {
        let loc = self.location().expect("a redirect");
        url::Url::parse(&loc)
            .unwrap()
            .query_pairs()
            .into_owned()
            .collect()
    }

    /// name/value pairs of the hidden inputs of the page's form.
    pub fn hidden_fields(&self) -> Vec<(String, String)> {
        let mut out = vec![];
        for chunk in self.body.split("<input type=\"hidden\" ").skip(1) {
            let name = between(chunk, "name=\"", "\"");
            let value = between(chunk, "value=\"", "\"");
            out.push((unescape(&name), unescape(&value)));
        }
        out
    }
}

fn between(s: &str, start: &str, end: &str) -> String {
    let i = s.find(start).unwrap() + start.len();
    let j = s[i..].find(end).unwrap();
    s[i..i + j].to_owned()
}

pub fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#x2f;", "/")
        .replace("&amp;", "&")
}

impl Browser {
    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn finish(&mut self, resp: reqwest::Response) -> Page {
        for v in resp.headers().get_all(SET_COOKIE) {
            let v = v.to_str().unwrap();
            let (kv, _) = v.split_once(';').unwrap_or((v, ""));
            let (k, val) = kv.split_once('=').unwrap();
            self.cookies.insert(k.to_owned(), val.to_owned());
        }
        Page {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            body: resp.text().await.unwrap(),
        }
    }

    pub async fn get(&mut self, url: &str) -> Page {
        let resp = self
            .http
            .get(url)
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.finish(resp).await
    }

    /// A GET with extra request headers (`Accept-Language`, say).
    pub async fn get_with(&mut self, url: &str, headers: &[(&str, &str)]) -> Page {
        let mut req = self.http.get(url).header("cookie", self.cookie_header());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.unwrap();
        self.finish(resp).await
    }

    pub async fn post(&mut self, url: &str, form: &[(String, String)]) -> Page {
        let resp = self
            .http
            .post(url)
            .header("cookie", self.cookie_header())
            .form(form)
            .send()
            .await
            .unwrap();
        self.finish(resp).await
    }

    /// Submits the login form of `page`.
    pub async fn login(&mut self, base: &str, page: &Page, username: &str, password: &str) -> Page {
        assert!(
            page.body.contains("name=\"username\""),
            "not a login page: {}",
            page.body
        );
        let mut form = page.hidden_fields();
        form.push(("username".into(), username.into()));
        form.push(("password".into(), password.into()));
        self.post(&format!("{base}/login"), &form).await
    }

    /// Submits the consent form of `page` with `decision`.
    pub async fn decide(&mut self, base: &str, page: &Page, decision: &str) -> Page {
        assert!(
            page.body.contains("name=\"decision\""),
            "not a consent page: {}",
            page.body
        );
        let mut form = page.hidden_fields();
        form.push(("decision".into(), decision.into()));
        self.post(&format!("{base}/consent"), &form).await
    }

    /// The whole browser part: authorize, log in (if asked), consent (if
    /// asked), and return the final redirect to the client.
    pub async fn authorize(&mut self, base: &str, req: &AuthRequest, username: &str) -> Page {
        let mut page = self.get(&req.url(base)).await;
        for _ in 0..4 {
            if page.status == 303 {
                let loc = page.location().unwrap();
                if loc.starts_with('/') {
                    page = self.get(&format!("{base}{loc}")).await;
                    continue;
                }
                return page;
            }
            assert_eq!(page.status, 200, "{}", page.body);
            page = if page.body.contains("name=\"password\"") {
                self.login(base, &page, username, PASSWORD).await
            } else {
                self.decide(base, &page, "allow").await
            };
        }
        panic!("authorization did not finish");
    }
}

/// RFC 8628 §3.3, the user's part in a browser: sign in on the device
/// page as alice (if asked), enter the code, decide.
pub async fn user_decides(
    s: &TestServer,
    b: &mut Browser,
    typed_code: &str,
    decision: &str,
) -> Page {
    let page = b.get(&format!("{}/device", s.base)).await;
    let mut form = page.hidden_fields();
    form.push(("user_code".into(), typed_code.into()));
    if page.body.contains("name=\"password\"") {
        form.push(("username".into(), "alice".into()));
        form.push(("password".into(), PASSWORD.into()));
    }
    let confirm = b.post(&format!("{}/device", s.base), &form).await;
    assert!(
        confirm.body.contains("name=\"decision\""),
        "{}",
        confirm.body
    );
    let mut form = confirm.hidden_fields();
    form.push(("decision".into(), decision.into()));
    b.post(&format!("{}/device/decision", s.base), &form).await
}

/// The code from a successful redirect, after checking `state` and `iss`.
pub fn code_of(page: &Page, base: &str, state: &str) -> String {
    let p = page.redirect_params();
    assert_eq!(p.get("state").map(String::as_str), Some(state), "{p:?}");
    assert_eq!(p.get("iss").map(String::as_str), Some(base), "{p:?}");
    p.get("code")
        .cloned()
        .unwrap_or_else(|| panic!("no code: {p:?}"))
}

/// A complete flow for a public client; returns the code and its verifier.
pub async fn code_for(
    server: &TestServer,
    client_id: &str,
    username: &str,
) -> (String, CodeVerifier) {
    let verifier = CodeVerifier::generate();
    let req = AuthRequest::new(client_id, &verifier);
    let mut b = server.browser();
    let page = b.authorize(&server.base, &req, username).await;
    (code_of(&page, &server.base, &req.state), verifier)
}

/// A complete flow for a public client with `scope`; returns the token response.
pub async fn tokens_for(
    server: &TestServer,
    client_id: &str,
    username: &str,
    scope: &str,
) -> serde_json::Value {
    tokens_with(server, client_id, username, scope, &[]).await
}

/// [`tokens_for`] with extra authorization request parameters.
pub async fn tokens_with(
    server: &TestServer,
    client_id: &str,
    username: &str,
    scope: &str,
    extra: &[(&str, &str)],
) -> serde_json::Value {
    let verifier = CodeVerifier::generate();
    let mut req = AuthRequest::new(client_id, &verifier);
    req.scope = scope.into();
    for (k, v) in extra {
        req = req.with(k, v);
    }
    let page = server
        .browser()
        .authorize(&server.base, &req, username)
        .await;
    let code = code_of(&page, &server.base, &req.state);
    let (status, _, body) = server
        .token(&[
            ("grant_type", "authorization_code"),
            ("client_id", client_id),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier.secret()),
        ])
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// `PROOFKEY_TEST_POSTGRES` or the machine's server.
pub fn pg_url() -> String {
    std::env::var("PROOFKEY_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// Creates a fresh PostgreSQL database and returns its name. Fails, never
/// skips, when the server is missing.
pub async fn fresh_postgres_db() -> String {
    let base = pg_url();
    let admin = sqlx_admin(&base).await;
    let name = format!(
        "pk_nodes_{}",
        proofkey_core::secret::random_token(9)
            .unwrap()
            .to_lowercase()
            .replace(['-', '_'], "x")
    );
    admin.execute(&format!("CREATE DATABASE {name}")).await;
    name
}

/// A minimal admin connection through the store crate's driver.
pub struct PgAdmin(proofkey_store::PgAdmin);

impl PgAdmin {
    pub async fn execute(&self, sql: &str) {
        self.0.execute(sql).await.unwrap();
    }
}

async fn sqlx_admin(base: &str) -> PgAdmin {
    PgAdmin(
        proofkey_store::PgAdmin::connect(&format!("{base}/postgres"))
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at {base} is required for these tests (set PROOFKEY_TEST_POSTGRES): {e}")),
    )
}

/// Drops a database made by [`fresh_postgres_db`].
pub async fn drop_postgres_db(name: &str) {
    let admin = sqlx_admin(&pg_url()).await;
    admin
        .execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await;
}

/// The claims of a JWT, unverified (the tests check what was issued).
pub fn jwt_claims(jwt: &str) -> serde_json::Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).expect("a JWS");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// Registers a resource (RFC 8707) directly in the store.
pub async fn resource(s: &TestServer, uri: &str, scopes: &[&str]) {
    s.store
        .create_resource(&proofkey_core::model::Resource {
            uri: uri.into(),
            name: format!("API at {uri}"),
            scopes: scopes.iter().map(|x| (*x).to_owned()).collect(),
            created_at: s.clock.now(),
        })
        .await
        .unwrap();
}

/// Debian's snakeoil certificate (ssl-cert), issued to `localhost`: the
/// test https servers' certificate, and the root a fetcher is told to trust.
pub const SNAKEOIL_CERT: &str = "/etc/ssl/certs/ssl-cert-snakeoil.pem";

/// Runs each scenario on a fresh SQLite server and on a fresh PostgreSQL
/// database, under the scenario's name in `sqlite::` and `postgres::`.
/// A scenario is a module with `CONFIG: fn(&mut Config)` and
/// `async fn run(&TestServer)`; the calling file imports `common::*`.
#[allow(unused_macros)]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test] async fn $name() {
                let s = super::TestServer::start_with(super::$name::CONFIG).await;
                super::$name::run(&s).await;
            })*
        }
        mod postgres {
            $(#[tokio::test] async fn $name() {
                let db = super::fresh_postgres_db().await;
                let url = format!("{}/{db}", super::pg_url());
                let s = super::TestServer::start_on(&url, super::$name::CONFIG, None).await;
                super::$name::run(&s).await;
                drop(s);
                super::drop_postgres_db(&db).await;
            })*
        }
    };
}
