//! The pipeline's resource: what the SDK's detectors found in the
//! environment, merged with the code-side attributes.
//!
//! Precedence follows the
//! [Resource SDK spec](https://opentelemetry.io/docs/specs/otel/resource/sdk/#specifying-resource-information-via-an-environment-variable):
//! `OTEL_RESOURCE_ATTRIBUTES` is merged "as the secondary resource, with
//! any resource information provided by the user, i.e. the user provided
//! resource information has higher priority", so an attribute set in code
//! wins over the same key in the variable. `service.name` is the one
//! exception, as it has always been for
//! [`Builder::with_service_name`](super::Builder::with_service_name): the
//! code's name is a default, and `OTEL_SERVICE_NAME` (or `service.name` in
//! `OTEL_RESOURCE_ATTRIBUTES`, which `OTEL_SERVICE_NAME` beats, per the
//! [environment variable spec](https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/#general-sdk-configuration))
//! wins, so an operator can always name the service.

use opentelemetry::{Key, KeyValue};
use opentelemetry_sdk::Resource;

/// The resource attribute naming the service.
pub(crate) const SERVICE_NAME: &str = "service.name";

/// What the SDK's resource detectors report for the SDK without any
/// configured name: `unknown_service` or `unknown_service:<executable>`.
const UNKNOWN_SERVICE: &str = "unknown_service";

/// `detected` (the SDK's detectors: `OTEL_SERVICE_NAME`,
/// `OTEL_RESOURCE_ATTRIBUTES`, the `telemetry.sdk.*` attributes) with
/// `code` over it, and `default_name` as `service.name` only where the
/// environment named none. `code` holds no `service.name`:
/// [`Builder::with_resource_attributes`](super::Builder::with_resource_attributes)
/// turns it into the default name.
pub(crate) fn merge(detected: Resource, code: &[KeyValue], default_name: Option<&str>) -> Resource {
    let named_by_env = detected
        .get(&Key::from_static_str(SERVICE_NAME))
        .is_some_and(|name| !name.as_str().starts_with(UNKNOWN_SERVICE));
    let default_name = default_name.filter(|_| !named_by_env);
    if code.is_empty() && default_name.is_none() {
        return detected;
    }
    let inherited = detected
        .iter()
        .map(|(key, value)| KeyValue::new(key.clone(), value.clone()));
    let builder = match detected.schema_url() {
        Some(url) => Resource::builder_empty().with_schema_url(inherited, url.to_owned()),
        None => Resource::builder_empty().with_attributes(inherited),
    };
    let builder = builder.with_attributes(
        code.iter()
            .filter(|kv| kv.key.as_str() != SERVICE_NAME)
            .cloned(),
    );
    match default_name {
        Some(name) => builder.with_service_name(name.to_owned()),
        None => builder,
    }
    .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(attributes: &[(&'static str, &'static str)]) -> Resource {
        Resource::builder_empty()
            .with_attributes(attributes.iter().map(|(k, v)| KeyValue::new(*k, *v)))
            .build()
    }

    fn value(resource: &Resource, key: &'static str) -> Option<String> {
        resource
            .get(&Key::from_static_str(key))
            .map(|v| v.as_str().into_owned())
    }

    #[test]
    fn code_attributes_win_over_the_environment_except_the_service_name() {
        let unnamed = [(SERVICE_NAME, "unknown_service:checkout-bin")];
        let named = [(SERVICE_NAME, "from-env")];
        for (detected, code, default_name, key, want, why) in [
            (
                &[("region", "eu"), unnamed[0]][..],
                &[("team", "payments")][..],
                None,
                "team",
                Some("payments"),
                "a code attribute is added",
            ),
            (
                &[("region", "eu"), unnamed[0]],
                &[("team", "payments")],
                None,
                "region",
                Some("eu"),
                "the environment's attributes are kept",
            ),
            (
                &[("deployment.environment.name", "from-env"), unnamed[0]],
                &[("deployment.environment.name", "from-code")],
                None,
                "deployment.environment.name",
                Some("from-code"),
                "code wins on the same key (Resource SDK: the user's resource has higher priority)",
            ),
            (
                &unnamed,
                &[],
                Some("from-code"),
                SERVICE_NAME,
                Some("from-code"),
                "the default name where the environment named none",
            ),
            (
                &named,
                &[],
                Some("from-code"),
                SERVICE_NAME,
                Some("from-env"),
                "the environment's name wins over the default",
            ),
            (
                &named,
                &[(SERVICE_NAME, "sneaked-in")],
                None,
                SERVICE_NAME,
                Some("from-env"),
                "a service.name among the code attributes is not merged over it",
            ),
            (
                &unnamed,
                &[],
                None,
                SERVICE_NAME,
                Some("unknown_service:checkout-bin"),
                "nothing set anywhere: the SDK's fallback",
            ),
        ] {
            let code: Vec<_> = code.iter().map(|(k, v)| KeyValue::new(*k, *v)).collect();
            let merged = merge(resource(detected), &code, default_name);
            assert_eq!(value(&merged, key).as_deref(), want, "{why}");
        }
    }

    #[test]
    fn keeps_the_detected_schema_url() {
        let detected = Resource::builder_empty()
            .with_schema_url(
                [KeyValue::new("region", "eu")],
                "https://opentelemetry.io/schemas/1.30.0",
            )
            .build();
        let merged = merge(detected, &[KeyValue::new("team", "payments")], None);
        assert_eq!(
            merged.schema_url(),
            Some("https://opentelemetry.io/schemas/1.30.0")
        );
        assert_eq!(value(&merged, "team").as_deref(), Some("payments"));
    }
}
