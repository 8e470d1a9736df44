//! Scopes (RFC 6749 §3.3): space-delimited, case-sensitive, no duplicates.

/// Scopes a new client gets when none are registered.
pub const DEFAULT_CLIENT_SCOPES: &[&str] = &["openid", "profile", "email"];
/// Scopes with a meaning defined by OIDC Core §5.4 / §11.
pub const OIDC_SCOPES: &[&str] = &["openid", "profile", "email", "offline_access"];

/// Splits a `scope` parameter, dropping duplicates and keeping order.
pub fn parse(scope: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in scope.split(' ').filter(|s| !s.is_empty()) {
        if !out.iter().any(|o| o == s) {
            out.push(s.to_owned());
        }
    }
    out
}

/// Whether `s` is a valid scope token: `1*( %x21 / %x23-5B / %x5D-7E )` (§3.3).
pub fn is_valid_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

/// Joins scopes for the wire.
pub fn join(scopes: &[String]) -> String {
    scopes.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_dedups() {
        assert_eq!(parse("openid  email openid"), vec!["openid", "email"]);
        assert!(parse("").is_empty());
        assert!(is_valid_token("read:all"));
        assert!(!is_valid_token("a\"b"));
    }
}
