//! Where things live in the workspace, and the `cargo` to call.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root and the paths derived from it.
pub struct Workspace {
    root: PathBuf,
}

impl Workspace {
    /// The workspace this xtask was built from (the parent of `xtask/`).
    pub fn locate() -> Self {
        let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let root = manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf();
        Self { root }
    }

    /// The git-ignored folder `setup` installs into.
    pub fn tools_dir(&self) -> PathBuf {
        self.root.join(".tools")
    }

    /// The Python virtual environment.
    pub fn venv_dir(&self) -> PathBuf {
        self.tools_dir().join("venv")
    }

    /// Stable paths of the tools: `.tools/bin/envoy`, `.tools/bin/nats-server`.
    pub fn bin_dir(&self) -> PathBuf {
        self.tools_dir().join("bin")
    }

    /// The pinned Python packages.
    pub fn requirements_file(&self) -> PathBuf {
        self.root.join("xtask").join("python-requirements.txt")
    }

    /// Cargo's target directory: `CARGO_TARGET_DIR` if set (relative to the
    /// root, where every cargo command here runs), else `target/`.
    pub fn target_dir(&self) -> PathBuf {
        match std::env::var_os("CARGO_TARGET_DIR") {
            Some(dir) if !dir.is_empty() => self.root.join(dir),
            _ => self.root.join("target"),
        }
    }

    /// A `cargo` command (the one running this xtask) in the workspace root.
    pub fn cargo(&self) -> Command {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        self.command(cargo)
    }

    /// A command in the workspace root.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.current_dir(&self.root);
        cmd
    }
}
