//! Who may read the catalog API and /metrics, decided by the cluster's own RBAC.
//!
//! A caller sends a Bearer token (a ServiceAccount token, say). A TokenReview says who it is; a
//! SubjectAccessReview per kind says whether that identity may `list` the kind's resource
//! (`catalog.playbill.dev`) in every namespace, and if not, in which of the namespaces that hold
//! catalog entities. The answer is an [`Access`]: the caller sees exactly what `kubectl get` would
//! show it. Both reviews are cached briefly, so a burst of requests costs the API server a few
//! calls. `/metrics` is checked the way controller-runtime's secure metrics are: `get` on the
//! non-resource URL `/metrics`.
//!
//! The API-server calls live in [`KubeReviewer`]; the caching and the decision in [`Authorizer`]
//! and [`Access`] work against any [`Reviewer`], which is how the unit tests drive them.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use k8s_openapi::api::authorization::v1::{
    NonResourceAttributes, ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use tokio::sync::OnceCell;

use crate::api::GROUP;
use crate::model::Kind;

/// What a caller of the catalog API may read. The namespace is the Kubernetes namespace the
/// entity's object lives in.
pub trait Visibility: Send + Sync {
    fn may_read(&self, kind: Kind, namespace: &str) -> bool;
}

/// How the catalog API (or /metrics) authenticates its callers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthMode {
    /// A Bearer token, checked by TokenReview; what it may read, by SubjectAccessReviews.
    Rbac,
    /// No check: whoever reaches the port reads everything. For trusted networks only.
    None,
}

/// An authenticated caller, as the TokenReview reported it. Every field takes part in the
/// SubjectAccessReviews, so all of them identify the caller in the caches.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Caller {
    pub user: String,
    pub uid: String,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
}

/// One question put to the API server's authorizer.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Question {
    /// `list` on a catalog kind, in one namespace or (None) in all of them.
    List {
        kind: Kind,
        namespace: Option<String>,
    },
    /// `get` on a non-resource URL such as `/metrics`.
    Get { path: String },
}

/// The API server could not answer a review.
#[derive(Debug, thiserror::Error)]
#[error("the {review} failed: {source}")]
pub struct ReviewError {
    review: &'static str,
    #[source]
    source: kube::Error,
}

/// The two reviews, against some API server.
pub trait Reviewer: Send + Sync + 'static {
    /// Who the token belongs to; None if it is not valid.
    fn authenticate(
        &self,
        token: &str,
    ) -> impl Future<Output = Result<Option<Caller>, ReviewError>> + Send;
    /// Whether the caller may do what the question asks.
    fn authorize(
        &self,
        caller: &Caller,
        question: &Question,
    ) -> impl Future<Output = Result<bool, ReviewError>> + Send;
}

/// The reviews as TokenReview and SubjectAccessReview objects created on the API server (the
/// operator's ClusterRole grants `create` on both and nothing more for this).
pub struct KubeReviewer {
    client: kube::Client,
}

impl KubeReviewer {
    pub fn new(client: kube::Client) -> KubeReviewer {
        KubeReviewer { client }
    }
}

