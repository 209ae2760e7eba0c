//! `harness iso-menu`: the boot menu of the ISO, generated from the
//! registry, so that the menu cannot drift from it. Pure.
//!
//! `scripts/mkiso.sh` puts the GRUB entries into `scripts/grub.cfg` (at its
//! `@MENU@` line); `scripts/mkiso-limine.sh` puts the Limine entries after
//! the header of `limine.cfg`, whose checked-in entries are the ones
//! generated here for an empty `CMDLINE` (a test holds them equal).
//!
//! # The entries, in menu order
//!
//! 1. **The default suite** (the one an unattended machine boots when the
//!    menu times out): `exp=* ms=`[`ISO_MS`], the registry's experiments
//!    in one boot; those that need a boot of their own are reported
//!    `skip reason=own-boot` by the kernel and never take the boot down.
//!    The words of `make iso CMDLINE=...` join this entry (an `exp=` or
//!    `ms=` among them replaces the default one).
//! 2. **Each own-boot experiment** (`harness list` marks them `own-boot`:
//!    the expected deadlocks, `spin` and `retry` under `nmi-site`):
//!    `exp=NAME ms=`[`ISO_MS`], alone in its boot.
//! 3. **The platform only**: an empty command line (boot, CPUs,
//!    self-checks, no experiment).
//! 4. **One per sabotage word** ([`Sabotage::ALL`]): `exp=GLOBS
//!    ms=`[`ISO_MS`]` break=WORD`, where GLOBS are the `experiment`s of the
//!    `expect = fail` rows of `harness/torture.cfg` that append that word;
//!    every experiment must then FAIL.
//!
//! # Quoting
//!
//! Every word is checked against [`SAFE`] before it is written, so that no
//! generated line can break out of its quoting: GRUB gets each word in
//! single quotes (GRUB's script language expands nothing inside them, not
//! even `*`), Limine takes the rest of the `cmdline:` line as it is.

use crate::{matrix::Row, request::ISO_MS};
use anyhow::{bail, Context as _, Result};
use plan::experiment::{self, DEFAULT_SUITE};
use report::cmdline::{Options, Sabotage};

/// The characters a kernel command line word may hold in a menu: letters,
/// digits and `= , . _ : / - * ?`. Nothing that GRUB's or Limine's
/// configuration syntax gives a meaning to inside single quotes or at the
/// end of a line (quotes, `$`, `\`, `#`, `;`, braces, newlines).
pub const SAFE: &str = "letters, digits and = , . _ : / - * ?";

fn safe_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "=,._:/-*?".contains(c)
}

/// The boot loader whose configuration syntax to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Loader {
    /// GRUB 2 `menuentry` blocks (`scripts/grub.cfg`).
    Grub,
    /// Limine v8 entries (`limine.cfg`).
    Limine,
}

/// One menu entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// What the menu shows.
    pub title: String,
    /// The kernel command line, words separated by single spaces.
    pub cmdline: String,
    /// A comment above it in the configuration: what it does.
    pub about: String,
}

/// What the menu's entry for one sabotage word runs: the `exp=` globs of
/// the `expect = fail` rows of a torture table (`harness/torture.cfg`)
/// that append `break=WORD` (joined by commas when several rows differ),
/// and the other words every one of those rows appends (a sabotage that
/// needs a mode, as `claim-leak` needs `claim=shared`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SabotageRun {
    /// The word.
    pub sabotage: Sabotage,
    /// The `exp=` globs.
    pub globs: String,
    /// Words every row appends besides `break=WORD`.
    pub words: Vec<String>,
}

/// [`SabotageRun`] for every sabotage word. An error names a word that no
/// row runs.
pub fn sabotage_globs(rows: &[Row]) -> Result<Vec<SabotageRun>> {
    Sabotage::ALL
        .into_iter()
        .map(|s| {
            let word = format!("break={}", s.name());
            let mut globs: Vec<&str> = Vec::new();
            let mut common: Option<Vec<String>> = None;
            for r in rows.iter().filter(|r| r.want_fail && r.skip.is_none()) {
                let words: Vec<&str> = r
                    .request
                    .append
                    .iter()
                    .flat_map(|a| a.split_whitespace())
                    .collect();
                if let (true, Some(p)) = (
                    words.contains(&word.as_str()),
                    r.request.experiment.as_deref(),
                ) {
                    for g in p.split(experiment::LIST_SEPARATOR) {
                        if !globs.contains(&g) {
                            globs.push(g);
                        }
                    }
                    let others: Vec<String> = words
                        .iter()
                        .filter(|w| **w != word)
                        .map(|w| w.to_string())
                        .collect();
                    common = Some(match common {
                        None => others,
                        Some(c) => c.into_iter().filter(|w| others.contains(w)).collect(),
                    });
                }
            }
            if globs.is_empty() {
                bail!(
                    "no `expect = fail` row of the torture table appends `{word}`: \
                     the menu's entry for that sabotage would run nothing"
                );
            }
            Ok(SabotageRun {
                sabotage: s,
                globs: globs.join(","),
                words: common.unwrap_or_default(),
            })
        })
        .collect()
}

