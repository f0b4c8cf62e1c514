//! Export calls: a flush sends every ready batch to the collector cluster,
//! and a call's response frees its slot and settles its spans (exported, or
//! counted as dropped). Only the root context calls these (a tick or a
//! callout response); the root context's docs say why streams never
//! dispatch.

use log::{debug, warn};
use proxy_wasm::hostcalls;

use crate::config::Protocol;
use crate::export::batch::Batch;
use crate::export::otlp::{GRPC_METHOD, GRPC_SERVICE};

use super::vm::{VmState, now_nanos};

/// Sends every batch that is ready (a tick).
pub fn flush(vm: &mut VmState) {
    vm.metrics.flush_started();
    while let Some(batch) = vm.batcher.next_batch(&vm.encoder) {
        dispatch(vm, batch);
    }
}

/// Settles the export call `token` with its `outcome`, then sends a batch
/// that filled while every call slot was taken.
pub fn finish_call(vm: &mut VmState, token: u32, outcome: Result<(), String>) {
    let Some(spans) = vm.batcher.finish(token) else {
        debug!("meshtrace: response for unknown export call {token}");
        return;
    };
    match outcome {
        Ok(()) => vm.metrics.exported(spans),
        Err(reason) => export_failed(vm, spans, &reason),
    }
    if vm.batcher.has_full_batch()
        && let Some(batch) = vm.batcher.next_batch(&vm.encoder)
    {
        dispatch(vm, batch);
    }
}

/// Sends one batch to the collector; a dispatch error counts as a failed
/// export and never reaches the request path.
fn dispatch(vm: &mut VmState, batch: Batch) {
    let target = &vm.target;
    let result = match target.protocol {
        Protocol::HttpProtobuf => hostcalls::dispatch_http_call(
            &target.cluster,
            target.http_headers(),
            Some(&batch.body),
            Vec::new(),
            target.timeout,
        ),
        Protocol::Grpc => hostcalls::dispatch_grpc_call(
            target.grpc_service(),
            GRPC_SERVICE,
            GRPC_METHOD,
            target.grpc_metadata(),
            Some(&batch.body),
            target.timeout,
        ),
    };
    match result {
        Ok(token) => vm.batcher.sent(token, batch.spans),
        Err(status) => {
            let reason = format!("dispatch refused ({status:?}); is the cluster defined?");
            export_failed(vm, batch.spans, &reason);
        }
    }
}

fn export_failed(vm: &mut VmState, spans: usize, reason: &str) {
    vm.metrics.export_failed();
    vm.metrics.dropped(spans);
    if let Some(suppressed) = vm.failures.should_log(now_nanos()) {
        warn!(
            "meshtrace: OTLP export of {spans} spans to cluster '{}' failed: {reason} \
             ({suppressed} more failures since the last report)",
            vm.target.cluster
        );
    }
}
