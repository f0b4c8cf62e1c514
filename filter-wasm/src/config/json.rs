//! Reading the plugin configuration JSON into [`Config`], field by field.
//!
//! A hand-written reader over `serde_json::Value` instead of derived
//! deserializers: it names each bad field by its dotted path, reports every
//! problem at once rather than the first, and keeps the Wasm module small
//! (derived visitors plus a path-tracking wrapper cost about 60 KiB).

use serde_json::{Map, Value};

use crate::config::{
    AttributesConfig, BatchConfig, Cidr, CollectorConfig, Config, ConfigError, Direction,
    FieldError, IncomingTrust, PropagatorsConfig, Protocol, ResourceValue, RouteOverride,
    RouteTemplate, SamplerConfig, TraceResponseMode, TrustConfig,
};

// === impl Config ===

impl Config {
    /// Parses and validates the plugin configuration JSON, reporting
    /// every bad field. (Defined beside the reader so that the types in
    /// [`crate::config`] do not import it back.)
    pub fn from_json(bytes: &[u8]) -> Result<Self, ConfigError> {
        let config = read(bytes)?;
        config.validate().map_err(ConfigError::Invalid)?;
        Ok(config)
    }
}

/// Collects problems while reading one JSON object.
struct Object<'a> {
    path: &'a str,
    map: &'a Map<String, Value>,
}

/// Problems found so far.
type Errors = Vec<FieldError>;

fn problem(errors: &mut Errors, field: String, problem: &str) {
    errors.push(FieldError {
        field,
        problem: problem.to_owned(),
    });
}

// === impl Object ===

impl<'a> Object<'a> {
    fn field_path(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.path)
        }
    }

    /// Flags every key not in `known`.
    fn reject_unknown(&self, known: &[&str], errors: &mut Errors) {
        for key in self.map.keys() {
            if !known.contains(&key.as_str()) {
                problem(errors, self.field_path(key), "unknown field");
            }
        }
    }

    fn get(&self, name: &str) -> Option<&'a Value> {
        self.map.get(name).filter(|v| !v.is_null())
    }

    fn string(&self, name: &str, errors: &mut Errors) -> Option<String> {
        match self.get(name)? {
            Value::String(s) => Some(s.clone()),
            _ => {
                problem(errors, self.field_path(name), "must be a string");
                None
            }
        }
    }

    fn u32(&self, name: &str, errors: &mut Errors) -> Option<u32> {
        let value = self.get(name)?;
        match value.as_u64().and_then(|n| u32::try_from(n).ok()) {
            Some(n) => Some(n),
            None => {
                problem(
                    errors,
                    self.field_path(name),
                    "must be a whole number from 0 to 4294967295",
                );
                None
            }
        }
    }

    fn f64(&self, name: &str, errors: &mut Errors) -> Option<f64> {
        match self.get(name)?.as_f64() {
            Some(f) => Some(f),
            None => {
                problem(errors, self.field_path(name), "must be a number");
                None
            }
        }
    }

    fn bool(&self, name: &str, errors: &mut Errors) -> Option<bool> {
        match self.get(name)? {
            Value::Bool(b) => Some(*b),
            _ => {
                problem(errors, self.field_path(name), "must be true or false");
                None
            }
        }
    }

    fn object(&self, name: &str, errors: &mut Errors) -> Option<&'a Map<String, Value>> {
        match self.get(name)? {
            Value::Object(map) => Some(map),
            _ => {
                problem(errors, self.field_path(name), "must be an object");
                None
            }
        }
    }
}

/// Parses `bytes` into a [`Config`] with defaults filled in. Range checks
/// are [`Config::validate`]'s job.
pub fn read(bytes: &[u8]) -> Result<Config, ConfigError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        ConfigError::Parse(FieldError {
            field: "(root)".to_owned(),
            problem: format!("not valid JSON: {e}"),
        })
    })?;
    let Value::Object(map) = &value else {
        return Err(ConfigError::Parse(FieldError {
            field: "(root)".to_owned(),
            problem: "must be a JSON object".to_owned(),
        }));
    };
    let mut errors = Errors::new();
    let root = Object { path: "", map };
    root.reject_unknown(
        &[
            "service_name",
            "direction",
            "spawn_upstream_span",
            "collector",
            "sampler",
            "batch",
            "resource",
            "attributes",
            "traceresponse",
            "propagators",
            "trust",
            "routes",
            "route_overrides",
        ],
        &mut errors,
    );

    let direction = match root.get("direction") {
        None => {
            problem(&mut errors, "direction".into(), "required field is missing");
            None
        }
        Some(Value::String(s)) if s == "inbound" => Some(Direction::Inbound),
        Some(Value::String(s)) if s == "outbound" => Some(Direction::Outbound),
        Some(_) => {
            problem(
                &mut errors,
                "direction".into(),
                "must be \"inbound\" or \"outbound\"",
            );
            None
        }
    };

    let config = Config {
        service_name: root.string("service_name", &mut errors),
        direction: direction.unwrap_or(Direction::Inbound),
        spawn_upstream_span: root
            .bool("spawn_upstream_span", &mut errors)
            .unwrap_or(false),
        collector: collector(&root, &mut errors),
        sampler: sampler(&root, &mut errors),
        batch: batch(&root, &mut errors),
        resource: resource(&root, &mut errors),
        attributes: attributes(&root, &mut errors),
        traceresponse: traceresponse(&root, &mut errors),
        propagators: propagators(&root, &mut errors),
        trust: trust(&root, &mut errors),
        routes: routes(&root, &mut errors),
        route_overrides: route_overrides(&root, &mut errors),
    };
    if errors.is_empty() {
        Ok(config)
    } else {
        Err(ConfigError::Invalid(errors))
    }
}

