//! A channel over every replica of a backend service, balanced by the client (HTTP/2 pins each
//! caller to one connection, so a Kubernetes Service's connection-level balancing shares no
//! load).
//!
//! A backend is one or more URLs (comma-separated). Each URL's host is resolved to all its
//! addresses — a Kubernetes headless Service answers with one per ready pod — and every address
//! is an endpoint of tonic's power-of-two-choices balancer. A task re-resolves and health-checks
//! the endpoints every `refresh`: an endpoint whose gRPC health check fails leaves the rotation
//! until it passes again, so after one check period no request goes to a dead replica. The last
//! endpoint never leaves: with every replica down a call fails at once (connection refused)
//! instead of waiting for a replica to appear.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures_util::future::join_all;
use tonic::transport::channel::Change;
use tonic::transport::{Channel, Endpoint, Uri};
use tonic_health::ServingStatus;

/// How often every client re-resolves and health-checks the replicas of its backends.
#[derive(Debug, Clone, clap::Args)]
pub struct ReplicaConfig {
    /// How often the replicas of each backend are re-resolved and health-checked; a replica
    /// that fails a check leaves the rotation until it passes one.
    #[arg(long, env = "ARAS_REPLICA_CHECK_INTERVAL", default_value = "1s", value_parser = humantime::parse_duration)]
    pub replica_check_interval: Duration,
}

impl ReplicaConfig {
    /// The balanced channel to the service `grpc_service` at `urls`, with `deadline` per call.
    pub fn channel(
        &self,
        urls: &str,
        grpc_service: &'static str,
        deadline: Duration,
    ) -> Result<Channel, tonic::transport::Error> {
        balanced_channel(&Backend {
            urls: urls.to_owned(),
            grpc_service,
            deadline,
            refresh: self.replica_check_interval,
        })
    }
}

/// How to reach one backend and how often to look at its replicas again.
#[derive(Debug, Clone)]
pub struct Backend {
    /// One or more URLs, comma-separated.
    pub urls: String,
    /// The gRPC service name its health checks ask about.
    pub grpc_service: &'static str,
    /// Deadline of every call (and connection) on the channel.
    pub deadline: Duration,
    /// How often replicas are re-resolved and health-checked.
    pub refresh: Duration,
}

/// The balanced channel; connections open on first use, so services may start in any order.
/// Spawns the refresh task, which ends when every clone of the channel is dropped.
pub fn balanced_channel(backend: &Backend) -> Result<Channel, tonic::transport::Error> {
    let urls: Vec<Uri> = backend
        .urls
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(|u| Endpoint::from_shared(u.to_owned()).map(|e| e.uri().clone()))
        .collect::<Result<_, _>>()?;
    let (channel, changes) = Channel::balance_channel::<String>(1024);
    // Until the first refresh, the URLs as given (tonic resolves a name when it connects); an
    // IP address keeps the same key once resolved.
    let initial: BTreeSet<String> = urls
        .iter()
        .map(|uri| {
            let (scheme, host, port) = parts(uri);
            format!("{scheme}://{host}:{port}")
        })
        .collect();
    for key in &initial {
        let endpoint = endpoint(key, backend.deadline)?;
        // A fresh channel's queue has room for every initial endpoint.
        let _ = changes.try_send(Change::Insert(key.clone(), endpoint));
    }
    tokio::spawn(refresh(backend.clone(), urls, initial, changes));
    Ok(channel)
}

/// One endpoint with ARAS's client settings: bounded connect and call time, no Nagle delay.
pub fn endpoint(url: &str, deadline: Duration) -> Result<Endpoint, tonic::transport::Error> {
    Ok(Endpoint::from_shared(url.to_owned())?
        .connect_timeout(deadline.min(Duration::from_secs(2)))
        .timeout(deadline)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30)))
}

/// Every address of every URL, as `scheme://ip:port` keys; a name that does not resolve now
/// stays as written.
async fn resolve(urls: &[Uri]) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for uri in urls {
        let (scheme, host, port) = parts(uri);
        match tokio::net::lookup_host((host.trim_matches(['[', ']']), port)).await {
            Ok(addrs) => found.extend(addrs.map(|addr| format!("{scheme}://{addr}"))),
            Err(_) => {
                found.insert(format!("{scheme}://{host}:{port}"));
            }
        }
    }
    found
}

/// Scheme, host (IPv6 in brackets) and port, the scheme's default if none.
fn parts(uri: &Uri) -> (&str, &str, u16) {
    let scheme = uri.scheme_str().unwrap_or("http");
    let port = uri
        .port_u16()
        .unwrap_or(if scheme == "https" { 443 } else { 80 });
    (scheme, uri.host().unwrap_or_default(), port)
}

async fn refresh(
    backend: Backend,
    urls: Vec<Uri>,
    mut in_rotation: BTreeSet<String>,
    changes: tokio::sync::mpsc::Sender<Change<String, Endpoint>>,
) {
    // Health-check channels, one per endpoint, kept while the endpoint exists.
    let mut checkers: BTreeMap<String, Channel> = BTreeMap::new();
    let check_deadline = backend
        .deadline
        .min(backend.refresh)
        .min(Duration::from_secs(1));
    loop {
        tokio::time::sleep(backend.refresh).await;
        if changes.is_closed() {
            return; // the balanced channel is gone
        }
        let known = resolve(&urls).await;
        checkers.retain(|key, _| known.contains(key));
        for key in &known {
            if !checkers.contains_key(key)
                && let Ok(endpoint) = endpoint(key, check_deadline)
            {
                checkers.insert(key.clone(), endpoint.connect_lazy());
            }
        }
        let checks = checkers.iter().map(|(key, channel)| async move {
            let status =
                crate::grpc::check_health(channel.clone(), backend.grpc_service, check_deadline)
                    .await;
            (key.clone(), matches!(status, Ok(ServingStatus::Serving)))
        });
        let healthy: BTreeSet<String> = join_all(checks)
            .await
            .into_iter()
            .filter_map(|(key, serving)| serving.then_some(key))
            .collect();
        // With no replica healthy, keep what is in rotation (or every known one): calls then
        // fail fast on the dead ones rather than wait for an empty balancer.
        let wanted = if healthy.is_empty() {
            if in_rotation.is_empty() {
                known
            } else {
                in_rotation.clone()
            }
        } else {
            healthy
        };
        for key in in_rotation.difference(&wanted) {
            tracing::warn!(service = backend.grpc_service, endpoint = %key, "replica left the rotation");
            if changes.send(Change::Remove(key.clone())).await.is_err() {
                return;
            }
        }
        for key in wanted.difference(&in_rotation) {
            let Ok(endpoint) = endpoint(key, backend.deadline) else {
                continue;
            };
            tracing::info!(service = backend.grpc_service, endpoint = %key, "replica in rotation");
            if changes
                .send(Change::Insert(key.clone(), endpoint))
                .await
                .is_err()
            {
                return;
            }
        }
        in_rotation = wanted;
    }
}