/// Checks the words that `make iso CMDLINE=...` bakes into the default
/// entry: every character in [`SAFE`], every word one the kernel knows,
/// and an `exp=` that selects experiments. Returns the words.
pub fn check_extra(extra: &str) -> Result<Vec<&str>> {
    if let Some(c) = extra.chars().find(|&c| !safe_char(c) && c != ' ') {
        bail!(
            "command line `{extra}` holds {c:?}, which a boot menu would interpret: \
             allowed are {SAFE}, and spaces between words"
        );
    }
    let o = Options::parse(extra).map_err(|e| {
        anyhow::anyhow!("command line `{extra}`: {e} (docs/cmdline.md lists the words)")
    })?;
    if let Some(p) = o.experiments {
        crate::list::select(p).with_context(|| format!("command line `{extra}`"))?;
    }
    Ok(extra.split_whitespace().collect())
}

/// The longest title: Limine keeps 63 characters of an entry's line, its
/// leading `/` included, and a serial terminal has 80 columns for GRUB's
/// menu frame.
pub const TITLE_MAX: usize = 60;

/// The menu's entries (see the [module docs](self)): `extra` are the
/// words of `make iso CMDLINE=...` for the default entry, `sabotage` the
/// runs of each sabotage word ([`sabotage_globs`]).
pub fn entries(extra: &str, sabotage: &[SabotageRun]) -> Result<Vec<Entry>> {
    let words = check_extra(extra)?;
    let o = Options::parse(extra).map_err(|e| anyhow::anyhow!("{e}"))?;
    let pattern = o.experiments.unwrap_or("*");
    let ms = o.exp_ms.unwrap_or(ISO_MS);
    let mut default: Vec<String> = Vec::new();
    if o.experiments.is_none() {
        default.push(format!("exp={pattern}"));
    }
    if o.exp_ms.is_none() {
        default.push(format!("ms={ms}"));
    }
    default.extend(words.iter().map(|w| w.to_string()));
    // As the kernel runs a list: own-boot experiments only when alone.
    let selected = crate::list::select(pattern)?;
    let own = if selected.len() > 1 {
        selected.iter().filter(|e| e.own_boot).count()
    } else {
        0
    };
    let shared = selected.len() - own;
    let what = if pattern == "*" {
        "default suite".to_string()
    } else {
        format!("exp={pattern}")
    };
    let title = format!("{what}: {shared} experiment(s), {ms} ms each");
    let mut out = vec![Entry {
        title: if title.len() <= TITLE_MAX {
            title
        } else {
            format!("exp= of CMDLINE: {shared} experiment(s), {ms} ms each")
        },
        cmdline: default.join(" "),
        about: format!(
            "The default entry: {shared} experiment(s) in one boot{}.",
            if own > 0 {
                format!(
                    "; the {own} that need a boot of their own are reported skipped \
                     (own-boot) and have entries of their own below"
                )
            } else {
                String::new()
            }
        ),
    }];
    for e in DEFAULT_SUITE.iter().filter(|e| e.own_boot) {
        out.push(Entry {
            title: format!("own boot: {}", e.name()),
            cmdline: format!("exp={} ms={ISO_MS}", e.name()),
            about: format!(
                "{} ({}): its expected end takes the boot with it, so it runs alone.",
                e.name(),
                e.expectation.name()
            ),
        });
    }
    out.push(Entry {
        title: "platform only: no experiment".into(),
        cmdline: String::new(),
        about: "Boot, every CPU up, the self-checks; no experiment.".into(),
    });
    for SabotageRun {
        sabotage: s,
        globs,
        words,
    } in sabotage
    {
        let n = crate::list::select(globs)?.len();
        let mut cmdline = format!("exp={globs} ms={ISO_MS}");
        for w in words {
            cmdline += &format!(" {w}");
        }
        cmdline += &format!(" break={}", s.name());
        out.push(Entry {
            title: format!("sabotage break={}: all must FAIL", s.name()),
            cmdline,
            about: format!(
                "The protocol broken on purpose (docs/cmdline.md): all {n} experiment(s) of \
                 {globs} must FAIL, or a detector is blind (as the sabotage rows of \
                 harness/torture.cfg)."
            ),
        });
    }
    for e in &out {
        check_entry(e)?;
    }
    Ok(out)
}

