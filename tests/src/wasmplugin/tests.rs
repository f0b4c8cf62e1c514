use super::*;

/// A valid document; each case replaces one `key: value` line of it.
const BASE: &str = "\
apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata:
  name: meshtrace-inbound
  namespace: default
spec:
  selector:
    matchLabels:
      app: orders
  url: oci://registry.example.com/meshtrace-filter:0.1.0
  imagePullPolicy: IfNotPresent
  phase: AUTHN
  priority: 1000
  failStrategy: FAIL_OPEN
  match:
  - mode: SERVER
    ports:
    - number: 8080
  pluginConfig:
    direction: inbound
    collector:
      timeout_ms: 5000
";

fn with(old: &str, new: &str) -> String {
    assert!(BASE.contains(old), "{old:?} not in the base document");
    BASE.replacen(old, new, 1)
}

#[test]
fn reads_every_field_of_a_valid_document() {
    let plugins = parse(BASE).expect("valid");
    let [plugin] = plugins.as_slice() else {
        panic!("one document expected, got {}", plugins.len());
    };
    let spec = &plugin.spec;
    assert_eq!(spec.phase, Some(PluginPhase::Authn));
    assert_eq!(spec.fail_strategy, Some(FailStrategy::FailOpen));
    assert_eq!(spec.image_pull_policy, Some(PullPolicy::IfNotPresent));
    assert_eq!(spec.priority, Some(1000));
    assert_eq!(spec.traffic[0].mode, Some(WorkloadMode::Server));
    assert_eq!(spec.traffic[0].ports[0].number, 8080);
    let json: Value = serde_json::from_slice(&plugin.plugin_config_json()).expect("json");
    assert_eq!(
        json,
        serde_json::json!({"direction": "inbound", "collector": {"timeout_ms": 5000}})
    );
}

#[test]
fn every_enum_value_of_the_api_is_read() {
    let values = [
        ("phase: AUTHN", "phase: UNSPECIFIED_PHASE"),
        ("phase: AUTHN", "phase: AUTHZ"),
        ("phase: AUTHN", "phase: STATS"),
        ("failStrategy: FAIL_OPEN", "failStrategy: FAIL_CLOSE"),
        ("failStrategy: FAIL_OPEN", "failStrategy: FAIL_RELOAD"),
        ("imagePullPolicy: IfNotPresent", "imagePullPolicy: Always"),
        (
            "imagePullPolicy: IfNotPresent",
            "imagePullPolicy: UNSPECIFIED_POLICY",
        ),
        ("mode: SERVER", "mode: CLIENT"),
        ("mode: SERVER", "mode: CLIENT_AND_SERVER"),
        ("mode: SERVER", "mode: UNDEFINED"),
        ("  priority: 1000\n", "  priority: 1000\n  type: HTTP\n"),
        ("  priority: 1000\n", "  priority: 1000\n  type: NETWORK\n"),
        (
            "  priority: 1000\n",
            "  priority: 1000\n  vmConfig:\n    env:\n    - name: POD_NAME\n      valueFrom: HOST\n    - name: MODE\n      value: x\n",
        ),
    ];
    for (old, new) in values {
        if let Err(e) = parse(&with(old, new)) {
            panic!("{new:?} rejected: {e}");
        }
    }
}

