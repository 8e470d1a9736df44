//! Every interleaving, deterministically: two requests against the same
//! grant (two refreshes of one token, two redemptions of one code, a
//! refresh and the client's revocation of its token, a redemption and an
//! administrator revoking the user), run through the real provider on a
//! real SQLite store behind a wrapper that parks each request at each
//! store call. A controller releases one parked call at a time and walks
//! every order in which the two requests' store calls can run (depth
//! first over its choices). In every one, once the grant is revoked (reuse
//! or replay detected, or revoked on purpose) no token of it is accepted
//! anywhere: not at UserInfo, not by introspection, not at the token
//! endpoint. And a request whose issuance ran after the revocation got no
//! tokens at all.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use proofkey_core::authorize::{self, Params};
use proofkey_core::grant::{self, TokenRequest, TokenResponse};
use proofkey_core::model::{
    AccessTokenRecord, AuthorizationCode, Client, ClientKind, CodeConsumption, DeviceCode,
    DeviceDecision, DevicePoll, Grant, Issued, NewTokens, PushedRequest, RefreshTokenRecord,
    RefreshTokenState, Resource, Rotation, Session, SessionInfo, StoredCode, StoredKey,
    SweepCounts, User,
};
use proofkey_core::store::{
    ClientStore, DeviceStore, GrantStore, KeyStore, Maintenance, ResourceStore, StoreResult,
    UserStore,
};
use proofkey_core::{
    authorization, revocation, userinfo, Config, ManualClock, OAuthError, Provider, Store,
};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

tokio::task_local! {
    /// Which request (0 or 1) the current task runs; unset for set-up and
    /// checks, whose store calls are not parked.
    static ACTOR: usize;
}

/// A store call waiting to run.
struct Parked {
    actor: usize,
    call: &'static str,
    go: oneshot::Sender<()>,
}

/// The store, with every call of a request parked until released.
#[derive(Debug)]
struct Pausing {
    inner: Arc<dyn Store>,
    arrivals: mpsc::UnboundedSender<ParkedMsg>,
}

/// `Parked` without `Debug` needs: a newtype the channel carries.
struct ParkedMsg(Parked);

impl std::fmt::Debug for ParkedMsg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at {}", self.0.actor, self.0.call)
    }
}

impl Pausing {
    async fn park(&self, call: &'static str) {
        let Ok(actor) = ACTOR.try_with(|a| *a) else {
            return;
        };
        let (go, released) = oneshot::channel();
        self.arrivals
            .send(ParkedMsg(Parked { actor, call, go }))
            .unwrap();
        released.await.unwrap();
    }
}

/// Implements a store trait by parking, then delegating to the inner store.
macro_rules! parked {
    ($trait:ident { $(async fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty;)* }) => {
        #[async_trait]
        impl $trait for Pausing {
            $(async fn $name(&self $(, $arg: $ty)*) -> $ret {
                self.park(stringify!($name)).await;
                self.inner.$name($($arg),*).await
            })*
        }
    };
}

parked!(ClientStore {
        async fn create_client(&self, c: &Client) -> StoreResult<()>;
        async fn get_client(&self, id: &str) -> StoreResult<Option<Client>>;
        async fn list_clients(&self) -> StoreResult<Vec<Client>>;
        async fn delete_client(&self, id: &str, now: i64) -> StoreResult<bool>;
        async fn set_client_secret(&self, id: &str, hash: &str, t: Option<i64>) -> StoreResult<bool>;
        async fn record_jti(&self, c: &str, jti: &str, exp: i64) -> StoreResult<bool>;
        async fn update_client(&self, c: &Client) -> StoreResult<bool>;
        async fn replace_client(&self, c: &Client) -> StoreResult<bool>;
        async fn create_initial_access_token(&self, h: &str, uses: i64, exp: i64, now: i64) -> StoreResult<()>;
        async fn use_initial_access_token(&self, h: &str, now: i64) -> StoreResult<bool>;
});

parked!(ResourceStore {
        async fn create_resource(&self, r: &Resource) -> StoreResult<()>;
        async fn get_resource(&self, uri: &str) -> StoreResult<Option<Resource>>;
        async fn list_resources(&self) -> StoreResult<Vec<Resource>>;
        async fn delete_resource(&self, uri: &str) -> StoreResult<bool>;
});

