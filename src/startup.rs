//! Building the application: open the store, bind, serve. The seam
//! `Application::build_on(listener, ...)` lets tests run the real server on
//! port 0.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_web::App;
use actix_web::dev::Server;
use actix_web::http::header::{CACHE_CONTROL, HeaderValue};
use actix_web::middleware::{Condition, DefaultHeaders, from_fn};
use actix_web::web::Data;
use tokio::task::JoinHandle;

use crate::census::CensusTaker;
use crate::clock::{Clock, SystemClock};
use crate::config::{HttpLimits, Settings};
use crate::http::server::Serving;
use crate::http::{self, AppState, Auth};
use crate::identity::jwks::{Jwks, JwksError};
use crate::metrics::Metrics;
use crate::service::LeaseService;
use crate::store::{CensusPace, EmbeddedStore, RedisStore, Store, StoreCounters, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("cannot set up the store: {0}")]
    Store(#[from] StoreError),
    #[error("cannot start the HTTP server: {0}")]
    Server(std::io::Error),
}

pub struct Application {
    addr: SocketAddr,
    server: Server,
    /// The `/metrics` listener, when `STREAMLEASE_METRICS_BIND` gives it an
    /// address of its own.
    metrics_server: Option<(SocketAddr, Server)>,
    /// The metrics census task; it ends with the server.
    census: JoinHandle<()>,
    /// Keeps the IdP's keys fresh, when player tokens use them; ends with the server.
    keys: Option<JoinHandle<()>>,
}

impl Application {
    /// Binds `settings.bind` and serves with the wall clock.
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let listener = bind(settings.bind)?;
        Self::build_on(listener, settings, Arc::new(SystemClock)).await
    }

    /// Serves on an already bound listener. `clock` drives the embedded
    /// store only; Redis always judges time by its own clock.
    pub async fn build_on(
        listener: TcpListener,
        settings: Settings,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StartupError> {
        Self::serve(listener, settings, clock, TimeJudge::Store).await
    }

    /// For tests: as `build_on`, but `clock` judges lease time on the Redis
    /// store too (its scripts take the time as an argument), so a test can
    /// move time at once on every store.
    #[cfg(any(test, feature = "testing"))]
    pub async fn build_on_test_clock(
        listener: TcpListener,
        settings: Settings,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StartupError> {
        Self::serve(listener, settings, clock, TimeJudge::Clock).await
    }

    async fn serve(
        listener: TcpListener,
        settings: Settings,
        clock: Arc<dyn Clock>,
        judge: TimeJudge,
    ) -> Result<Self, StartupError> {
        let addr = listener.local_addr().map_err(StartupError::Server)?;
        let metrics = Arc::new(Metrics::new());
        metrics.declare_classes(&settings.terms.classes);
        let store = open_store(&settings, clock, judge, &metrics).await?;
        if settings.admin_token.is_none() {
            log::warn!("STREAMLEASE_ADMIN_TOKEN is unset: admin routes are open to anyone who can reach {addr}");
        }
        let (jwks, keys) = match identity_keys(&settings).await {
            Some((jwks, first)) => (Some(jwks.clone()), jwks.keep_fresh(first)),
            None => (None, None),
        };
        let auth = Auth::new(&settings, jwks);
        let metrics_bind = settings.metrics.bind;
        let leases = LeaseService::new(store, metrics.clone(), settings.shed);
        let state = Data::new(AppState { leases, settings: Arc::new(settings), metrics, auth: Arc::new(auth) });
        let (workers, limits) = (state.settings.workers, state.settings.http);
        let served = state.clone();
        let with_metrics = metrics_bind.is_none();
        let cors = state.settings.cors_origins.clone();
        let serving = Serving { name: "streamlease", workers, limits };
        // Runs on each worker's thread as it starts.
        let server = http::server::serve(listener, serving, move || {
            let state = Data::new(served.for_this_worker());
            // The last `wrap` runs first: observe sees every answer, CORS
            // refusals included, and every answer says not to store it.
            App::new()
                .wrap(http::cors::middleware(cors.as_ref()))
                .wrap(Condition::new(cors.is_some(), from_fn(http::cors::refusals_as_problems)))
                .wrap(from_fn(http::observe))
                .wrap(never_stored())
                .configure(http::configure(state, with_metrics))
        })
        .map_err(StartupError::Server)?;
        let metrics_server = match metrics_bind {
            Some(addr) => Some(serve_metrics_only(bind(addr)?, state.clone())?),
            None => None,
        };
        let census = tokio::spawn(census_task(state));
        log::info!("listening on http://{addr}");
        if let Some((metrics_addr, _)) = &metrics_server {
            log::info!("serving /metrics on http://{metrics_addr}/metrics only");
        }
        Ok(Self { addr, server, metrics_server, census, keys })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where `/metrics` is served when it has a listener of its own.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_server.as_ref().map(|(addr, _)| *addr)
    }

    /// Serves until `shutdown` completes (or SIGINT/SIGTERM come), then
    /// stops accepting, lets in-flight requests finish within the shutdown
    /// timeout, and returns.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
        let mut handles = vec![self.server.handle()];
        handles.extend(self.metrics_server.as_ref().map(|(_, metrics)| metrics.handle()));
        let stop = async move {
            shutdown.await;
            log::info!("shutting down: finishing the requests under way");
            for handle in &handles {
                handle.stop(true).await;
            }
            // The servers' own futures say when they are done.
            std::future::pending::<std::convert::Infallible>().await
        };
        let serving = std::pin::pin!(self.run_until_stopped());
        match futures_util::future::select(serving, std::pin::pin!(stop)).await {
            futures_util::future::Either::Left((served, _)) => served,
            futures_util::future::Either::Right((never, _)) => match never {},
        }
    }

    /// Serves until SIGINT/SIGTERM, then lets in-flight requests finish.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = match self.metrics_server {
            // Both react to the same signal; the API's answer is the one
            // that matters.
            Some((_, metrics)) => futures_util::future::join(self.server, metrics).await.0,
            None => self.server.await,
        };
        // The background tasks end with the server.
        self.census.abort();
        if let Some(keys) = &self.keys {
            keys.abort();
        }
        served
    }
}

