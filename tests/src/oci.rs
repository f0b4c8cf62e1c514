//! The filter's OCI image as Istio's `WasmPlugin` image fetcher reads it.
//!
//! An image built by the container engine is exported ([`engine`]), the
//! export read into an [`Image`] (the manifest's media type and each
//! layer's media type and blob, [`layout`]), and [`istio::check`] applies
//! the rules of Istio's fetcher (`pkg/wasm/imagefetcher.go`) to it, with a
//! typed error for each way an image can fail them.
//!
//! ```no_run
//! # fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use meshtrace_harness::container::Engine;
//! use meshtrace_tests::oci::engine::{BuiltImage, Export};
//! use meshtrace_tests::oci::istio;
//! # let (dockerfile, context, out) = (std::path::Path::new("envoy/Dockerfile"),
//! #     std::path::Path::new("target/wasm32-wasip1/wasm-release"), std::path::Path::new("/tmp/x"));
//! let engine = Engine::from_env()?;
//! let image = BuiltImage::build(&engine, "localhost/meshtrace-filter:check", dockerfile, context)?;
//! let exported = image.export(Export::for_engine(&engine)[0], out)?;
//! let module = std::fs::read(context.join("meshtrace_filter.wasm"))?;
//! let variant = istio::check(&exported, &module)?;
//! # let _ = variant; Ok(()) }
//! ```

pub mod engine;
pub mod istio;
pub mod layout;

// Media types, as go-containerregistry names them (`pkg/v1/types/types.go`),
// which Istio's fetcher compares against.

/// A Docker image manifest, schema 2 (`types.DockerManifestSchema2`).
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// An OCI image manifest (`types.OCIManifestSchema1`).
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// An OCI image index (`types.OCIImageIndex`).
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// A gzip-compressed Docker layer (`types.DockerLayer`).
pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// An uncompressed Docker layer (`types.DockerUncompressedLayer`).
pub const DOCKER_UNCOMPRESSED_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";
/// A gzip-compressed OCI layer (`types.OCILayer`).
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// An uncompressed OCI layer (`types.OCIUncompressedLayer`).
pub const OCI_UNCOMPRESSED_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
/// The raw Wasm layer of the Wasm OCI artifact ("oci" variant of the Wasm
/// image specification, `wasmLayerMediaType` in Istio's fetcher).
pub const WASM_LAYER: &str = "application/vnd.module.wasm.content.layer.v1+wasm";

/// An image as a registry would serve it: the manifest's own `mediaType`
/// field and its layers in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// The manifest's `mediaType` field (OCI manifests may leave it out).
    pub manifest_media_type: Option<String>,
    /// The layers, first to last.
    pub layers: Vec<Layer>,
}

/// One layer: its descriptor's media type and its blob as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// The descriptor's `mediaType`.
    pub media_type: String,
    /// The blob, compressed or not as the media type says.
    pub blob: Vec<u8>,
}