parked!(UserStore {
        async fn create_user(&self, u: &User) -> StoreResult<()>;
        async fn get_user_by_username(&self, name: &str) -> StoreResult<Option<User>>;
        async fn get_user(&self, id: &str) -> StoreResult<Option<User>>;
        async fn list_users(&self) -> StoreResult<Vec<User>>;
        async fn delete_user(&self, name: &str, now: i64) -> StoreResult<bool>;
        async fn set_password(&self, name: &str, hash: &str) -> StoreResult<bool>;
        async fn update_user(&self, name: &str, e: Option<&str>, n: Option<&str>) -> StoreResult<bool>;
        async fn disable_user(&self, name: &str, now: i64) -> StoreResult<Option<(u64, u64)>>;
        async fn enable_user(&self, name: &str) -> StoreResult<bool>;
        async fn create_session(&self, h: &str, s: &Session) -> StoreResult<bool>;
        async fn get_session(&self, h: &str, now: i64) -> StoreResult<Option<Session>>;
        async fn list_sessions(&self, u: &str, now: i64) -> StoreResult<Vec<SessionInfo>>;
        async fn delete_session(&self, h: &str) -> StoreResult<()>;
        async fn revoke_user(&self, u: &str, now: i64) -> StoreResult<(u64, u64)>;
        async fn grant_consent(&self, u: &str, c: &str, s: &[String]) -> StoreResult<()>;
        async fn get_consent(&self, u: &str, c: &str) -> StoreResult<Vec<String>>;
        async fn record_failure(&self, k: &str, now: i64, w: i64) -> StoreResult<u32>;
        async fn block_failures(&self, k: &str, until: i64) -> StoreResult<()>;
        async fn blocked_until(&self, k: &str, now: i64) -> StoreResult<Option<i64>>;
        async fn clear_failures(&self, k: &str) -> StoreResult<bool>;
});

parked!(GrantStore {
        async fn create_grant_with_code(&self, g: &Grant, c: &AuthorizationCode) -> StoreResult<bool>;
        async fn push_request(&self, r: &PushedRequest) -> StoreResult<()>;
        async fn get_pushed_request(&self, h: &str, now: i64) -> StoreResult<Option<PushedRequest>>;
        async fn extend_pushed_request(&self, h: &str, now: i64, until: i64) -> StoreResult<bool>;
        async fn consume_pushed_request(&self, h: &str, now: i64) -> StoreResult<bool>;
        async fn find_code(&self, h: &str) -> StoreResult<Option<StoredCode>>;
        async fn consume_code(&self, h: &str, now: i64) -> StoreResult<CodeConsumption>;
        async fn redeem_code_and_issue(&self, h: &str, now: i64, t: &NewTokens) -> StoreResult<Issued>;
        async fn find_refresh_token(&self, h: &str) -> StoreResult<Option<RefreshTokenState>>;
        async fn rotate_refresh_and_issue(&self, h: &str, now: i64, r: Rotation, t: &NewTokens) -> StoreResult<Issued>;
        async fn issue_client_credentials(&self, g: &Grant, t: &NewTokens) -> StoreResult<bool>;
        async fn revoke_grant(&self, id: &str, now: i64) -> StoreResult<bool>;
        async fn grant_username(&self, g: &str) -> StoreResult<Option<String>>;
        async fn access_token_active(&self, jti: &str, now: i64) -> StoreResult<bool>;
        async fn get_access_token(&self, jti: &str, now: i64) -> StoreResult<Option<AccessTokenRecord>>;
        async fn revoke_access_token(&self, jti: &str, c: &str, now: i64) -> StoreResult<bool>;
        async fn get_refresh_token(&self, h: &str, now: i64) -> StoreResult<Option<RefreshTokenRecord>>;
});

parked!(DeviceStore {
        async fn insert_device_code(&self, d: &DeviceCode) -> StoreResult<()>;
        async fn pending_device_code(&self, h: &str, now: i64) -> StoreResult<Option<DeviceCode>>;
        async fn decide_device_code(&self, h: &str, now: i64, d: &DeviceDecision) -> StoreResult<bool>;
        async fn poll_device_code(&self, h: &str, now: i64) -> StoreResult<DevicePoll>;
        async fn redeem_device_code_and_issue(&self, h: &str, now: i64, t: &NewTokens) -> StoreResult<Issued>;
});

