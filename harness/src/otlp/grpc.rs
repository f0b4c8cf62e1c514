//! OTLP/gRPC: `opentelemetry.proto.collector.trace.v1.TraceService/Export`,
//! served by the tonic-generated service over cleartext HTTP/2.

use std::io;
use std::sync::Arc;

use hyper_util::service::TowerToHyperService;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tonic::{Request, Response, Status};

use tokio::runtime::Handle;

use super::state::{Arrived, Shared, Verdict};
use crate::Protocol;
use crate::http_server::{ServerTask, serve_on};

/// Serves OTLP/gRPC on a fresh loopback port, on `runtime`.
pub(super) fn serve(runtime: &Handle, shared: Arc<Shared>) -> io::Result<ServerTask> {
    let service = TraceServiceServer::new(Exporter { shared });
    serve_on(runtime, TowerToHyperService::new(service))
}

struct Exporter {
    shared: Arc<Shared>,
}

#[tonic::async_trait]
impl TraceService for Exporter {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        match self
            .shared
            .admit(Protocol::Grpc, Arrived::Decoded(request.into_inner()))
        {
            Verdict::Accepted => Ok(Response::new(ExportTraceServiceResponse::default())),
            Verdict::Unavailable => Err(Status::unavailable("receiver unavailable (fault mode)")),
            Verdict::Stall(hold) => {
                tokio::time::sleep(hold).await;
                Ok(Response::new(ExportTraceServiceResponse::default()))
            }
        }
    }
}
