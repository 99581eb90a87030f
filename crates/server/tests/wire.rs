//! The wire under abuse, on loopback: a slowloris of 130 connections that
//! never finish their headers, a body that trickles, a declared body far
//! over the limit, and a stop with a slow upload under way. Bounded: every
//! wait has a limit, every connection is closed at the end.

use std::time::Duration;

use restyle_test_support::TestServer;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn address(s: &TestServer) -> String {
    s.url.trim_start_matches("http://").to_owned()
}

/// Everything the server sends until it closes the connection (or `limit`).
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> String {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(limit, stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// The status code of a raw HTTP answer.
fn status_of(answer: &str) -> u16 {
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"))
}

/// The JSON body of a raw HTTP answer (one chunk, or not chunked).
fn json_of(answer: &str) -> Value {
    let (start, end) = (answer.find('{'), answer.rfind('}'));
    let body = match (start, end) {
        (Some(s), Some(e)) if s < e => &answer[s..=e],
        _ => "",
    };
    serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {answer:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_dropped_and_health_answers_under_a_slowloris() {
    let s = TestServer::start(&[
        "--workers",
        "0",
        "--max-connections",
        "64",
        "--header-timeout",
        "2",
    ])
    .await;
    let address = address(&s);
    // 130 connections that start a request and never finish its headers.
    let mut slow = Vec::new();
    for _ in 0..130 {
        let mut c = TcpStream::connect(&address).await.unwrap();
        c.write_all(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: a")
            .await
            .unwrap();
        slow.push(c);
    }
    // Health answers while they hang, each time on a new connection.
    for _ in 0..5 {
        let fresh = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        let r = fresh
            .get(s.url("/api/health"))
            .send()
            .await
            .expect("health answers under the slowloris");
        assert_eq!(r.status(), 200);
        let health: Value = r.json().await.unwrap();
        assert_eq!(health["ok"], true);
        for c in slow.iter_mut() {
            let _ = c.write_all(b"b").await; // a byte now and then, as slowloris does
        }
    }
    // Every slow connection is closed by the server.
    for (i, c) in slow.iter_mut().enumerate() {
        let mut buf = [0u8; 256];
        let read = tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                match c.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => continue, // a 408 or 400 before the close is fine
                }
            }
        })
        .await;
        assert!(read.is_ok(), "slow connection {i} is still open");
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_body_over_the_limit_is_refused_before_it_is_sent() {
    let s = TestServer::start(&["--workers", "0", "--max-upload-mb", "1"]).await;
    let mut c = TcpStream::connect(address(&s)).await.unwrap();
    c.write_all(
        b"POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\n\
          Content-Type: multipart/form-data; boundary=x\r\n\
          Content-Length: 999999999999\r\n\r\n",
    )
    .await
    .unwrap();
    // Not a byte of the body is sent: the answer must come anyway.
    let answer = read_until_closed(&mut c, Duration::from_secs(20)).await;
    assert_eq!(status_of(&answer), 413, "{answer}");
    let error = json_of(&answer)["error"].as_str().unwrap().to_owned();
    assert!(error.contains("at most 1 MB"), "{error}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_trickles_is_cut_off_with_408() {
    let s = TestServer::start(&["--workers", "0", "--body-timeout", "3"]).await;
    let c = TcpStream::connect(address(&s)).await.unwrap();
    let (mut read, mut write) = c.into_split();
    write
        .write_all(
            b"POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\n\
              Content-Type: multipart/form-data; boundary=x\r\n\
              Content-Length: 100000\r\n\r\n--x\r\n",
        )
        .await
        .unwrap();
    let trickle = tokio::spawn(async move {
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            if write.write_all(b"a").await.is_err() {
                return;
            }
        }
    });
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), read.read_to_end(&mut out)).await;
    trickle.abort();
    let answer = String::from_utf8_lossy(&out);
    assert_eq!(status_of(&answer), 408, "{answer}");
    assert!(
        json_of(&answer)["error"]
            .as_str()
            .unwrap()
            .contains("too slowly"),
        "{answer}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_takes_a_bounded_time_with_a_slow_upload_under_way() {
    let s = TestServer::start(&["--workers", "0"]).await;
    let c = TcpStream::connect(address(&s)).await.unwrap();
    let (_read, mut write) = c.into_split();
    write
        .write_all(
            b"POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\n\
              Content-Type: multipart/form-data; boundary=x\r\n\
              Content-Length: 10000000\r\n\r\n--x\r\n",
        )
        .await
        .unwrap();
    // Fast enough to stay within the minimum rate, far too slow to finish.
    let trickle = tokio::spawn(async move {
        let chunk = vec![b'a'; 32 * 1024];
        for _ in 0..600 {
            if write.write_all(&chunk).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    tokio::time::timeout(Duration::from_secs(30), s.stop())
        .await
        .expect("the server stops although an upload is under way");
    trickle.abort();
}
