//! The HTTP server: actix-web's app on actix-http's HTTP/1 service, built by
//! hand rather than with `HttpServer` for one reason: each connection's
//! socket is wrapped (`wire::ProblemIo`) so the parser's own error answers
//! carry problem+json too (`wire::ProblemIo`), and is paced: one request at
//! a time, each on time (`pacing::PacedIo`). Connection limits and timeouts
//! are otherwise the ones `HttpServer` would set.

use std::net::TcpListener;
use std::time::Duration;

use actix_http::{HttpService, Protocol};
use actix_server::Server;
use actix_service::{ServiceFactoryExt, fn_service, map_config};
use actix_web::body::MessageBody;
use actix_web::dev::{AppConfig, ServiceRequest, ServiceResponse};
use actix_web::rt::net::TcpStream;
use actix_web::{App, Error};

pub use super::admission::REFUSALS_PER_WORKER;
use super::admission::{Admission, Admitted};
use super::pacing::{Pace, PacedIo};
use super::wire::ProblemIo;
use crate::config::HttpLimits;

/// How an app is served: its name (in actix' logs), workers and limits.
pub struct Serving {
    pub name: &'static str,
    pub workers: usize,
    pub limits: HttpLimits,
}

/// Serves the app `make_app` builds (once per worker) on `listener`.
pub fn serve<F, T, B>(listener: TcpListener, serving: Serving, make_app: F) -> std::io::Result<Server>
where
    F: Fn() -> App<T> + Send + Clone + 'static,
    T: actix_service::ServiceFactory<
            ServiceRequest,
            Config = (),
            Response = ServiceResponse<B>,
            Error = Error,
            InitError = (),
        > + 'static,
    B: MessageBody + 'static,
{
    let Serving { name, workers, limits } = serving;
    let addr = listener.local_addr()?;
    let admission = Admission::new(limits.max_connections, workers);
    let builder = Server::build()
        .workers(workers)
        // Connections are admitted or refused here (`admission.rs`); actix'
        // own limit, which would leave clients in the backlog, only bounds
        // the refusals under way beyond that.
        .max_concurrent_connections(limits.max_connections + REFUSALS_PER_WORKER)
        // actix takes whole seconds; round up so no request is cut short.
        .shutdown_timeout(whole_seconds(limits.shutdown_timeout));
    // In-flight connections learn of a shutdown, finish their request and
    // close instead of waiting for the next one.
    let shutdown = builder.graceful_shutdown_signal();
    let pace = Pace { head: limits.request_timeout, idle: limits.keep_alive };
    builder
        .listen(name, listener, move || {
            let shutdown = shutdown.clone();
            let http = HttpService::build()
                .keep_alive(limits.keep_alive)
                .client_request_timeout(limits.request_timeout)
                .client_disconnect_timeout(limits.disconnect_timeout)
                .local_addr(addr)
                .graceful_shutdown_signal(move || {
                    let shutdown = shutdown.clone();
                    async move { shutdown.notified().await }
                })
                .finish(map_config(make_app(), |_| AppConfig::default()));
            let admission = admission.clone();
            fn_service(move |io: TcpStream| {
                let admission = admission.clone();
                async move {
                    let Some(slot) = admission.admit() else {
                        admission.refuse(io).await;
                        return Err(None);
                    };
                    // Every answer is small and awaited: Nagle would only delay it.
                    io.set_nodelay(true).map_err(Some)?;
                    let peer = io.peer_addr().ok();
                    let io = ProblemIo::new(PacedIo::new(Admitted::new(io, slot), pace));
                    Ok::<_, Option<std::io::Error>>((io, Protocol::Http1, peer))
                }
            })
            .map_err(|e| {
                if let Some(e) = e {
                    log::debug!("connection setup failed: {e}")
                }
            })
            .and_then(http.map_err(|_| ()))
        })
        .map(|builder| builder.run())
}

fn whole_seconds(duration: Duration) -> u64 {
    duration.as_millis().div_ceil(1000) as u64
}