impl Reviewer for KubeReviewer {
    async fn authenticate(&self, token: &str) -> Result<Option<Caller>, ReviewError> {
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: token.to_owned(),
                audiences: None,
            },
            ..Default::default()
        };
        let api = kube::Api::<TokenReview>::all(self.client.clone());
        let answer = api
            .create(&Default::default(), &review)
            .await
            .map_err(|source| ReviewError {
                review: "TokenReview",
                source,
            })?;
        let Some(status) = answer.status else {
            return Ok(None);
        };
        if status.authenticated != Some(true) {
            return Ok(None);
        }
        let user = status.user.unwrap_or_default();
        Ok(Some(Caller {
            user: user.username.unwrap_or_default(),
            uid: user.uid.unwrap_or_default(),
            groups: user.groups.unwrap_or_default(),
            extra: user.extra.unwrap_or_default(),
        }))
    }

    async fn authorize(&self, caller: &Caller, question: &Question) -> Result<bool, ReviewError> {
        let mut spec = SubjectAccessReviewSpec {
            user: Some(caller.user.clone()),
            uid: Some(caller.uid.clone()).filter(|u| !u.is_empty()),
            groups: Some(caller.groups.clone()),
            extra: Some(caller.extra.clone()).filter(|e| !e.is_empty()),
            ..Default::default()
        };
        match question {
            Question::List { kind, namespace } => {
                spec.resource_attributes = Some(ResourceAttributes {
                    group: Some(GROUP.to_owned()),
                    resource: Some(crate::api::api_resource(*kind).plural),
                    verb: Some("list".to_owned()),
                    namespace: namespace.clone(),
                    ..Default::default()
                });
            }
            Question::Get { path } => {
                spec.non_resource_attributes = Some(NonResourceAttributes {
                    path: Some(path.clone()),
                    verb: Some("get".to_owned()),
                });
            }
        }
        let review = SubjectAccessReview {
            spec,
            ..Default::default()
        };
        let api = kube::Api::<SubjectAccessReview>::all(self.client.clone());
        let answer = api
            .create(&Default::default(), &review)
            .await
            .map_err(|source| ReviewError {
                review: "SubjectAccessReview",
                source,
            })?;
        Ok(answer.status.is_some_and(|s| s.allowed))
    }
}

/// A bounded map whose entries expire, in which concurrent lookups of one key share a single
/// computation. A failed computation is not kept: the next lookup tries again.
struct TtlCache<K, V> {
    ttl: Duration,
    capacity: usize,
    slots: Mutex<HashMap<K, Slot<V>>>,
}

/// When an entry was made, and its value once computed.
type Slot<V> = (Instant, Arc<OnceCell<V>>);

impl<K: Clone + Eq + Hash, V: Clone> TtlCache<K, V> {
    fn new(ttl: Duration, capacity: usize) -> TtlCache<K, V> {
        TtlCache {
            ttl,
            capacity: capacity.max(1),
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// The cell for `key` at `now`: the live one, or a new empty one that replaces an expired
    /// one. A full map first drops what expired, then, if still full, one live entry.
    fn slot(&self, key: &K, now: Instant) -> Arc<OnceCell<V>> {
        let mut slots = self.slots.lock().expect("cache lock");
        if let Some((born, cell)) = slots.get(key)
            && now.duration_since(*born) < self.ttl
        {
            return cell.clone();
        }
        if slots.len() >= self.capacity && !slots.contains_key(key) {
            let ttl = self.ttl;
            slots.retain(|_, (born, _)| now.duration_since(*born) < ttl);
            if slots.len() >= self.capacity
                && let Some(victim) = slots.keys().next().cloned()
            {
                slots.remove(&victim);
            }
        }
        let cell = Arc::new(OnceCell::new());
        slots.insert(key.clone(), (now, cell.clone()));
        cell
    }

    async fn get_or_try<E, F, Fut>(&self, key: &K, now: Instant, compute: F) -> Result<V, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        let cell = self.slot(key, now);
        cell.get_or_try_init(compute).await.cloned()
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.slots.lock().expect("cache lock").len()
    }
}

/// What one caller may read of each kind.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Scope {
    Everywhere,
    In(BTreeSet<String>),
}

/// What a caller may read: per kind, every namespace or a set of them (possibly none).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Access {
    scopes: [Scope; 7],
}

fn slot_of(kind: Kind) -> usize {
    Kind::ALL
        .iter()
        .position(|k| *k == kind)
        .expect("every kind is in Kind::ALL")
}

impl Access {
    /// Everything in every namespace.
    pub fn everything() -> Access {
        Access {
            scopes: std::array::from_fn(|_| Scope::Everywhere),
        }
    }

    /// Nothing at all.
    pub fn nothing() -> Access {
        Access {
            scopes: std::array::from_fn(|_| Scope::In(BTreeSet::new())),
        }
    }