#[test]
fn float_numbers_that_are_integral_reach_the_filter_as_integers() {
    let plugins = parse(&with(
        "timeout_ms: 5000",
        "timeout_ms: 5000.0\n      ratio: 0.5",
    ))
    .expect("valid");
    let json = String::from_utf8(plugins[0].plugin_config_json()).expect("utf-8");
    assert!(json.contains(r#""timeout_ms":5000"#), "{json}");
    assert!(json.contains(r#""ratio":0.5"#), "{json}");
}

/// One rejected change: the line replaced, its replacement, why it is
/// wrong, and what the error must name.
struct Bad {
    old: &'static str,
    new: &'static str,
    reason: &'static str,
    names: &'static str,
}

const fn bad(
    old: &'static str,
    new: &'static str,
    reason: &'static str,
    names: &'static str,
) -> Bad {
    Bad {
        old,
        new,
        reason,
        names,
    }
}

#[test]
fn rejects_values_and_fields_outside_the_api() {
    let cases = [
        bad(
            "FAIL_OPEN",
            "FAIL_SOMETIMES",
            "no such failStrategy",
            "spec.failStrategy: unknown variant `FAIL_SOMETIMES`",
        ),
        bad(
            "phase: AUTHN",
            "phase: authn",
            "enum values are upper case",
            "spec.phase: unknown variant `authn`",
        ),
        bad(
            "IfNotPresent",
            "IF_NOT_PRESENT",
            "the API spells it IfNotPresent",
            "spec.imagePullPolicy: unknown variant",
        ),
        bad(
            "mode: SERVER",
            "mode: INBOUND",
            "no such match mode",
            "spec.match[0].mode: unknown variant `INBOUND`",
        ),
        bad(
            "failStrategy:",
            "failureStrategy:",
            "unknown spec field",
            "spec: unknown field `failureStrategy`",
        ),
        bad(
            "  namespace: default\n",
            "  namespace: default\n  uid: x\n",
            "unknown metadata field",
            "metadata: unknown field `uid`",
        ),
        bad(
            "  - mode: SERVER\n",
            "  - mode: SERVER\n    direction: in\n",
            "unknown match field",
            "spec.match[0]: unknown field `direction`",
        ),
        bad(
            "      app: orders\n",
            "      app: orders\n    labels: {}\n",
            "unknown selector field",
            "spec.selector: unknown field `labels`",
        ),
        bad(
            "priority: 1000",
            "priority: 3000000000",
            "priority beyond int32",
            "spec.priority: invalid value",
        ),
        bad(
            "priority: 1000",
            "priority: high",
            "priority not a number",
            "spec.priority: invalid type",
        ),
        bad(
            "  pluginConfig:\n",
            "  pluginConfig: []\n",
            "pluginConfig not a mapping",
            "spec.pluginConfig: invalid type",
        ),
        bad(
            "number: 8080",
            "number: 0",
            "port 0",
            "spec.match[0].ports[0].number: 0 is not a port",
        ),
        bad(
            "number: 8080",
            "number: 70000",
            "port over 65535",
            "spec.match[0].ports[0].number: 70000",
        ),
        bad(
            "url: oci://",
            "url: ftp://",
            "a scheme Istio does not take",
            "spec.url: unsupported scheme \"ftp\"",
        ),
        bad(
            "registry.example.com",
            "<registry>",
            "placeholder left in",
            "spec.url: \"oci://<registry>",
        ),
        bad(
            "meshtrace-filter:",
            "Meshtrace-Filter:",
            "upper-case repository",
            "repository \"Meshtrace-Filter\" has 'M'",
        ),
        bad(
            "v1alpha1",
            "v1",
            "not the API version targeted",
            "apiVersion: \"extensions.istio.io/v1\"",
        ),
        bad(
            "kind: WasmPlugin",
            "kind: EnvoyFilter",
            "another kind",
            "kind: \"EnvoyFilter\"",
        ),
        bad(
            "name: meshtrace-inbound",
            "name: Meshtrace_Inbound",
            "name not DNS-1123",
            "metadata.name: must be a DNS-1123",
        ),
        bad(
            "app: orders",
            "app: 'ord*'",
            "wildcard in a label",
            "spec.selector.matchLabels: wildcard",
        ),
        bad(
            "  selector:\n    matchLabels:\n      app: orders\n",
            "  selector: {}\n",
            "selector without labels",
            "without labels",
        ),
        bad(
            "  url: oci://",
            "  targetRefs:\n  - kind: Gateway\n    group: gateway.networking.k8s.io\n    name: gw\n  url: oci://",
            "selector and targetRefs both set",
            "spec: only one of selector, targetRef or targetRefs",
        ),
        bad(
            "  url: oci://",
            "  targetRef:\n    kind: Gateway\n    name: gw\n    namespace: other\n  url: oci://",
            "cross-namespace targetRef (and a selector)",
            "spec.targetRef: cross namespace",
        ),
        bad(
            "  url: oci://",
            "  sha256: ABC\n  url: oci://",
            "sha256 not 64 lowercase hex",
            "spec.sha256: must match",
        ),
        bad(
            "  url: oci://",
            "  pluginName: ''\n  url: oci://",
            "empty pluginName",
            "spec.pluginName: must be 1 to 256",
        ),
        bad(
            "  priority: 1000\n",
            "  priority: 1000\n  vmConfig:\n    env:\n    - name: A\n      valueFrom: HOST\n      value: x\n",
            "a value with valueFrom HOST",
            "spec.vmConfig.env[0]: value may only be set when valueFrom is INLINE",
        ),
    ];
    for Bad {
        old,
        new,
        reason,
        names,
    } in cases
    {
        match parse(&with(old, new)) {
            Ok(_) => panic!("{reason}: accepted"),
            Err(e) => {
                let message = e.to_string();
                assert!(
                    message.contains(names),
                    "{reason}: the error does not name {names:?}: {message}"
                );
            }
        }
    }
}

#[test]
fn schema_errors_name_the_field_and_the_document() {
    let two = format!("{BASE}---\n{}", with("FAIL_OPEN", "FAIL_SOMETIMES"));
    let error = parse(&two)
        .expect_err("second document is invalid")
        .to_string();
    assert!(error.starts_with("document 2:"), "{error}");
    assert!(error.contains("failStrategy"), "{error}");
    assert!(error.contains("FAIL_SOMETIMES"), "{error}");
}

#[test]
fn text_without_a_document_is_rejected() {
    // An empty stream is one empty document to the parser: it fails the
    // schema (a `WasmPlugin` needs its fields); kubectl would skip it.
    for text in ["", "# only a comment\n"] {
        let error = parse(text).expect_err("no document");
        assert!(
            matches!(
                error,
                ManifestError::Schema { document: 1, .. } | ManifestError::Empty
            ),
            "{text:?}: {error}"
        );
    }
}