/// Refuses an entry that could break out of its place in a configuration:
/// a title too long for Limine or holding a quote, a comment holding a
/// line break, a command line word outside [`SAFE`].
fn check_entry(e: &Entry) -> Result<()> {
    if e.title.len() > TITLE_MAX {
        bail!(
            "menu title `{}` is {} characters long: Limine keeps {TITLE_MAX}",
            e.title,
            e.title.len()
        );
    }
    let text = format!("{}{}", e.title, e.about);
    if let Some(c) = text.chars().find(|c| matches!(c, '\'' | '\n' | '\r')) {
        bail!("menu entry `{}` holds {c:?}", e.title);
    }
    if let Some(c) = e.cmdline.chars().find(|&c| !safe_char(c) && c != ' ') {
        bail!(
            "menu entry `{}`: command line `{}` holds {c:?}; allowed are {SAFE}",
            e.title,
            e.cmdline
        );
    }
    Ok(())
}

/// `text` as comment lines of at most 78 columns (a longer word stays
/// whole), the first one numbered `n.`.
fn comment(n: usize, text: &str) -> String {
    let mut out = String::new();
    let mut line = format!("# {n}.");
    for w in text.split_whitespace() {
        if line.len() + 1 + w.len() > 78 && line.len() > 2 {
            out += &line;
            out.push('\n');
            line = "#".into();
        }
        line += " ";
        line += w;
    }
    out + &line + "\n"
}

/// The entries as GRUB `menuentry` blocks, each word in single quotes.
pub fn grub(entries: &[Entry]) -> String {
    let mut s = String::from(
        "# Generated by `harness iso-menu --loader grub` from the experiment registry\n\
         # (plan/src/experiment/suite.rs) and harness/torture.cfg. The first entry is\n\
         # the default. Press `e` on an entry to edit its command line, Ctrl-x to boot.\n",
    );
    for (i, e) in entries.iter().enumerate() {
        let args: String = e
            .cmdline
            .split_whitespace()
            .map(|w| format!(" '{w}'"))
            .collect();
        s += &format!(
            "\n{}menuentry '{}' {{\n    echo 'static-call: booting the kernel, command line \"{}\"'\n    multiboot2 /boot/kernel{args}\n    boot\n}}\n",
            comment(i + 1, &e.about),
            e.title,
            e.cmdline,
        );
    }
    s
}

/// The entries as Limine (v8) entries.
pub fn limine(entries: &[Entry]) -> String {
    let mut s = String::from(
        "# Generated by `harness iso-menu --loader limine` from the experiment registry\n\
         # (plan/src/experiment/suite.rs) and harness/torture.cfg. The first entry is\n\
         # the default. Press `e` on an entry to edit it, F10 to boot.\n",
    );
    for (i, e) in entries.iter().enumerate() {
        s += &format!(
            "\n{}/{}\n    protocol: multiboot2\n    kernel_path: boot():/boot/kernel\n",
            comment(i + 1, &e.about),
            e.title
        );
        if !e.cmdline.is_empty() {
            s += &format!("    cmdline: {}\n", e.cmdline);
        }
    }
    s
}

/// The torture table this harness was built with (`harness/torture.cfg`):
/// where the sabotage entries take their globs unless told otherwise.
pub const TORTURE_TABLE: &str = include_str!("../torture.cfg");

/// The first line of the generated text: `scripts/mkiso-limine.sh` keeps
/// `limine.cfg` up to it and puts the entries of the image there.
pub const GENERATED_BY: &str = "# Generated by `harness iso-menu";

/// The menu for `loader`: the entries of [`entries`] with the sabotage
/// globs of the torture table `table` (its text).
pub fn render(loader: Loader, extra: &str, table: &str) -> Result<String> {
    let rows = crate::matrix::parse_table(table).context("in the torture table")?;
    let e = entries(extra, &sabotage_globs(&rows)?)?;
    Ok(match loader {
        Loader::Grub => grub(&e),
        Loader::Limine => limine(&e),
    })
}

#[cfg(test)]
mod tests;