    /// Read of one kind everywhere.
    fn allow_everywhere(&mut self, kind: Kind) {
        self.scopes[slot_of(kind)] = Scope::Everywhere;
    }

    /// Read of one kind in one more namespace.
    fn allow_in(&mut self, kind: Kind, namespace: &str) {
        if let Scope::In(namespaces) = &mut self.scopes[slot_of(kind)] {
            namespaces.insert(namespace.to_owned());
        }
    }

    /// The namespaces it may read of `kind`, None meaning all (for logs and tests).
    pub fn namespaces(&self, kind: Kind) -> Option<&BTreeSet<String>> {
        match &self.scopes[slot_of(kind)] {
            Scope::Everywhere => None,
            Scope::In(namespaces) => Some(namespaces),
        }
    }
}

impl Visibility for Access {
    fn may_read(&self, kind: Kind, namespace: &str) -> bool {
        match &self.scopes[slot_of(kind)] {
            Scope::Everywhere => true,
            Scope::In(namespaces) => namespaces.contains(namespace),
        }
    }
}

/// How long reviews are trusted and how many are kept.
#[derive(Clone, Copy, Debug)]
pub struct CacheLimits {
    pub ttl: Duration,
    pub capacity: usize,
}

impl Default for CacheLimits {
    /// Ten seconds for each review and for what a caller may read (worked out from reviews that
    /// may be as old): a revoked RoleBinding or ServiceAccount stops working within 20 s.
    fn default() -> CacheLimits {
        CacheLimits {
            ttl: Duration::from_secs(10),
            capacity: 10_000,
        }
    }
}

/// How many SubjectAccessReviews one request may have in flight.
const CONCURRENT_REVIEWS: usize = 16;

/// The namespaces that hold catalog entities right now.
pub type NamespaceSource = Box<dyn Fn() -> Vec<String> + Send + Sync>;

/// Authenticates tokens and works out what their holders may read, with cached reviews.
pub struct Authorizer<R> {
    reviewer: R,
    namespaces: NamespaceSource,
    /// Keyed by the SHA-256 of the token, so the cache holds no credentials.
    tokens: TtlCache<[u8; 32], Option<Caller>>,
    answers: TtlCache<(Caller, Question), bool>,
    /// What each caller may read, so a burst of requests neither asks the caches per namespace
    /// nor takes the operator's state lock for each.
    accesses: TtlCache<Caller, Arc<Access>>,
}

fn token_key(token: &str) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    let mut key = [0; 32];
    key.copy_from_slice(digest.as_ref());
    key
}

impl<R: Reviewer> Authorizer<R> {
    pub fn new(reviewer: R, namespaces: NamespaceSource, limits: CacheLimits) -> Authorizer<R> {
        Authorizer {
            reviewer,
            namespaces,
            tokens: TtlCache::new(limits.ttl, limits.capacity),
            answers: TtlCache::new(limits.ttl, limits.capacity),
            accesses: TtlCache::new(limits.ttl, limits.capacity),
        }
    }

    /// Who holds the token; None if it is not valid.
    pub async fn authenticate(&self, token: &str) -> Result<Option<Caller>, ReviewError> {
        self.tokens
            .get_or_try(&token_key(token), Instant::now(), || {
                self.reviewer.authenticate(token)
            })
            .await
    }

    /// Whether the caller may do what the question asks.
    pub async fn allowed(&self, caller: &Caller, question: &Question) -> Result<bool, ReviewError> {
        let key = (caller.clone(), question.clone());
        self.answers
            .get_or_try(&key, Instant::now(), || {
                self.reviewer.authorize(caller, question)
            })
            .await
    }

    /// What the caller may read: each kind it may list cluster-wide, and for the others the
    /// namespaces holding catalog entities in which it may list them.
    pub async fn access(&self, caller: &Caller) -> Result<Arc<Access>, ReviewError> {
        self.accesses
            .get_or_try(caller, Instant::now(), || async {
                self.work_out_access(caller).await.map(Arc::new)
            })
            .await
    }

