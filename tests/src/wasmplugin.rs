//! Istio `WasmPlugin` manifests (`extensions.istio.io/v1alpha1`), read
//! field by field as the API defines them, unknown fields rejected.
//!
//! The types follow istio/api `extensions/v1alpha1/wasm.proto` and
//! `type/v1beta1/selector.proto`, with the JSON names, enum values and
//! bounds of the generated CRD (`kubernetes/customresourcedefinitions.gen.yaml`,
//! `wasmplugins.extensions.istio.io`). [`validate`] adds the checks Istio's
//! admission makes beyond the schema (`pkg/config/validation`,
//! `ValidateWasmPlugin`). A document's `pluginConfig` is a
//! `google.protobuf.Struct`; [`WasmPlugin::plugin_config_json`] gives the
//! JSON the filter receives from Istio.
//!
//! ```
//! let yaml = "apiVersion: extensions.istio.io/v1alpha1\nkind: WasmPlugin\n\
//!             metadata: {name: p}\nspec: {url: 'oci://r.example/p:1', failStrategy: FAIL_SOMETIMES}\n";
//! assert!(meshtrace_tests::wasmplugin::parse(yaml).is_err());
//! ```

pub mod reference;
pub mod validate;

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Number, Value};

/// The API version the manifests target.
pub const API_VERSION: &str = "extensions.istio.io/v1alpha1";
/// The kind.
pub const KIND: &str = "WasmPlugin";

/// A manifest is not a valid `WasmPlugin`.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The YAML does not fit the API's types (unknown field, bad enum value,
    /// wrong type); the message names the field and the line.
    #[error("document {document}: {source}")]
    Schema {
        /// The document's position, from 1.
        document: usize,
        /// The parser's error.
        source: serde_norway::Error,
    },
    /// The document fits the types but breaks the API's rules.
    #[error("document {document} ({name}): {}", problems.join("; "))]
    Invalid {
        /// The document's position, from 1.
        document: usize,
        /// `metadata.name`.
        name: String,
        /// Every problem, with the field.
        problems: Vec<String>,
    },
    /// The text holds no document.
    #[error("no WasmPlugin document")]
    Empty,
}

/// One `WasmPlugin` resource.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WasmPlugin {
    /// `extensions.istio.io/v1alpha1`.
    pub api_version: String,
    /// `WasmPlugin`.
    pub kind: String,
    /// Name and namespace.
    pub metadata: ObjectMeta,
    /// The plugin.
    pub spec: WasmPluginSpec,
}

/// The parts of Kubernetes `ObjectMeta` a shipped manifest may set.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ObjectMeta {
    /// A DNS-1123 subdomain.
    pub name: String,
    /// A DNS-1123 label.
    pub namespace: Option<String>,
    /// Labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// `istio.extensions.v1alpha1.WasmPlugin`, every field of wasm.proto.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WasmPluginSpec {
    /// `selector` (WorkloadSelector).
    pub selector: Option<WorkloadSelector>,
    /// `targetRef` (hidden from the docs, still in the schema).
    pub target_ref: Option<PolicyTargetReference>,
    /// `targetRefs`, at most 16.
    #[serde(default)]
    pub target_refs: Vec<PolicyTargetReference>,
    /// `url`: `oci://`, `file://`, `http[s]://`, or no scheme (OCI).
    pub url: String,
    /// `sha256`: empty or 64 lowercase hex digits.
    pub sha256: Option<String>,
    /// `imagePullPolicy`.
    pub image_pull_policy: Option<PullPolicy>,
    /// `imagePullSecret`: 1 to 253 characters.
    pub image_pull_secret: Option<String>,
    /// `verificationKey` (hidden, not implemented by Istio).
    pub verification_key: Option<String>,
    /// `pluginConfig` (google.protobuf.Struct).
    pub plugin_config: Option<Map<String, Value>>,
    /// `pluginName`: 1 to 256 characters.
    pub plugin_name: Option<String>,
    /// `phase`.
    pub phase: Option<PluginPhase>,
    /// `priority` (Int32Value).
    pub priority: Option<i32>,
    /// `failStrategy`.
    pub fail_strategy: Option<FailStrategy>,
    /// `vmConfig`.
    pub vm_config: Option<VmConfig>,
    /// `match`.
    #[serde(default, rename = "match")]
    pub traffic: Vec<TrafficSelector>,
    /// `type`.
    #[serde(rename = "type")]
    pub plugin_type: Option<PluginType>,
}

/// `istio.type.v1beta1.WorkloadSelector`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WorkloadSelector {
    /// `matchLabels`.
    #[serde(default)]
    pub match_labels: BTreeMap<String, String>,
}

/// `istio.type.v1beta1.PolicyTargetReference`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyTargetReference {
    /// API group, may be empty.
    pub group: Option<String>,
    /// Kind (required).
    pub kind: String,
    /// Name (required).
    pub name: String,
    /// Must be empty: no cross-namespace references.
    pub namespace: Option<String>,
}

