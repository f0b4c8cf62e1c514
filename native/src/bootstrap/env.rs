//! The `OTEL_*` environment variables the bootstrap reads itself.
//!
//! The OpenTelemetry SDK and the OTLP exporter already read most of the
//! [SDK environment variables](https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/)
//! (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER`,
//! `OTEL_TRACES_SAMPLER_ARG`, `OTEL_BSP_*`, `OTEL_EXPORTER_OTLP_*`); the
//! bootstrap lets them do so and does not parse those again. This module
//! names every variable the bootstrap honours and parses the ones the SDK
//! does not read: [`OTEL_SDK_DISABLED`], [`OTEL_PROPAGATORS`],
//! [`OTEL_TRACES_EXPORTER`], plus the OTLP protocol, which picks the gRPC
//! or the HTTP exporter.
//!
//! Parsing never fails: an unusable value is reported as a warning (the
//! caller prints it) and the spec default applies.

use std::fmt;

// === Variables the bootstrap parses ===

/// `true` disables the SDK: no tracer provider, no propagator, no tracing
/// bridge is installed, so the global API stays no-op. Any other value
/// (case-insensitive) leaves it enabled.
pub const OTEL_SDK_DISABLED: &str = "OTEL_SDK_DISABLED";

/// Comma-separated propagators: `tracecontext`, `baggage`, `b3` (B3
/// single header), `b3multi` (B3 `X-B3-*` headers), `none`. Default
/// `tracecontext,baggage`. Unknown names are warned about and skipped.
pub const OTEL_PROPAGATORS: &str = "OTEL_PROPAGATORS";

/// The span exporter: `otlp` (default), `console` (spans printed to
/// stdout) or `none`. Only the first of a comma-separated list is used.
pub const OTEL_TRACES_EXPORTER: &str = "OTEL_TRACES_EXPORTER";

/// The OTLP protocol for traces (`grpc`, `http/protobuf`); wins over
/// [`OTEL_EXPORTER_OTLP_PROTOCOL`].
pub const OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL";

/// The OTLP protocol for every signal: `grpc` or `http/protobuf` (the spec
/// default). `http/json` is not built in: it is warned about and
/// `http/protobuf` is used.
pub const OTEL_EXPORTER_OTLP_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";

// === Variables the SDK reads (listed for reference, not parsed here) ===

/// The service name; read by the SDK's resource detector. Wins over
/// [`Builder::with_service_name`](super::Builder::with_service_name).
pub const OTEL_SERVICE_NAME: &str = "OTEL_SERVICE_NAME";

/// `key=value,...` resource attributes; read by the SDK's resource detector.
pub const OTEL_RESOURCE_ATTRIBUTES: &str = "OTEL_RESOURCE_ATTRIBUTES";

/// The sampler (`always_on`, `always_off`, `traceidratio`,
/// `parentbased_*`); read by the SDK.
pub const OTEL_TRACES_SAMPLER: &str = "OTEL_TRACES_SAMPLER";

/// The sampler's argument (the ratio for `*traceidratio`); read by the SDK.
pub const OTEL_TRACES_SAMPLER_ARG: &str = "OTEL_TRACES_SAMPLER_ARG";

/// Milliseconds between two batch exports; read by the SDK's batch span
/// processor, like `OTEL_BSP_MAX_QUEUE_SIZE` and
/// `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`.
pub const OTEL_BSP_SCHEDULE_DELAY: &str = "OTEL_BSP_SCHEDULE_DELAY";

/// How many finished spans the batch processor buffers before it drops new
/// ones; read by the SDK.
pub const OTEL_BSP_MAX_QUEUE_SIZE: &str = "OTEL_BSP_MAX_QUEUE_SIZE";

/// The collector's base URL (`/v1/traces` is appended for HTTP); read by
/// the OTLP exporter.
pub const OTEL_EXPORTER_OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";