parked!(KeyStore {
        async fn list_keys(&self) -> StoreResult<Vec<StoredKey>>;
        async fn insert_key(&self, k: &StoredKey) -> StoreResult<()>;
        async fn update_key_private(&self, kid: &str, p: &[u8]) -> StoreResult<bool>;
        async fn delete_key(&self, kid: &str) -> StoreResult<bool>;
        async fn setting_or_init(&self, n: &str, i: &str) -> StoreResult<String>;
});

#[async_trait]
impl Maintenance for Pausing {
    async fn sweep(&self, now: i64, before: i64) -> StoreResult<SweepCounts> {
        self.park("sweep").await;
        self.inner.sweep(now, before).await
    }
    async fn ping(&self) -> StoreResult<()> {
        self.park("ping").await;
        self.inner.ping().await
    }
    fn readiness(&self) -> proofkey_core::model::Readiness {
        self.inner.readiness()
    }
}

// ---------------------------------------------------------------------

const ISSUER: &str = "http://127.0.0.1:9";
const REDIRECT: &str = "http://127.0.0.1/cb";
const NOW: i64 = 1_800_000_000;

/// The provider on a wrapped SQLite store, with a public client "app", a
/// confidential "rs" that may introspect, and a user "u".
struct World {
    p: Provider,
    store: Arc<dyn Store>,
    arrivals: mpsc::UnboundedReceiver<ParkedMsg>,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("interleavings.db").display());
    let inner = proofkey_store::open(&url).await.unwrap();
    let (tx, arrivals) = mpsc::unbounded_channel();
    let store: Arc<dyn Store> = Arc::new(Pausing {
        inner,
        arrivals: tx,
    });
    let config = Config::for_issuer(ISSUER, &url).unwrap();
    let p = Provider::new(config, Arc::clone(&store), Arc::new(ManualClock::new(NOW)))
        .await
        .unwrap();
    for (id, kind) in [
        ("app", ClientKind::Public),
        ("rs", ClientKind::Confidential),
    ] {
        store
            .create_client(&Client {
                id: id.into(),
                name: id.into(),
                kind,
                redirect_uris: vec![REDIRECT.into()],
                scopes: vec!["openid".into(), "offline_access".into()],
                grant_types: vec!["authorization_code".into(), "refresh_token".into()],
                skip_consent: true,
                id_token_alg: "ES256".into(),
                rotate_refresh_tokens: true,
                ..Client::default()
            })
            .await
            .unwrap();
    }
    store
        .create_user(&User {
            id: "u".into(),
            username: "u".into(),
            email: None,
            name: None,
            password_hash: "-".into(),
            created_at: 0,
            disabled_at: None,
        })
        .await
        .unwrap();
    // Grants are created only for a user with a live session.
    store.create_session("session", &session()).await.unwrap();
    World {
        p,
        store,
        arrivals,
        _dir: dir,
    }
}

fn session() -> Session {
    Session {
        user_id: "u".into(),
        auth_time: NOW,
        expires_at: NOW + 3600,
    }
}

fn params(pairs: &[(&str, &str)]) -> Params {
    Params::new(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    )
}

fn token_request(pairs: &[(&str, &str)]) -> TokenRequest {
    TokenRequest {
        params: params(pairs),
        authorization: None,
        address: None,
        dpop: Default::default(),
    }
}

/// A fresh code for "u" and its verifier.
async fn new_code(w: &World) -> (String, String) {
    let (req, verifier) = authorization_request(w).await;
    let location = authorization::issue_code(&w.p, &req, &session())
        .await
        .unwrap();
    (code_in(&location), verifier)
}

fn code_in(location: &str) -> String {
    let url = url::Url::parse(location).unwrap();
    url.query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned()
}

/// A valid authorization request of "app", and its verifier.
async fn authorization_request(w: &World) -> (authorize::ValidRequest, String) {
    let verifier = proofkey_pkce::CodeVerifier::generate();
    let challenge = proofkey_pkce::CodeChallenge::s256(&verifier);
    let client = w.store.get_client("app").await.unwrap();
    let req = authorize::validate(
        &params(&[
            ("response_type", "code"),
            ("client_id", "app"),
            ("redirect_uri", REDIRECT),
            ("scope", "openid offline_access"),
            ("code_challenge", &challenge.as_str()),
            ("code_challenge_method", "S256"),
        ]),
        client,
        &w.p.config().pkce,
    )
    .unwrap();
    (req, verifier.secret().to_owned())
}

