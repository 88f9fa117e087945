//! One kind of connection for the rest of the store, whether Redis is a
//! single primary or a Redis Cluster. Both are multiplexed, reconnect by
//! themselves and connect lazily (the service starts while Redis is down).
//! On a cluster, each command goes to the primary of its key's slot, and
//! MOVED/ASK redirections are followed by redis-rs; every script touches one
//! slot (all of a user's keys carry the hash tag `{user_id}`), so each lease
//! operation stays one call.

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::io::tcp::TcpSettings;
use redis::{ClientTlsConfig, Cmd, IntoConnectionInfo, Pipeline, RedisFuture, RedisResult, TlsCertificates, Value};
use secrecy::ExposeSecret;

use crate::config::{RedisTls, is_tls_url, redis_seeds};

/// rustls with ring, so nothing links OpenSSL. Err only means a provider is
/// installed already.
fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn certificates(tls: &RedisTls) -> TlsCertificates {
    TlsCertificates {
        client_tls: tls.client.as_ref().map(|c| ClientTlsConfig {
            client_cert: c.cert_pem.clone(),
            client_key: c.key_pem.expose_secret().to_vec(),
        }),
        root_cert: tls.ca_pem.clone(),
    }
}

/// Where connections come from: one client per store, shared by workers.
#[derive(Clone)]
pub enum Connector {
    // Boxed: the clients are large, and made once.
    Primary(Box<redis::Client>),
    Cluster(Box<ClusterClient>),
}

#[derive(Clone)]
pub enum Connection {
    Primary(ConnectionManager),
    Cluster(ClusterConnection),
}

impl Connector {
    /// A client for `url`: one server, or with `cluster` a comma-separated
    /// list of seed nodes (one reachable seed is enough). `rediss://` speaks
    /// TLS with `tls`'s certificates.
    pub fn new(url: &str, cluster: bool, tls: &RedisTls) -> RedisResult<Self> {
        // TCP_NODELAY: every call is a small request waiting for its answer,
        // which Nagle's algorithm would hold back (redis-rs leaves it off).
        let tcp = || TcpSettings::default().set_nodelay(true);
        let secure = is_tls_url(url);
        if cluster {
            let seeds: Vec<&str> = redis_seeds(url).collect();
            // A few quick retries: enough to follow MOVED and ASK and to
            // find a promoted replica, short enough that a slot without a
            // primary answers 503 well within the call's deadline (the
            // defaults wait over a second before the first retry).
            let mut builder = ClusterClient::builder(seeds)
                .tcp_settings(tcp())
                .retries(4)
                .min_retry_wait(10)
                .max_retry_wait(100)
                .retry_wait_formula(10, 2);
            if secure {
                install_tls_provider();
                builder = builder.certs(certificates(tls));
            }
            return builder.build().map(|client| Connector::Cluster(Box::new(client)));
        }
        let info = url.into_connection_info()?.set_tcp_settings(tcp());
        if secure {
            install_tls_provider();
            redis::Client::build_with_tls(info, certificates(tls)).map(|c| Connector::Primary(Box::new(c)))
        } else {
            redis::Client::open(info).map(|c| Connector::Primary(Box::new(c)))
        }
    }

    /// A lazily connecting connection, its task on the current runtime.
    /// While Redis is down, a request should learn it at once (503) rather
    /// than wait out a series of reconnect attempts; each new request tries
    /// again, so service resumes with the first request after Redis is back.
    /// There is no response timeout here: the store bounds every call with a
    /// deadline of its own, and a second timer per call costs CPU.
    pub fn connect(&self, connect_timeout: Duration) -> RedisResult<Connection> {
        match self {
            Connector::Primary(client) => {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(connect_timeout))
                    .set_response_timeout(None)
                    .set_number_of_retries(1)
                    .set_max_delay(Duration::from_millis(500));
                ConnectionManager::new_lazy_with_config(client.as_ref().clone(), config).map(Connection::Primary)
            }
            Connector::Cluster(client) => {
                let config = ClusterConfig::new().set_connection_timeout(connect_timeout);
                Ok(Connection::Cluster(client.get_pending_async_connection_with_config(config)))
            }
        }
    }

    pub fn is_cluster(&self) -> bool {
        matches!(self, Connector::Cluster(_))
    }
}

impl Connection {
    /// Sends `cmd` to the node at `host:port` (a cluster primary), or to the
    /// one server there is.
    pub async fn on_node(&mut self, cmd: &Cmd, node: Option<&(String, u16)>) -> RedisResult<Value> {
        match (self, node) {
            (Connection::Cluster(conn), Some((host, port))) => {
                let routing =
                    RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress { host: host.clone(), port: *port });
                conn.route_command(cmd.clone(), routing).await
            }
            (conn, _) => cmd.query_async(conn).await,
        }
    }
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Connection::Primary(conn) => conn.req_packed_command(cmd),
            Connection::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Connection::Primary(conn) => conn.req_packed_commands(cmd, offset, count),
            Connection::Cluster(conn) => conn.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Primary(conn) => conn.get_db(),
            Connection::Cluster(conn) => conn.get_db(),
        }
    }
}
