//! Which kernel ELF a log came from: its GNU build id.
//!
//! The kernel is linked with `--build-id=sha1` and sends the id of its own
//! image in its first record (`hello build_id=<hex>`, [`report::note`]).
//! `harness parse` and `harness watch` need the ELF's symbols to name the
//! RIPs of deadlocks and faults; they take it from `--elf`, or else look
//! for an ELF whose `.note.gnu.build-id` is the log's:
//!
//! 1. the `*.elf` files beside the log (a log kept with its kernel);
//! 2. the workspace's kernel build (`target/x86_64-unknown-none/release/kernel`);
//! 3. the `*.elf` files in the workspace's `out/` (`make iso` keeps the
//!    kernel of `out/static-call.iso` as `out/static-call.elf`, so that a
//!    log from a machine booted off the ISO can be named later).
//!
//! The first that matches is used. When none does, the log is judged
//! without names, as with no ELF at all, and the harness says that names
//! need `--elf PATH`. An `--elf` is always used, and its id checked
//! against the log's: a mismatch is a warning (the names may be wrong).

use crate::{judge::symbols::Symbols, machine::workspace::Workspace};
use anyhow::{Context as _, Result};
use object::Object as _;
use std::{
    fmt,
    path::{Path, PathBuf},
};

/// A GNU build id, as lower-case hex.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BuildId(String);

/// Hex digits of [`BuildId::short`].
const SHORT: usize = 12;

impl BuildId {
    /// The id of raw note bytes; `None` when empty.
    pub fn from_bytes(bytes: &[u8]) -> Option<BuildId> {
        (!bytes.is_empty()).then(|| BuildId(bytes.iter().map(|b| format!("{b:02x}")).collect()))
    }

    /// The id of a log's `build_id` field: an even number of hex digits
    /// (either case), at most [`report::note::MAX_BUILD_ID`] bytes. `none`
    /// (a kernel that found no note) and anything else give `None`.
    pub fn parse(text: &str) -> Option<BuildId> {
        let ok = !text.is_empty()
            && text.len().is_multiple_of(2)
            && text.len() <= 2 * report::note::MAX_BUILD_ID
            && text.bytes().all(|b| b.is_ascii_hexdigit());
        ok.then(|| BuildId(text.to_ascii_lowercase()))
    }

    /// The whole id in hex.
    pub fn hex(&self) -> &str {
        &self.0
    }

    /// Its first 12 hex digits, for people.
    pub fn short(&self) -> &str {
        &self.0[..self.0.len().min(SHORT)]
    }
}

