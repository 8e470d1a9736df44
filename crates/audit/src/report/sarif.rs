//! SARIF 2.1.0 (OASIS Static Analysis Results Interchange Format), so that
//! findings load into code-scanning tools: one rule per check, one result
//! per finding, located at the endpoint that showed it.

use serde_json::{json, Value};

use super::{Report, Status};
use crate::catalog::{self, Severity};

/// Where the SARIF 2.1.0 JSON schema lives.
pub const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

fn level(s: Severity) -> &'static str {
    match s {
        Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low => "note",
    }
}

/// GitHub code scanning's `security-severity` (a CVSS-like score).
fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::High => "8.0",
        Severity::Medium => "5.0",
        Severity::Low => "2.0",
    }
}

/// A rule's tags: what it is about.
fn tags(id: &str) -> Vec<&'static str> {
    let mut t = vec!["security", "oauth"];
    match id.split_once('.').map(|(area, _)| area) {
        Some("dpop") => t.push("dpop"),
        Some("par") => t.extend(["pkce", "par"]),
        _ => t.push("pkce"),
    }
    t
}

/// Renders `report` as a SARIF 2.1.0 log.
pub fn to_sarif(report: &Report) -> Value {
    let rules: Vec<Value> = catalog::ALL
        .iter()
        .map(|c| {
            json!({
                "id": c.id,
                "name": c.id.replace(['.', '-'], "_"),
                "shortDescription": { "text": c.title },
                "fullDescription": { "text": format!("{} ({})", c.title, c.spec) },
                "help": { "text": c.fix },
                "defaultConfiguration": { "level": level(c.severity) },
                "properties": {
                    "tags": tags(c.id),
                    "security-severity": security_severity(c.severity),
                    "spec": c.spec,
                },
            })
        })
        .collect();
    let results: Vec<Value> = report
        .results
        .iter()
        .filter(|r| r.status == Status::Finding)
        .map(|r| {
            let rule_index = catalog::ALL.iter().position(|c| c.id == r.id);
            let uri = r
                .evidence
                .as_ref()
                .map_or(report.issuer.as_str(), |e| e.endpoint.as_str());
            let mut result = json!({
                "ruleId": r.id,
                "level": level(r.severity),
                "message": { "text": format!("{}: {}", r.title, r.detail) },
                "locations": [{
                    "physicalLocation": { "artifactLocation": { "uri": uri } }
                }],
                "partialFingerprints": {
                    "proofkeyAudit/v1": format!("{}|{}|{}", r.id, report.issuer, report.client_id)
                },
            });
            if let (Some(i), Some(obj)) = (rule_index, result.as_object_mut()) {
                obj.insert("ruleIndex".into(), json!(i));
            }
            if let (Some(e), Some(obj)) = (&r.evidence, result.as_object_mut()) {
                obj.insert(
                    "properties".into(),
                    json!({ "sent": e.sent, "received": e.received }),
                );
            }
            result
        })
        .collect();
    json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "proofkey audit",
                    "version": report.version,
                    "informationUri": "https://github.com/proofkey/proofkey",
                    "rules": rules,
                }
            },
            "invocations": [{
                "executionSuccessful": true,
                "startTimeUtc": report.started_at,
            }],
            "originalUriBaseIds": {},
            "properties": {
                "issuer": report.issuer,
                "clientId": report.client_id,
                "notes": report.notes,
            },
            "results": results,
        }]
    })
}