fn collector(root: &Object<'_>, errors: &mut Errors) -> CollectorConfig {
    let mut c = CollectorConfig::default();
    let Some(map) = root.object("collector", errors) else {
        return c;
    };
    let o = Object {
        path: "collector",
        map,
    };
    o.reject_unknown(
        &[
            "cluster",
            "protocol",
            "authority",
            "path",
            "timeout_ms",
            "headers",
        ],
        errors,
    );
    if let Some(v) = o.string("cluster", errors) {
        c.cluster = v;
    }
    match o.get("protocol") {
        None => {}
        Some(Value::String(s)) if s == "http/protobuf" => c.protocol = Protocol::HttpProtobuf,
        Some(Value::String(s)) if s == "grpc" => c.protocol = Protocol::Grpc,
        Some(_) => problem(
            errors,
            "collector.protocol".into(),
            "must be \"http/protobuf\" or \"grpc\"",
        ),
    }
    c.authority = o.string("authority", errors);
    if let Some(v) = o.string("path", errors) {
        c.path = v;
    }
    if let Some(v) = o.u32("timeout_ms", errors) {
        c.timeout_ms = v;
    }
    if let Some(map) = o.object("headers", errors) {
        let headers = Object {
            path: "collector.headers",
            map,
        };
        for key in map.keys() {
            if let Some(v) = headers.string(key, errors) {
                c.headers.push((key.clone(), v));
            }
        }
    }
    c
}

fn sampler(root: &Object<'_>, errors: &mut Errors) -> SamplerConfig {
    let mut s = SamplerConfig::default();
    if let Some(map) = root.object("sampler", errors) {
        let o = Object {
            path: "sampler",
            map,
        };
        o.reject_unknown(&["ratio"], errors);
        if let Some(v) = o.f64("ratio", errors) {
            s.ratio = v;
        }
    }
    s
}

fn batch(root: &Object<'_>, errors: &mut Errors) -> BatchConfig {
    let mut b = BatchConfig::default();
    if let Some(map) = root.object("batch", errors) {
        let o = Object { path: "batch", map };
        o.reject_unknown(
            &[
                "max_spans",
                "flush_interval_ms",
                "max_queued_spans",
                "max_in_flight",
            ],
            errors,
        );
        let fields: [(&str, &mut u32); 4] = [
            ("max_spans", &mut b.max_spans),
            ("flush_interval_ms", &mut b.flush_interval_ms),
            ("max_queued_spans", &mut b.max_queued_spans),
            ("max_in_flight", &mut b.max_in_flight),
        ];
        for (name, slot) in fields {
            if let Some(v) = o.u32(name, errors) {
                *slot = v;
            }
        }
    }
    b
}