impl fmt::Display for BuildId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The build id of the ELF at `path` (its `.note.gnu.build-id`, read with
/// the `object` crate); `None` when it has none.
pub fn of_elf(path: &Path) -> Result<Option<BuildId>> {
    let data = std::fs::read(path).with_context(|| format!("reading ELF {}", path.display()))?;
    let file =
        object::File::parse(&*data).with_context(|| format!("parsing ELF {}", path.display()))?;
    let id = file
        .build_id()
        .with_context(|| format!("reading the build id note of {}", path.display()))?;
    Ok(id.and_then(BuildId::from_bytes))
}

/// An ELF given with `--elf`: its symbols and its build id, read before
/// the log is (an unreadable `--elf` is an error, status 2).
#[derive(Debug, Clone)]
pub struct GivenElf {
    /// Where it is.
    pub path: PathBuf,
    /// Its build id, if it has one.
    pub id: Option<BuildId>,
    /// Its symbols.
    pub symbols: Symbols,
}

impl GivenElf {
    /// Reads `path`.
    pub fn load(path: &Path) -> Result<GivenElf> {
        Ok(GivenElf {
            path: path.to_path_buf(),
            id: of_elf(path).context("--elf")?,
            symbols: Symbols::from_elf(path).context("--elf")?,
        })
    }
}

/// Where the names of a log come from, and the one line that says so.
#[derive(Debug, Clone)]
pub struct Names {
    /// The symbols, when an ELF was given or found.
    pub symbols: Option<Symbols>,
    /// The ELF they come from.
    pub path: Option<PathBuf>,
    /// `harness: symbols from ...`, a warning, or why there are none.
    pub line: String,
}

/// Chooses the ELF whose symbols name a log's addresses: `given` (from
/// `--elf`) if any, checked against the log's build id; else the first of
/// `candidates` whose build id is the log's (asked for only then: finding
/// the workspace runs `cargo metadata`). `log_id` is the raw
/// `build_id` field of the log's `hello` record (`None` for a log without
/// one: a kernel from before build ids, or no `hello` at all). A candidate
/// that cannot be read is passed over.
pub fn choose(
    given: Option<GivenElf>,
    log_id: Option<&str>,
    candidates: impl FnOnce() -> Vec<PathBuf>,
) -> Names {
    let want = log_id.and_then(BuildId::parse);
    if let Some(g) = given {
        let p = g.path.display();
        let line = match (&want, &g.id) {
            (Some(w), Some(h)) if w == h => {
                format!("harness: symbols from {p} (--elf, build id {})", h.short())
            }
            (Some(w), Some(h)) => format!(
                "harness: warning: --elf {p} has build id {}, the log's kernel {}: \
                 it is not the ELF that ran, and its names may be wrong",
                h.short(),
                w.short()
            ),
            (Some(w), None) => format!(
                "harness: warning: --elf {p} has no build id to check against the log's ({}): \
                 its names may be wrong",
                w.short()
            ),
            (None, _) => format!(
                "harness: symbols from {p} (--elf; the log names no build id to check it against)"
            ),
        };
        return Names {
            symbols: Some(g.symbols),
            path: Some(g.path),
            line,
        };
    }
    let none = |line: String| Names {
        symbols: None,
        path: None,
        line,
    };
    let Some(want) = want else {
        let why = match log_id {
            Some(raw) => format!("the log's kernel gave no usable build id (`{raw}`)"),
            None => "the log names no build id (a kernel from before build ids)".into(),
        };
        return none(format!("harness: {why}: names need --elf PATH"));
    };
    let candidates = candidates();
    for c in &candidates {
        if of_elf(c).ok().flatten().as_ref() != Some(&want) {
            continue;
        }
        match Symbols::from_elf(c) {
            Ok(symbols) => {
                return Names {
                    symbols: Some(symbols),
                    path: Some(c.clone()),
                    line: format!(
                        "harness: symbols from {} (build id {})",
                        c.display(),
                        want.short()
                    ),
                }
            }
            Err(e) => {
                return none(format!(
                    "harness: {} has the log's build id {} but its symbols could not be read \
                     ({e:#}): names need --elf PATH",
                    c.display(),
                    want.short()
                ))
            }
        }
    }
    let looked = if candidates.is_empty() {
        "no kernel ELF to look in".to_string()
    } else {
        let list: Vec<String> = candidates.iter().map(|c| c.display().to_string()).collect();
        format!("none of {}", list.join(", "))
    };
    none(format!(
        "harness: no kernel ELF with the log's build id {} ({looked}): names need --elf PATH",
        want.short()
    ))
}

/// The ELFs [`choose`] looks in, in order: the `*.elf` beside `log` (when
/// there is a log), the workspace's kernel build, the `*.elf` in the
/// workspace's `out/`. Only files that exist, each once.
pub fn candidates(log: Option<&Path>) -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Some(dir) = log.and_then(Path::parent) {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        v.extend(elfs_in(dir));
    }
    let (kernel, out) = match Workspace::locate() {
        Ok(w) => (w.kernel_elf(), w.root.join("out")),
        // No cargo to ask: the places of the workspace the harness was
        // built in, with cargo's default target directory.
        Err(_) => {
            let root = Path::new(crate::machine::workspace::BUILT_IN);
            let kernel = root
                .join("target")
                .join(crate::machine::workspace::KERNEL_TARGET)
                .join("release")
                .join("kernel");
            (kernel, root.join("out"))
        }
    };
    v.push(kernel);
    v.extend(elfs_in(&out));
    let mut seen = std::collections::HashSet::new();
    v.retain(|p| p.is_file() && seen.insert(p.canonicalize().unwrap_or_else(|_| p.clone())));
    v
}

