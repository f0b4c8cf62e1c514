//! The rules of Istio's Wasm image fetcher, applied to an exported
//! [`Image`].
//!
//! Istio (`pkg/wasm/imagefetcher.go`, `ImageFetcher.PrepareFetch`) reads
//! the manifest, then:
//!
//! 1. if its `mediaType` is `application/vnd.docker.distribution.manifest.v2+json`,
//!    only `extractDockerImage`: the **last** layer must be
//!    `application/vnd.docker.image.rootfs.diff.tar.gzip`;
//! 2. otherwise `extractOCIStandardImage` (the "compat" variant): the last
//!    layer must be `application/vnd.oci.image.layer.v1.tar+gzip`;
//! 3. failing that, `extractOCIArtifactImage` (the "oci" variant): exactly
//!    two layers, one of them `application/vnd.module.wasm.content.layer.v1+wasm`,
//!    whose blob is the raw module.
//!
//! For both compat cases `extractWasmPluginBinary` opens the blob with
//! `gzip.NewReader` (so the layer must really be gzip), reads the tar
//! through `io.LimitReader(.., MaxWasmBinarySizeBytes)` (256 MiB by
//! default, `ISTIO_WASM_MAX_BINARY_SIZE_BYTES`) and returns the first entry
//! whose base name is `plugin.wasm`. Finally `isValidWasmBinary`
//! (`pkg/wasm/cache.go`) wants at least 8 bytes starting with `\0asm`.
//!
//! [`check`] is stricter where the Wasm image specification is
//! (solo-io/wasm `spec/spec-compat.md`: "exactly one layer", holding
//! `plugin.wasm`): the compat image must have exactly one layer, and its tar
//! exactly one regular file, `plugin.wasm` at the root, byte-identical to
//! the built module; nothing else but the root directory's own entry.

use std::io::Read as _;

use flate2::read::MultiGzDecoder;

use super::{DOCKER_LAYER, DOCKER_MANIFEST, Image, Layer, OCI_LAYER, OCI_MANIFEST, WASM_LAYER};

/// The file the compat variant must hold (`wasmPluginFileName`).
pub const PLUGIN_FILE: &str = "plugin.wasm";
/// Istio's default `ISTIO_WASM_MAX_BINARY_SIZE_BYTES`: the most of a
/// layer's uncompressed tar (compat) or raw blob (artifact) it reads.
pub const MAX_BINARY_BYTES: u64 = 256 * 1024 * 1024;
/// The Wasm binary magic (`wasmMagicNumber`).
const WASM_MAGIC: &[u8] = b"\0asm";

/// Which of Istio's three extraction paths takes the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// Docker manifest, one gzip tar layer (`extractDockerImage`).
    DockerCompat,
    /// OCI manifest, one gzip tar layer (`extractOCIStandardImage`).
    OciCompat,
    /// OCI manifest, two layers, one the raw module (`extractOCIArtifactImage`).
    OciArtifact,
}

/// Why Istio's fetcher would not load the image, or would load something
/// other than the built module.
#[derive(Debug, thiserror::Error)]
pub enum IstioImageError {
    /// The manifest is neither a Docker schema 2 nor an OCI image manifest.
    #[error("manifest media type {0:?} is neither {DOCKER_MANIFEST} nor {OCI_MANIFEST}")]
    UnsupportedManifest(String),
    /// The compat variant needs exactly one layer, the artifact two.
    #[error("{found} layers: the compat variant needs exactly 1, the oci artifact 2")]
    LayerCount {
        /// How many layers the image has.
        found: usize,
    },
    /// The layer's media type is not the one its manifest kind needs.
    #[error("manifest {manifest}: layer media type {found:?}, Istio accepts only {expected}")]
    LayerMediaType {
        /// The manifest's media type (or "OCI (no mediaType)").
        manifest: String,
        /// The layer's media type.
        found: String,
        /// The one Istio accepts there.
        expected: &'static str,
    },
    /// Two layers, none of them the raw Wasm layer.
    #[error("2 layers ({found:?}) but none is {WASM_LAYER}")]
    NoWasmLayer {
        /// The two layers' media types.
        found: Vec<String>,
    },
    /// The layer is not gzip (Istio opens it with `gzip.NewReader`).
    #[error("layer is not a gzip stream: {0}")]
    NotGzip(std::io::Error),
    /// The layer, or the module in it, is larger than Istio reads.
    #[error("{what} is over {MAX_BINARY_BYTES} bytes, Istio's MaxWasmBinarySizeBytes")]
    TooLarge {
        /// What is too large.
        what: &'static str,
    },
    /// The layer's content is not a tar archive.
    #[error("layer is not a tar archive: {0}")]
    NotTar(std::io::Error),
    /// Entries beside `plugin.wasm`.
    #[error("the layer holds {entries:?} besides {PLUGIN_FILE}: it must hold that one file only")]
    OtherEntries {
        /// The other entries, as `kind path`.
        entries: Vec<String>,
    },
    /// `plugin.wasm` is there but not a regular file.
    #[error("{PLUGIN_FILE} is a {kind}, not a regular file")]
    NotRegularFile {
        /// The tar entry type.
        kind: String,
    },
    /// `plugin.wasm` appears more than once.
    #[error("{PLUGIN_FILE} appears {0} times in the layer")]
    Duplicate(usize),
    /// No `plugin.wasm` at the root of the layer.
    #[error("no {PLUGIN_FILE} at the root of the layer, which holds {entries:?}")]
    NoPlugin {
        /// What the layer holds instead, as `kind path`.
        entries: Vec<String>,
    },
    /// The file does not start with the Wasm magic.
    #[error("the module Istio would read ({len} bytes) is not a Wasm binary (no \\0asm header)")]
    NotWasm {
        /// Its length.
        len: usize,
    },
    /// The file is a Wasm binary, but not the built module.
    #[error(
        "the module in the image ({found} bytes) differs from the built module ({expected} bytes) from byte {first_difference}"
    )]
    Differs {
        /// Length in the image.
        found: usize,
        /// Length of the built module.
        expected: usize,
        /// Offset of the first differing byte.
        first_difference: usize,
    },
}