    async fn work_out_access(&self, caller: &Caller) -> Result<Access, ReviewError> {
        let cluster_wide: Vec<(Kind, bool)> = futures::stream::iter(Kind::ALL)
            .map(|kind| async move {
                let question = Question::List {
                    kind,
                    namespace: None,
                };
                Ok::<_, ReviewError>((kind, self.allowed(caller, &question).await?))
            })
            .buffer_unordered(CONCURRENT_REVIEWS)
            .try_collect()
            .await?;
        let mut access = Access::nothing();
        let mut rest = Vec::new();
        for (kind, allowed) in cluster_wide {
            match allowed {
                true => access.allow_everywhere(kind),
                false => rest.push(kind),
            }
        }
        if rest.is_empty() {
            return Ok(access);
        }
        let namespaces: BTreeSet<String> = (self.namespaces)().into_iter().collect();
        let mut questions = Vec::with_capacity(rest.len() * namespaces.len());
        for kind in rest {
            for namespace in &namespaces {
                questions.push((kind, namespace.clone()));
            }
        }
        let answers: Vec<(Kind, String, bool)> = futures::stream::iter(questions)
            .map(|(kind, namespace)| async move {
                let question = Question::List {
                    kind,
                    namespace: Some(namespace.clone()),
                };
                let allowed = self.allowed(caller, &question).await?;
                Ok::<_, ReviewError>((kind, namespace, allowed))
            })
            .buffer_unordered(CONCURRENT_REVIEWS)
            .try_collect()
            .await?;
        for (kind, namespace, allowed) in answers {
            if allowed {
                access.allow_in(kind, &namespace);
            }
        }
        Ok(access)
    }

    #[cfg(test)]
    fn cached(&self) -> (usize, usize, usize) {
        (self.tokens.len(), self.answers.len(), self.accesses.len())
    }
}

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// An error in the shape Backstage's backends answer with, so its clients show the message.
pub fn error_response(
    status: StatusCode,
    name: &str,
    message: &str,
    method: &str,
    path: &str,
) -> Response {
    let body = serde_json::json!({
        "error": {"name": name, "message": message},
        "request": {"method": method, "url": path},
        "response": {"statusCode": status.as_u16()},
    });
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body.to_string(),
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, "Bearer".parse().expect("valid"));
    }
    response
}

/// Why a request was turned away before its handler ran.
enum Refusal {
    NoToken,
    BadToken,
    Forbidden,
    Unavailable(ReviewError),
}

impl Refusal {
    fn respond(self, request: &Request) -> Response {
        let (status, name, message) = match &self {
            Refusal::NoToken => (
                StatusCode::UNAUTHORIZED,
                "AuthenticationError",
                "no Bearer token: send a Kubernetes token (a ServiceAccount's, say) in the Authorization header".to_owned(),
            ),
            Refusal::BadToken => (
                StatusCode::UNAUTHORIZED,
                "AuthenticationError",
                "the Bearer token is not valid".to_owned(),
            ),
            Refusal::Forbidden => (
                StatusCode::FORBIDDEN,
                "NotAllowedError",
                format!("not allowed to get {}", request.uri().path()),
            ),
            Refusal::Unavailable(e) => {
                tracing::warn!(error = %e, "cannot check a caller");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "ServiceUnavailableError",
                    "cannot check the caller's token or permissions with the Kubernetes API server".to_owned(),
                )
            }
        };
        error_response(
            status,
            name,
            &message,
            request.method().as_str(),
            request.uri().path(),
        )
    }
}

/// The caller holding the request's token. (Takes the headers' token, not the request: a
/// request is not `Sync`, so a reference to it cannot be held across an await.)
async fn caller_of<R: Reviewer>(
    auth: &Authorizer<R>,
    token: Option<String>,
) -> Result<Caller, Refusal> {
    let token = token.ok_or(Refusal::NoToken)?;
    auth.authenticate(&token)
        .await
        .map_err(Refusal::Unavailable)?
        .ok_or(Refusal::BadToken)
}

