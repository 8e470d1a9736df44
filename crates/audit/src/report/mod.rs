//! What an audit found, and its three renderings: a text table for people,
//! JSON for scripts, SARIF 2.1.0 for code-scanning tools.

use serde::Serialize;

use crate::catalog::{Check, Severity};

mod sarif;
mod text;

pub use sarif::to_sarif;
pub use text::to_text;

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The server did what the spec requires.
    Pass,
    /// It did not: see `fix`.
    Finding,
    /// The check could not be made or does not apply; `detail` says why.
    Skipped,
}

/// One request and its answer, as shown in a report (secrets redacted).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Evidence {
    /// The endpoint the request went to.
    pub endpoint: String,
    /// What was sent.
    pub sent: String,
    /// What came back.
    pub received: String,
}

/// One check's result.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    /// Stable id (see [`crate::catalog`]).
    pub id: &'static str,
    /// What a finding means.
    pub title: &'static str,
    /// Severity of a finding.
    pub severity: Severity,
    /// The spec clauses.
    pub spec: &'static str,
    /// Pass, finding or skipped.
    pub status: Status,
    /// What happened, in a sentence or two.
    pub detail: String,
    /// The request and answer that decided it, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Evidence>,
    /// How to fix it (findings only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<&'static str>,
}

impl CheckResult {
    /// A result for `check`.
    pub fn new(check: &'static Check, status: Status, detail: impl Into<String>) -> CheckResult {
        CheckResult {
            id: check.id,
            title: check.title,
            severity: check.severity,
            spec: check.spec,
            status,
            detail: detail.into(),
            evidence: None,
            fix: (status == Status::Finding).then_some(check.fix),
        }
    }

    /// The same with its evidence.
    pub fn with(mut self, evidence: Option<Evidence>) -> CheckResult {
        self.evidence = evidence;
        self
    }
}

/// A whole audit.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `proofkey audit`.
    pub tool: &'static str,
    /// proofkey's version.
    pub version: &'static str,
    /// The issuer audited.
    pub issuer: String,
    /// The client used.
    pub client_id: String,
    /// `public` or `confidential`.
    pub client_type: &'static str,
    /// When the audit started (RFC 3339).
    pub started_at: String,
    /// Every check, in catalog order.
    pub results: Vec<CheckResult>,
    /// What else the audit did or noticed (revocations at the end...).
    pub notes: Vec<String>,
}

impl Report {
    /// Findings of at least `severity`.
    pub fn findings_at_least(&self, severity: Severity) -> impl Iterator<Item = &CheckResult> {
        self.results
            .iter()
            .filter(move |r| r.status == Status::Finding && r.severity >= severity)
    }

    /// Counts of (pass, finding, skipped).
    pub fn counts(&self) -> (usize, usize, usize) {
        let n = |s| self.results.iter().filter(|r| r.status == s).count();
        (n(Status::Pass), n(Status::Finding), n(Status::Skipped))
    }

    /// The report as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}
