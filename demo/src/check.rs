//! The demo's self-check: the spans the revenue flow must produce, each
//! with the span that must be its parent, checked against what the
//! receiver got. A missing span or a lost parent names the broken hop.

use crate::record::{Kind, SpanRecord};

/// One span the flow must produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expected {
    /// A short id other entries name as their parent.
    pub id: &'static str,
    /// The hop it proves, e.g. `pipeline → ensemble (JetStream jobs.score)`.
    pub hop: &'static str,
    /// `service.name`.
    pub service: &'static str,
    /// The span kind.
    pub kind: Kind,
    /// Reported by Envoy (`true`) or by the service itself.
    pub proxy: bool,
    /// The exact span name, or `None` for any (HTTP span names depend on
    /// the method and route).
    pub name: Option<&'static str>,
    /// The [`Expected::id`] of its parent; `None` for the root.
    pub parent: Option<&'static str>,
}

/// Why the check failed at one hop.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HopError {
    /// No such span in any trace.
    #[error("hop {hop}: {what} missing")]
    Missing {
        /// The hop.
        hop: &'static str,
        /// The span, e.g. `CONSUMER span of ensemble "process jobs.score"`.
        what: String,
    },
    /// The span exists, but in another trace: the context was lost.
    #[error("hop {hop}: {what} starts a new trace ({trace_id} instead of {expected_trace})")]
    NewTrace {
        /// The hop.
        hop: &'static str,
        /// The span.
        what: String,
        /// Its trace.
        trace_id: String,
        /// The flow's trace.
        expected_trace: String,
    },
    /// The span is in the trace but its parent is not the previous hop.
    #[error("hop {hop}: {what} has parent {actual:?}, expected {expected} ({expected_id})")]
    WrongParent {
        /// The hop.
        hop: &'static str,
        /// The span.
        what: String,
        /// Its parent span id (empty: a root).
        actual: String,
        /// The expected parent's [`Expected::id`].
        expected: &'static str,
        /// The expected parent's span id.
        expected_id: String,
    },
    /// The flow's first span is not a root.
    #[error("hop {hop}: {what} should start the trace but has parent {actual}")]
    NotRoot {
        /// The hop.
        hop: &'static str,
        /// The span.
        what: String,
        /// Its parent span id.
        actual: String,
    },
}

/// What a passed check found: each expected span, in [`FLOW`] order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The flow's trace id.
    pub trace_id: String,
    /// `(expected, span)` per entry of [`FLOW`].
    pub spans: Vec<(Expected, SpanRecord)>,
}

const fn hop(
    id: &'static str,
    hop: &'static str,
    service: &'static str,
    kind: Kind,
    proxy: bool,
    name: Option<&'static str>,
    parent: Option<&'static str>,
) -> Expected {
    Expected {
        id,
        hop,
        service,
        kind,
        proxy,
        name,
        parent,
    }
}

