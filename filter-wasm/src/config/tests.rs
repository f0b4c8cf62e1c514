use super::*;

fn get<'a>(list: &'a [(String, ResourceValue)], key: &str) -> Option<&'a ResourceValue> {
    list.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

/// Asserts that `json` is rejected with a problem on `field` whose text
/// contains `fragment`.
fn assert_field_error(json: &str, field: &str, fragment: &str) {
    let ConfigError::Invalid(errors) = err(json) else {
        panic!("{json}: expected field errors");
    };
    assert!(
        errors
            .iter()
            .any(|e| e.field == field && e.problem.contains(fragment)),
        "{json}: {errors:?}"
    );
}

fn err(json: &str) -> ConfigError {
    match Config::from_json(json.as_bytes()) {
        Ok(c) => panic!("{json} should be rejected, got {c:?}"),
        Err(e) => e,
    }
}

#[test]
fn minimal_config_gets_documented_defaults() {
    let c = Config::from_json(br#"{"direction":"inbound"}"#).expect("valid");
    assert_eq!(c.direction, Direction::Inbound);
    assert_eq!(c.collector.cluster, "otel_collector");
    assert_eq!(c.collector.protocol, Protocol::HttpProtobuf);
    assert_eq!(c.collector.path, "/v1/traces");
    assert_eq!(c.collector.timeout_ms, 5_000);
    assert_eq!(c.collector_authority(), "otel_collector");
    assert_eq!(c.sampler.ratio, 1.0);
    assert_eq!(c.batch.max_spans, 512);
    assert_eq!(c.batch.flush_interval_ms, 1_000);
    assert_eq!(c.batch.max_queued_spans, 2_048);
    assert_eq!(c.batch.max_in_flight, 2);
    assert!(!c.attributes.url_query);
    assert!(!c.attributes.connection);
    assert!(!c.spawn_upstream_span);
    assert!(c.service_name.is_none());
    assert_eq!(c.traceresponse, TraceResponseMode::Off, "experimental: off");
    assert_eq!(c.propagators, PropagatorsConfig::default());
    assert!(c.propagators.tracecontext && !c.propagators.reads_b3());
}

#[test]
fn trust_caps_forced_sampling() {
    let c = Config::from_json(br#"{"direction":"inbound"}"#).expect("valid");
    assert_eq!(c.trust.max_sampled_per_second, None, "no cap by default");
    let c = Config::from_json(br#"{"direction":"inbound","trust":{"max_sampled_per_second":50}}"#)
        .expect("valid");
    assert_eq!(c.trust.max_sampled_per_second, Some(50));
    for (json, field) in [
        (
            r#"{"direction":"inbound","trust":{"max_sampled_per_second":-1}}"#,
            "trust.max_sampled_per_second",
        ),
        (
            r#"{"direction":"inbound","trust":{"max_sampled":5}}"#,
            "trust.max_sampled",
        ),
    ] {
        assert_field_error(json, field, "");
    }
}

#[test]
fn trust_incoming_peers_and_header() {
    let c = Config::from_json(
        br#"{"direction":"inbound","trust":{"incoming":"peers","peers":["10.0.0.0/8","fd00::/8"],"header":"x-caller-verified"}}"#,
    )
    .expect("valid");
    assert_eq!(c.trust.policy.incoming, IncomingTrust::Peers);
    assert_eq!(c.trust.policy.peers.len(), 2);
    assert_eq!(c.trust.policy.header.as_deref(), Some("x-caller-verified"));
    let c = Config::from_json(br#"{"direction":"inbound","trust":{"incoming":"never"}}"#)
        .expect("valid");
    assert_eq!(c.trust.policy.incoming, IncomingTrust::Never);
    for (json, field) in [
        (
            r#"{"direction":"inbound","trust":{"incoming":"sometimes"}}"#,
            "trust.incoming",
        ),
        (
            r#"{"direction":"inbound","trust":{"incoming":"peers","peers":["10.0.0.0/33"]}}"#,
            "trust.peers[0]",
        ),
        (
            r#"{"direction":"inbound","trust":{"incoming":"peers"}}"#,
            "trust.peers",
        ),
        (
            r#"{"direction":"inbound","trust":{"peers":["10.0.0.0/8"]}}"#,
            "trust.incoming",
        ),
        (
            r#"{"direction":"inbound","trust":{"incoming":"peers","header":"X Bad"}}"#,
            "trust.header",
        ),
    ] {
        assert_field_error(json, field, "");
    }
}

#[test]
fn route_overrides_turn_tracing_off_or_set_a_ratio() {
    let c = Config::from_json(
        br#"{"direction":"inbound","route_overrides":{"healthz":{"tracing":false},"checkout":{"sampler_ratio":0.25}}}"#,
    )
    .expect("valid");
    let get = |name: &str| {
        c.route_overrides
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, o)| *o)
    };
    assert_eq!(get("healthz").map(|o| o.tracing), Some(false));
    assert_eq!(get("checkout").and_then(|o| o.sampler_ratio), Some(0.25));
    assert_eq!(get("checkout").map(|o| o.tracing), Some(true));
    for (json, field) in [
        (
            r#"{"direction":"inbound","route_overrides":{"a":{"sampler_ratio":2}}}"#,
            "route_overrides.a.sampler_ratio",
        ),
        (
            r#"{"direction":"inbound","route_overrides":{"a":{"tracing":"no"}}}"#,
            "route_overrides.a.tracing",
        ),
        (
            r#"{"direction":"inbound","route_overrides":{"a":{"ratio":1}}}"#,
            "route_overrides.a.ratio",
        ),
        (
            r#"{"direction":"inbound","route_overrides":{"a":true}}"#,
            "route_overrides.a",
        ),
    ] {
        assert_field_error(json, field, "");
    }
}

#[test]
fn routes_are_templates_named_in_errors() {
    let c =
        Config::from_json(br#"{"direction":"inbound","routes":["/v1/complete","/orders/{id}"]}"#)
            .expect("valid");
    assert_eq!(c.routes.len(), 2);
    assert_eq!(c.routes[1].as_str(), "/orders/{id}");
    let ConfigError::Invalid(errors) =
        err(r#"{"direction":"inbound","routes":["/ok","orders/{id}","/x/{y"]}"#)
    else {
        panic!("expected field errors");
    };
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["routes[1]", "routes[2]"]);
}

#[test]
fn propagators_use_the_otel_propagators_names() {
    let parse = |list: &str| {
        Config::from_json(format!(r#"{{"direction":"inbound","propagators":{list}}}"#).as_bytes())
    };
    let p = parse(r#"["tracecontext","baggage","b3","b3multi"]"#)
        .expect("valid")
        .propagators;
    assert!(p.tracecontext && p.b3 && p.b3multi);
    let p = parse(r#"["b3multi"]"#).expect("valid").propagators;
    assert!(!p.tracecontext && !p.b3 && p.b3multi && p.reads_b3());
    for (list, field, fragment) in [
        (
            r#"["tracecontext","jaeger"]"#,
            "propagators[1]",
            "\"b3multi\"",
        ),
        (r#"["baggage"]"#, "propagators", "must name a trace format"),
        (r#"[]"#, "propagators", "must name a trace format"),
        (r#""b3""#, "propagators", "list of names"),
    ] {
        let Err(ConfigError::Invalid(errors)) = parse(list) else {
            panic!("{list}: expected field errors");
        };
        assert!(
            errors
                .iter()
                .any(|e| e.field == field && e.problem.contains(fragment)),
            "{list}: {errors:?}"
        );
    }
}

#[test]
fn traceresponse_is_off_on_or_strip_and_on_is_inbound_only() {
    for (json, mode) in [
        (
            r#"{"direction":"inbound","traceresponse":"on"}"#,
            TraceResponseMode::On,
        ),
        (
            r#"{"direction":"outbound","traceresponse":"strip"}"#,
            TraceResponseMode::Strip,
        ),
        (
            r#"{"direction":"inbound","traceresponse":"off"}"#,
            TraceResponseMode::Off,
        ),
    ] {
        assert_eq!(
            Config::from_json(json.as_bytes())
                .expect(json)
                .traceresponse,
            mode
        );
    }
    for (json, field, fragment) in [
        (
            r#"{"direction":"inbound","traceresponse":"yes"}"#,
            "traceresponse",
            "\"off\", \"on\", \"trusted\" or \"strip\"",
        ),
        (
            r#"{"direction":"inbound","traceresponse":true}"#,
            "traceresponse",
            "\"off\"",
        ),
        (
            r#"{"direction":"outbound","traceresponse":"on"}"#,
            "traceresponse",
            "need direction \"inbound\"",
        ),
    ] {
        assert_field_error(json, field, fragment);
    }
}

#[test]
fn full_config_parses() {
    let c = Config::from_json(
        br#"{
          "service_name": "gateway",
          "direction": "inbound",
          "spawn_upstream_span": true,
          "collector": {"cluster": "otel", "protocol": "grpc", "authority": "collector:4317",
                        "path": "/custom", "timeout_ms": 250, "headers": {"authorization": "Bearer x"}},
          "sampler": {"ratio": 0.25},
          "batch": {"max_spans": 10, "flush_interval_ms": 200, "max_queued_spans": 100, "max_in_flight": 1},
          "resource": {"deployment.environment.name": "prod", "k8s.pod.count": 3, "canary": true, "weight": 0.5},
          "attributes": {"url_query": true, "connection": true}
        }"#,
    )
    .expect("valid");
    assert_eq!(c.direction, Direction::Inbound);
    assert!(c.spawn_upstream_span);
    assert_eq!(c.collector.protocol, Protocol::Grpc);
    assert_eq!(c.collector_authority(), "collector:4317");
    assert_eq!(
        get(&c.resource, "k8s.pod.count"),
        Some(&ResourceValue::Int(3))
    );
    assert_eq!(get(&c.resource, "canary"), Some(&ResourceValue::Bool(true)));
    assert_eq!(get(&c.resource, "weight"), Some(&ResourceValue::Float(0.5)));
    assert!(c.attributes.url_query);
    assert!(c.attributes.connection);
}

#[test]
fn rejections_name_the_field() {
    let cases: &[(&str, &str, &str)] = &[
        (r#"{}"#, "direction", "direction is required"),
        (
            r#"{"direction":"sideways"}"#,
            "direction",
            "direction has two valid values",
        ),
        (
            r#"{"direction":"inbound","bogus":1}"#,
            "bogus",
            "unknown top-level field",
        ),
        (
            r#"{"direction":"inbound","batch":{"max_spanz":1}}"#,
            "batch.max_spanz",
            "unknown nested field",
        ),
        (
            r#"{"direction":"inbound","batch":{"max_spans":"ten"}}"#,
            "batch.max_spans",
            "wrong type",
        ),
        (
            r#"{"direction":"inbound","collector":{"protocol":"http/json"}}"#,
            "collector.protocol",
            "unsupported protocol",
        ),
        (
            r#"{"direction":"inbound","sampler":{"ratio":1.5}}"#,
            "sampler.ratio",
            "ratio above 1",
        ),
        (
            r#"{"direction":"inbound","sampler":{"ratio":-0.1}}"#,
            "sampler.ratio",
            "negative ratio",
        ),
        (
            r#"{"direction":"inbound","batch":{"max_spans":0}}"#,
            "batch.max_spans",
            "empty batches",
        ),
        (
            r#"{"direction":"inbound","batch":{"max_spans":100,"max_queued_spans":10}}"#,
            "batch.max_queued_spans",
            "queue smaller than a batch",
        ),
        (
            r#"{"direction":"inbound","batch":{"flush_interval_ms":0}}"#,
            "batch.flush_interval_ms",
            "zero interval",
        ),
        (
            r#"{"direction":"inbound","batch":{"max_in_flight":0}}"#,
            "batch.max_in_flight",
            "no export could ever run",
        ),
        (
            r#"{"direction":"inbound","collector":{"cluster":""}}"#,
            "collector.cluster",
            "empty cluster",
        ),
        (
            r#"{"direction":"inbound","collector":{"timeout_ms":0}}"#,
            "collector.timeout_ms",
            "zero timeout",
        ),
        (
            r#"{"direction":"inbound","collector":{"path":"v1/traces"}}"#,
            "collector.path",
            "relative path",
        ),
        (
            r#"{"direction":"inbound","collector":{"headers":{"Authorization":"x"}}}"#,
            "collector.headers.Authorization",
            "uppercase header name",
        ),
        (
            r#"{"direction":"inbound","service_name":" "}"#,
            "service_name",
            "blank service name",
        ),
        (
            r#"{"direction":"outbound","spawn_upstream_span":true}"#,
            "spawn_upstream_span",
            "an outbound filter already makes the CLIENT span",
        ),
        (
            r#"{"direction":"inbound","spawn_upstream_span":"yes"}"#,
            "spawn_upstream_span",
            "wrong type",
        ),
        (r#"not json"#, "(root)", "syntax error"),
    ];
    for (json, field, reason) in cases {
        let e = err(json);
        let fields: Vec<String> = match &e {
            ConfigError::Parse(f) => vec![f.field.clone()],
            ConfigError::Invalid(list) => list.iter().map(|f| f.field.clone()).collect(),
        };
        assert!(
            fields.iter().any(|f| f == field),
            "{reason}: expected field {field} in {e}"
        );
        assert!(e.to_string().contains(field), "{reason}: message {e}");
    }
}

#[test]
fn istio_cluster_names_become_a_valid_authority() {
    let c = Config::from_json(
        br#"{"direction":"inbound","collector":{"cluster":"outbound|4318||otel-collector.observability.svc.cluster.local"}}"#,
    )
    .expect("valid");
    assert_eq!(
        c.collector_authority(),
        "otel-collector.observability.svc.cluster.local:4318"
    );
    let c = Config::from_json(br#"{"direction":"inbound","collector":{"cluster":"a|b"}}"#)
        .expect("valid");
    assert_eq!(c.collector_authority(), "a|b", "not an Istio name: as is");
}

#[test]
fn validation_reports_every_problem() {
    let e = err(r#"{"direction":"inbound","sampler":{"ratio":2},"batch":{"max_spans":0}}"#);
    let ConfigError::Invalid(list) = e else {
        panic!("expected validation errors, got {e}");
    };
    assert_eq!(list.len(), 2, "{list:?}");
}
