//! Who is asking: jobs are private to whoever submitted them. A submitter
//! holds an unguessable key (128 random bits), kept by the page in an
//! HttpOnly cookie and sent by scripts as the `X-Restyle-Key` header; a job
//! stores only a hash of its submitter's key. The operator (with the admin
//! token) sees every job.

use axum::http::HeaderMap;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// The cookie holding the page's key.
pub const KEY_COOKIE: &str = "restyle_key";
/// The header scripts send their key in.
pub const KEY_HEADER: &str = "x-restyle-key";

/// The request's viewer: whose jobs it may see.
#[derive(Clone, Debug, Default)]
pub struct Viewer {
    /// The submitter key, as sent or as just issued.
    key: Option<String>,
    /// The key was issued with this request: the answer sets the cookie.
    pub issued: bool,
    /// The operator: sees every job, and which worker ran it.
    pub admin: bool,
}

impl Viewer {
    /// The viewer a request's headers name (`admin` decided by the token check).
    pub fn from_headers(headers: &HeaderMap, admin: bool) -> Result<Self, ApiError> {
        let key = match headers.get(KEY_HEADER) {
            Some(value) => {
                let key = value.to_str().ok().filter(|k| well_formed(k)).ok_or_else(|| {
                    ApiError::BadRequest(
                        "X-Restyle-Key must be 16 to 128 letters, digits, `-` or `_` (the key a submission returned)".into(),
                    )
                })?;
                Some(key.to_owned())
            }
            // A cookie that is not a key (an old or foreign one) is as good as none.
            None => cookie(headers, KEY_COOKIE).filter(|k| well_formed(k)),
        };
        Ok(Self {
            key,
            issued: false,
            admin,
        })
    }

    /// Gives a viewer without a key a fresh one.
    pub fn ensure_key(&mut self) {
        if self.key.is_none() {
            let mut bytes = [0u8; 16];
            rand::rng().fill_bytes(&mut bytes);
            self.key = Some(hex(&bytes));
            self.issued = true;
        }
    }

    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// What a job stores of its submitter: the key's SHA-256, in hex.
    pub fn owner(&self) -> Option<String> {
        self.key.as_deref().map(owner_of)
    }

    /// Whether this viewer may see a job stored with `owner`.
    pub fn may_see(&self, owner: Option<&str>) -> bool {
        self.admin || owner.is_some_and(|o| self.owner().as_deref() == Some(o))
    }
}

/// The stored owner for a key.
pub fn owner_of(key: &str) -> String {
    hex(&Sha256::digest(key.as_bytes()))
}

fn well_formed(key: &str) -> bool {
    (16..=128).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The value of cookie `name`, if the request has it.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn a_viewer_sees_only_jobs_stored_with_their_key() {
        let mut a = Viewer::default();
        a.ensure_key();
        assert!(a.issued);
        let key = a.key().unwrap().to_owned();
        assert_eq!(key.len(), 32);
        let mut headers = HeaderMap::new();
        headers.insert(KEY_HEADER, HeaderValue::from_str(&key).unwrap());
        let same = Viewer::from_headers(&headers, false).unwrap();
        assert!(same.may_see(a.owner().as_deref()));
        let mut b = Viewer::default();
        b.ensure_key();
        assert!(!b.may_see(a.owner().as_deref()));
        assert!(!Viewer::default().may_see(None));
        assert!(Viewer::from_headers(&HeaderMap::new(), true)
            .unwrap()
            .may_see(a.owner().as_deref()));
        assert_ne!(a.owner().unwrap(), key, "the key itself is not stored");
    }

    #[test]
    fn malformed_keys_are_refused_in_headers_and_ignored_in_cookies() {
        let mut headers = HeaderMap::new();
        headers.insert(KEY_HEADER, HeaderValue::from_static("short"));
        assert!(Viewer::from_headers(&headers, false).is_err());
        let mut headers = HeaderMap::new();
        headers.insert(
            "cookie",
            HeaderValue::from_static("restyle_key=no spaces; x=1"),
        );
        assert!(Viewer::from_headers(&headers, false)
            .unwrap()
            .key()
            .is_none());
    }
}
