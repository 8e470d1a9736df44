//! The report for people: a table of every check, then each finding with
//! its evidence and fix.

use std::fmt::Write as _;

use super::{Report, Status};

/// Renders `report` as text.
pub fn to_text(report: &Report) -> String {
    let mut out = String::new();
    let (pass, finding, skipped) = report.counts();
    let _ = writeln!(
        out,
        "proofkey audit of {} (client {}, {})",
        report.issuer, report.client_id, report.client_type
    );
    let _ = writeln!(out, "started {}\n", report.started_at);
    let width = report.results.iter().map(|r| r.id.len()).max().unwrap_or(0);
    let _ = writeln!(
        out,
        "{:<8} {:<6} {:<width$}  DETAIL",
        "RESULT", "SEV", "CHECK"
    );
    for r in &report.results {
        let result = match r.status {
            Status::Pass => "pass",
            Status::Finding => "FINDING",
            Status::Skipped => "skipped",
        };
        let _ = writeln!(
            out,
            "{result:<8} {:<6} {:<width$}  {}",
            r.severity.as_str(),
            r.id,
            r.detail
        );
    }
    let plural = if finding == 1 { "" } else { "s" };
    let _ = writeln!(
        out,
        "\n{pass} passed, {finding} finding{plural}, {skipped} skipped"
    );
    for r in report
        .results
        .iter()
        .filter(|r| r.status == Status::Finding)
    {
        let _ = writeln!(out, "\n[{}] {}: {}", r.severity.as_str(), r.id, r.title);
        let _ = writeln!(out, "  spec:     {}", r.spec);
        let _ = writeln!(out, "  found:    {}", r.detail);
        if let Some(e) = &r.evidence {
            let _ = writeln!(out, "  sent:     {}", indent(&e.sent));
            let _ = writeln!(out, "  received: {}", indent(&e.received));
        }
        if let Some(fix) = r.fix {
            let _ = writeln!(out, "  fix:      {fix}");
        }
    }
    if !report.notes.is_empty() {
        let _ = writeln!(out);
        for n in &report.notes {
            let _ = writeln!(out, "note: {n}");
        }
    }
    out
}

fn indent(s: &str) -> String {
    s.replace('\n', "\n            ")
}
