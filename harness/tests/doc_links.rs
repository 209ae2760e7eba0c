//! The project's pages link to each other: every relative link of
//! `README.md` and `docs/*.md` must reach a file that exists and, where it
//! names a `#anchor`, a heading of that file (by GitHub's anchor rules).

use std::{
    collections::{HashMap, HashSet},
    path::{Path, PathBuf},
};

/// The repository's root (the harness crate is one of its folders).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the harness crate lives in the repository")
        .to_path_buf()
}

/// `README.md` and every page of `docs/`.
fn pages() -> Vec<PathBuf> {
    let mut v = vec![root().join("README.md")];
    let docs = std::fs::read_dir(root().join("docs")).expect("docs/ is there");
    let mut d: Vec<PathBuf> = docs
        .map(|e| e.expect("a docs/ entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    d.sort();
    v.extend(d);
    v
}

/// The lines of a page outside fenced code blocks.
fn prose(text: &str) -> Vec<&str> {
    let mut fenced = false;
    text.lines()
        .filter(|l| {
            if l.trim_start().starts_with("```") {
                fenced = !fenced;
                return false;
            }
            !fenced
        })
        .collect()
}

/// A line with its inline code spans removed.
fn without_code(line: &str) -> String {
    let mut out = String::new();
    for (i, part) in line.split('`').enumerate() {
        if i % 2 == 0 {
            out.push_str(part);
        }
    }
    out
}

/// GitHub's anchor of a heading: lowercase, every character but letters,
/// digits, `_`, `-` and spaces dropped, spaces to `-`.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | ' '))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a page's headings (a repeated heading's second anchor
/// ends in `-1`, its third in `-2`, ...).
fn anchors(text: &str) -> HashSet<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut v = HashSet::new();
    for l in prose(text) {
        let hashes = l.chars().take_while(|&c| c == '#').count();
        if !(1..=6).contains(&hashes) || !l[hashes..].starts_with(' ') {
            continue;
        }
        let a = anchor(&l[hashes..]);
        let n = seen.entry(a.clone()).or_insert(0);
        v.insert(if *n == 0 {
            a.clone()
        } else {
            format!("{a}-{n}")
        });
        *n += 1;
    }
    v
}

/// The targets of a line's inline links `[text](target)`.
fn targets(line: &str) -> Vec<String> {
    let line = without_code(line);
    let mut v = Vec::new();
    let mut rest = line.as_str();
    while let Some(i) = rest.find("](") {
        let after = &rest[i + 2..];
        let Some(end) = after.find(')') else { break };
        v.push(after[..end].trim().to_string());
        rest = &after[end..];
    }
    v
}

/// Whether a target leaves the repository (a URL, a mail address).
fn external(target: &str) -> bool {
    target.contains("://") || target.starts_with("mailto:")
}

/// What is wrong with each relative link of `page`, one sentence each.
fn broken_links(page: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(page).expect("a page reads");
    let name = page
        .strip_prefix(root())
        .unwrap_or(page)
        .display()
        .to_string();
    let mut wrong = Vec::new();
    for (n, l) in prose(&text).into_iter().enumerate() {
        for t in targets(l).into_iter().filter(|t| !external(t)) {
            let (file, frag) = match t.split_once('#') {
                Some((f, a)) => (f, Some(a)),
                None => (t.as_str(), None),
            };
            let target = if file.is_empty() {
                page.to_path_buf()
            } else {
                page.parent().expect("a page is in a folder").join(file)
            };
            if !target.exists() {
                wrong.push(format!(
                    "{name}: link `{t}` (prose line {}): no file {}",
                    n + 1,
                    target.display()
                ));
                continue;
            }
            let Some(frag) = frag else { continue };
            let Ok(linked) = std::fs::read_to_string(&target) else {
                wrong.push(format!(
                    "{name}: link `{t}`: #{frag} into a file that is not text"
                ));
                continue;
            };
            if !anchors(&linked).contains(frag) {
                wrong.push(format!(
                    "{name}: link `{t}`: no heading of {file_name} has the anchor #{frag}",
                    file_name = if file.is_empty() { name.as_str() } else { file }
                ));
            }
        }
    }
    wrong
}

#[test]
fn every_relative_link_of_the_readme_and_docs_reaches_a_file_and_its_heading() {
    let pages = pages();
    assert!(pages.len() > 1, "no pages under docs/: {pages:?}");
    let wrong: Vec<String> = pages.iter().flat_map(|p| broken_links(p)).collect();
    assert!(wrong.is_empty(), "broken links:\n{}", wrong.join("\n"));
}

#[test]
fn anchors_follow_github_s_rules() {
    assert_eq!(
        anchor(" 4. The report is a protocol"),
        "4-the-report-is-a-protocol"
    );
    assert_eq!(anchor(" One run, annotated"), "one-run-annotated");
    assert_eq!(
        anchor(" `spin` under NMIs: it ends"),
        "spin-under-nmis-it-ends"
    );
    let repeated = anchors("# A\n## Notes\n```\n# not a heading\n```\n## Notes\n");
    assert_eq!(
        repeated,
        HashSet::from(["a".to_string(), "notes".to_string(), "notes-1".to_string()])
    );
}

#[test]
fn a_link_to_a_missing_file_or_heading_is_named() {
    let dir = std::env::temp_dir().join(format!("harness-doc-links-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let page = dir.join("page.md");
    std::fs::write(
        &page,
        "# Page\n\n[ok](#page) [gone](gone.md) [bad](#nowhere) [web](https://example.org)\n`[code](gone2.md)`\n",
    )
    .unwrap();
    let wrong = broken_links(&page);
    assert_eq!(wrong.len(), 2, "{wrong:?}");
    assert!(
        wrong[0].contains("`gone.md`") && wrong[0].contains("no file"),
        "{wrong:?}"
    );
    assert!(wrong[1].contains("#nowhere"), "{wrong:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
