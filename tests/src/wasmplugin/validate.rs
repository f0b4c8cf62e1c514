//! The rules a `WasmPlugin` must meet beyond its types: the CRD's bounds,
//! patterns and CEL rules (istio/api `kubernetes/customresourcedefinitions.gen.yaml`)
//! and Istio's admission checks (istio/istio `pkg/config/validation/validation.go`:
//! `ValidateWasmPlugin`, `validateWasmPluginURL`, `validateWasmPluginSHA`,
//! `validateWorkloadSelector`, `validateOneOfSelectorType`,
//! `validateWasmPluginVMConfig`, `validateWasmPluginMatch`).

use std::collections::BTreeSet;

use super::reference;
use super::{
    API_VERSION, EnvValueSource, KIND, PolicyTargetReference, WasmPlugin, WorkloadSelector,
};

/// The schemes Istio accepts (`validSchemes`); none means `oci`.
const SCHEMES: [&str; 4] = ["oci", "file", "http", "https"];

/// Every rule `plugin` breaks, each naming its field; empty when valid.
pub fn problems(plugin: &WasmPlugin) -> Vec<String> {
    let mut problems = Vec::new();
    let mut problem = |field: &str, what: String| problems.push(format!("{field}: {what}"));
    if plugin.api_version != API_VERSION {
        problem(
            "apiVersion",
            format!("{:?}, expected {API_VERSION}", plugin.api_version),
        );
    }
    if plugin.kind != KIND {
        problem("kind", format!("{:?}, expected {KIND}", plugin.kind));
    }
    if !is_dns_subdomain(&plugin.metadata.name) {
        problem("metadata.name", "must be a DNS-1123 subdomain".to_owned());
    }
    if let Some(namespace) = &plugin.metadata.namespace
        && !is_dns_label(namespace)
    {
        problem("metadata.namespace", "must be a DNS-1123 label".to_owned());
    }

    let spec = &plugin.spec;
    if let Some(what) = url_problem(&spec.url, spec.sha256.as_deref()) {
        problem("spec.url", what);
    }
    if let Some(sha) = &spec.sha256
        && !(sha.is_empty() || is_sha256_hex(sha))
    {
        problem("spec.sha256", "must match (^$|^[a-f0-9]{64}$)".to_owned());
    }
    if let Some(secret) = &spec.image_pull_secret
        && !(1..=253).contains(&secret.len())
    {
        problem(
            "spec.imagePullSecret",
            "must be 1 to 253 characters".to_owned(),
        );
    }
    if let Some(name) = &spec.plugin_name
        && !(1..=256).contains(&name.len())
    {
        problem("spec.pluginName", "must be 1 to 256 characters".to_owned());
    }

    if let Some(selector) = &spec.selector {
        for what in selector_problems(selector) {
            problem("spec.selector.matchLabels", what);
        }
    }
    let set = usize::from(spec.selector.is_some())
        + usize::from(spec.target_ref.is_some())
        + usize::from(!spec.target_refs.is_empty());
    if set > 1 {
        problem(
            "spec",
            "only one of selector, targetRef or targetRefs can be set".to_owned(),
        );
    }
    if spec.target_refs.len() > 16 {
        problem("spec.targetRefs", "at most 16".to_owned());
    }
    let refs = spec
        .target_ref
        .iter()
        .map(|r| ("spec.targetRef".to_owned(), r));
    let many = spec
        .target_refs
        .iter()
        .enumerate()
        .map(|(i, r)| (format!("spec.targetRefs[{i}]"), r));
    for (field, target) in refs.chain(many) {
        for what in target_problems(target) {
            problem(&field, what);
        }
    }

    for (i, selector) in spec.traffic.iter().enumerate() {
        let mut seen = BTreeSet::new();
        for (j, port) in selector.ports.iter().enumerate() {
            let field = format!("spec.match[{i}].ports[{j}].number");
            if !(1..=65535).contains(&port.number) {
                problem(
                    &field,
                    format!("{} is not a port (1 to 65535)", port.number),
                );
            }
            if !seen.insert(port.number) {
                problem(&field, format!("port {} listed twice", port.number));
            }
        }
    }

    if let Some(vm) = &spec.vm_config {
        if vm.env.len() > 256 {
            problem("spec.vmConfig.env", "at most 256".to_owned());
        }
        let mut names = BTreeSet::new();
        for (i, env) in vm.env.iter().enumerate() {
            let field = format!("spec.vmConfig.env[{i}]");
            if !(1..=256).contains(&env.name.len()) {
                problem(&field, "name must be 1 to 256 characters".to_owned());
            }
            if !names.insert(env.name.as_str()) {
                problem(&field, format!("duplicate env {:?}", env.name));
            }
            if let Some(value) = &env.value {
                if value.len() > 2048 {
                    problem(&field, "value over 2048 characters".to_owned());
                }
                if env.value_from == Some(EnvValueSource::Host) && !value.is_empty() {
                    problem(
                        &field,
                        "value may only be set when valueFrom is INLINE".to_owned(),
                    );
                }
            }
        }
    }
    problems
}

