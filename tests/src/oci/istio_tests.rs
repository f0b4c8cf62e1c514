use std::io::Write as _;

use flate2::Compression;
use flate2::write::GzEncoder;

use super::*;
use crate::oci::{DOCKER_UNCOMPRESSED_LAYER, OCI_INDEX, OCI_UNCOMPRESSED_LAYER};

const MODULE: &[u8] = b"\0asm\x01\0\0\0meshtrace";

enum Entry<'a> {
    File(&'a str, &'a [u8]),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
}

/// A tar with the paths exactly as given (the builder's `append_data`
/// would normalise `./` away).
fn tar(entries: &[Entry<'_>]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut header = tar::Header::new_ustar();
        let empty: &[u8] = &[];
        let (path, kind, data, link) = match entry {
            Entry::File(path, data) => (*path, tar::EntryType::Regular, *data, None),
            Entry::Dir(path) => (*path, tar::EntryType::Directory, empty, None),
            Entry::Symlink(path, target) => (*path, tar::EntryType::Symlink, empty, Some(*target)),
        };
        header.set_entry_type(kind);
        header.set_size(data.len() as u64);
        header.set_mode(if kind.is_dir() { 0o755 } else { 0o644 });
        header.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
        if let Some(target) = link {
            header.set_link_name(target).expect("link name");
        }
        header.set_cksum();
        builder.append(&header, data).expect("entry");
    }
    builder.into_inner().expect("tar")
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(data).expect("gzip");
    encoder.finish().expect("gzip")
}

fn image(manifest: Option<&str>, layers: &[(&str, Vec<u8>)]) -> Image {
    Image {
        manifest_media_type: manifest.map(str::to_owned),
        layers: layers
            .iter()
            .map(|(media_type, blob)| Layer {
                media_type: (*media_type).to_owned(),
                blob: blob.clone(),
            })
            .collect(),
    }
}

