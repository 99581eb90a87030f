//! Who is asking: jobs are private to whoever submitted them. A submitter
//! holds an unguessable key (128 random bits and the server's signature of
//! them), kept by the page in an HttpOnly cookie and sent by scripts as the
//! `X-Restyle-Key` header; a job stores only a hash of its submitter's key.
//! Only keys the server issued are accepted: a chosen or guessed one (say
//! `0000000000000000`) is refused. The operator (with the admin token) sees
//! every job.

use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// The cookie holding the page's key.
pub const KEY_COOKIE: &str = "restyle_key";
/// The header scripts send their key in.
pub const KEY_HEADER: &str = "x-restyle-key";

/// Issues and recognises submitter keys: 32 hex digits of randomness, then
/// 32 of their HMAC-SHA-256 under a secret every server process shares.
#[derive(Clone)]
pub struct Keys {
    secret: std::sync::Arc<[u8]>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(..)")
    }
}

impl Keys {
    pub fn new(secret: &[u8]) -> Self {
        Self {
            secret: secret.into(),
        }
    }

    /// A fresh secret, in hex (for [`crate::storage::Store::secret`]).
    pub fn fresh_secret() -> String {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        hex(&bytes)
    }

    fn tag(&self, random: &str) -> String {
        let mut m = Hmac::<Sha256>::new_from_slice(&self.secret).expect("any key length");
        m.update(b"restyle submitter key ");
        m.update(random.as_bytes());
        hex(&m.finalize().into_bytes()[..16])
    }

    pub fn issue(&self) -> String {
        let mut bytes = [0u8; 16];
        rand::rng().fill_bytes(&mut bytes);
        let random = hex(&bytes);
        let tag = self.tag(&random);
        format!("{random}{tag}")
    }

    /// Whether this server issued `key` (compared in constant time).
    pub fn issued(&self, key: &str) -> bool {
        if key.len() != 64 || !key.is_char_boundary(32) {
            return false;
        }
        let (random, tag) = key.split_at(32);
        let expected = self.tag(random);
        expected
            .bytes()
            .zip(tag.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

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
    pub fn from_headers(headers: &HeaderMap, admin: bool, keys: &Keys) -> Result<Self, ApiError> {
        let key = match headers.get(KEY_HEADER) {
            Some(value) => {
                let key = value
                    .to_str()
                    .ok()
                    .filter(|k| well_formed(k) && keys.issued(k))
                    .ok_or_else(|| {
                        ApiError::BadRequest(
                            "X-Restyle-Key must be a key this server issued (the `key` a submission returned)".into(),
                        )
                    })?;
                Some(key.to_owned())
            }
            // A cookie that is not a key of ours (an old or foreign one) is as good as none.
            None => cookie(headers, KEY_COOKIE).filter(|k| well_formed(k) && keys.issued(k)),
        };
        Ok(Self {
            key,
            issued: false,
            admin,
        })
    }

    /// Gives a viewer without a key a fresh one.
    pub fn ensure_key(&mut self, keys: &Keys) {
        if self.key.is_none() {
            self.key = Some(keys.issue());
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

    fn keys() -> Keys {
        Keys::new(b"a test secret")
    }

    #[test]
    fn a_viewer_sees_only_jobs_stored_with_their_key() {
        let mut a = Viewer::default();
        a.ensure_key(&keys());
        assert!(a.issued);
        let key = a.key().unwrap().to_owned();
        assert_eq!(key.len(), 64);
        let mut headers = HeaderMap::new();
        headers.insert(KEY_HEADER, HeaderValue::from_str(&key).unwrap());
        let same = Viewer::from_headers(&headers, false, &keys()).unwrap();
        assert!(same.may_see(a.owner().as_deref()));
        let mut b = Viewer::default();
        b.ensure_key(&keys());
        assert!(!b.may_see(a.owner().as_deref()));
        assert!(!Viewer::default().may_see(None));
        assert!(Viewer::from_headers(&HeaderMap::new(), true, &keys())
            .unwrap()
            .may_see(a.owner().as_deref()));
        assert_ne!(a.owner().unwrap(), key, "the key itself is not stored");
    }

    #[test]
    fn malformed_keys_are_refused_in_headers_and_ignored_in_cookies() {
        let mut headers = HeaderMap::new();
        headers.insert(KEY_HEADER, HeaderValue::from_static("short"));
        assert!(Viewer::from_headers(&headers, false, &keys()).is_err());
        let mut headers = HeaderMap::new();
        headers.insert(
            "cookie",
            HeaderValue::from_static("restyle_key=no spaces; x=1"),
        );
        assert!(Viewer::from_headers(&headers, false, &keys())
            .unwrap()
            .key()
            .is_none());
    }

    #[test]
    fn only_keys_this_server_issued_are_accepted() {
        let key = keys().issue();
        assert!(keys().issued(&key));
        assert!(!Keys::new(b"another server").issued(&key));
        for chosen in [
            "0000000000000000",
            "00000000000000000000000000000000",
            &"0".repeat(64),
            &format!("{}{}", &key[..32], "f".repeat(32)),
        ] {
            assert!(!keys().issued(chosen), "{chosen}");
            let mut headers = HeaderMap::new();
            headers.insert(KEY_HEADER, HeaderValue::from_str(chosen).unwrap());
            assert!(Viewer::from_headers(&headers, false, &keys()).is_err());
            let mut headers = HeaderMap::new();
            let cookie = format!("restyle_key={chosen}");
            headers.insert("cookie", HeaderValue::from_str(&cookie).unwrap());
            let v = Viewer::from_headers(&headers, false, &keys()).unwrap();
            assert!(v.key().is_none(), "a chosen cookie is as good as none");
        }
    }
}