/// Checks `image` against Istio's fetcher, and that what it would load is
/// `module`, byte for byte.
///
/// # Errors
///
/// [`IstioImageError`] naming the first rule the image breaks.
pub fn check(image: &Image, module: &[u8]) -> Result<Variant, IstioImageError> {
    let manifest = image.manifest_media_type.as_deref();
    match (manifest, image.layers.as_slice()) {
        (Some(DOCKER_MANIFEST), [layer]) => {
            expect_media_type(DOCKER_MANIFEST, layer, DOCKER_LAYER)?;
            check_compat_layer(layer, module)?;
            Ok(Variant::DockerCompat)
        }
        (Some(DOCKER_MANIFEST), layers) => Err(IstioImageError::LayerCount {
            found: layers.len(),
        }),
        (None | Some(OCI_MANIFEST), [layer]) => {
            expect_media_type(manifest.unwrap_or("OCI (no mediaType)"), layer, OCI_LAYER)?;
            check_compat_layer(layer, module)?;
            Ok(Variant::OciCompat)
        }
        (None | Some(OCI_MANIFEST), [first, second]) => {
            let wasm = [first, second]
                .into_iter()
                .find(|l| l.media_type == WASM_LAYER)
                .ok_or_else(|| IstioImageError::NoWasmLayer {
                    found: vec![first.media_type.clone(), second.media_type.clone()],
                })?;
            if wasm.blob.len() as u64 > MAX_BINARY_BYTES {
                return Err(IstioImageError::TooLarge { what: "the module" });
            }
            same_module(&wasm.blob, module)?;
            Ok(Variant::OciArtifact)
        }
        (None | Some(OCI_MANIFEST), layers) => Err(IstioImageError::LayerCount {
            found: layers.len(),
        }),
        (Some(other), _) => Err(IstioImageError::UnsupportedManifest(other.to_owned())),
    }
}

fn expect_media_type(
    manifest: &str,
    layer: &Layer,
    expected: &'static str,
) -> Result<(), IstioImageError> {
    if layer.media_type == expected {
        Ok(())
    } else {
        Err(IstioImageError::LayerMediaType {
            manifest: manifest.to_owned(),
            found: layer.media_type.clone(),
            expected,
        })
    }
}

/// One gzip tar layer holding exactly `plugin.wasm`, equal to `module`.
fn check_compat_layer(layer: &Layer, module: &[u8]) -> Result<(), IstioImageError> {
    let tar = gunzip(&layer.blob)?;
    let mut archive = tar::Archive::new(tar.as_slice());
    let mut others = Vec::new();
    let mut plugins = Vec::new();
    for entry in archive.entries().map_err(IstioImageError::NotTar)? {
        let mut entry = entry.map_err(IstioImageError::NotTar)?;
        let kind = entry.header().entry_type();
        let path = entry
            .path()
            .map_err(IstioImageError::NotTar)?
            .to_string_lossy()
            .into_owned();
        let name = path.trim_start_matches("./").trim_start_matches('/');
        let name = name.trim_end_matches('/');
        if name.is_empty() || name == "." {
            if !kind.is_dir() {
                others.push(format!("{kind:?} {path:?}"));
            }
        } else if name == PLUGIN_FILE {
            if !kind.is_file() {
                return Err(IstioImageError::NotRegularFile {
                    kind: format!("{kind:?}"),
                });
            }
            let mut bytes = Vec::new();
            entry
                .read_to_end(&mut bytes)
                .map_err(IstioImageError::NotTar)?;
            plugins.push(bytes);
        } else {
            others.push(format!("{kind:?} {path:?}"));
        }
    }
    match (plugins.as_slice(), others.is_empty()) {
        ([], _) => Err(IstioImageError::NoPlugin { entries: others }),
        (_, false) => Err(IstioImageError::OtherEntries { entries: others }),
        ([plugin], true) => same_module(plugin, module),
        (many, true) => Err(IstioImageError::Duplicate(many.len())),
    }
}

/// The layer's tar, through gzip as Istio reads it, at most
/// [`MAX_BINARY_BYTES`].
fn gunzip(blob: &[u8]) -> Result<Vec<u8>, IstioImageError> {
    if !blob.starts_with(&[0x1f, 0x8b]) {
        return Err(IstioImageError::NotGzip(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "no gzip header (1f 8b)",
        )));
    }
    let mut tar = Vec::new();
    MultiGzDecoder::new(blob)
        .take(MAX_BINARY_BYTES + 1)
        .read_to_end(&mut tar)
        .map_err(IstioImageError::NotGzip)?;
    if tar.len() as u64 > MAX_BINARY_BYTES {
        return Err(IstioImageError::TooLarge {
            what: "the layer's tar",
        });
    }
    Ok(tar)
}

fn same_module(found: &[u8], module: &[u8]) -> Result<(), IstioImageError> {
    if found.len() < 8 || !found.starts_with(WASM_MAGIC) {
        return Err(IstioImageError::NotWasm { len: found.len() });
    }
    if found == module {
        return Ok(());
    }
    let first_difference = found
        .iter()
        .zip(module)
        .position(|(a, b)| a != b)
        .unwrap_or(found.len().min(module.len()));
    Err(IstioImageError::Differs {
        found: found.len(),
        expected: module.len(),
        first_difference,
    })
}

#[cfg(test)]
#[path = "istio_tests.rs"]
mod tests;