/// The URL's scheme is one Istio takes, and an OCI URL names a valid image
/// reference whose digest, if any, agrees with `sha256`.
fn url_problem(url: &str, sha256: Option<&str>) -> Option<String> {
    if url.is_empty() {
        return Some("url field needs to be set".to_owned());
    }
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (scheme, rest),
        None => ("", url),
    };
    if !scheme.is_empty() && !SCHEMES.contains(&scheme) {
        return Some(format!(
            "unsupported scheme {scheme:?} (Istio takes oci, file, http, https)"
        ));
    }
    if !(scheme.is_empty() || scheme == "oci") {
        return None;
    }
    match reference::parse(rest) {
        Err(e) => Some(format!("{url:?} is not an image reference: {e}")),
        Ok(image) => match (image.digest.as_deref(), sha256) {
            (Some(digest), Some(sha)) if !sha.is_empty() && digest != format!("sha256:{sha}") => {
                Some(format!("digest {digest} does not match sha256 {sha}"))
            }
            _ => None,
        },
    }
}

fn selector_problems(selector: &WorkloadSelector) -> Vec<String> {
    let mut problems = Vec::new();
    if selector.match_labels.is_empty() {
        problems.push("workload selector specified without labels (an Istio warning)".to_owned());
    }
    for (key, value) in &selector.match_labels {
        if key.is_empty() {
            problems.push("key must not be empty".to_owned());
        }
        if key.contains('*') || value.contains('*') {
            problems.push(format!("wildcard not allowed: {key}={value}"));
        }
        if value.len() > 63 {
            problems.push(format!("value of {key} over 63 characters"));
        }
    }
    problems
}

fn target_problems(target: &PolicyTargetReference) -> Vec<String> {
    let mut problems = Vec::new();
    let kind = target.kind.as_bytes();
    let kind_ok = (1..=63).contains(&kind.len())
        && kind.first().is_some_and(u8::is_ascii_alphabetic)
        && kind.last().is_some_and(u8::is_ascii_alphanumeric)
        && kind.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-');
    if !kind_ok {
        problems.push(format!(
            "kind {:?} must match ^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$",
            target.kind
        ));
    }
    if !(1..=253).contains(&target.name.len()) {
        problems.push("name must be 1 to 253 characters".to_owned());
    }
    if let Some(group) = &target.group
        && !(group.is_empty() || is_dns_subdomain(group))
    {
        problems.push(format!(
            "group {group:?} must be empty or a DNS-1123 subdomain"
        ));
    }
    if target.namespace.as_deref().is_some_and(|ns| !ns.is_empty()) {
        problems.push("cross namespace referencing is not currently supported".to_owned());
    }
    problems
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63 characters.
fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    (1..=63).contains(&b.len())
        && b.first()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && b.last()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

/// Dot-separated DNS-1123 labels, at most 253 characters.
fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns_label)
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
}
