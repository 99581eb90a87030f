//! Which names this server answers to, and which pages may change its
//! state. A `Host` header must be an IP address, `localhost`, or the host
//! of `--public-url`: a page on another name that resolves to this machine
//! (DNS rebinding) is refused. A browser request that changes something
//! (anything but GET and HEAD) must come from this server's own pages:
//! its `Origin` (or `Sec-Fetch-Site`) is checked, so a form on another
//! site cannot post here.

use std::net::IpAddr;

use axum::http::{header, HeaderMap, Method, Uri};

use crate::error::ApiError;

/// The names and origin this server accepts.
#[derive(Clone, Debug, Default)]
pub struct Origins {
    /// `--public-url`'s host (lower case) and authority (`host[:port]`).
    public: Option<(String, String)>,
    /// `--public-url` is https.
    pub https: bool,
}

impl Origins {
    /// From `--public-url` (`https://restyle.example.org/`), if given.
    pub fn new(public_url: Option<&str>) -> Result<Self, String> {
        let Some(url) = public_url else {
            return Ok(Self::default());
        };
        let uri: Uri = url.parse().map_err(|_| {
            format!("--public-url must be a URL such as https://restyle.example.org/, not `{url}`")
        })?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => {
                return Err(format!(
                    "--public-url must start with http:// or https://, not `{url}`"
                ))
            }
        };
        let authority = uri
            .authority()
            .ok_or_else(|| format!("--public-url has no host: `{url}`"))?;
        Ok(Self {
            public: Some((
                authority.host().to_ascii_lowercase(),
                authority.as_str().to_ascii_lowercase(),
            )),
            https,
        })
    }

    /// Refuses a `Host` this server does not answer to.
    pub fn check_host(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        // HTTP/1.0 clients may send none; browsers always do.
        let Some(host) = headers.get(header::HOST) else {
            return Ok(());
        };
        let host = host.to_str().unwrap_or("");
        let name = host_name(host);
        let known = name.parse::<IpAddr>().is_ok()
            || name == "localhost"
            || name.ends_with(".localhost")
            || self.public.as_ref().is_some_and(|(h, _)| *h == name);
        if known {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "this server does not answer to the name `{host}`: start it with --public-url http://{host}/ (or https://) to allow it"
            )))
        }
    }

    /// Refuses a state-changing request a browser sent from another site.
    pub fn check_origin(&self, method: &Method, headers: &HeaderMap) -> Result<(), ApiError> {
        if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
            return Ok(());
        }
        let refuse = |what: &str| {
            Err(ApiError::Forbidden(format!(
                "a request from another site ({what}) may not change anything here"
            )))
        };
        if let Some(origin) = headers.get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or("null");
            let authority = origin
                .parse::<Uri>()
                .ok()
                .and_then(|u| u.authority().map(|a| a.as_str().to_ascii_lowercase()));
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(|h| h.to_ascii_lowercase());
            let same = authority.as_ref().is_some_and(|a| {
                Some(a) == host.as_ref() || self.public.as_ref().is_some_and(|(_, p)| p == a)
            });
            return if same {
                Ok(())
            } else {
                refuse(&format!("Origin {origin}"))
            };
        }
        // Browsers that send no Origin still say where a request came from.
        match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
            Some("same-origin") | Some("none") | None => Ok(()),
            Some(other) => refuse(&format!("Sec-Fetch-Site {other}")),
        }
    }
}

/// Whether the request came over HTTPS: `--public-url` says so, or a
/// proxy in front does (`X-Forwarded-Proto`). Only decides the cookies'
/// `Secure` flag, so trusting the header cannot weaken anything.
pub fn is_https(origins: &Origins, headers: &HeaderMap) -> bool {
    origins.https
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
}

/// The host name of a `Host` header: without the port, IPv6 without brackets.
fn host_name(host: &str) -> String {
    let host = host.trim().to_ascii_lowercase();
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("").to_owned();
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name.to_owned(),
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn hosts_are_addresses_localhost_or_the_public_name() {
        let local = Origins::new(None).unwrap();
        for ok in [
            "127.0.0.1:8080",
            "localhost:1",
            "[::1]:80",
            "10.0.0.7",
            "app.localhost",
        ] {
            assert!(local.check_host(&headers(&[("host", ok)])).is_ok(), "{ok}");
        }
        assert!(local
            .check_host(&headers(&[("host", "rebind.example:8080")]))
            .is_err());
        let public = Origins::new(Some("https://Restyle.Example.org/")).unwrap();
        assert!(public.https);
        assert!(public
            .check_host(&headers(&[("host", "restyle.example.org")]))
            .is_ok());
        assert!(public
            .check_host(&headers(&[("host", "evil.example")]))
            .is_err());
        assert!(Origins::new(Some("ftp://x/")).is_err());
    }

    #[test]
    fn only_same_origin_browsers_may_change_state() {
        let o = Origins::new(None).unwrap();
        let post = Method::POST;
        let same = headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080"),
        ]);
        assert!(o.check_origin(&post, &same).is_ok());
        let cross = headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "https://evil.example"),
        ]);
        assert!(o.check_origin(&post, &cross).is_err());
        assert!(o.check_origin(&Method::GET, &cross).is_ok());
        let null = headers(&[("host", "127.0.0.1:8080"), ("origin", "null")]);
        assert!(o.check_origin(&Method::DELETE, &null).is_err());
        let fetch = headers(&[("host", "127.0.0.1:8080"), ("sec-fetch-site", "cross-site")]);
        assert!(o.check_origin(&post, &fetch).is_err());
        let script = headers(&[("host", "127.0.0.1:8080")]);
        assert!(
            o.check_origin(&post, &script).is_ok(),
            "curl sends no Origin"
        );
    }
}
