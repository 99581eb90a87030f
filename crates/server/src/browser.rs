//! The fast method in the visitor's browser: the files the page needs to paint an instant
//! picture itself (`GET /assets/web/{file}`), and the headers that let it use threads.
//!
//! The networks are restyle's own weights as ONNX (`tools/export_fast_onnx.py`), run by
//! onnxruntime-web (`web/`, copied in by `web/build.mjs`): its WebGPU build where the browser
//! offers a WebGPU adapter, else its WebAssembly build; `fast.js` does
//! around them what `restyle_fast::paint` does. All of it is embedded, so the page needs no
//! CDN, and `restyle site` writes the same files out for a static host.

use std::io::Read;

use axum::extract::{Path, Request};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The embedded files: name, bytes, content type, and whether the bytes are gzipped.
pub const FILES: &[(&str, &[u8], &str, bool)] = &[
    (
        "fast.js",
        include_bytes!("../assets/web/fast.js"),
        "text/javascript; charset=utf-8",
        false,
    ),
    (
        "live.js",
        include_bytes!("../assets/web/live.js"),
        "text/javascript; charset=utf-8",
        false,
    ),
    (
        "browser.js",
        include_bytes!("../assets/web/browser.js"),
        "text/javascript; charset=utf-8",
        false,
    ),
    (
        "ort.mjs",
        include_bytes!("../assets/web/ort.mjs"),
        "text/javascript; charset=utf-8",
        false,
    ),
    (
        "ort.wasm",
        include_bytes!("../assets/web/ort.wasm.gz"),
        "application/wasm",
        true,
    ),
    // The WebGPU runtime: only fetched by a browser that offers a WebGPU adapter.
    (
        "ort.webgpu.mjs",
        include_bytes!("../assets/web/ort.webgpu.mjs"),
        "text/javascript; charset=utf-8",
        false,
    ),
    (
        "ort.webgpu.wasm",
        include_bytes!("../assets/web/ort.webgpu.wasm.gz"),
        "application/wasm",
        true,
    ),
    (
        "style.onnx",
        include_bytes!("../assets/web/style.onnx"),
        "application/octet-stream",
        false,
    ),
    (
        "transformer.onnx",
        include_bytes!("../assets/web/transformer.onnx"),
        "application/octet-stream",
        false,
    ),
];

/// A file's bytes as a static host serves them (gzipped ones unpacked).
pub fn plain(bytes: &[u8], gzipped: bool) -> std::io::Result<Vec<u8>> {
    if !gzipped {
        return Ok(bytes.to_vec());
    }
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes).read_to_end(&mut out)?;
    Ok(out)
}

/// `GET /assets/web/{file}`.
pub async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    let Some(&(_, bytes, kind, gzipped)) = FILES.iter().find(|(name, ..)| *name == file) else {
        return crate::pages::not_found().await.into_response();
    };
    let cache = [
        (header::CONTENT_TYPE, kind),
        (header::CACHE_CONTROL, "public, max-age=3600"),
    ];
    let accepts_gzip = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
    if !gzipped {
        return (cache, bytes).into_response();
    }
    if accepts_gzip {
        return (cache, [(header::CONTENT_ENCODING, "gzip")], bytes).into_response();
    }
    match plain(bytes, true) {
        Ok(body) => (cache, body).into_response(),
        Err(e) => crate::ApiError::Internal(format!("unpacking {file}: {e}")).into_response(),
    }
}

/// Makes every page cross-origin isolated (COOP `same-origin`, COEP `require-corp`): the
/// browser then allows SharedArrayBuffer, which onnxruntime-web's threads need. The page
/// loads nothing from other origins, so nothing else changes. (The content security policy,
/// set by [`crate::guard`], allows `'wasm-unsafe-eval'`, without which the browser refuses
/// to compile WebAssembly; scripts stay this server's own.)
pub async fn isolate(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        "cross-origin-embedder-policy",
        HeaderValue::from_static("require-corp"),
    );
    response
}

/// `restyle site DIR`'s arguments.
#[derive(clap::Args, Debug, Clone)]
pub struct SiteArgs {
    /// The folder to write the site into (made if missing)
    pub dir: std::path::PathBuf,
    /// Replace files a previous `restyle site` wrote there
    #[arg(short = 'y', long)]
    pub overwrite: bool,
}

/// The static site's own page and script, beside [`FILES`].
const SITE_PAGE: &[u8] = include_bytes!("../assets/web/site.html");
const SITE_JS: &[u8] = include_bytes!("../assets/web/site.js");
const CSS: &[u8] = include_bytes!("../assets/app.css");
const ICON: &[u8] = include_bytes!("../assets/favicon.svg");

/// Netlify's and Cloudflare Pages' header file: the site cross-origin isolated there, so
/// onnxruntime-web may use threads (elsewhere it runs on one).
const HEADERS: &str =
    "/*\n  Cross-Origin-Opener-Policy: same-origin\n  Cross-Origin-Embedder-Policy: require-corp\n";

/// Writes the static site (`restyle site DIR`): a page that paints instant pictures and the
/// live camera in the browser with no restyle server behind it. Refuses to replace an
/// existing file unless `overwrite`. Returns the files written.
pub fn write_site(args: &SiteArgs) -> anyhow::Result<Vec<std::path::PathBuf>> {
    use anyhow::Context;
    let mut files: Vec<(String, Vec<u8>)> = vec![
        ("index.html".into(), SITE_PAGE.to_vec()),
        ("site.js".into(), SITE_JS.to_vec()),
        ("app.css".into(), CSS.to_vec()),
        ("favicon.svg".into(), ICON.to_vec()),
        ("_headers".into(), HEADERS.as_bytes().to_vec()),
    ];
    for &(name, bytes, _, gzipped) in FILES {
        if name != "browser.js" {
            let body = plain(bytes, gzipped).with_context(|| format!("unpacking {name}"))?;
            files.push((name.into(), body));
        }
    }
    let mut presets = Vec::new();
    for p in crate::styles::PRESETS {
        files.push((format!("styles/{}.jpg", p.name), p.jpeg.to_vec()));
        files.push((
            format!("styles/{}-thumb.jpg", p.name),
            p.thumbnail().to_vec(),
        ));
        presets.push(serde_json::json!({ "name": p.name, "title": p.title, "artist": p.artist }));
    }
    files.push(("styles.json".into(), serde_json::to_vec(&presets)?));
    if !args.overwrite {
        if let Some((name, _)) = files.iter().find(|(n, _)| args.dir.join(n).exists()) {
            anyhow::bail!(
                "{} already exists (use --overwrite to replace the site's files)",
                args.dir.join(name).display()
            );
        }
    }
    let mut written = Vec::new();
    for (name, bytes) in files {
        let path = args.dir.join(&name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}