/// The revenue flow, hop by hop.
pub const FLOW: [Expected; 17] = [
    hop(
        "gateway",
        "client → gateway (edge Envoy)",
        "gateway",
        Kind::Server,
        true,
        Some("POST /events"),
        None,
    ),
    hop(
        "identity",
        "gateway → identity (ext_authz introspection)",
        "identity",
        Kind::Server,
        false,
        None,
        Some("gateway"),
    ),
    hop(
        "tap-sidecar",
        "gateway → tap (inbound sidecar)",
        "tap",
        Kind::Server,
        true,
        Some("POST /events"),
        Some("gateway"),
    ),
    hop(
        "tap",
        "tap sidecar → tap app (HTTP)",
        "tap",
        Kind::Server,
        false,
        None,
        Some("tap-sidecar"),
    ),
    hop(
        "tap-send",
        "tap → NATS (core tap.events)",
        "tap",
        Kind::Producer,
        false,
        Some("send tap.events"),
        Some("tap"),
    ),
    hop(
        "pipeline",
        "tap → pipeline (core NATS tap.events)",
        "pipeline",
        Kind::Consumer,
        false,
        Some("process tap.events"),
        Some("tap-send"),
    ),
    hop(
        "pipeline-send",
        "pipeline → JetStream (jobs.score)",
        "pipeline",
        Kind::Producer,
        false,
        Some("send jobs.score"),
        Some("pipeline"),
    ),
    hop(
        "ensemble",
        "pipeline → ensemble (JetStream jobs.score)",
        "ensemble",
        Kind::Consumer,
        false,
        Some("process jobs.score"),
        Some("pipeline-send"),
    ),
    hop(
        "ensemble-call",
        "ensemble → llm-gateway (TracedClient)",
        "ensemble",
        Kind::Client,
        false,
        None,
        Some("ensemble"),
    ),
    hop(
        "ensemble-sidecar",
        "ensemble → its outbound sidecar (HTTP)",
        "ensemble",
        Kind::Client,
        true,
        Some("POST /v1/complete"),
        Some("ensemble-call"),
    ),
    hop(
        "llm-sidecar",
        "ensemble sidecar → llm-gateway (inbound sidecar)",
        "llm-gateway",
        Kind::Server,
        true,
        Some("POST /v1/complete"),
        Some("ensemble-sidecar"),
    ),
    hop(
        "llm-gateway",
        "llm-gateway sidecar → llm-gateway app (HTTP)",
        "llm-gateway",
        Kind::Server,
        false,
        None,
        Some("llm-sidecar"),
    ),
    hop(
        "llm-gateway-call",
        "llm-gateway → llm-provider (TracedClient)",
        "llm-gateway",
        Kind::Client,
        false,
        None,
        Some("llm-gateway"),
    ),
    hop(
        "llm-gateway-sidecar-out",
        "llm-gateway → its outbound sidecar (HTTP)",
        "llm-gateway",
        Kind::Client,
        true,
        Some("POST /v1/chat/completions"),
        Some("llm-gateway-call"),
    ),
    hop(
        "llm-provider",
        "llm-gateway sidecar → llm-provider (HTTP, outside the mesh)",
        "llm-provider",
        Kind::Server,
        false,
        None,
        Some("llm-gateway-sidecar-out"),
    ),
    hop(
        "usage-send",
        "ensemble → NATS (core usage.recorded)",
        "ensemble",
        Kind::Producer,
        false,
        Some("send usage.recorded"),
        Some("ensemble"),
    ),
    hop(
        "meter",
        "ensemble → meter (core NATS usage.recorded)",
        "meter",
        Kind::Consumer,
        false,
        Some("process usage.recorded"),
        Some("usage-send"),
    ),
];

// === impl Expected ===

impl Expected {
    /// Whether `span` is this one (ignoring trace and parent).
    pub fn matches(&self, span: &SpanRecord) -> bool {
        span.service == self.service
            && span.kind == self.kind
            && span.proxy == self.proxy
            && self.name.is_none_or(|n| span.name == n)
    }

    /// `CONSUMER span "process jobs.score" of ensemble`.
    pub fn describe(&self) -> String {
        let by = if self.proxy {
            format!("{}'s Envoy", self.service)
        } else {
            self.service.to_owned()
        };
        match self.name {
            Some(name) => format!("{} span \"{name}\" of {by}", self.kind),
            None => format!("{} span of {by}", self.kind),
        }
    }
}

