//! RFC 6749 §3.3 scope tokens, as configured (a route's required scopes,
//! the metadata's `scopes_supported`).

use crate::config::ConfigError;

/// `scope-token = 1*NQCHAR`, `NQCHAR = %x21 / %x23-5B / %x5D-7E`: no
/// space, quote or backslash, so a scope can always be written in the
/// 403 challenge's `scope="..."`.
pub(crate) fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

/// Configured scopes, each checked, duplicates dropped, order kept.
pub(crate) fn parse_list<I, S>(scopes: I) -> Result<Vec<String>, ConfigError>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let mut out: Vec<String> = Vec::new();
    for s in scopes {
        let s = s.into();
        if !is_scope_token(&s) {
            return Err(ConfigError::InvalidScope(s));
        }
        if !out.contains(&s) {
            out.push(s);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_token_abnf() {
        assert!(is_scope_token("mcp:tools"));
        assert!(is_scope_token("!#[]~"));
        for bad in ["", "a b", "a\"b", "a\\b", "é", "a\tb"] {
            assert!(!is_scope_token(bad), "{bad:?}");
        }
    }

    #[test]
    fn list_rejects_bad_and_dedups() {
        assert_eq!(
            parse_list(["a", "b", "a"]).ok(),
            Some(vec!["a".into(), "b".into()])
        );
        assert!(matches!(
            parse_list(["a b"]),
            Err(ConfigError::InvalidScope(_))
        ));
    }
}
