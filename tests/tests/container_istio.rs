//! The Istio artifacts as Istio takes them: the OCI image built from
//! `envoy/Dockerfile` by the container engine, exported and read as Istio's
//! Wasm image fetcher reads it (`meshtrace_tests::oci`), and the
//! `WasmPlugin`s of `envoy/istio/wasmplugin.yaml` checked field by field
//! against the API, their `pluginConfig` against the filter's own parser
//! (`meshtrace_tests::wasmplugin`).
//!
//! The image tests need podman or Docker (`cargo xtask setup` installs
//! podman; `cargo xtask test` passes `CONTAINERS_CONF`) and fail, never
//! skip, without one. Nothing is pulled; each image gets a tag unique to
//! the run and is removed when its test ends, passed or failed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use meshtrace_filter::config::{Config, Direction};
use meshtrace_harness::container::Engine;
use meshtrace_harness::tools::{filter_wasm, workspace_root};
use meshtrace_tests::oci::engine::{BuiltImage, Export};
use meshtrace_tests::oci::istio::{self, IstioImageError, Variant};
use meshtrace_tests::wasmplugin::{self, FailStrategy, PluginPhase, WorkloadMode, reference};

/// The module's name in the build context (`COPY meshtrace_filter.wasm`).
const MODULE_FILE: &str = "meshtrace_filter.wasm";

fn engine() -> Engine {
    Engine::from_env().unwrap_or_else(|e| {
        panic!("the Istio image tests need a container engine (podman or docker): {e}")
    })
}