/// The `*.elf` files of `dir`, sorted; none when it cannot be read.
fn elfs_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "elf"))
        .collect();
    v.sort();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `testdata/elf/`: ELFs written by its `mkfixtures.sh`.
    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/elf")
            .join(name)
    }

    /// The id `readelf -n testdata/elf/with-build-id.elf` shows.
    const FIXTURE_ID: &str = "90b838439776a6b409a3252498e1f247aa6deb78";

    #[test]
    fn the_build_id_of_an_elf_is_its_gnu_note() {
        let id = of_elf(&fixture("with-build-id.elf")).expect("reading the fixture");
        assert_eq!(id.as_ref().map(BuildId::hex), Some(FIXTURE_ID));
    }

    #[test]
    fn an_elf_linked_without_a_build_id_has_none() {
        assert_eq!(of_elf(&fixture("no-build-id.elf")).unwrap(), None);
    }

    #[test]
    fn a_file_that_is_not_an_elf_is_an_error_that_names_it() {
        let e = of_elf(&fixture("kernel.s")).unwrap_err();
        assert!(format!("{e:#}").contains("kernel.s"), "{e:#}");
    }

    #[test]
    fn a_log_build_id_is_hex_of_whole_bytes() {
        assert_eq!(
            BuildId::parse("90B83843").map(|b| b.hex().to_string()),
            Some("90b83843".into())
        );
        for bad in ["", "none", "abc", "xyz0", "0x1234", &"00".repeat(65)] {
            assert_eq!(BuildId::parse(bad), None, "{bad:?} was taken for an id");
        }
        assert_eq!(BuildId::parse(FIXTURE_ID).unwrap().short(), "90b838439776");
    }

    #[test]
    fn without_elf_the_candidate_with_the_logs_build_id_is_chosen() {
        let cands = [fixture("no-build-id.elf"), fixture("with-build-id.elf")];
        let n = choose(None, Some(FIXTURE_ID), || cands.to_vec());
        assert_eq!(n.path.as_deref(), Some(&*cands[1]), "{}", n.line);
        assert_eq!(
            n.line,
            format!(
                "harness: symbols from {} (build id 90b838439776)",
                cands[1].display()
            )
        );
        let s = n.symbols.expect("symbols of the chosen ELF");
        assert_eq!(
            s.describe(0x10b5e4).as_deref(),
            Some("kernel::bp::handle+0x5e4")
        );
    }

    #[test]
    fn without_a_matching_candidate_names_need_elf() {
        let other = "00".repeat(20);
        let cands = [fixture("with-build-id.elf"), fixture("no-build-id.elf")];
        let n = choose(None, Some(&other), || cands.to_vec());
        assert!(n.symbols.is_none(), "a wrong ELF was chosen: {}", n.line);
        assert!(
            n.line
                .contains("no kernel ELF with the log's build id 000000000000")
                && n.line.contains("with-build-id.elf")
                && n.line.ends_with("names need --elf PATH"),
            "{}",
            n.line
        );
        let n = choose(None, Some(&other), Vec::new);
        assert!(n.line.contains("no kernel ELF to look in"), "{}", n.line);
    }

    #[test]
    fn an_old_log_without_build_id_is_judged_without_names() {
        let cands = [fixture("with-build-id.elf")];
        for (id, why) in [
            (None, "the log names no build id"),
            (Some("none"), "gave no usable build id (`none`)"),
        ] {
            let n = choose(None, id, || cands.to_vec());
            assert!(n.symbols.is_none(), "{}", n.line);
            assert!(
                n.line.contains(why) && n.line.ends_with("names need --elf PATH"),
                "wanted {why:?} in {:?}",
                n.line
            );
        }
    }

    #[test]
    fn a_given_elf_with_the_logs_build_id_is_used_without_a_warning() {
        let g = GivenElf::load(&fixture("with-build-id.elf")).unwrap();
        let n = choose(Some(g), Some(FIXTURE_ID), Vec::new);
        assert!(n.symbols.is_some());
        assert!(
            n.line.contains("(--elf, build id 90b838439776)") && !n.line.contains("warning"),
            "{}",
            n.line
        );
    }

    #[test]
    fn a_given_elf_with_another_build_id_is_used_with_a_warning() {
        let g = GivenElf::load(&fixture("with-build-id.elf")).unwrap();
        let n = choose(Some(g), Some(&"ab".repeat(20)), Vec::new);
        assert!(n.symbols.is_some(), "--elf is used even so");
        assert!(
            n.line.starts_with("harness: warning: --elf")
                && n.line
                    .contains("has build id 90b838439776, the log's kernel abababababab"),
            "{}",
            n.line
        );
        let g = GivenElf::load(&fixture("no-build-id.elf")).unwrap();
        let n = choose(Some(g), Some(FIXTURE_ID), Vec::new);
        assert!(
            n.line.starts_with("harness: warning:") && n.line.contains("has no build id"),
            "{}",
            n.line
        );
    }

    #[test]
    fn a_given_elf_is_not_checked_against_an_old_log() {
        let g = GivenElf::load(&fixture("no-build-id.elf")).unwrap();
        let n = choose(Some(g), None, || vec![fixture("with-build-id.elf")]);
        assert!(
            n.symbols.is_some() && !n.line.contains("warning"),
            "{}",
            n.line
        );
        assert!(n.path.unwrap().ends_with("no-build-id.elf"));
    }

    #[test]
    fn the_elfs_beside_a_log_are_candidates_first() {
        let c = candidates(Some(&fixture("some.log")));
        assert_eq!(
            c.get(..2),
            Some(&[fixture("no-build-id.elf"), fixture("with-build-id.elf")][..]),
            "{c:?}"
        );
    }
}
