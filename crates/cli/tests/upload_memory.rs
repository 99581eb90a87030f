//! Uploads held in memory, every client together, stay within
//! `--upload-memory`: twenty connections each sending 8 MB of
//! a part and never its closing boundary grow the server's peak memory
//! (VmHWM) by less than the budget and a margin, not by the 160 MB sent;
//! those over the budget get a 503, and health answers throughout.

use std::time::Duration;

use restyle_test_support::process::{rss, Proc};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const BUDGET: u64 = 48 << 20;
const PART: usize = 8 << 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_uploads_stay_within_the_upload_memory() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (server, url) = Proc::serve(
        &[
            "--data",
            data.to_str().unwrap(),
            "--workers",
            "0",
            "--upload-memory",
            "48M",
            "--max-upload-mb",
            "10",
            // Twenty at once from one address.
            "--max-uploads-per-client",
            "100",
        ],
        &dir.path().join("serve.log"),
    );
    let address = url.trim_start_matches("http://").to_owned();
    let (_, before) = rss(server.child.id());
    let mut held = Vec::new();
    let mut refused = 0;
    for _ in 0..20 {
        let mut c = TcpStream::connect(&address).await.unwrap();
        let head = format!(
            "POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\n\
             Content-Type: multipart/form-data; boundary=XX\r\nContent-Length: {}\r\n\r\n\
             --XX\r\nContent-Disposition: form-data; name=\"content\"; filename=\"a.png\"\r\n\r\n",
            PART + 1000
        );
        c.write_all(head.as_bytes()).await.unwrap();
        // Written in pieces: a refused upload's connection closes under it.
        let piece = vec![7u8; 1 << 20];
        let mut closed = false;
        for _ in 0..PART / piece.len() {
            if c.write_all(&piece).await.is_err() {
                closed = true;
                break;
            }
        }
        // The answer, if one came (a refusal), within a moment.
        let mut answer = [0u8; 256];
        if let Ok(Ok(k)) =
            tokio::time::timeout(Duration::from_millis(300), c.read(&mut answer)).await
        {
            let text = String::from_utf8_lossy(&answer[..k]);
            if text.starts_with("HTTP/1.1 503") {
                refused += 1;
                continue;
            }
            closed |= k == 0;
        }
        if closed {
            refused += 1;
        } else {
            held.push(c);
        }
    }
    let health = reqwest::get(format!("{url}/api/health")).await.unwrap();
    assert_eq!(health.status(), 200);
    let (_, after) = rss(server.child.id());
    let grown = after.saturating_sub(before);
    println!(
        "20 stalled 8 MB uploads: {} held, {refused} refused; peak RSS grew by {} MiB (budget {} MiB)",
        held.len(),
        grown >> 20,
        BUDGET >> 20
    );
    assert!(refused > 0, "some were refused");
    assert!(
        grown < BUDGET + (40 << 20),
        "peak RSS grew by {} MiB",
        grown >> 20
    );
    drop(held);
}
