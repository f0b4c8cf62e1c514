//! Images the suite builds, removed when dropped, and their export in the
//! formats the engine writes.

use std::path::Path;

use meshtrace_harness::container::{ContainerError, Engine};

use super::Image;
use super::layout::{self, LayoutError, Source};

/// How an image is exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Export {
    /// `podman save --format oci-dir`: an OCI layout with the OCI manifest
    /// podman pushes, layers gzipped as a push does (podman compresses
    /// unless `--uncompressed` is given).
    PodmanOciDir,
    /// `podman save --format docker-dir --compress`: the Docker schema 2
    /// manifest `podman push --format v2s2` sends, with gzip layers.
    PodmanDockerDir,
    /// `docker save`: read as an OCI layout (Docker 25+) or the legacy
    /// format, uncompressed layers then gzipped as `docker push` does
    /// ([`layout::as_pushed`]).
    DockerSave,
}

/// An export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The engine's command failed.
    #[error(transparent)]
    Engine(#[from] ContainerError),
    /// The export could not be read.
    #[error("reading the export of {tag}: {source}")]
    Layout {
        /// The image.
        tag: String,
        /// What was wrong.
        source: LayoutError,
    },
}

/// An image built by the engine and tagged `tag`; dropping it removes the
/// tag (`rmi --force`), whether the test passed or not.
#[derive(Debug)]
pub struct BuiltImage {
    engine: Engine,
    tag: String,
}

// === impl Export ===

impl Export {
    /// The exports the engine can write: both manifest kinds with podman,
    /// `docker save` with Docker.
    pub fn for_engine(engine: &Engine) -> &'static [Export] {
        if engine.program() == "docker" {
            &[Export::DockerSave]
        } else {
            &[Export::PodmanOciDir, Export::PodmanDockerDir]
        }
    }
}

// === impl BuiltImage ===

impl BuiltImage {
    /// Builds `dockerfile` over `context` as `tag`. A tag left by a failed
    /// build is removed too.
    ///
    /// # Errors
    ///
    /// [`ContainerError`] when the build fails.
    pub fn build(
        engine: &Engine,
        tag: &str,
        dockerfile: &Path,
        context: &Path,
    ) -> Result<Self, ContainerError> {
        let image = Self {
            engine: engine.clone(),
            tag: tag.to_owned(),
        };
        engine.build(tag, dockerfile, context)?;
        Ok(image)
    }

    /// The image's tag.
    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// Exports the image `how` under `dir` (which must exist) and reads it.
    ///
    /// # Errors
    ///
    /// [`ExportError`] when the engine fails or the export is unreadable.
    pub fn export(&self, how: Export, dir: &Path) -> Result<Image, ExportError> {
        let tag = self.tag.as_str();
        let layout_error = |source| ExportError::Layout {
            tag: tag.to_owned(),
            source,
        };
        match how {
            Export::PodmanOciDir => {
                let out = dir.join("oci-dir");
                self.save(&["--format", "oci-dir"], &out)?;
                layout::read_oci_layout(&Source::Dir(out)).map_err(layout_error)
            }
            Export::PodmanDockerDir => {
                let out = dir.join("docker-dir");
                self.save(&["--format", "docker-dir", "--compress"], &out)?;
                layout::read_dir_transport(&Source::Dir(out)).map_err(layout_error)
            }
            Export::DockerSave => {
                let out = dir.join("image.tar");
                self.save(&[], &out)?;
                let source = Source::archive(&out).map_err(layout_error)?;
                layout::read_docker_archive(&source)
                    .and_then(layout::as_pushed)
                    .map_err(layout_error)
            }
        }
    }

    fn save(&self, format: &[&str], out: &Path) -> Result<(), ContainerError> {
        let out = out.to_string_lossy();
        let mut args = vec!["save"];
        args.extend_from_slice(format);
        args.extend_from_slice(&["--output", &out, &self.tag]);
        self.engine.run(&args).map(drop)
    }
}

impl Drop for BuiltImage {
    fn drop(&mut self) {
        if !self.engine.has_image(&self.tag) {
            return;
        }
        if let Err(e) = self.engine.run(&["rmi", "--force", &self.tag]) {
            eprintln!("image {}: removal failed: {e}", self.tag);
        }
    }
}