fn resource(root: &Object<'_>, errors: &mut Errors) -> Vec<(String, ResourceValue)> {
    let mut out = Vec::new();
    let Some(map) = root.object("resource", errors) else {
        return out;
    };
    for (key, value) in map {
        let v = match value {
            Value::String(s) => ResourceValue::String(s.clone()),
            Value::Bool(b) => ResourceValue::Bool(*b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => ResourceValue::Int(i),
                None => ResourceValue::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            _ => {
                problem(
                    errors,
                    format!("resource.{key}"),
                    "must be a string, boolean or number",
                );
                continue;
            }
        };
        out.push((key.clone(), v));
    }
    out
}

fn traceresponse(root: &Object<'_>, errors: &mut Errors) -> TraceResponseMode {
    let mode = match root.get("traceresponse") {
        None => return TraceResponseMode::default(),
        Some(Value::String(s)) => TraceResponseMode::from_name(s),
        Some(_) => None,
    };
    mode.unwrap_or_else(|| {
        problem(
            errors,
            "traceresponse".into(),
            "must be \"off\", \"on\", \"trusted\" or \"strip\"",
        );
        TraceResponseMode::default()
    })
}

fn propagators(root: &Object<'_>, errors: &mut Errors) -> PropagatorsConfig {
    let Some(value) = root.get("propagators") else {
        return PropagatorsConfig::default();
    };
    let Value::Array(names) = value else {
        problem(errors, "propagators".into(), "must be a list of names");
        return PropagatorsConfig::default();
    };
    let mut p = PropagatorsConfig {
        tracecontext: false,
        b3: false,
        b3multi: false,
    };
    for (i, name) in names.iter().enumerate() {
        match name.as_str() {
            Some("tracecontext") => p.tracecontext = true,
            Some("b3") => p.b3 = true,
            Some("b3multi") => p.b3multi = true,
            Some("baggage") => {}
            _ => problem(
                errors,
                format!("propagators[{i}]"),
                "must be \"tracecontext\", \"baggage\", \"b3\" or \"b3multi\"",
            ),
        }
    }
    if !(p.tracecontext || p.b3 || p.b3multi) {
        problem(
            errors,
            "propagators".into(),
            "must name a trace format: \"tracecontext\", \"b3\" or \"b3multi\"",
        );
        return PropagatorsConfig::default();
    }
    p
}

fn trust(root: &Object<'_>, errors: &mut Errors) -> TrustConfig {
    let mut t = TrustConfig::default();
    let Some(map) = root.object("trust", errors) else {
        return t;
    };
    let o = Object { path: "trust", map };
    o.reject_unknown(
        &["incoming", "peers", "header", "max_sampled_per_second"],
        errors,
    );
    t.max_sampled_per_second = o.u32("max_sampled_per_second", errors);
    match o.get("incoming") {
        None => {}
        Some(Value::String(s)) if IncomingTrust::from_name(s).is_some() => {
            t.policy.incoming = IncomingTrust::from_name(s).unwrap_or_default();
        }
        Some(_) => problem(
            errors,
            "trust.incoming".into(),
            "must be \"always\", \"never\" or \"peers\"",
        ),
    }
    match o.get("peers") {
        None => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                match item.as_str().map(Cidr::parse) {
                    Some(Ok(cidr)) => t.policy.peers.push(cidr),
                    Some(Err(e)) => problem(errors, format!("trust.peers[{i}]"), &e.to_string()),
                    None => problem(errors, format!("trust.peers[{i}]"), "must be a string"),
                }
            }
        }
        Some(_) => problem(errors, "trust.peers".into(), "must be a list of CIDRs"),
    }
    t.policy.header = o.string("header", errors);
    t
}

fn route_overrides(root: &Object<'_>, errors: &mut Errors) -> Vec<(String, RouteOverride)> {
    let mut out = Vec::new();
    let Some(map) = root.object("route_overrides", errors) else {
        return out;
    };
    for (name, value) in map {
        let path = format!("route_overrides.{name}");
        let Value::Object(fields) = value else {
            problem(errors, path, "must be an object");
            continue;
        };
        let o = Object {
            path: &path,
            map: fields,
        };
        o.reject_unknown(&["tracing", "sampler_ratio"], errors);
        let mut entry = RouteOverride::default();
        if let Some(tracing) = o.bool("tracing", errors) {
            entry.tracing = tracing;
        }
        entry.sampler_ratio = o.f64("sampler_ratio", errors);
        out.push((name.clone(), entry));
    }
    out
}

fn routes(root: &Object<'_>, errors: &mut Errors) -> Vec<RouteTemplate> {
    let mut out = Vec::new();
    match root.get("routes") {
        None => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                match item.as_str().map(RouteTemplate::parse) {
                    Some(Ok(template)) => out.push(template),
                    Some(Err(e)) => problem(errors, format!("routes[{i}]"), &e.to_string()),
                    None => problem(errors, format!("routes[{i}]"), "must be a string"),
                }
            }
        }
        Some(_) => problem(errors, "routes".into(), "must be a list of route templates"),
    }
    out
}

fn attributes(root: &Object<'_>, errors: &mut Errors) -> AttributesConfig {
    let mut a = AttributesConfig::default();
    if let Some(map) = root.object("attributes", errors) {
        let o = Object {
            path: "attributes",
            map,
        };
        o.reject_unknown(&["url_query", "connection"], errors);
        if let Some(v) = o.bool("url_query", errors) {
            a.url_query = v;
        }
        if let Some(v) = o.bool("connection", errors) {
            a.connection = v;
        }
    }
    a
}
