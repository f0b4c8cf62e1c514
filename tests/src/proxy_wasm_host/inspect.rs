//! What tests read from a [`PluginHost`]: the effects the guest had.

use super::callouts::{GrpcCallout, HttpCallout};
use super::headers::HeaderMap;
use super::host::{PluginHost, StreamId};
use super::records::{HostCall, LocalResponse, LogEntry, StreamControl};
use super::state::Stream;

// === impl PluginHost ===

impl PluginHost {
    /// The stream's request headers as the filter left them (what goes
    /// upstream).
    pub fn request_headers(&self, s: StreamId) -> Vec<(String, String)> {
        self.stream_map(s, |st| st.request_headers.as_ref())
    }

    /// The stream's response headers as the filter left them.
    pub fn response_headers(&self, s: StreamId) -> Vec<(String, String)> {
        self.stream_map(s, |st| st.response_headers.as_ref())
    }

    /// Every value of request header `name` (any case), in order, as the
    /// filter left them.
    pub fn request_header_values(&self, s: StreamId, name: &str) -> Vec<String> {
        values(self.request_headers(s), name)
    }

    /// Every value of response header `name` (any case), in order.
    pub fn response_header_values(&self, s: StreamId, name: &str) -> Vec<String> {
        values(self.response_headers(s), name)
    }

    fn stream_map(
        &self,
        s: StreamId,
        map: impl Fn(&Stream) -> Option<&HeaderMap>,
    ) -> Vec<(String, String)> {
        self.store
            .data()
            .streams
            .get(&s.0)
            .and_then(map)
            .map(|m| m.pairs().to_vec())
            .unwrap_or_default()
    }

    /// HTTP callouts dispatched and not yet taken.
    pub fn http_callouts(&self) -> &[HttpCallout] {
        &self.store.data().callouts.http
    }

    /// Takes the recorded HTTP callouts; they stay pending until answered.
    pub fn take_http_callouts(&mut self) -> Vec<HttpCallout> {
        std::mem::take(&mut self.store.data_mut().callouts.http)
    }

    /// gRPC callouts dispatched and not yet taken.
    pub fn grpc_callouts(&self) -> &[GrpcCallout] {
        &self.store.data().callouts.grpc
    }

    /// Takes the recorded gRPC callouts; they stay pending until answered.
    pub fn take_grpc_callouts(&mut self) -> Vec<GrpcCallout> {
        std::mem::take(&mut self.store.data_mut().callouts.grpc)
    }

    /// The value of the counter or gauge `name`, `None` if not defined.
    pub fn metric(&self, name: &str) -> Option<u64> {
        self.store.data().metrics.value(name)
    }

    /// The samples recorded into histogram `name`, `None` if not defined.
    pub fn histogram(&self, name: &str) -> Option<Vec<u64>> {
        self.store.data().metrics.samples(name).map(<[u64]>::to_vec)
    }

    /// Every `proxy_log` call, in order.
    pub fn logs(&self) -> &[LogEntry] {
        &self.store.data().logs
    }

    /// What the guest wrote to stderr (Rust panic messages land here).
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.contents()).into_owned()
    }

    /// What the guest wrote to stdout.
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout.contents()).into_owned()
    }

    /// Every proxy-wasm import call, in order.
    pub fn host_calls(&self) -> &[HostCall] {
        &self.store.data().host_calls
    }

    /// Forgets the recorded import calls.
    pub fn clear_host_calls(&mut self) {
        self.store.data_mut().host_calls.clear();
    }

    /// Every `proxy_send_local_response` call.
    pub fn local_responses(&self) -> &[LocalResponse] {
        &self.store.data().local_responses
    }

    /// Every `proxy_continue_stream` / `proxy_close_stream` call.
    pub fn stream_controls(&self) -> &[StreamControl] {
        &self.store.data().stream_controls
    }

    /// A shared data value, if set.
    pub fn shared_data(&self, key: &str) -> Option<Vec<u8>> {
        self.store
            .data()
            .shared_data
            .get(key.as_bytes())
            .ok()
            .map(|(v, _)| v)
    }

    /// What is queued in shared queue `name`, oldest first; `None` if the
    /// guest never registered it.
    pub fn shared_queue(&self, name: &str) -> Option<Vec<Vec<u8>>> {
        self.store.data().shared_queues.contents(name)
    }

    /// True once the guest trapped.
    pub fn vm_failed(&self) -> bool {
        self.failure.is_some()
    }

    /// Why the VM failed, with the guest's stderr and error logs.
    pub fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }
}

fn values(pairs: Vec<(String, String)>, name: &str) -> Vec<String> {
    let name = name.to_ascii_lowercase();
    pairs
        .into_iter()
        .filter(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .collect()
}
