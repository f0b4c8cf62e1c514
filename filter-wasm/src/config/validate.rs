//! Range and consistency checks on a parsed [`Config`], and what the
//! configuration derives (the export calls' `:authority`).

use super::{Config, Direction, FieldError, IncomingTrust, ResourceValue};

impl Config {
    /// Checks value ranges, returning every problem found.
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut bad = |field: &str, problem: &str| {
            errors.push(FieldError {
                field: field.to_owned(),
                problem: problem.to_owned(),
            })
        };
        if let Some(name) = &self.service_name
            && name.trim().is_empty()
        {
            bad("service_name", "must not be empty");
        }
        if self.spawn_upstream_span && self.direction == Direction::Outbound {
            bad(
                "spawn_upstream_span",
                "needs direction \"inbound\" (an outbound filter already reports the CLIENT span)",
            );
        }
        if self.traceresponse.answers() && self.direction == Direction::Outbound {
            bad(
                "traceresponse",
                "\"on\" and \"trusted\" need direction \"inbound\" (the callee's proxy answers with its span)",
            );
        }
        let t = &self.trust.policy;
        if t.incoming != IncomingTrust::Peers && (!t.peers.is_empty() || t.header.is_some()) {
            bad(
                "trust.incoming",
                "must be \"peers\" when trust.peers or trust.header is set",
            );
        }
        if t.incoming == IncomingTrust::Peers && t.peers.is_empty() && t.header.is_none() {
            bad(
                "trust.peers",
                "\"peers\" needs trust.peers or trust.header (else nobody is trusted: use \"never\")",
            );
        }
        if let Some(header) = &t.header
            && !is_header_name(header)
        {
            bad("trust.header", "is not a lowercase HTTP header name");
        }
        for (name, entry) in &self.route_overrides {
            if entry
                .sampler_ratio
                .is_some_and(|r| !(0.0..=1.0).contains(&r))
            {
                bad(
                    &format!("route_overrides.{name}.sampler_ratio"),
                    "must be between 0 and 1",
                );
            }
        }
        let c = &self.collector;
        if c.cluster.is_empty() {
            bad("collector.cluster", "must not be empty");
        }
        if c.authority.as_deref().is_some_and(str::is_empty) {
            bad("collector.authority", "must not be empty");
        }
        if !c.path.starts_with('/') {
            bad("collector.path", "must start with '/'");
        }
        if c.timeout_ms == 0 {
            bad("collector.timeout_ms", "must be at least 1");
        }
        for (name, _) in &c.headers {
            if !is_header_name(name) {
                bad(
                    &format!("collector.headers.{name}"),
                    "is not a lowercase HTTP header name (pseudo-headers are set by the filter)",
                );
            }
        }
        let ratio = self.sampler.ratio;
        if !(0.0..=1.0).contains(&ratio) {
            bad("sampler.ratio", "must be between 0 and 1");
        }
        let b = &self.batch;
        if b.max_spans == 0 {
            bad("batch.max_spans", "must be at least 1");
        }
        if b.flush_interval_ms == 0 {
            bad("batch.flush_interval_ms", "must be at least 1");
        }
        if b.max_queued_spans < b.max_spans {
            bad("batch.max_queued_spans", "must be at least batch.max_spans");
        }
        if b.max_in_flight == 0 {
            bad("batch.max_in_flight", "must be at least 1");
        }
        for (key, value) in &self.resource {
            if key.is_empty() {
                bad("resource", "attribute keys must not be empty");
            }
            if let ResourceValue::Float(f) = value
                && !f.is_finite()
            {
                bad(&format!("resource.{key}"), "must be a finite number");
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// The `:authority` used for export calls: `collector.authority`, else
    /// `host:port` taken from an Istio cluster name
    /// (`outbound|4318||otel-collector.observability.svc.cluster.local`),
    /// else the cluster name. A `|` is not valid in a `Host` header, so
    /// Istio's names are never sent verbatim.
    pub fn collector_authority(&self) -> String {
        if let Some(authority) = &self.collector.authority {
            return authority.clone();
        }
        let cluster = &self.collector.cluster;
        let mut parts = cluster.split('|');
        match (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) {
            (Some(_direction), Some(port), Some(_subset), Some(host), None)
                if !host.is_empty() && port.parse::<u16>().is_ok() =>
            {
                format!("{host}:{port}")
            }
            _ => cluster.clone(),
        }
    }
}

/// RFC 9110 token, lowercase (HTTP/2 and Envoy require lowercase names).
fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| {
            b.is_ascii_lowercase()
                || b.is_ascii_digit()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}