/// The built module and a build context holding it as `meshtrace_filter.wasm`.
fn module() -> (Vec<u8>, PathBuf, Option<tempfile::TempDir>) {
    let path = filter_wasm().unwrap_or_else(|e| panic!("{e}"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    match path.parent() {
        Some(dir) if path.file_name().is_some_and(|n| n == MODULE_FILE) => {
            (bytes, dir.to_path_buf(), None)
        }
        _ => {
            let dir = tempfile::tempdir().expect("temp dir");
            std::fs::write(dir.path().join(MODULE_FILE), &bytes).expect("module copy");
            (bytes, dir.path().to_path_buf(), Some(dir))
        }
    }
}

fn tag(case: &str) -> String {
    format!("localhost/meshtrace-istio-{case}:{}", std::process::id())
}

/// Builds `dockerfile` over `context`, checks every export the engine
/// writes, and removes the image; returns each export's verdict.
fn build_and_check(
    case: &str,
    dockerfile: &Path,
    context: &Path,
    module: &[u8],
) -> Vec<(Export, Result<Variant, IstioImageError>)> {
    let engine = engine();
    let tag = tag(case);
    let image = BuiltImage::build(&engine, &tag, dockerfile, context)
        .unwrap_or_else(|e| panic!("building {tag} from {}: {e}", dockerfile.display()));
    let verdicts = Export::for_engine(&engine)
        .iter()
        .map(|&how| {
            let dir = tempfile::tempdir().expect("temp dir");
            let exported = image
                .export(how, dir.path())
                .unwrap_or_else(|e| panic!("exporting {tag} as {how:?}: {e}"));
            (how, istio::check(&exported, module))
        })
        .collect();
    drop(image);
    assert!(
        !engine.has_image(&tag),
        "{tag} is still there after the test"
    );
    verdicts
}

/// A Dockerfile and a context of `files`, side by side (the Dockerfile
/// outside the context, so `COPY . ./` does not take it).
fn bad_image(dockerfile: &str, files: &[(&str, &[u8])]) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let context = dir.path().join("context");
    std::fs::create_dir(&context).expect("context");
    for (name, bytes) in files {
        std::fs::write(context.join(name), bytes).expect("context file");
    }
    let file = dir.path().join("Dockerfile");
    std::fs::write(&file, dockerfile).expect("Dockerfile");
    (dir, file, context)
}

#[test]
fn the_shipped_dockerfile_builds_the_image_istio_fetches() {
    let (module, context, _copy) = module();
    let dockerfile = workspace_root().join("envoy/Dockerfile");
    for (how, verdict) in build_and_check("shipped", &dockerfile, &context, &module) {
        let variant =
            verdict.unwrap_or_else(|e| panic!("{how:?}: Istio would not load the module: {e}"));
        let expected = match how {
            Export::PodmanOciDir => Variant::OciCompat,
            Export::PodmanDockerDir => Variant::DockerCompat,
            Export::DockerSave => variant,
        };
        assert_eq!(variant, expected, "{how:?}");
        eprintln!(
            "{how:?}: {variant:?}, plugin.wasm = the built module ({} bytes)",
            module.len()
        );
    }
}

#[test]
fn an_image_with_the_module_under_another_name_fails_the_check() {
    let (module, _, _copy) = module();
    let (_dir, file, context) = bad_image(
        "FROM scratch\nCOPY meshtrace_filter.wasm ./filter.wasm\n",
        &[(MODULE_FILE, &module)],
    );
    for (how, verdict) in build_and_check("renamed", &file, &context, &module) {
        match verdict {
            Err(IstioImageError::NoPlugin { entries }) => {
                assert!(
                    entries.iter().any(|e| e.contains("filter.wasm")),
                    "{how:?}: {entries:?}"
                );
            }
            other => panic!("{how:?}: expected NoPlugin, got {other:?}"),
        }
    }
}

#[test]
fn an_image_whose_layer_holds_another_file_fails_the_check() {
    let (module, _, _copy) = module();
    let (_dir, file, context) = bad_image(
        "FROM scratch\nCOPY . ./\n",
        &[("plugin.wasm", &module), ("NOTICE", b"meshtrace\n")],
    );
    for (how, verdict) in build_and_check("extra", &file, &context, &module) {
        match verdict {
            Err(IstioImageError::OtherEntries { entries }) => {
                assert!(
                    entries.iter().any(|e| e.contains("NOTICE")),
                    "{how:?}: {entries:?}"
                );
                eprintln!(
                    "{how:?}: rejected: {}",
                    IstioImageError::OtherEntries { entries }
                );
            }
            other => panic!("{how:?}: expected OtherEntries, got {other:?}"),
        }
    }
}

#[test]
fn an_image_with_another_plugin_wasm_fails_the_check() {
    let (module, _, _copy) = module();
    // The smallest valid module: magic and version, no sections.
    let other: &[u8] = b"\0asm\x01\0\0\0";
    let (_dir, file, context) = bad_image(
        "FROM scratch\nCOPY plugin.wasm ./plugin.wasm\n",
        &[("plugin.wasm", other)],
    );
    for (how, verdict) in build_and_check("other", &file, &context, &module) {
        match verdict {
            Err(IstioImageError::Differs { found, .. }) => {
                assert_eq!(found, other.len(), "{how:?}")
            }
            other => panic!("{how:?}: expected Differs, got {other:?}"),
        }
    }
}

/// `envoy/istio/wasmplugin.yaml` with its documented placeholders filled.
fn shipped_wasmplugins() -> String {
    let path = workspace_root().join("envoy/istio/wasmplugin.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let placeholders: BTreeSet<&str> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .flat_map(|l| l.match_indices('<').map(move |(i, _)| &l[i..]))
        .filter_map(|rest| rest.find('>').map(|end| &rest[..=end]))
        .collect();
    assert_eq!(
        placeholders,
        BTreeSet::from(["<registry>", "<version>"]),
        "placeholders outside comments"
    );
    assert!(
        text.contains("#   <registry>, <version>"),
        "the header no longer documents the placeholders"
    );
    text.replace("<registry>", "registry.example.com")
        .replace("<version>", env!("CARGO_PKG_VERSION"))
}

#[test]
fn the_shipped_wasmplugins_match_the_api_and_the_filter_config() {
    let plugins = wasmplugin::parse(&shipped_wasmplugins()).unwrap_or_else(|e| panic!("{e}"));
    let names: BTreeSet<&str> = plugins.iter().map(|p| p.metadata.name.as_str()).collect();
    assert_eq!(
        names,
        BTreeSet::from(["meshtrace-inbound", "meshtrace-outbound"])
    );
    for plugin in &plugins {
        let name = &plugin.metadata.name;
        let spec = &plugin.spec;
        let image = spec
            .url
            .strip_prefix("oci://")
            .unwrap_or_else(|| panic!("{name}: url {} is not oci://", spec.url));
        let image = reference::parse(image).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            image.registry.as_deref(),
            Some("registry.example.com"),
            "{name}"
        );
        assert_eq!(
            image.repository, "meshtrace-filter",
            "{name}: the image README builds"
        );
        assert_eq!(
            image.tag.as_deref(),
            Some(env!("CARGO_PKG_VERSION")),
            "{name}"
        );
        // What envoy/README.md and the file's header promise.
        assert_eq!(spec.phase, Some(PluginPhase::Authn), "{name}");
        assert_eq!(spec.priority, Some(1000), "{name}");
        assert_eq!(spec.fail_strategy, Some(FailStrategy::FailOpen), "{name}");

        let json = plugin.plugin_config_json();
        let config = Config::from_json(&json).unwrap_or_else(|e| {
            panic!(
                "{name}: the filter rejects its pluginConfig {}: {e}",
                String::from_utf8_lossy(&json)
            )
        });
        let modes: Vec<Option<WorkloadMode>> = spec.traffic.iter().map(|t| t.mode).collect();
        let expected = match config.direction {
            Direction::Inbound => WorkloadMode::Server,
            Direction::Outbound => WorkloadMode::Client,
        };
        assert_eq!(
            modes,
            [Some(expected)],
            "{name}: direction {:?} needs match [{{mode: {expected:?}}}]",
            config.direction
        );
    }
}

#[test]
fn a_wasmplugin_whose_plugin_config_the_filter_rejects_fails() {
    let shipped = shipped_wasmplugins();
    let cases = [
        ("direction: inbound", "direction: sideways", "direction"),
        (
            "protocol: http/protobuf",
            "protocol: http/json",
            "collector.protocol",
        ),
        (
            "    direction: outbound\n",
            "    direction: outbound\n    sampling: 0.5\n",
            "sampling",
        ),
    ];
    for (old, new, field) in cases {
        assert!(shipped.contains(old), "{old:?} not in the shipped file");
        let changed = shipped.replacen(old, new, 1);
        let plugins = wasmplugin::parse(&changed).unwrap_or_else(|e| panic!("{new}: {e}"));
        let rejected = plugins
            .iter()
            .filter_map(|p| Config::from_json(&p.plugin_config_json()).err())
            .map(|e| e.to_string())
            .collect::<Vec<_>>();
        assert!(
            rejected.len() == 1 && rejected[0].contains(field),
            "{new:?}: expected one rejection naming {field}, got {rejected:?}"
        );
    }
}