/// `WasmPlugin.TrafficSelector`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrafficSelector {
    /// `mode`.
    pub mode: Option<WorkloadMode>,
    /// `ports`.
    #[serde(default)]
    pub ports: Vec<PortSelector>,
}

/// `istio.type.v1beta1.PortSelector`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortSelector {
    /// 1 to 65535.
    pub number: u32,
}

/// `VmConfig`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VmConfig {
    /// At most 256, names unique.
    #[serde(default)]
    pub env: Vec<EnvVar>,
}

/// `EnvVar`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EnvVar {
    /// 1 to 256 characters.
    pub name: String,
    /// Only with `valueFrom: INLINE`; at most 2048 characters.
    pub value: Option<String>,
    /// `valueFrom`.
    pub value_from: Option<EnvValueSource>,
}

/// `PluginPhase`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PluginPhase {
    /// `UNSPECIFIED_PHASE`: just before the router.
    UnspecifiedPhase,
    /// `AUTHN`: before Istio's authentication filters.
    Authn,
    /// `AUTHZ`: before authorization, after authentication.
    Authz,
    /// `STATS`: before stats, after authorization.
    Stats,
}

/// `PullPolicy` (its values are not upper case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum PullPolicy {
    /// `UNSPECIFIED_POLICY`.
    #[serde(rename = "UNSPECIFIED_POLICY")]
    Unspecified,
    /// `IfNotPresent`.
    IfNotPresent,
    /// `Always`.
    Always,
}

/// `FailStrategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FailStrategy {
    /// `FAIL_CLOSE`: a fatal error fails every request with 5xx.
    FailClose,
    /// `FAIL_OPEN`: a fatal error bypasses the plugin.
    FailOpen,
    /// `FAIL_RELOAD`: a new plugin instance after a runtime error.
    FailReload,
}

/// `istio.type.v1beta1.WorkloadMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WorkloadMode {
    /// `UNDEFINED`.
    Undefined,
    /// `CLIENT`: outbound (and every gateway).
    Client,
    /// `SERVER`: inbound.
    Server,
    /// `CLIENT_AND_SERVER`.
    ClientAndServer,
}

/// `PluginType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PluginType {
    /// `UNSPECIFIED_PLUGIN_TYPE`: HTTP.
    UnspecifiedPluginType,
    /// `HTTP`.
    Http,
    /// `NETWORK`.
    Network,
}

/// `EnvValueSource`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EnvValueSource {
    /// `INLINE`.
    Inline,
    /// `HOST`.
    Host,
}

/// Reads every document of `yaml` as a `WasmPlugin` and validates each.
///
/// # Errors
///
/// [`ManifestError`] for the first document that fails.
pub fn parse(yaml: &str) -> Result<Vec<WasmPlugin>, ManifestError> {
    let mut plugins = Vec::new();
    for (index, document) in serde_norway::Deserializer::from_str(yaml).enumerate() {
        let document_number = index + 1;
        let plugin = WasmPlugin::deserialize(document).map_err(|source| ManifestError::Schema {
            document: document_number,
            source,
        })?;
        let problems = validate::problems(&plugin);
        if !problems.is_empty() {
            return Err(ManifestError::Invalid {
                document: document_number,
                name: plugin.metadata.name,
                problems,
            });
        }
        plugins.push(plugin);
    }
    if plugins.is_empty() {
        return Err(ManifestError::Empty);
    }
    Ok(plugins)
}

// === impl WasmPlugin ===

impl WasmPlugin {
    /// The `pluginConfig` as the JSON Istio hands the filter: Istio
    /// marshals the Struct with jsonpb (`pilot/pkg/model/extensions.go`,
    /// `buildWasmConfig` → `protomarshal.ToJSON`) into the plugin's
    /// `configuration` StringValue. A Struct holds every number as a double,
    /// printed like Go's encoding/json: an integral value without a fraction
    /// (`5000`, never `5000.0`). `{}` when there is no `pluginConfig`.
    pub fn plugin_config_json(&self) -> Vec<u8> {
        let config = self.spec.plugin_config.clone().unwrap_or_default();
        let value = as_struct_json(Value::Object(config));
        value.to_string().into_bytes()
    }
}

/// A value as it comes back out of a `google.protobuf.Struct`: every
/// number becomes a double (a YAML integer past 2^53 loses precision, as in
/// Istio), and jsonpb prints doubles with Go's `json.Marshal`, which writes
/// an integral value below 1e21 without a fraction. Here integral values in
/// the `i64` range become JSON integers, which print the same way.
fn as_struct_json(value: Value) -> Value {
    match value {
        Value::Number(n) => {
            let double = n.as_f64().unwrap_or(f64::NAN);
            if double.fract() == 0.0 && double.abs() < 9.2e18 {
                let int = double as i64;
                Value::Number(Number::from(int))
            } else {
                Number::from_f64(double).map_or(Value::Null, Value::Number)
            }
        }
        Value::Array(items) => Value::Array(items.into_iter().map(as_struct_json).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, as_struct_json(v)))
                .collect(),
        ),
        other => other,
    }
}

#[cfg(test)]
mod tests;
