//! The access tokens: `--token` lets people in, `--admin-token` (or
//! `--token` alone) marks the operator, who sees every job. A browser
//! proves it once through the token form and then carries a session
//! cookie, which holds an expiry and an HMAC of it keyed by the token:
//! never the token itself, and worthless once the token changes or the
//! week is over.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{header, HeaderMap};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::viewer::{cookie, hex};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "restyle_session";
/// How long a session lasts.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

/// What a request's credentials grant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// A token is needed and none (or a wrong one) came.
    Denied,
    /// An ordinary visitor: sees their own jobs.
    Visitor,
    /// The operator: sees every job.
    Operator,
}

/// The configured tokens.
#[derive(Clone, Debug, Default)]
pub struct Tokens {
    token: Option<Arc<str>>,
    admin: Option<Arc<str>>,
}

impl Tokens {
    /// Empty tokens count as none.
    pub fn new(token: Option<String>, admin: Option<String>) -> Self {
        let keep = |t: Option<String>| t.filter(|t| !t.is_empty()).map(Arc::from);
        Self {
            token: keep(token),
            admin: keep(admin),
        }
    }

    /// Whether everything but the static files needs a token.
    pub fn required(&self) -> bool {
        self.token.is_some()
    }

    /// What `presented` (a token typed or sent) grants, if anything.
    pub fn check(&self, presented: &str) -> Option<Access> {
        let presented = presented.trim();
        if self.admin.as_deref().is_some_and(|a| same(presented, a)) {
            return Some(Access::Operator);
        }
        match &self.token {
            Some(t) if same(presented, t) => Some(if self.admin.is_some() {
                Access::Visitor
            } else {
                Access::Operator
            }),
            _ => None,
        }
    }

    /// What a request's bearer token or session cookie grants.
    pub fn access(&self, headers: &HeaderMap) -> Access {
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .and_then(|t| self.check(t));
        let session = cookie(headers, SESSION_COOKIE).and_then(|c| self.session_access(&c));
        let granted = bearer
            .into_iter()
            .chain(session)
            .max_by_key(|a| *a == Access::Operator);
        match granted {
            Some(a) => a,
            None if self.required() => Access::Denied,
            None => Access::Visitor,
        }
    }

    /// The `Set-Cookie` value of a new session for `access`.
    pub fn session_cookie(&self, access: Access, secure: bool) -> Option<String> {
        let key = self.key_for(access)?;
        let expires = now_s() + SESSION_LIFETIME.as_secs();
        let value = format!("{expires}.{}", mac(key, access, expires));
        Some(format!(
            "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
            SESSION_LIFETIME.as_secs(),
            if secure { "; Secure" } else { "" }
        ))
    }

    /// The token a session for `access` is signed with.
    fn key_for(&self, access: Access) -> Option<&str> {
        match access {
            Access::Operator => self.admin.as_deref().or(self.token.as_deref()),
            Access::Visitor => self.token.as_deref(),
            Access::Denied => None,
        }
    }

    fn session_access(&self, value: &str) -> Option<Access> {
        let (expires, tag) = value.split_once('.')?;
        let expires: u64 = expires.parse().ok()?;
        if expires <= now_s() {
            return None;
        }
        [Access::Operator, Access::Visitor]
            .into_iter()
            .find(|&access| {
                self.key_for(access)
                    .is_some_and(|key| same(&mac(key, access, expires), tag))
            })
    }
}

fn mac(key: &str, access: Access, expires: u64) -> String {
    let mut m = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("any key length");
    m.update(format!("restyle session {access:?} until {expires}").as_bytes());
    hex(&m.finalize().into_bytes())
}

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Whether two tokens are the same, in a time that depends neither on
/// where they differ nor on their lengths: both are hashed to 32 bytes
/// first, and the hashes compared byte by byte, all of them.
fn same(a: &str, b: &str) -> bool {
    use sha2::Digest;
    let (x, y) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    x.iter()
        .zip(y.iter())
        .fold(0u8, |acc, (p, q)| acc | (p ^ q))
        == 0
}

/// Where to go after signing in: a path on this server, never another site
/// (`//evil.example/` and `/\evil.example` are what browsers read as one).
pub fn local_target(next: &str) -> &str {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.bytes().any(|b| b.is_ascii_control() || b == b' ');
    if ok {
        next
    } else {
        "/"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_cookie(set_cookie: &str) -> HeaderMap {
        let pair = set_cookie.split(';').next().unwrap();
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_str(pair).unwrap());
        h
    }

    #[test]
    fn a_session_cookie_grants_access_without_holding_the_token() {
        let tokens = Tokens::new(Some("me@home + you".into()), None);
        assert_eq!(tokens.access(&HeaderMap::new()), Access::Denied);
        assert_eq!(tokens.check("me@home + you"), Some(Access::Operator));
        let set = tokens.session_cookie(Access::Operator, true).unwrap();
        assert!(!set.contains("me@home"), "{set}");
        assert!(
            set.contains("; Secure") && set.contains("Max-Age=604800"),
            "{set}"
        );
        assert_eq!(tokens.access(&with_cookie(&set)), Access::Operator);
        let other = Tokens::new(Some("another token".into()), None);
        assert_eq!(
            other.access(&with_cookie(&set)),
            Access::Denied,
            "a changed token ends sessions"
        );
        let forged = set.replacen(|c: char| c.is_ascii_digit(), "9", 1);
        assert_eq!(tokens.access(&with_cookie(&forged)), Access::Denied);
    }

    #[test]
    fn the_admin_token_marks_the_operator() {
        let tokens = Tokens::new(Some("team".into()), Some("boss-token".into()));
        assert_eq!(tokens.check("team"), Some(Access::Visitor));
        assert_eq!(tokens.check("boss-token"), Some(Access::Operator));
        let open = Tokens::new(None, Some("boss-token".into()));
        assert_eq!(open.access(&HeaderMap::new()), Access::Visitor);
        let visitor = tokens.session_cookie(Access::Visitor, false).unwrap();
        assert_eq!(tokens.access(&with_cookie(&visitor)), Access::Visitor);
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "ab"));
    }

    #[test]
    fn sign_in_never_leads_off_site() {
        for bad in [
            "//evil.example/",
            "/\\evil.example",
            "https://evil.example/",
            "",
            "x",
        ] {
            assert_eq!(local_target(bad), "/", "{bad}");
        }
        assert_eq!(local_target("/jobs/abc"), "/jobs/abc");
    }
}
