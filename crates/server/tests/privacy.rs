//! Jobs are private to whoever submitted them: another submitter (or
//! someone without a key) cannot list, see, stream, download, cancel or
//! delete them; the operator sees all, and only the operator sees which
//! worker ran a job. Host names other than this server's and cross-site
//! requests that change state are refused.

use std::time::Duration;

use reqwest::StatusCode;
use restyle_test_support::http::{client_with_key, small_job};
use restyle_test_support::TestServer;
use serde_json::Value;

async fn json(r: reqwest::Response) -> (StatusCode, Value) {
    let status = r.status();
    (status, r.json().await.expect("a JSON answer"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_submitter_cannot_list_or_fetch_the_first_ones_job() {
    let s = TestServer::start(&["--workers", "0"]).await;
    let id = s.submit_ok(small_job(48, 5)).await;
    let (_, mine) = json(s.client.get(s.url("/api/jobs")).send().await.unwrap()).await;
    assert_eq!(mine["jobs"].as_array().unwrap().len(), 1);

    for (who, client) in [
        (
            "another submitter",
            client_with_key(Some(&s.new_key().await)),
        ),
        ("no key at all", client_with_key(None)),
    ] {
        let (status, list) = json(client.get(s.url("/api/jobs")).send().await.unwrap()).await;
        assert_eq!(status, 200);
        assert_eq!(list["jobs"], serde_json::json!([]), "{who} lists nothing");
        for path in ["", "/events", "/result", "/content", "/style", "/preview"] {
            let r = client
                .get(s.url(&format!("/api/jobs/{id}{path}")))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 404, "{who}: GET {path}");
        }
        let cancel = client
            .post(s.url(&format!("/api/jobs/{id}/cancel")))
            .send()
            .await
            .unwrap();
        assert_eq!(cancel.status(), 404, "{who}: cancel");
        let delete = client
            .delete(s.url(&format!("/api/jobs/{id}")))
            .send()
            .await
            .unwrap();
        assert_eq!(delete.status(), 404, "{who}: delete");
        let page = client
            .get(s.url(&format!("/jobs/{id}")))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 404, "{who}: the job's page");
    }
    assert_eq!(s.job(&id).await["state"], "queued", "untouched");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_gets_a_key_cookie_and_its_gallery_shows_only_its_own_jobs() {
    let s = TestServer::start(&["--workers", "0"]).await;
    let browser = client_with_key(None);
    let page = browser.get(s.url("/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let set = page.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(set.starts_with("restyle_key="), "{set}");
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Lax"),
        "{set}"
    );
    let cookie = set.split(';').next().unwrap().to_owned();

    // The page's own submission, with its cookie, answers with the same key.
    let r = browser
        .post(s.url("/api/jobs"))
        .header("cookie", &cookie)
        .multipart(small_job(48, 5))
        .send()
        .await
        .unwrap();
    let (status, created) = json(r).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(
        format!("restyle_key={}", created["key"].as_str().unwrap()),
        cookie
    );
    let other = s.submit_ok(small_job(48, 5)).await;

    let gallery = browser
        .get(s.url("/"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(gallery.contains(&format!("/jobs/{id}")), "its own job");
    assert!(!gallery.contains(&other), "not another's");
    let stranger = client_with_key(None)
        .get(s.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!stranger.contains(&id) && !stranger.contains(&other));
    assert!(stranger.contains("No pictures yet"));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_sees_every_job_and_only_the_operator_sees_the_worker() {
    let s = TestServer::start(&["--admin-token", "operator-secret"]).await;
    let id = s.submit_ok(small_job(32, 2)).await;
    let done = s
        .wait_for(&id, Duration::from_secs(120), |j| j["state"] == "done")
        .await;
    assert!(
        done.get("worker").is_none(),
        "no host:pid for the submitter: {done}"
    );

    let operator = client_with_key(None);
    let (status, list) = json(
        operator
            .get(s.url("/api/jobs"))
            .bearer_auth("operator-secret")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(list["jobs"][0]["id"], id.as_str());
    let worker = list["jobs"][0]["worker"]
        .as_str()
        .expect("the worker, for the operator");
    assert!(worker.contains(':'), "{worker}");
    let (status, _) = json(
        operator
            .get(s.url(&format!("/api/jobs/{id}")))
            .bearer_auth("wrong")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        status, 404,
        "a wrong operator token is a visitor without a key"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_host_names_and_cross_site_changes_are_refused() {
    let s = TestServer::start(&["--workers", "0", "--public-url", "http://restyle.test/"]).await;
    let port = s.url.rsplit(':').next().unwrap().to_owned();
    for (host, allowed) in [
        (format!("127.0.0.1:{port}"), true),
        (format!("localhost:{port}"), true),
        ("restyle.test".to_owned(), true),
        (format!("rebind.example:{port}"), false),
    ] {
        let r = s
            .client
            .get(s.url("/api/jobs"))
            .header("host", &host)
            .send()
            .await
            .unwrap();
        let (status, body) = json(r).await;
        if allowed {
            assert_eq!(status, 200, "{host}: {body}");
        } else {
            assert_eq!(status, 403, "{host}: {body}");
            assert!(
                body["error"].as_str().unwrap().contains("--public-url"),
                "{body}"
            );
        }
    }

    // A form on another site posting here.
    let (status, body) = json(
        s.client
            .post(s.url("/api/jobs"))
            .header("origin", "https://evil.example")
            .multipart(small_job(48, 5))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let id = s.submit_ok(small_job(48, 5)).await;
    for origin in ["null", "http://evil.example"] {
        let r = s
            .client
            .delete(s.url(&format!("/api/jobs/{id}")))
            .header("origin", origin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{origin}");
    }
    let r = s
        .client
        .post(s.url("/api/jobs"))
        .header("sec-fetch-site", "cross-site")
        .multipart(small_job(48, 5))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // The page's own requests carry its origin and pass.
    let r = s
        .client
        .post(s.url(&format!("/api/jobs/{id}/cancel")))
        .header("origin", s.url.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    s.stop().await;
}
