//! HTTP and gRPC callouts: Envoy's checks when the guest dispatches one
//! (`Context::httpCall`, `Context::grpcCall`), the record tests assert on,
//! and the tokens still waiting for the test to answer.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use prost::Message as _;

use super::abi::Status;

/// An HTTP call the guest dispatched with `proxy_http_call`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCallout {
    /// The token the guest got back; answer with
    /// [`PluginHost::respond_http_call`](super::PluginHost::respond_http_call).
    pub token: u32,
    /// The context that dispatched it (Envoy attaches the call to its root
    /// context all the same).
    pub context_id: u32,
    /// The upstream cluster.
    pub cluster: String,
    /// Request headers, names lowercased, in order.
    pub headers: Vec<(String, String)>,
    /// Request body.
    pub body: Vec<u8>,
    /// Request trailers.
    pub trailers: Vec<(String, String)>,
    /// Timeout as passed; zero means none.
    pub timeout: Duration,
}

/// A unary gRPC call the guest dispatched with `proxy_grpc_call`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrpcCallout {
    /// The token the guest got back; answer with
    /// [`PluginHost::respond_grpc_call`](super::PluginHost::respond_grpc_call).
    pub token: u32,
    /// The context that dispatched it.
    pub context_id: u32,
    /// The cluster: `envoy_grpc.cluster_name` of the `GrpcService` the guest
    /// passed, or the plain cluster name.
    pub cluster: String,
    /// `envoy_grpc.authority`, when the guest passed a `GrpcService` setting it.
    pub authority: Option<String>,
    /// Fully qualified service name.
    pub service: String,
    /// Method name.
    pub method: String,
    /// Initial metadata, names lowercased.
    pub initial_metadata: Vec<(String, Vec<u8>)>,
    /// The serialized request message.
    pub message: Vec<u8>,
    /// Timeout as passed.
    pub timeout: Duration,
}

/// `envoy.config.core.v3.GrpcService`, only the fields the host reads.
#[derive(Clone, PartialEq, prost::Message)]
struct GrpcService {
    #[prost(message, optional, tag = "1")]
    envoy_grpc: Option<EnvoyGrpc>,
}

/// `envoy.config.core.v3.GrpcService.EnvoyGrpc`.
#[derive(Clone, PartialEq, prost::Message)]
struct EnvoyGrpc {
    #[prost(string, tag = "1")]
    cluster_name: String,
    #[prost(string, tag = "2")]
    authority: String,
}

/// What a `proxy_grpc_call` upstream argument names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum GrpcTarget {
    /// Parsed as a `GrpcService` with `envoy_grpc` set.
    Service {
        cluster: String,
        authority: Option<String>,
    },
    /// Parsed as a `GrpcService` without `envoy_grpc` (e.g. empty bytes).
    NoEnvoyGrpc,
    /// Not a `GrpcService`: a plain cluster name.
    Cluster(String),
}

