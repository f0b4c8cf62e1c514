//! Reading an exported image into an [`Image`]: an OCI image layout
//! (`podman save --format oci-dir`, or inside a `docker save` archive from
//! Docker 25 on), a `dir:` transport directory (`podman save --format
//! docker-dir`), or a legacy `docker save` archive (`manifest.json` and
//! `<id>/layer.tar`).
//!
//! Only what Istio's fetcher looks at is kept: the manifest's `mediaType`
//! and each layer's media type and blob. Each blob's length is checked
//! against its descriptor's `size`.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use serde::Deserialize;

use super::{
    DOCKER_LAYER, DOCKER_MANIFEST, DOCKER_UNCOMPRESSED_LAYER, Image, Layer, OCI_INDEX, OCI_LAYER,
    OCI_MANIFEST, OCI_UNCOMPRESSED_LAYER,
};

/// An export could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    /// A file of the export could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file, relative to the export.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A JSON document of the export is not what the format says.
    #[error("{path} is not a valid {what}: {source}")]
    Json {
        /// The file, relative to the export.
        path: String,
        /// What it should be.
        what: &'static str,
        /// The parse error.
        source: serde_json::Error,
    },
    /// The export's structure is not one this reader knows.
    #[error("{0}")]
    Structure(String),
}

/// Where an export's files are: a directory, or the entries of an archive.
#[derive(Debug, Clone)]
pub enum Source {
    /// A directory on disk.
    Dir(PathBuf),
    /// The regular files of a tar archive, by path.
    Files(BTreeMap<String, Vec<u8>>),
}

/// An OCI descriptor (only the fields used here).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    media_type: Option<String>,
    digest: String,
    size: u64,
}

/// An OCI index or image manifest, or a Docker schema 2 manifest.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    media_type: Option<String>,
    #[serde(default)]
    manifests: Vec<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
}

/// One image of a legacy `docker save` `manifest.json`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LegacyEntry {
    layers: Vec<String>,
}

// === impl Source ===