/// The full traces URL (used as is); read by the OTLP exporter, wins over
/// [`OTEL_EXPORTER_OTLP_ENDPOINT`].
pub const OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";

/// `key=value,...` headers sent with every export; read by the OTLP
/// exporter.
pub const OTEL_EXPORTER_OTLP_HEADERS: &str = "OTEL_EXPORTER_OTLP_HEADERS";

/// Milliseconds one export may take; read by the OTLP exporter.
pub const OTEL_EXPORTER_OTLP_TIMEOUT: &str = "OTEL_EXPORTER_OTLP_TIMEOUT";

/// `gzip` compresses export requests; read by the OTLP exporter.
pub const OTEL_EXPORTER_OTLP_COMPRESSION: &str = "OTEL_EXPORTER_OTLP_COMPRESSION";

// === Parsed values ===

/// One propagator named in [`OTEL_PROPAGATORS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropagatorKind {
    /// W3C Trace Context (`traceparent`, `tracestate`).
    TraceContext,
    /// W3C Baggage (`baggage`).
    Baggage,
    /// B3 single header (`b3: {trace}-{span}-{sampled}`), as OpenTelemetry
    /// names it in `OTEL_PROPAGATORS`.
    B3,
    /// B3 multiple headers (`X-B3-TraceId`, `X-B3-SpanId`,
    /// `X-B3-Sampled`, `X-B3-Flags`).
    B3Multi,
}

/// The span exporter named in [`OTEL_TRACES_EXPORTER`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExporterKind {
    /// OTLP, over the protocol from [`OtlpProtocol`].
    #[default]
    Otlp,
    /// Spans printed to stdout (for local development).
    Console,
    /// No exporter: spans are sampled and propagated but not exported.
    None,
}

/// The OTLP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OtlpProtocol {
    /// OTLP/gRPC (default port 4317).
    Grpc,
    /// OTLP/HTTP with binary protobuf (default port 4318), the spec
    /// default.
    #[default]
    HttpProtobuf,
}

impl fmt::Display for OtlpProtocol {
    /// The variable's spelling: `grpc`, `http/protobuf`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Grpc => "grpc",
            Self::HttpProtobuf => "http/protobuf",
        })
    }
}

/// A value that could not be used, and what was used instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvWarning {
    /// The variable.
    pub variable: &'static str,
    /// Its value.
    pub value: String,
    /// What the bootstrap did instead.
    pub fallback: &'static str,
}

impl fmt::Display for EnvWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}={:?} is not supported; {}",
            self.variable, self.value, self.fallback
        )
    }
}

/// Reads `name`, treating unset, non-UTF-8 and blank values as absent.
/// Milliseconds one batch export may take (default 30000). The SDK's
/// thread-based batch processor ignores it, so meshtrace applies it to the
/// OTLP exports it runs on its export runtime.
/// <https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/#batch-span-processor>
pub const OTEL_BSP_EXPORT_TIMEOUT: &str = "OTEL_BSP_EXPORT_TIMEOUT";

/// The specification's default for [`OTEL_BSP_EXPORT_TIMEOUT`].
pub const DEFAULT_BSP_EXPORT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Parses [`OTEL_BSP_EXPORT_TIMEOUT`] (milliseconds); a missing or invalid
/// value gives the default.
pub fn parse_bsp_export_timeout(value: Option<&str>) -> std::time::Duration {
    value
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(DEFAULT_BSP_EXPORT_TIMEOUT, std::time::Duration::from_millis)
}