/// Lease answers are per user and change with every heartbeat; a CDN,
/// proxy or browser cache in front must never answer from a copy (a cached
/// 410 would stop a player that holds a live lease).
fn never_stored() -> DefaultHeaders {
    DefaultHeaders::new().add((CACHE_CONTROL, HeaderValue::from_static("no-store")))
}

fn bind(addr: SocketAddr) -> Result<TcpListener, StartupError> {
    TcpListener::bind(addr).map_err(|source| StartupError::Bind { addr, source })
}

/// A small server of its own for `/metrics`: one worker is plenty for a
/// scrape every few seconds.
fn serve_metrics_only(listener: TcpListener, state: Data<AppState>) -> Result<(SocketAddr, Server), StartupError> {
    let addr = listener.local_addr().map_err(StartupError::Server)?;
    let limits =
        HttpLimits { max_connections: 64, shutdown_timeout: std::time::Duration::from_secs(1), ..state.settings.http };
    let serving = Serving { name: "streamlease-metrics", workers: 1, limits };
    let server = http::server::serve(listener, serving, move || {
        App::new().configure(http::configure_metrics_only(state.clone()))
    })
    .map_err(StartupError::Server)?;
    Ok((addr, server))
}

/// Keeps the store-wide gauges current (see `census.rs`).
async fn census_task(state: Data<AppState>) {
    let settings = &state.settings;
    let taker = CensusTaker {
        // A connection of its own: census pipelines delay no other call.
        leases: state.leases.for_this_worker(),
        metrics: state.metrics.clone(),
        refresh: settings.metrics_refresh,
        max_users: settings.metrics_max_users,
        per_user: settings.metrics.per_user,
    };
    taker.run().await;
}

/// What decides lease time on the Redis store.
#[derive(Clone, Copy, PartialEq, Eq)]
enum TimeJudge {
    /// Redis `TIME`: one clock for every instance.
    Store,
    /// The clock the application was given (tests).
    #[cfg(any(test, feature = "testing"))]
    Clock,
}

/// The identity provider's keys, when player tokens are signed with them:
/// the file's at once, and a first fetch from the URL awaited here (a few
/// seconds at most), so a healthy IdP means an instance ready at once. An IdP
/// that does not answer does not stop startup: player routes and `/readyz`
/// answer 503 until a retry loads the keys.
async fn identity_keys(settings: &Settings) -> Option<(Arc<Jwks>, Result<Duration, JwksError>)> {
    let jwt = settings.jwt.as_ref()?;
    if jwt.jwks_url.is_none() && jwt.jwks_file.is_none() {
        return None;
    }
    let jwks = Arc::new(Jwks::new(jwt.jwks_url.clone(), jwt.jwks_file.clone()));
    let first = jwks.refresh().await;
    Some((jwks, first))
}

async fn open_store(
    settings: &Settings,
    clock: Arc<dyn Clock>,
    judge: TimeJudge,
    metrics: &Metrics,
) -> Result<Store, StartupError> {
    let expired = metrics.leases_expired.clone();
    let Some(url) = &settings.redis_url else {
        log::warn!(
            "REDIS_URL is unset: using the embedded in-memory store; run one instance only, leases vanish on restart"
        );
        return Ok(Store::Embedded(EmbeddedStore::start(settings.terms.clone(), clock, expired)));
    };
    let counters = StoreCounters { expired, census_skipped: metrics.census_skipped_users.clone() };
    let store = RedisStore::connect(
        url,
        settings.redis_cluster,
        &settings.redis_tls,
        &settings.key_prefix,
        settings.terms.clone(),
        counters,
    )?
    .with_census_pace(CensusPace::percent(settings.census_redis_percent));
    #[cfg(any(test, feature = "testing"))]
    let store = if judge == TimeJudge::Clock { store.with_test_clock(clock) } else { store };
    #[cfg(not(any(test, feature = "testing")))]
    let _ = (judge, clock);
    match store.load_scripts().await {
        Ok(()) => log::info!("Redis store ready"),
        Err(e) => log::warn!("Redis is not ready yet ({}); /readyz reports 503 until it is", e.with_causes()),
    }
    Ok(Store::Redis(store))
}