fn exchange(code: &str, verifier: &str) -> TokenRequest {
    token_request(&[
        ("grant_type", "authorization_code"),
        ("client_id", "app"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier),
    ])
}

fn refresh(token: &str) -> TokenRequest {
    token_request(&[
        ("grant_type", "refresh_token"),
        ("client_id", "app"),
        ("refresh_token", token),
    ])
}

/// What a request did: a token response, an error, or nothing to answer.
#[derive(Debug)]
enum Outcome {
    Tokens(Box<TokenResponse>),
    Refused(OAuthError),
    Done,
}

/// A request of a scenario.
#[derive(Clone)]
enum Request {
    Token(Arc<TokenRequest>),
    /// RFC 7009 revocation of a token by client "app".
    Revoke(String),
    /// An administrator revoking user "u".
    RevokeUser,
    /// The authorization endpoint issuing a code (a new grant), then its
    /// redemption.
    AuthorizeAndRedeem(Arc<(authorize::ValidRequest, String)>),
}

async fn run(p: &Provider, r: Request) -> Outcome {
    match r {
        Request::Token(req) => match grant::token(p, &req).await {
            Ok(t) => Outcome::Tokens(Box::new(t)),
            Err(e) => Outcome::Refused(e),
        },
        Request::Revoke(token) => {
            revocation::revoke(p, "app", &params(&[("token", &token)]))
                .await
                .unwrap();
            Outcome::Done
        }
        Request::RevokeUser => {
            p.store().revoke_user("u", p.now()).await.unwrap();
            Outcome::Done
        }
        Request::AuthorizeAndRedeem(req) => {
            let location = match authorization::issue_code(p, &req.0, &session()).await {
                Ok(l) => l,
                Err(e) => return Outcome::Refused(e),
            };
            match grant::token(p, &exchange(&code_in(&location), &req.1)).await {
                Ok(t) => Outcome::Tokens(Box::new(t)),
                Err(e) => Outcome::Refused(e),
            }
        }
    }
}