/// Checks `spans` for the flow in trace `trace_id`. Every problem is
/// returned, in flow order (the first is the first broken hop).
///
/// # Errors
///
/// The [`HopError`]s, when any hop is broken.
pub fn check(
    flow: &[Expected],
    trace_id: &str,
    spans: &[SpanRecord],
) -> Result<Verified, Vec<HopError>> {
    let mut found: Vec<(Expected, SpanRecord)> = Vec::new();
    let mut errors = Vec::new();
    for expected in flow {
        let in_trace = spans
            .iter()
            .filter(|s| s.trace_id == trace_id && expected.matches(s))
            .min_by_key(|s| s.start_unix_nanos);
        let Some(span) = in_trace else {
            let elsewhere = spans.iter().find(|s| expected.matches(s));
            errors.push(match elsewhere {
                Some(other) => HopError::NewTrace {
                    hop: expected.hop,
                    what: expected.describe(),
                    trace_id: other.trace_id.clone(),
                    expected_trace: trace_id.to_owned(),
                },
                None => HopError::Missing {
                    hop: expected.hop,
                    what: expected.describe(),
                },
            });
            continue;
        };
        match expected.parent {
            None if !span.parent_span_id.is_empty() => errors.push(HopError::NotRoot {
                hop: expected.hop,
                what: expected.describe(),
                actual: span.parent_span_id.clone(),
            }),
            None => {}
            Some(parent) => {
                // A missing parent is reported at the parent's own hop.
                let parent_span = found.iter().find(|(e, _)| e.id == parent).map(|(_, s)| s);
                if let Some(parent_span) = parent_span
                    && parent_span.span_id != span.parent_span_id
                {
                    errors.push(HopError::WrongParent {
                        hop: expected.hop,
                        what: expected.describe(),
                        actual: span.parent_span_id.clone(),
                        expected: parent,
                        expected_id: parent_span.span_id.clone(),
                    });
                }
            }
        }
        found.push((*expected, span.clone()));
    }
    if errors.is_empty() {
        Ok(Verified {
            trace_id: trace_id.to_owned(),
            spans: found,
        })
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::testing::span;

    /// The whole flow as it should arrive, span ids `s0`..`s16`.
    fn good_flow() -> Vec<SpanRecord> {
        FLOW.iter()
            .enumerate()
            .map(|(i, e)| {
                let parent = e.parent.map_or(String::new(), |p| {
                    let at = FLOW.iter().position(|x| x.id == p).unwrap_or(0);
                    format!("s{at}")
                });
                let mut s = span(
                    &format!("s{i}"),
                    &parent,
                    e.service,
                    e.name.unwrap_or("POST"),
                    e.kind,
                    i as u64,
                    100,
                );
                s.proxy = e.proxy;
                s
            })
            .collect()
    }

    fn trace() -> String {
        "t".repeat(32)
    }

    /// The index in [`FLOW`] of the hop with this id.
    fn at(id: &str) -> usize {
        FLOW.iter()
            .position(|e| e.id == id)
            .unwrap_or_else(|| panic!("{id} is a hop"))
    }

    #[test]
    fn the_whole_flow_passes() {
        let verified = check(&FLOW, &trace(), &good_flow()).expect("passes");
        assert_eq!(verified.spans.len(), FLOW.len());
        assert_eq!(verified.spans[7].1.span_id, "s7");
    }

    #[test]
    fn every_hop_is_needed() {
        for (i, expected) in FLOW.iter().enumerate() {
            let mut spans = good_flow();
            spans.remove(i);
            let errors = check(&FLOW, &trace(), &spans).expect_err("a hop is missing");
            assert_eq!(
                errors,
                [HopError::Missing {
                    hop: expected.hop,
                    what: expected.describe()
                }],
                "removing {}",
                expected.id
            );
        }
    }

    #[test]
    fn a_consumer_in_another_trace_is_a_new_trace_at_that_hop() {
        let mut spans = good_flow();
        spans[7].trace_id = "n".repeat(32);
        spans[7].parent_span_id.clear();
        let errors = check(&FLOW, &trace(), &spans).expect_err("broken");
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(
            errors[0].to_string(),
            format!(
                "hop pipeline → ensemble (JetStream jobs.score): CONSUMER span \"process jobs.score\" of ensemble starts a new trace ({} instead of {})",
                "n".repeat(32),
                trace()
            )
        );
    }

    #[test]
    fn a_wrong_parent_names_the_hop() {
        let meter = FLOW
            .iter()
            .position(|e| e.id == "meter")
            .expect("meter is a hop");
        let mut spans = good_flow();
        spans[meter].parent_span_id = "s0".to_owned();
        let errors = check(&FLOW, &trace(), &spans).expect_err("broken");
        assert!(
            matches!(&errors[..], [HopError::WrongParent { hop, expected: "usage-send", .. }] if *hop == FLOW[meter].hop),
            "{errors:?}"
        );
        let mut spans = good_flow();
        spans[0].parent_span_id = "ff".repeat(8);
        let errors = check(&FLOW, &trace(), &spans).expect_err("broken");
        assert!(
            matches!(&errors[..], [HopError::NotRoot { .. }]),
            "{errors:?}"
        );
    }

    #[test]
    fn the_provider_hop_follows_llm_gateway_through_its_outbound_sidecar() {
        for (id, parent, service, kind, proxy) in [
            (
                "llm-gateway-call",
                "llm-gateway",
                "llm-gateway",
                Kind::Client,
                false,
            ),
            (
                "llm-gateway-sidecar-out",
                "llm-gateway-call",
                "llm-gateway",
                Kind::Client,
                true,
            ),
            (
                "llm-provider",
                "llm-gateway-sidecar-out",
                "llm-provider",
                Kind::Server,
                false,
            ),
        ] {
            let e = FLOW[at(id)];
            assert_eq!(e.parent, Some(parent), "{id} is a child of {parent}");
            assert_eq!((e.service, e.kind, e.proxy), (service, kind, proxy), "{id}");
        }
    }

    #[test]
    fn a_missing_provider_span_names_the_provider_hop() {
        let mut spans = good_flow();
        spans.remove(at("llm-provider"));
        let errors = check(&FLOW, &trace(), &spans).expect_err("the provider is missing");
        let messages: Vec<_> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            messages,
            [
                "hop llm-gateway sidecar → llm-provider (HTTP, outside the mesh): SERVER span of llm-provider missing"
            ]
        );
    }

    #[test]
    fn a_provider_call_around_the_sidecar_is_a_wrong_parent_at_the_provider_hop() {
        // The provider's SERVER span hangs off llm-gateway's own CLIENT
        // span: the call did not go through the outbound sidecar.
        let mut spans = good_flow();
        spans[at("llm-provider")].parent_span_id = format!("s{}", at("llm-gateway-call"));
        let errors = check(&FLOW, &trace(), &spans).expect_err("broken");
        assert!(
            matches!(
                &errors[..],
                [HopError::WrongParent { hop, expected: "llm-gateway-sidecar-out", .. }]
                    if *hop == FLOW[at("llm-provider")].hop
            ),
            "{errors:?}"
        );
    }

    #[test]
    fn a_provider_span_in_another_trace_is_a_new_trace_at_the_provider_hop() {
        let mut spans = good_flow();
        let provider = at("llm-provider");
        spans[provider].trace_id = "n".repeat(32);
        spans[provider].parent_span_id.clear();
        let errors = check(&FLOW, &trace(), &spans).expect_err("broken");
        assert!(
            matches!(&errors[..], [HopError::NewTrace { hop, .. }] if *hop == FLOW[provider].hop),
            "{errors:?}"
        );
    }

    #[test]
    fn proxy_and_app_spans_are_told_apart() {
        let mut spans = good_flow();
        spans[9].proxy = false; // the sidecar's CLIENT span now looks like the app's
        let errors = check(&FLOW, &trace(), &spans).expect_err("broken");
        assert!(
            matches!(&errors[0], HopError::Missing { hop, .. } if *hop == FLOW[9].hop),
            "{errors:?}"
        );
        let out = at("llm-gateway-sidecar-out");
        let mut spans = good_flow();
        spans[out].proxy = false; // llm-gateway's sidecar CLIENT span now looks like its app's
        let errors = check(&FLOW, &trace(), &spans).expect_err("broken");
        assert!(
            matches!(&errors[0], HopError::Missing { hop, .. } if *hop == FLOW[out].hop),
            "{errors:?}"
        );
    }
}