impl Source {
    /// The regular files of the tar archive at `path`.
    ///
    /// # Errors
    ///
    /// [`LayoutError`] when it cannot be read as a tar archive.
    pub fn archive(path: &Path) -> Result<Self, LayoutError> {
        let io = |source| LayoutError::Io {
            path: path.display().to_string(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let mut archive = tar::Archive::new(file);
        let mut files = BTreeMap::new();
        for entry in archive.entries().map_err(io)? {
            let mut entry = entry.map_err(io)?;
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let name = entry.path().map_err(io)?.to_string_lossy().into_owned();
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).map_err(io)?;
            files.insert(name.trim_start_matches("./").to_owned(), bytes);
        }
        Ok(Self::Files(files))
    }

    fn has(&self, path: &str) -> bool {
        match self {
            Self::Dir(dir) => dir.join(path).is_file(),
            Self::Files(files) => files.contains_key(path),
        }
    }

    fn read(&self, path: &str) -> Result<Vec<u8>, LayoutError> {
        match self {
            Self::Dir(dir) => std::fs::read(dir.join(path)).map_err(|source| LayoutError::Io {
                path: path.to_owned(),
                source,
            }),
            Self::Files(files) => files.get(path).cloned().ok_or_else(|| LayoutError::Io {
                path: path.to_owned(),
                source: std::io::ErrorKind::NotFound.into(),
            }),
        }
    }

    fn json<T: for<'de> Deserialize<'de>>(
        &self,
        path: &str,
        what: &'static str,
    ) -> Result<T, LayoutError> {
        serde_json::from_slice(&self.read(path)?).map_err(|source| LayoutError::Json {
            path: path.to_owned(),
            what,
            source,
        })
    }
}

/// Reads an OCI image layout: `index.json` must name one image manifest
/// (directly, or through one nested index that names one).
///
/// # Errors
///
/// [`LayoutError`] when the layout is incomplete or names several images.
pub fn read_oci_layout(source: &Source) -> Result<Image, LayoutError> {
    let index: Manifest = source.json("index.json", "OCI image index")?;
    let mut descriptor = only_one(index.manifests, "index.json")?;
    if descriptor.media_type.as_deref() == Some(OCI_INDEX) {
        let path = oci_blob_path(&descriptor.digest)?;
        let nested: Manifest = source.json(&path, "OCI image index")?;
        descriptor = only_one(nested.manifests, &path)?;
    }
    if descriptor.media_type.as_deref() != Some(OCI_MANIFEST) {
        return Err(LayoutError::Structure(format!(
            "index.json names a {:?}, not an {OCI_MANIFEST}",
            descriptor.media_type
        )));
    }
    let path = oci_blob_path(&descriptor.digest)?;
    let manifest: Manifest = source.json(&path, "OCI image manifest")?;
    image(source, manifest, oci_blob_path)
}

/// Reads a `dir:` transport directory (`podman save --format docker-dir`):
/// `manifest.json`, and each blob in a file named by its digest's hex.
///
/// # Errors
///
/// [`LayoutError`] when a file is missing or malformed.
pub fn read_dir_transport(source: &Source) -> Result<Image, LayoutError> {
    let manifest: Manifest = source.json("manifest.json", "image manifest")?;
    image(source, manifest, |digest| {
        digest
            .strip_prefix("sha256:")
            .map(str::to_owned)
            .ok_or_else(|| LayoutError::Structure(format!("digest {digest} is not sha256")))
    })
}

/// Reads a `docker save` archive: its OCI layout when it has one (Docker
/// 25 and later), else the legacy `manifest.json`, whose layers are
/// uncompressed tars of a Docker schema 2 image.
///
/// # Errors
///
/// [`LayoutError`] when the archive is neither.
pub fn read_docker_archive(source: &Source) -> Result<Image, LayoutError> {
    if source.has("index.json") {
        return read_oci_layout(source);
    }
    let entries: Vec<LegacyEntry> = source.json("manifest.json", "docker save manifest")?;
    let entry = only_one(entries, "manifest.json")?;
    let layers = entry
        .layers
        .iter()
        .map(|path| {
            Ok(Layer {
                media_type: DOCKER_UNCOMPRESSED_LAYER.to_owned(),
                blob: source.read(path)?,
            })
        })
        .collect::<Result<_, LayoutError>>()?;
    Ok(Image {
        manifest_media_type: Some(DOCKER_MANIFEST.to_owned()),
        layers,
    })
}

/// The image as a push sends it to a registry: `docker push` and `podman
/// push` gzip every uncompressed layer (their default compression) and
/// keep the manifest's kind. Compressed layers are kept as they are.
///
/// # Errors
///
/// [`LayoutError::Io`] when compressing fails.
pub fn as_pushed(image: Image) -> Result<Image, LayoutError> {
    let layers = image
        .layers
        .into_iter()
        .map(|layer| {
            let media_type = match layer.media_type.as_str() {
                OCI_UNCOMPRESSED_LAYER => OCI_LAYER,
                DOCKER_UNCOMPRESSED_LAYER => DOCKER_LAYER,
                _ => return Ok(layer),
            };
            let io = |source| LayoutError::Io {
                path: "(layer, compressing)".to_owned(),
                source,
            };
            let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
            encoder.write_all(&layer.blob).map_err(io)?;
            Ok(Layer {
                media_type: media_type.to_owned(),
                blob: encoder.finish().map_err(io)?,
            })
        })
        .collect::<Result<_, LayoutError>>()?;
    Ok(Image {
        manifest_media_type: image.manifest_media_type,
        layers,
    })
}

fn image(
    source: &Source,
    manifest: Manifest,
    blob_path: impl Fn(&str) -> Result<String, LayoutError>,
) -> Result<Image, LayoutError> {
    let layers = manifest
        .layers
        .into_iter()
        .map(|descriptor| {
            let path = blob_path(&descriptor.digest)?;
            let blob = source.read(&path)?;
            if blob.len() as u64 != descriptor.size {
                return Err(LayoutError::Structure(format!(
                    "blob {path} has {} bytes, its descriptor says {}",
                    blob.len(),
                    descriptor.size
                )));
            }
            let media_type = descriptor.media_type.ok_or_else(|| {
                LayoutError::Structure(format!("layer {} has no mediaType", descriptor.digest))
            })?;
            Ok(Layer { media_type, blob })
        })
        .collect::<Result<_, LayoutError>>()?;
    Ok(Image {
        manifest_media_type: manifest.media_type,
        layers,
    })
}

/// `blobs/<algorithm>/<hex>` of an OCI layout.
fn oci_blob_path(digest: &str) -> Result<String, LayoutError> {
    match digest.split_once(':') {
        Some((algorithm, hex))
            if !algorithm.is_empty() && !hex.is_empty() && !hex.contains('/') =>
        {
            Ok(format!("blobs/{algorithm}/{hex}"))
        }
        _ => Err(LayoutError::Structure(format!("bad digest {digest:?}"))),
    }
}

fn only_one<T>(mut items: Vec<T>, path: &str) -> Result<T, LayoutError> {
    match (items.pop(), items.is_empty()) {
        (Some(item), true) => Ok(item),
        (None, _) => Err(LayoutError::Structure(format!("{path} names no image"))),
        (Some(_), false) => Err(LayoutError::Structure(format!(
            "{path} names {} images, expected one",
            items.len() + 1
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(entries: &[(&str, &[u8])]) -> Source {
        Source::Files(
            entries
                .iter()
                .map(|(path, data)| ((*path).to_owned(), data.to_vec()))
                .collect(),
        )
    }

    #[test]
    fn reads_an_oci_layout_through_a_nested_index() {
        let layer = b"layer-bytes";
        let source = files(&[
            (
                "index.json",
                br#"{"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:aa","size":1}]}"#,
            ),
            (
                "blobs/sha256/aa",
                br#"{"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:bb","size":1}]}"#,
            ),
            (
                "blobs/sha256/bb",
                br#"{"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:cc","size":11}]}"#,
            ),
            ("blobs/sha256/cc", layer),
        ]);
        let image = read_oci_layout(&source).expect("layout");
        assert_eq!(image.manifest_media_type.as_deref(), Some(OCI_MANIFEST));
        assert_eq!(image.layers.len(), 1);
        assert_eq!(image.layers[0].blob, layer);
        let pushed = as_pushed(image).expect("pushed");
        assert_eq!(pushed.layers[0].media_type, OCI_LAYER);
        assert!(pushed.layers[0].blob.starts_with(&[0x1f, 0x8b]));
    }

    #[test]
    fn reads_a_legacy_docker_archive_as_a_docker_image() {
        let source = files(&[
            (
                "manifest.json",
                br#"[{"Config":"c.json","RepoTags":["x:1"],"Layers":["abc/layer.tar"]}]"#,
            ),
            ("abc/layer.tar", b"tar"),
        ]);
        let image = read_docker_archive(&source).expect("archive");
        assert_eq!(image.manifest_media_type.as_deref(), Some(DOCKER_MANIFEST));
        assert_eq!(image.layers[0].media_type, DOCKER_UNCOMPRESSED_LAYER);
    }

    #[test]
    fn rejects_a_layout_with_two_images_or_a_wrong_size() {
        let two = files(&[(
            "index.json",
            br#"{"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:a","size":1},{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:b","size":1}]}"#,
        )]);
        assert!(
            matches!(read_oci_layout(&two), Err(LayoutError::Structure(m)) if m.contains("2 images"))
        );
        let short = files(&[
            (
                "manifest.json",
                br#"{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":"sha256:dd","size":99}]}"#,
            ),
            ("dd", b"short"),
        ]);
        assert!(
            matches!(read_dir_transport(&short), Err(LayoutError::Structure(m)) if m.contains("99"))
        );
    }
}
