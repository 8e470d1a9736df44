//! The audit's side of pushed authorization requests (RFC 9126 §2): the
//! request's parameters POSTed to the PAR endpoint with the client's
//! credentials, as at the token endpoint.

use serde_json::Value;

use crate::engine::{answer, shown_pairs, Session};
use crate::report::Evidence;
use crate::AuditError;

/// The PAR endpoint's answer.
#[derive(Debug)]
pub(crate) enum Pushed {
    /// A `request_uri` came back (RFC 9126 §2.2: with 201).
    Accepted { request_uri: String, status: u16 },
    /// Refused, with this `error` (empty when the body had none).
    Refused { status: u16, error: String },
}

impl Pushed {
    /// The answer in words.
    pub fn describe(&self) -> String {
        match self {
            Pushed::Accepted { status, .. } => format!("accepted with HTTP {status}"),
            Pushed::Refused { status, error } if error.is_empty() => {
                format!("refused with HTTP {status} and no error code")
            }
            Pushed::Refused { status, error } => format!("refused with HTTP {status} {error}"),
        }
    }
}

impl Session<'_> {
    /// Pushes an authorization request made of `params` (RFC 9126 §2.1).
    /// The client authenticates as at the token endpoint; `client_id` is
    /// sent once.
    pub(crate) async fn push(
        &mut self,
        params: &[(&'static str, String)],
    ) -> Result<(Pushed, Evidence), AuditError> {
        let Some(ep) = self.ep.par.clone() else {
            return Err(AuditError::Discovery(
                "the metadata has no pushed_authorization_request_endpoint".into(),
            ));
        };
        let mut form: Vec<(&str, &str)> = params
            .iter()
            .filter(|(k, _)| *k != "client_id")
            .map(|(k, v)| (*k, v.as_str()))
            .collect();
        if self.opts.client_secret.is_some() && self.ep.basic_auth {
            // HTTP Basic carries the credentials; the request still names
            // its client (RFC 9126 §2.1's example).
            form.push(("client_id", &self.opts.client_id));
        }
        let req = self.authenticate(self.http.post(ep.clone()), &mut form);
        let resp = req
            .form(&form)
            .send()
            .await
            .map_err(|e| AuditError::Http(format!("{ep}: {e}")))?;
        let status = resp.status().as_u16();
        let body = resp
            .text()
            .await
            .map_err(|e| AuditError::Http(format!("{ep}: {e}")))?;
        let (json, received) = answer(status, &body);
        let evidence = Evidence {
            endpoint: ep.to_string(),
            sent: format!("POST {ep} {}", shown_pairs(form.iter().copied())),
            received,
        };
        let request_uri = json.get("request_uri").and_then(Value::as_str);
        let answer = match request_uri {
            Some(uri) if (200..300).contains(&status) => Pushed::Accepted {
                request_uri: uri.to_owned(),
                status,
            },
            _ => Pushed::Refused {
                status,
                error: json
                    .get("error")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            },
        };
        Ok((answer, evidence))
    }
}