/// Decodes the upstream argument the way Envoy does: first as a serialized
/// `GrpcService`, else as a plain cluster name.
pub(crate) fn grpc_target(upstream: &[u8]) -> GrpcTarget {
    match GrpcService::decode(upstream) {
        Ok(GrpcService {
            envoy_grpc: Some(envoy),
        }) => GrpcTarget::Service {
            cluster: envoy.cluster_name,
            authority: Some(envoy.authority).filter(|a| !a.is_empty()),
        },
        Ok(GrpcService { envoy_grpc: None }) => GrpcTarget::NoEnvoyGrpc,
        Err(_) => GrpcTarget::Cluster(String::from_utf8_lossy(upstream).into_owned()),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CalloutKind {
    Http,
    Grpc,
}

/// A gRPC call to dispatch, as decoded from the guest's arguments.
pub(crate) struct GrpcRequest {
    pub(crate) upstream: Vec<u8>,
    pub(crate) service: String,
    pub(crate) method: String,
    pub(crate) initial_metadata: Vec<(String, Vec<u8>)>,
    pub(crate) message: Vec<u8>,
    pub(crate) timeout_ms: u32,
}

/// Registered clusters, recorded callouts and tokens awaiting an answer.
#[derive(Debug, Default)]
pub(crate) struct Callouts {
    clusters: HashSet<String>,
    next_token: u32,
    pub(crate) http: Vec<HttpCallout>,
    pub(crate) grpc: Vec<GrpcCallout>,
    pending: HashMap<u32, CalloutKind>,
}

// === impl Callouts ===

impl Callouts {
    pub(crate) fn add_cluster(&mut self, name: &str) {
        self.clusters.insert(name.to_string());
    }

    fn token(&mut self) -> u32 {
        self.next_token += 1;
        self.next_token
    }

    /// `proxy_http_call`: Envoy rejects a negative (as `int`) timeout, an
    /// unknown cluster, and headers without `:path`, `:method` or
    /// `:authority`, all with `BadArgument`.
    pub(crate) fn dispatch_http(
        &mut self,
        context_id: u32,
        cluster: String,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        trailers: Vec<(String, String)>,
        timeout_ms: u32,
    ) -> Result<u32, Status> {
        if i32::try_from(timeout_ms).is_err() || !self.clusters.contains(&cluster) {
            return Err(Status::BadArgument);
        }
        let has = |name: &str| headers.iter().any(|(k, _)| k == name);
        if !(has(":path") && has(":method") && has(":authority")) {
            return Err(Status::BadArgument);
        }
        let token = self.token();
        self.pending.insert(token, CalloutKind::Http);
        self.http.push(HttpCallout {
            token,
            context_id,
            cluster,
            headers,
            body,
            trailers,
            timeout: Duration::from_millis(timeout_ms.into()),
        });
        Ok(token)
    }

    /// `proxy_grpc_call`: a plain cluster name that is not registered is a
    /// `ParseFailure`; a `GrpcService` without `envoy_grpc` a `BadArgument`.
    /// A `GrpcService` naming an unknown cluster is accepted (Envoy skips
    /// the cluster check and fails the call later).
    pub(crate) fn dispatch_grpc(
        &mut self,
        context_id: u32,
        request: GrpcRequest,
    ) -> Result<u32, Status> {
        let (cluster, authority) = match grpc_target(&request.upstream) {
            GrpcTarget::Service { cluster, authority } => (cluster, authority),
            GrpcTarget::NoEnvoyGrpc => return Err(Status::BadArgument),
            GrpcTarget::Cluster(name) if self.clusters.contains(&name) => (name, None),
            GrpcTarget::Cluster(_) => return Err(Status::ParseFailure),
        };
        let token = self.token();
        self.pending.insert(token, CalloutKind::Grpc);
        self.grpc.push(GrpcCallout {
            token,
            context_id,
            cluster,
            authority,
            service: request.service,
            method: request.method,
            initial_metadata: request.initial_metadata,
            message: request.message,
            timeout: Duration::from_millis(request.timeout_ms.into()),
        });
        Ok(token)
    }

    /// `proxy_grpc_cancel` / `proxy_grpc_close` on a call: forget it.
    pub(crate) fn cancel_grpc(&mut self, token: u32) -> Result<(), Status> {
        match self.pending.get(&token) {
            Some(CalloutKind::Grpc) => {
                self.pending.remove(&token);
                Ok(())
            }
            _ => Err(Status::NotFound),
        }
    }

    /// Claims a pending token for an answer; `false` if it is not pending
    /// (unknown, answered or cancelled) or of the other kind.
    pub(crate) fn claim(&mut self, token: u32, kind: CalloutKind) -> bool {
        if self.pending.get(&token) == Some(&kind) {
            self.pending.remove(&token);
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grpc_service(cluster: &str, authority: &str) -> Vec<u8> {
        GrpcService {
            envoy_grpc: Some(EnvoyGrpc {
                cluster_name: cluster.into(),
                authority: authority.into(),
            }),
        }
        .encode_to_vec()
    }

    #[test]
    fn grpc_upstream_is_a_grpc_service_or_a_cluster_name() {
        let cases = [
            (
                grpc_service("otel", "collector:4317"),
                GrpcTarget::Service {
                    cluster: "otel".into(),
                    authority: Some("collector:4317".into()),
                },
                "GrpcService with authority",
            ),
            (
                grpc_service("otel", ""),
                GrpcTarget::Service {
                    cluster: "otel".into(),
                    authority: None,
                },
                "GrpcService without authority",
            ),
            (
                b"otel_collector".to_vec(),
                GrpcTarget::Cluster("otel_collector".into()),
                "'o' is wire type 7: not a protobuf",
            ),
            (
                Vec::new(),
                GrpcTarget::NoEnvoyGrpc,
                "empty bytes are an empty GrpcService",
            ),
        ];
        for (bytes, want, reason) in cases {
            assert_eq!(grpc_target(&bytes), want, "{reason}");
        }
    }

    fn http_headers() -> Vec<(String, String)> {
        [
            (":method", "POST"),
            (":path", "/v1/traces"),
            (":authority", "c"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn http_calls_need_a_known_cluster_and_the_request_line() {
        let mut c = Callouts::default();
        c.add_cluster("known");
        let call = |c: &mut Callouts, cluster: &str, headers, timeout| {
            c.dispatch_http(1, cluster.into(), headers, Vec::new(), Vec::new(), timeout)
        };
        assert_eq!(
            call(&mut c, "unknown", http_headers(), 0),
            Err(Status::BadArgument)
        );
        assert_eq!(
            call(&mut c, "known", http_headers()[1..].to_vec(), 0),
            Err(Status::BadArgument)
        );
        assert_eq!(
            call(&mut c, "known", http_headers(), u32::MAX),
            Err(Status::BadArgument)
        );
        let token = call(&mut c, "known", http_headers(), 500).expect("dispatched");
        assert_eq!(c.http.len(), 1);
        assert!(!c.claim(token, CalloutKind::Grpc), "wrong kind");
        assert!(c.claim(token, CalloutKind::Http));
        assert!(!c.claim(token, CalloutKind::Http), "answered once");
    }

    #[test]
    fn grpc_calls_to_unknown_plain_clusters_fail_to_parse() {
        let mut c = Callouts::default();
        c.add_cluster("known");
        let request = |upstream: &[u8]| GrpcRequest {
            upstream: upstream.to_vec(),
            service: "s".into(),
            method: "m".into(),
            initial_metadata: Vec::new(),
            message: Vec::new(),
            timeout_ms: 0,
        };
        assert_eq!(
            c.dispatch_grpc(1, request(b"nowhere")),
            Err(Status::ParseFailure)
        );
        assert_eq!(c.dispatch_grpc(1, request(b"")), Err(Status::BadArgument));
        let token = c
            .dispatch_grpc(1, request(b"known"))
            .expect("plain cluster");
        assert_eq!(c.grpc[0].cluster, "known");
        assert_eq!(c.cancel_grpc(token), Ok(()));
        assert_eq!(c.cancel_grpc(token), Err(Status::NotFound));
    }
}