fn compat(entries: &[Entry<'_>]) -> Vec<u8> {
    gzip(&tar(entries))
}

#[test]
fn accepts_each_variant_istio_fetches() {
    let plugin = || compat(&[Entry::File("plugin.wasm", MODULE)]);
    let cases = [
        (
            "OCI manifest, one OCI gzip layer",
            image(Some(OCI_MANIFEST), &[(OCI_LAYER, plugin())]),
            Variant::OciCompat,
        ),
        (
            "OCI manifest without mediaType",
            image(None, &[(OCI_LAYER, plugin())]),
            Variant::OciCompat,
        ),
        (
            "Docker manifest, one Docker gzip layer",
            image(Some(DOCKER_MANIFEST), &[(DOCKER_LAYER, plugin())]),
            Variant::DockerCompat,
        ),
        (
            "root directory entries beside the file",
            image(
                Some(OCI_MANIFEST),
                &[(
                    OCI_LAYER,
                    compat(&[Entry::Dir("./"), Entry::File("./plugin.wasm", MODULE)]),
                )],
            ),
            Variant::OciCompat,
        ),
        (
            "artifact: config layer and raw Wasm layer",
            image(
                Some(OCI_MANIFEST),
                &[
                    ("application/vnd.module.wasm.config.v1+json", b"{}".to_vec()),
                    (WASM_LAYER, MODULE.to_vec()),
                ],
            ),
            Variant::OciArtifact,
        ),
    ];
    for (reason, image, variant) in cases {
        match check(&image, MODULE) {
            Ok(found) => assert_eq!(found, variant, "{reason}"),
            Err(e) => panic!("{reason}: rejected: {e}"),
        }
    }
}

/// What the error must be.
type Expected = fn(&IstioImageError) -> bool;

#[test]
fn rejects_images_istio_cannot_fetch_or_that_hold_more() {
    let plugin = || compat(&[Entry::File("plugin.wasm", MODULE)]);
    let cases: Vec<(&str, Image, Expected)> = vec![
        (
            "an index is not an image manifest",
            image(Some(OCI_INDEX), &[(OCI_LAYER, plugin())]),
            |e| matches!(e, IstioImageError::UnsupportedManifest(_)),
        ),
        (
            "Docker manifest with an OCI layer type: Istio only tries extractDockerImage",
            image(Some(DOCKER_MANIFEST), &[(OCI_LAYER, plugin())]),
            |e| matches!(e, IstioImageError::LayerMediaType { .. }),
        ),
        (
            "OCI manifest with a Docker layer type",
            image(Some(OCI_MANIFEST), &[(DOCKER_LAYER, plugin())]),
            |e| matches!(e, IstioImageError::LayerMediaType { .. }),
        ),
        (
            "uncompressed OCI layer: Istio wants +gzip",
            image(
                Some(OCI_MANIFEST),
                &[(
                    OCI_UNCOMPRESSED_LAYER,
                    tar(&[Entry::File("plugin.wasm", MODULE)]),
                )],
            ),
            |e| matches!(e, IstioImageError::LayerMediaType { .. }),
        ),
        (
            "uncompressed Docker layer",
            image(
                Some(DOCKER_MANIFEST),
                &[(
                    DOCKER_UNCOMPRESSED_LAYER,
                    tar(&[Entry::File("plugin.wasm", MODULE)]),
                )],
            ),
            |e| matches!(e, IstioImageError::LayerMediaType { .. }),
        ),
        (
            "gzip media type over a plain tar",
            image(
                Some(OCI_MANIFEST),
                &[(OCI_LAYER, tar(&[Entry::File("plugin.wasm", MODULE)]))],
            ),
            |e| matches!(e, IstioImageError::NotGzip(_)),
        ),
        (
            "two compat layers",
            image(
                Some(DOCKER_MANIFEST),
                &[(DOCKER_LAYER, plugin()), (DOCKER_LAYER, plugin())],
            ),
            |e| matches!(e, IstioImageError::LayerCount { found: 2 }),
        ),
        (
            "two OCI layers, none raw Wasm",
            image(
                Some(OCI_MANIFEST),
                &[(OCI_LAYER, plugin()), (OCI_LAYER, plugin())],
            ),
            |e| matches!(e, IstioImageError::NoWasmLayer { .. }),
        ),
        ("no layer", image(Some(OCI_MANIFEST), &[]), |e| {
            matches!(e, IstioImageError::LayerCount { found: 0 })
        }),
        (
            "the module under another name",
            image(
                Some(OCI_MANIFEST),
                &[(OCI_LAYER, compat(&[Entry::File("filter.wasm", MODULE)]))],
            ),
            |e| matches!(e, IstioImageError::NoPlugin { entries } if entries.len() == 1),
        ),
        (
            "plugin.wasm and another file",
            image(
                Some(OCI_MANIFEST),
                &[(
                    OCI_LAYER,
                    compat(&[
                        Entry::File("plugin.wasm", MODULE),
                        Entry::File("NOTICE", b"x"),
                    ]),
                )],
            ),
            |e| matches!(e, IstioImageError::OtherEntries { .. }),
        ),
        (
            "plugin.wasm in a subdirectory (Istio matches the base name; the spec wants it alone)",
            image(
                Some(OCI_MANIFEST),
                &[(
                    OCI_LAYER,
                    compat(&[Entry::Dir("lib/"), Entry::File("lib/plugin.wasm", MODULE)]),
                )],
            ),
            |e| matches!(e, IstioImageError::NoPlugin { entries } if entries.len() == 2),
        ),
        (
            "plugin.wasm as a symlink",
            image(
                Some(OCI_MANIFEST),
                &[(
                    OCI_LAYER,
                    compat(&[Entry::Symlink("plugin.wasm", "x.wasm")]),
                )],
            ),
            |e| matches!(e, IstioImageError::NotRegularFile { .. }),
        ),
        (
            "plugin.wasm twice",
            image(
                Some(OCI_MANIFEST),
                &[(
                    OCI_LAYER,
                    compat(&[
                        Entry::File("plugin.wasm", MODULE),
                        Entry::File("./plugin.wasm", MODULE),
                    ]),
                )],
            ),
            |e| matches!(e, IstioImageError::Duplicate(2)),
        ),
        (
            "an empty layer",
            image(Some(OCI_MANIFEST), &[(OCI_LAYER, compat(&[]))]),
            |e| matches!(e, IstioImageError::NoPlugin { entries } if entries.is_empty()),
        ),
        (
            "plugin.wasm that is not Wasm (Istio's isValidWasmBinary)",
            image(
                Some(OCI_MANIFEST),
                &[(
                    OCI_LAYER,
                    compat(&[Entry::File("plugin.wasm", b"#!/bin/sh\n")]),
                )],
            ),
            |e| matches!(e, IstioImageError::NotWasm { len: 10 }),
        ),
        (
            "a different plugin.wasm",
            image(
                Some(OCI_MANIFEST),
                &[(
                    OCI_LAYER,
                    compat(&[Entry::File("plugin.wasm", b"\0asm\x01\0\0\0other")]),
                )],
            ),
            |e| {
                matches!(
                    e,
                    IstioImageError::Differs {
                        first_difference: 8,
                        ..
                    }
                )
            },
        ),
        (
            "an artifact whose Wasm layer is another module",
            image(
                Some(OCI_MANIFEST),
                &[
                    ("application/vnd.module.wasm.config.v1+json", b"{}".to_vec()),
                    (WASM_LAYER, b"\0asm\x01\0\0\0".to_vec()),
                ],
            ),
            |e| matches!(e, IstioImageError::Differs { .. }),
        ),
    ];
    for (reason, image, expected) in cases {
        match check(&image, MODULE) {
            Ok(variant) => panic!("{reason}: accepted as {variant:?}"),
            Err(e) => assert!(expected(&e), "{reason}: wrong error: {e}"),
        }
    }
}
