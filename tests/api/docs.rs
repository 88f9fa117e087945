//! The documentation's links lead somewhere: every relative link in the
//! Markdown files names a file that exists and, with a `#fragment`, a
//! heading in it; every alert's `runbook_url` names a runbook section.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn markdown_files() -> Vec<PathBuf> {
    let mut files = vec![Path::new(ROOT).join("README.md"), Path::new(ROOT).join("clients/js/README.md")];
    for entry in std::fs::read_dir(Path::new(ROOT).join("docs")).expect("docs/") {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            files.push(path);
        }
    }
    files
}

/// Lines outside fenced code blocks.
fn prose(text: &str) -> Vec<&str> {
    let mut fenced = false;
    text.lines()
        .filter(|line| {
            if line.starts_with("```") {
                fenced = !fenced;
                return false;
            }
            !fenced
        })
        .collect()
}

/// GitHub's anchor for a heading: lower case, punctuation dropped but `-`
/// and `_`, spaces as `-`.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(file: &Path) -> HashSet<String> {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    prose(&text)
        .into_iter()
        .filter_map(|line| line.strip_prefix('#').map(|rest| rest.trim_start_matches('#')))
        .filter_map(|rest| rest.strip_prefix(' '))
        .map(slug)
        .collect()
}

/// The targets of `[text](target)` links on a line.
fn link_targets(line: &str) -> Vec<&str> {
    line.match_indices("](").filter_map(|(at, _)| line[at + 2..].split_once(')').map(|(target, _)| target)).collect()
}

#[test]
fn every_relative_link_in_the_docs_leads_to_a_file_and_heading() {
    let mut broken = Vec::new();
    for file in markdown_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        for line in prose(&text) {
            for target in link_targets(line) {
                if target.starts_with("http://") || target.starts_with("https://") || target.starts_with("mailto:") {
                    continue;
                }
                let (path, fragment) = target.split_once('#').unwrap_or((target, ""));
                let linked = if path.is_empty() { file.clone() } else { file.parent().unwrap().join(path) };
                if !linked.exists() {
                    broken.push(format!("{}: {target} (no such file)", file.display()));
                } else if !fragment.is_empty() && !anchors(&linked).contains(fragment) {
                    broken.push(format!("{}: {target} (no such heading)", file.display()));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// The prefix of every alert's `runbook_url`: one base, set once as an
/// external label in prometheus.yml, then the operations guide.
const RUNBOOK_PREFIX: &str = "{{ $externalLabels.runbook_base }}/operations.md#";

#[test]
fn every_alert_has_a_runbook_section_under_the_one_base() {
    let rules = std::fs::read_to_string(Path::new(ROOT).join("deploy/prometheus/streamlease.rules.yml")).unwrap();
    let alerts = rules.lines().filter(|l| l.trim_start().starts_with("- alert:")).count();
    let runbooks: Vec<&str> = rules
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("runbook_url:"))
        .map(|url| url.trim().trim_matches('"'))
        .collect();
    assert_eq!(runbooks.len(), alerts, "one runbook_url per alert");
    let sections = anchors(&Path::new(ROOT).join("docs/operations.md"));
    for url in runbooks {
        let anchor = url.strip_prefix(RUNBOOK_PREFIX).unwrap_or_else(|| panic!("{url}: not {RUNBOOK_PREFIX}…"));
        assert!(sections.contains(anchor), "{url}: docs/operations.md has no such section");
    }
    let ops = std::fs::read_to_string(Path::new(ROOT).join("deploy/ops/prometheus.yml")).unwrap();
    let base =
        ops.lines().find_map(|l| l.trim().strip_prefix("runbook_base: ")).expect("the ops stack sets runbook_base");
    assert!(base.starts_with("https://") && !base.ends_with('/'), "an absolute base, no trailing slash: {base}");
}