pub(crate) fn var(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// Parses [`OTEL_SDK_DISABLED`]: only `true` (any case) disables.
pub fn parse_sdk_disabled(value: Option<&str>) -> bool {
    value.is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// Parses [`OTEL_PROPAGATORS`]; `None` means the default
/// `tracecontext,baggage`. `none` anywhere in the list yields no
/// propagator. Duplicates are kept once.
pub fn parse_propagators(value: Option<&str>) -> (Vec<PropagatorKind>, Vec<EnvWarning>) {
    let Some(value) = value else {
        return (
            vec![PropagatorKind::TraceContext, PropagatorKind::Baggage],
            Vec::new(),
        );
    };
    let mut kinds = Vec::new();
    let mut warnings = Vec::new();
    let mut none = false;
    for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let kind = match name.to_ascii_lowercase().as_str() {
            "tracecontext" => PropagatorKind::TraceContext,
            "baggage" => PropagatorKind::Baggage,
            "b3" => PropagatorKind::B3,
            "b3multi" => PropagatorKind::B3Multi,
            "none" => {
                none = true;
                continue;
            }
            _ => {
                warnings.push(EnvWarning {
                    variable: OTEL_PROPAGATORS,
                    value: name.to_owned(),
                    fallback: "this propagator is ignored (known: tracecontext, baggage, b3, b3multi, none)",
                });
                continue;
            }
        };
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    if none {
        kinds.clear();
    }
    (kinds, warnings)
}

/// Parses [`OTEL_TRACES_EXPORTER`]; `None` means `otlp`.
pub fn parse_traces_exporter(value: Option<&str>) -> (ExporterKind, Option<EnvWarning>) {
    let Some(value) = value else {
        return (ExporterKind::Otlp, None);
    };
    let first = value.split(',').next().unwrap_or("").trim();
    match first.to_ascii_lowercase().as_str() {
        "otlp" | "" => (ExporterKind::Otlp, None),
        "console" => (ExporterKind::Console, None),
        "none" => (ExporterKind::None, None),
        _ => (
            ExporterKind::Otlp,
            Some(EnvWarning {
                variable: OTEL_TRACES_EXPORTER,
                value: value.to_owned(),
                fallback: "using otlp (known: otlp, console, none)",
            }),
        ),
    }
}

/// Parses an OTLP protocol value; `None` means the spec default,
/// `http/protobuf`. `variable` names the variable for the warning.
pub fn parse_protocol(
    variable: &'static str,
    value: Option<&str>,
) -> (OtlpProtocol, Option<EnvWarning>) {
    let Some(value) = value else {
        return (OtlpProtocol::HttpProtobuf, None);
    };
    match value.trim().to_ascii_lowercase().as_str() {
        "grpc" => (OtlpProtocol::Grpc, None),
        "http/protobuf" => (OtlpProtocol::HttpProtobuf, None),
        "http/json" => (
            OtlpProtocol::HttpProtobuf,
            Some(EnvWarning {
                variable,
                value: value.to_owned(),
                fallback: "OTLP/JSON is not built in; using http/protobuf",
            }),
        ),
        _ => (
            OtlpProtocol::HttpProtobuf,
            Some(EnvWarning {
                variable,
                value: value.to_owned(),
                fallback: "using http/protobuf (known: grpc, http/protobuf)",
            }),
        ),
    }
}

/// The traces protocol from the environment: the traces variable wins over
/// the generic one; empty values count as unset. Also what tools that
/// configure other exporters alongside the SDK (e.g. an Envoy collector
/// cluster) should read, so both sides agree.
pub fn protocol_from_env() -> (OtlpProtocol, Option<EnvWarning>) {
    match var(OTEL_EXPORTER_OTLP_TRACES_PROTOCOL) {
        Some(v) => parse_protocol(OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, Some(&v)),
        None => parse_protocol(
            OTEL_EXPORTER_OTLP_PROTOCOL,
            var(OTEL_EXPORTER_OTLP_PROTOCOL).as_deref(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn sdk_disabled_only_by_true() {
        for (value, want, why) in [
            (None, false, "unset"),
            (Some("true"), true, "lowercase true"),
            (Some("TRUE"), true, "case-insensitive"),
            (Some(" true "), true, "surrounding blanks"),
            (Some("false"), false, "false"),
            (Some("1"), false, "the spec only accepts true"),
            (Some("yes"), false, "the spec only accepts true"),
        ] {
            assert_eq!(parse_sdk_disabled(value), want, "{why}: {value:?}");
        }
    }

    #[test]
    fn propagators_parse_known_names_and_warn_on_others() {
        use PropagatorKind::{B3, B3Multi, Baggage, TraceContext};
        for (value, want, warned, why) in [
            (None, vec![TraceContext, Baggage], 0, "default"),
            (Some("tracecontext"), vec![TraceContext], 0, "one"),
            (Some("baggage"), vec![Baggage], 0, "baggage only"),
            (
                Some(" Baggage , tracecontext "),
                vec![Baggage, TraceContext],
                0,
                "order kept, blanks and case ignored",
            ),
            (Some("none"), vec![], 0, "none"),
            (Some("tracecontext,none"), vec![], 0, "none wins"),
            (
                Some("xray,tracecontext"),
                vec![TraceContext],
                1,
                "unknown skipped",
            ),
            (
                Some("tracecontext,b3,b3multi"),
                vec![TraceContext, B3, B3Multi],
                0,
                "B3 single and multi",
            ),
            (Some("xray"), vec![], 1, "only unknown"),
            (
                Some("tracecontext,tracecontext"),
                vec![TraceContext],
                0,
                "dedup",
            ),
        ] {
            let (kinds, warnings) = parse_propagators(value);
            assert_eq!(kinds, want, "{why}: {value:?}");
            assert_eq!(warnings.len(), warned, "{why}: {value:?}");
        }
    }

    #[test]
    fn unknown_propagator_warning_names_the_value() {
        let (_, warnings) = parse_propagators(Some("jaeger"));
        let text = warnings[0].to_string();
        assert!(text.contains("OTEL_PROPAGATORS"), "{text}");
        assert!(text.contains("jaeger"), "{text}");
    }

    #[test]
    fn traces_exporter_values() {
        for (value, want, warned, why) in [
            (None, ExporterKind::Otlp, false, "default"),
            (Some("otlp"), ExporterKind::Otlp, false, "otlp"),
            (Some("CONSOLE"), ExporterKind::Console, false, "case"),
            (Some("none"), ExporterKind::None, false, "none"),
            (
                Some("console,otlp"),
                ExporterKind::Console,
                false,
                "first wins",
            ),
            (
                Some("zipkin"),
                ExporterKind::Otlp,
                true,
                "unknown falls back",
            ),
        ] {
            let (kind, warning) = parse_traces_exporter(value);
            assert_eq!(kind, want, "{why}: {value:?}");
            assert_eq!(warning.is_some(), warned, "{why}: {value:?}");
        }
    }

    #[test]
    fn protocol_values() {
        for (value, want, warned, why) in [
            (None, OtlpProtocol::HttpProtobuf, false, "spec default"),
            (Some("grpc"), OtlpProtocol::Grpc, false, "grpc"),
            (
                Some("http/protobuf"),
                OtlpProtocol::HttpProtobuf,
                false,
                "http",
            ),
            (
                Some("http/json"),
                OtlpProtocol::HttpProtobuf,
                true,
                "json not built",
            ),
            (Some("thrift"), OtlpProtocol::HttpProtobuf, true, "unknown"),
        ] {
            let (protocol, warning) = parse_protocol(OTEL_EXPORTER_OTLP_PROTOCOL, value);
            assert_eq!(protocol, want, "{why}: {value:?}");
            assert_eq!(warning.is_some(), warned, "{why}: {value:?}");
        }
    }

    #[test]
    fn bsp_export_timeout_parses_milliseconds_with_the_spec_default() {
        assert_eq!(
            parse_bsp_export_timeout(Some("250")),
            Duration::from_millis(250)
        );
        assert_eq!(parse_bsp_export_timeout(None), DEFAULT_BSP_EXPORT_TIMEOUT);
        assert_eq!(
            parse_bsp_export_timeout(Some("soon")),
            DEFAULT_BSP_EXPORT_TIMEOUT
        );
    }
}
