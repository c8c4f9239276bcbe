//! The seeded labelled corpus: precision and recall per entity must be at least 0.98.

use graphwatch_privacy::corpus::{generate, KINDS};
use graphwatch_privacy::scan_text;

#[test]
fn precision_and_recall_per_entity() {
    for seed in [7u64, 2026] {
        let corpus = generate(seed, 1 << 20);
        let findings = scan_text(&corpus.text);
        let overlaps = |a: (usize, usize), b: (usize, usize)| a.0 < b.1 && b.0 < a.1;
        let mut failures = Vec::new();
        for &kind in KINDS {
            let labels: Vec<_> = corpus.labels.iter().filter(|l| l.kind == kind).collect();
            let found: Vec<_> = findings.iter().filter(|f| f.kind == kind).collect();
            assert!(labels.len() >= 50, "{kind:?}: only {} labels", labels.len());
            let tp_found = found
                .iter()
                .filter(|f| labels.iter().any(|l| overlaps((f.start, f.end), (l.start, l.end))))
                .count();
            let tp_labels = labels
                .iter()
                .filter(|l| found.iter().any(|f| overlaps((f.start, f.end), (l.start, l.end))))
                .count();
            let precision = tp_found as f64 / found.len().max(1) as f64;
            let recall = tp_labels as f64 / labels.len() as f64;
            if precision < 0.98 || recall < 0.98 {
                let missed: Vec<&str> = labels
                    .iter()
                    .filter(|l| !found.iter().any(|f| overlaps((f.start, f.end), (l.start, l.end))))
                    .take(5)
                    .map(|l| &corpus.text[l.start.saturating_sub(30)..l.end])
                    .collect();
                let wrong: Vec<&str> = found
                    .iter()
                    .filter(|f| !labels.iter().any(|l| overlaps((f.start, f.end), (l.start, l.end))))
                    .take(5)
                    .map(|f| &corpus.text[f.start.saturating_sub(30)..f.end])
                    .collect();
                failures.push(format!("seed {seed} {kind:?}: precision {precision:.3} recall {recall:.3} missed {missed:?} wrong {wrong:?}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}