/// Middleware for the catalog routes: authenticates the caller and hands the handlers what it
/// may read as an `Arc<dyn Visibility>` request extension.
pub async fn require_reader<R: Reviewer>(
    State(auth): State<Arc<Authorizer<R>>>,
    mut request: Request,
    next: Next,
) -> Response {
    let token = bearer_token(request.headers()).map(str::to_owned);
    let access = match caller_of(&auth, token).await {
        Ok(caller) => auth.access(&caller).await.map_err(Refusal::Unavailable),
        Err(refusal) => Err(refusal),
    };
    match access {
        Ok(access) => {
            let visibility: Arc<dyn Visibility> = access;
            request.extensions_mut().insert(visibility);
            next.run(request).await
        }
        Err(refusal) => refusal.respond(&request),
    }
}

/// Middleware for a non-resource URL such as /metrics: the caller needs `get` on its path.
pub async fn require_get<R: Reviewer>(
    State(auth): State<Arc<Authorizer<R>>>,
    request: Request,
    next: Next,
) -> Response {
    let question = Question::Get {
        path: request.uri().path().to_owned(),
    };
    let token = bearer_token(request.headers()).map(str::to_owned);
    let verdict = match caller_of(&auth, token).await {
        Ok(caller) => match auth.allowed(&caller, &question).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(Refusal::Forbidden),
            Err(e) => Err(Refusal::Unavailable(e)),
        },
        Err(refusal) => Err(refusal),
    };
    match verdict {
        Ok(()) => next.run(request).await,
        Err(refusal) => refusal.respond(&request),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A reviewer with fixed answers that counts the calls it gets.
    #[derive(Default)]
    struct Fake {
        /// token -> user
        tokens: BTreeMap<String, String>,
        /// (user, question) allowed
        allowed: BTreeSet<(String, String)>,
        down: std::sync::atomic::AtomicBool,
        authentications: AtomicUsize,
        authorizations: AtomicUsize,
    }

    fn describe(q: &Question) -> String {
        match q {
            Question::List { kind, namespace } => {
                format!(
                    "list {} {}",
                    kind.lower(),
                    namespace.as_deref().unwrap_or("*")
                )
            }
            Question::Get { path } => format!("get {path}"),
        }
    }

    fn unavailable(review: &'static str) -> ReviewError {
        ReviewError {
            review,
            source: kube::Error::Service("connection refused".into()),
        }
    }

    impl Reviewer for Arc<Fake> {
        async fn authenticate(&self, token: &str) -> Result<Option<Caller>, ReviewError> {
            self.authentications.fetch_add(1, Ordering::SeqCst);
            tokio::task::yield_now().await;
            if self.down.load(Ordering::SeqCst) {
                return Err(unavailable("TokenReview"));
            }
            Ok(self.tokens.get(token).map(|user| Caller {
                user: user.clone(),
                uid: format!("uid-{user}"),
                groups: vec!["system:authenticated".into()],
                extra: BTreeMap::new(),
            }))
        }
        async fn authorize(&self, caller: &Caller, q: &Question) -> Result<bool, ReviewError> {
            self.authorizations.fetch_add(1, Ordering::SeqCst);
            tokio::task::yield_now().await;
            if self.down.load(Ordering::SeqCst) {
                return Err(unavailable("SubjectAccessReview"));
            }
            Ok(self.allowed.contains(&(caller.user.clone(), describe(q))))
        }
    }

    fn fake(allowed: &[(&str, &str)]) -> Arc<Fake> {
        Arc::new(Fake {
            tokens: [("t-alice", "alice"), ("t-bob", "bob"), ("t-carol", "carol")]
                .into_iter()
                .map(|(t, u)| (t.to_owned(), u.to_owned()))
                .collect(),
            allowed: allowed
                .iter()
                .map(|(u, q)| (u.to_string(), q.to_string()))
                .collect(),
            ..Fake::default()
        })
    }

    fn authorizer(reviewer: Arc<Fake>, limits: CacheLimits) -> Authorizer<Arc<Fake>> {
        Authorizer::new(
            reviewer,
            Box::new(|| vec!["team-a".into(), "team-b".into(), "team-a".into()]),
            limits,
        )
    }

    const ALL_KINDS: [&str; 7] = [
        "component",
        "system",
        "api",
        "resource",
        "domain",
        "group",
        "user",
    ];

    #[tokio::test]
    async fn cluster_wide_list_sees_everything_without_asking_per_namespace() {
        let allowed: Vec<(&str, String)> = ALL_KINDS
            .iter()
            .map(|k| ("alice", format!("list {k} *")))
            .collect();
        let allowed: Vec<(&str, &str)> = allowed.iter().map(|(u, q)| (*u, q.as_str())).collect();
        let reviewer = fake(&allowed);
        let auth = authorizer(reviewer.clone(), CacheLimits::default());
        let alice = auth.authenticate("t-alice").await.unwrap().unwrap();
        assert_eq!(alice.user, "alice");
        let access = auth.access(&alice).await.unwrap();
        assert_eq!(*access, Access::everything());
        assert!(access.may_read(Kind::User, "anywhere"));
        assert_eq!(reviewer.authorizations.load(Ordering::SeqCst), 7);
    }

    #[tokio::test]
    async fn namespaced_permissions_are_asked_per_namespace_holding_entities() {
        let mut allowed: Vec<(&str, String)> = ALL_KINDS
            .iter()
            .map(|k| ("bob", format!("list {k} team-a")))
            .collect();
        allowed.push(("bob", "list user *".into()));
        let allowed: Vec<(&str, &str)> = allowed.iter().map(|(u, q)| (*u, q.as_str())).collect();
        let reviewer = fake(&allowed);
        let auth = authorizer(reviewer.clone(), CacheLimits::default());
        let bob = auth.authenticate("t-bob").await.unwrap().unwrap();
        let access = auth.access(&bob).await.unwrap();
        assert!(access.may_read(Kind::Component, "team-a"));
        assert!(!access.may_read(Kind::Component, "team-b"));
        assert!(!access.may_read(Kind::Api, "elsewhere"));
        assert!(access.may_read(Kind::User, "team-b"));
        assert_eq!(access.namespaces(Kind::User), None);
        assert_eq!(
            access.namespaces(Kind::System).unwrap(),
            &BTreeSet::from(["team-a".to_owned()])
        );
        // 7 cluster-wide questions, then 6 kinds x 2 distinct namespaces.
        assert_eq!(reviewer.authorizations.load(Ordering::SeqCst), 7 + 12);
    }

    #[tokio::test]
    async fn a_caller_with_no_permission_sees_nothing() {
        let reviewer = fake(&[("alice", "list component *")]);
        let auth = authorizer(reviewer, CacheLimits::default());
        let carol = auth.authenticate("t-carol").await.unwrap().unwrap();
        let access = auth.access(&carol).await.unwrap();
        assert_eq!(*access, Access::nothing());
        for kind in Kind::ALL {
            assert!(!access.may_read(kind, "team-a"));
        }
    }

    #[tokio::test]
    async fn reviews_are_cached_and_a_bad_token_is_none() {
        let reviewer = fake(&[("alice", "get /metrics")]);
        let auth = authorizer(reviewer.clone(), CacheLimits::default());
        assert_eq!(auth.authenticate("nope").await.unwrap(), None);
        assert_eq!(auth.authenticate("nope").await.unwrap(), None);
        let alice = auth.authenticate("t-alice").await.unwrap().unwrap();
        let metrics = Question::Get {
            path: "/metrics".into(),
        };
        for _ in 0..3 {
            assert!(auth.allowed(&alice, &metrics).await.unwrap());
            auth.access(&alice).await.unwrap();
        }
        assert_eq!(reviewer.authentications.load(Ordering::SeqCst), 2);
        // /metrics once, then 7 + 7 x 2 for the first access only.
        assert_eq!(reviewer.authorizations.load(Ordering::SeqCst), 1 + 7 + 14);
        assert_eq!(auth.cached(), (2, 1 + 7 + 14, 1));
    }

    #[tokio::test]
    async fn concurrent_identical_reviews_are_coalesced() {
        let reviewer = fake(&[]);
        let auth = authorizer(reviewer.clone(), CacheLimits::default());
        let all = futures::future::join_all((0..20).map(|_| auth.authenticate("t-alice"))).await;
        assert!(all.iter().all(|r| r.as_ref().unwrap().is_some()));
        assert_eq!(reviewer.authentications.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn expired_reviews_are_asked_again() {
        let reviewer = fake(&[]);
        let limits = CacheLimits {
            ttl: Duration::ZERO,
            capacity: 100,
        };
        let auth = authorizer(reviewer.clone(), limits);
        auth.authenticate("t-alice").await.unwrap();
        auth.authenticate("t-alice").await.unwrap();
        assert_eq!(reviewer.authentications.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn an_api_server_that_does_not_answer_is_an_error_and_not_cached() {
        let reviewer = fake(&[]);
        let auth = authorizer(reviewer.clone(), CacheLimits::default());
        reviewer.down.store(true, Ordering::SeqCst);
        assert!(auth.authenticate("t-alice").await.is_err());
        reviewer.down.store(false, Ordering::SeqCst);
        let alice = auth.authenticate("t-alice").await.unwrap().unwrap();
        reviewer.down.store(true, Ordering::SeqCst);
        let e = auth.access(&alice).await.unwrap_err();
        assert!(e.to_string().contains("SubjectAccessReview"), "{e}");
    }

    #[test]
    fn the_cache_stays_within_its_capacity() {
        let cache: TtlCache<u32, u32> = TtlCache::new(Duration::from_secs(60), 3);
        let start = Instant::now();
        for k in 0..10 {
            cache.slot(&k, start);
            assert!(cache.len() <= 3);
        }
        // Expired entries go first.
        let later = start + Duration::from_secs(61);
        cache.slot(&100, later);
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn bearer_tokens_are_read_from_the_authorization_header() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer_token(&headers), None);
        headers.insert(header::AUTHORIZATION, "Bearer abc.def".parse().unwrap());
        assert_eq!(bearer_token(&headers), Some("abc.def"));
        headers.insert(header::AUTHORIZATION, "bearer  xyz ".parse().unwrap());
        assert_eq!(bearer_token(&headers), Some("xyz"));
        headers.insert(header::AUTHORIZATION, "Basic dXNlcg==".parse().unwrap());
        assert_eq!(bearer_token(&headers), None);
        headers.insert(header::AUTHORIZATION, "Bearer ".parse().unwrap());
        assert_eq!(bearer_token(&headers), None);
    }

    #[test]
    fn token_keys_are_digests_not_tokens() {
        let key = token_key("secret");
        assert_ne!(&key[..6], b"secret");
        assert_eq!(key, token_key("secret"));
        assert_ne!(key, token_key("secret2"));
    }

    #[tokio::test]
    async fn errors_have_backstage_shape() {
        let r = error_response(
            StatusCode::UNAUTHORIZED,
            "AuthenticationError",
            "no token",
            "GET",
            "/api/catalog/entities",
        );
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(r.headers()[header::WWW_AUTHENTICATE], "Bearer");
        let body = axum::body::to_bytes(r.into_body(), 4096).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "error": {"name": "AuthenticationError", "message": "no token"},
                "request": {"method": "GET", "url": "/api/catalog/entities"},
                "response": {"statusCode": 401},
            })
        );
    }
}