/// One run of two requests in the order `choices` says (the first
/// choices; the first parked request after them). Returns the choices
/// made, how many there were at each point, the calls in the order they
/// ran, and each request's outcome.
async fn run_schedule(
    w: &mut World,
    p: &Arc<Provider>,
    requests: [Request; 2],
    choices: &[usize],
) -> (
    Vec<(usize, usize)>,
    Vec<(usize, &'static str)>,
    [Outcome; 2],
) {
    let mut tasks: Vec<Option<JoinHandle<Outcome>>> = requests
        .into_iter()
        .enumerate()
        .map(|(actor, r)| {
            let p = Arc::clone(p);
            Some(tokio::spawn(
                ACTOR.scope(actor, async move { run(&p, r).await }),
            ))
        })
        .collect();
    let mut parked: [Option<Parked>; 2] = [None, None];
    let mut outcomes: [Option<Outcome>; 2] = [None, None];
    // Each request's first event: a parked call, or the end.
    for actor in 0..2 {
        next_event(w, &mut tasks, &mut parked, &mut outcomes, actor).await;
    }
    let mut made = vec![];
    let mut order = vec![];
    loop {
        let ready: Vec<usize> = (0..2).filter(|a| parked[*a].is_some()).collect();
        let pick = match ready.len() {
            0 => break,
            1 => ready[0],
            n => {
                let c = choices.get(made.len()).copied().unwrap_or(0);
                made.push((c, n));
                ready[c]
            }
        };
        let call = parked[pick].take().unwrap();
        order.push((pick, call.call));
        call.go.send(()).unwrap();
        next_event(w, &mut tasks, &mut parked, &mut outcomes, pick).await;
    }
    let [a, b] = outcomes;
    (made, order, [a.unwrap(), b.unwrap()])
}

/// Waits for `actor`'s next parked call or its end. (The other request is
/// parked or done, so any arrival is `actor`'s.)
async fn next_event(
    w: &mut World,
    tasks: &mut [Option<JoinHandle<Outcome>>],
    parked: &mut [Option<Parked>; 2],
    outcomes: &mut [Option<Outcome>; 2],
    actor: usize,
) {
    let Some(task) = tasks[actor].as_mut() else {
        return;
    };
    tokio::select! {
        msg = w.arrivals.recv() => {
            let call = msg.unwrap().0;
            assert_eq!(call.actor, actor, "only {actor} was running");
            parked[actor] = Some(call);
        }
        done = task => {
            outcomes[actor] = Some(done.unwrap());
            tasks[actor] = None;
        }
    }
}

/// Whether any token of these responses is accepted anywhere.
async fn survivors(p: &Provider, responses: &[&TokenResponse]) -> Vec<String> {
    let rs = p.store().get_client("rs").await.unwrap().unwrap();
    let mut alive = vec![];
    for r in responses {
        if userinfo::userinfo(p, &r.access_token, userinfo::Presentation::Bearer)
            .await
            .is_ok()
        {
            alive.push(format!("access token at UserInfo: {r:?}"));
        }
        let v = revocation::introspect(p, &rs, &params(&[("token", &r.access_token)]))
            .await
            .unwrap();
        if v["active"] != false {
            alive.push(format!("access token by introspection: {v}"));
        }
        if let Some(rt) = &r.refresh_token {
            if grant::token(p, &refresh(rt.expose())).await.is_ok() {
                alive.push("refresh token at the token endpoint".into());
            }
        }
    }
    alive
}

/// How a scenario makes its grant and its two requests.
#[derive(Clone, Copy, Debug)]
enum Scenario {
    RefreshTwice,
    RedeemTwice,
    RefreshAndRevoke,
    RedeemAndRevokeUser,
    AuthorizeAndRevokeUser,
}

async fn prepare(w: &World, s: Scenario) -> ([Request; 2], Vec<TokenResponse>) {
    if let Scenario::AuthorizeAndRevokeUser = s {
        // Each run revokes the user's sessions: give it one again.
        w.store.create_session("session", &session()).await.ok();
        let req = authorization_request(w).await;
        return (
            [
                Request::AuthorizeAndRedeem(Arc::new(req)),
                Request::RevokeUser,
            ],
            vec![],
        );
    }
    w.store.create_session("session", &session()).await.ok();
    let (code, verifier) = new_code(w).await;
    let redeem = Request::Token(Arc::new(exchange(&code, &verifier)));
    match s {
        Scenario::AuthorizeAndRevokeUser => unreachable!(),
        Scenario::RedeemTwice => ([redeem.clone(), redeem], vec![]),
        Scenario::RedeemAndRevokeUser => ([redeem, Request::RevokeUser], vec![]),
        Scenario::RefreshTwice | Scenario::RefreshAndRevoke => {
            let first = grant::token(&w.p, &exchange(&code, &verifier))
                .await
                .unwrap();
            let rt = first.refresh_token.as_ref().unwrap().expose().to_owned();
            let again = Request::Token(Arc::new(refresh(&rt)));
            let other = match s {
                Scenario::RefreshTwice => again.clone(),
                _ => Request::Revoke(rt),
            };
            ([again, other], vec![first])
        }
    }
}

/// Walks every schedule of `scenario` depth first; returns how many ran.
async fn explore(scenario: Scenario) -> usize {
    let mut w = world().await;
    // The provider the requests share (its store is the wrapper).
    let p = Arc::new(
        Provider::new(
            w.p.config().clone(),
            Arc::clone(&w.store),
            Arc::new(ManualClock::new(NOW)),
        )
        .await
        .unwrap(),
    );
    // Clients are cached by the injected clock, which stands still: read
    // once now, never again by the requests.
    p.clients().get("app").await.unwrap();
    let mut pending: Vec<Vec<usize>> = vec![vec![]];
    let mut seen = BTreeSet::new();
    let mut runs = 0;
    while let Some(prefix) = pending.pop() {
        let (requests, earlier) = prepare(&w, scenario).await;
        let (made, order, outcomes) = run_schedule(&mut w, &p, requests, &prefix).await;
        runs += 1;
        let shown: Vec<String> = order.iter().map(|(a, c)| format!("{a}:{c}")).collect();
        assert!(seen.insert(shown.clone()), "schedule run twice: {shown:?}");
        let taken: Vec<usize> = made.iter().map(|(c, _)| *c).collect();
        assert!(
            taken.starts_with(&prefix),
            "the same choices, the same schedule"
        );
        check(scenario, &p, &order, &outcomes, &earlier, &shown).await;
        // Past the prefix the run took the first option at each point:
        // branch to every other.
        for (i, (_, n)) in made.iter().enumerate().skip(prefix.len()) {
            for alt in 1..*n {
                let mut branch = taken[..i].to_vec();
                branch.push(alt);
                pending.push(branch);
            }
        }
    }
    runs
}

async fn check(
    scenario: Scenario,
    p: &Provider,
    order: &[(usize, &'static str)],
    outcomes: &[Outcome; 2],
    earlier: &[TokenResponse],
    shown: &[String],
) {
    for o in outcomes {
        if let Outcome::Refused(e) = o {
            let expected = match scenario {
                // The code is refused at the authorization endpoint.
                Scenario::AuthorizeAndRevokeUser
                    if e.code == proofkey_core::ErrorCode::AccessDenied =>
                {
                    proofkey_core::ErrorCode::AccessDenied
                }
                _ => proofkey_core::ErrorCode::InvalidGrant,
            };
            assert_eq!(e.code, expected, "{e} after {shown:?}");
        }
    }
    let issued: Vec<&TokenResponse> = outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Tokens(t) => Some(t.as_ref()),
            _ => None,
        })
        .collect();
    match scenario {
        Scenario::RefreshTwice | Scenario::RedeemTwice => {
            assert_eq!(issued.len(), 1, "exactly one wins: {shown:?} {outcomes:?}");
        }
        Scenario::RefreshAndRevoke
        | Scenario::RedeemAndRevokeUser
        | Scenario::AuthorizeAndRevokeUser => {
            // Tokens only for an issuance that ran before the revocation.
            let at = |name: &str| order.iter().position(|(_, c)| *c == name);
            let issuance = at("rotate_refresh_and_issue").or(at("redeem_code_and_issue"));
            let revocation = at("revoke_grant").or(at("revoke_user"));
            let issued_first = matches!((issuance, revocation), (Some(i), Some(r)) if i < r);
            assert_eq!(
                !issued.is_empty(),
                issued_first,
                "tokens if and only if issued before the revocation: {shown:?} {outcomes:?}"
            );
        }
    }
    let mut all: Vec<&TokenResponse> = earlier.iter().collect();
    all.extend(issued);
    let alive = survivors(p, &all).await;
    assert!(alive.is_empty(), "{alive:?} after {shown:?}");
}

#[tokio::test]
async fn two_refreshes_of_one_token_leave_no_survivor_in_any_order() {
    // Three store calls each (find the token, read its user, rotate and
    // issue): C(6, 3) orders.
    assert_eq!(explore(Scenario::RefreshTwice).await, 20);
}

#[tokio::test]
async fn two_redemptions_of_one_code_leave_no_survivor_in_any_order() {
    // Two each (find the code, redeem and issue): C(4, 2) orders.
    assert_eq!(explore(Scenario::RedeemTwice).await, 6);
}

#[tokio::test]
async fn a_refresh_racing_its_revocation_leaves_no_survivor_in_any_order() {
    // Three calls, and the revocation's two (find the token, revoke its
    // grant): C(5, 2) orders.
    assert_eq!(explore(Scenario::RefreshAndRevoke).await, 10);
}

#[tokio::test]
async fn an_authorization_racing_the_revocation_of_its_user_leaves_no_survivor_in_any_order() {
    // Three calls (create the grant and its code, find the code, redeem
    // and issue), and the administrator's one: C(4, 1) orders. Revoked
    // before the grant exists, the grant is never created; after, it is
    // revoked with the user's others.
    assert_eq!(explore(Scenario::AuthorizeAndRevokeUser).await, 4);
}

#[tokio::test]
async fn a_redemption_racing_the_revocation_of_its_user_leaves_no_survivor_in_any_order() {
    // Two calls, and the administrator's one: C(3, 1) orders.
    assert_eq!(explore(Scenario::RedeemAndRevokeUser).await, 3);
}
