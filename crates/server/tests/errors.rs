//! Every API error is `{"error": "..."}` with a 4xx or 5xx status, even
//! where axum itself answers (a body that is not a form, a bad query, a
//! path that is not text, a wrong method); one unreadable row does not
//! break the listings; caching headers fit: job state is never stored,
//! images only revalidated, nothing is served once the job is deleted, and
//! a finished job's preview is gone.

use std::time::Duration;

use restyle_test_support::http::{error_of, small_job};
use restyle_test_support::TestServer;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_is_json_with_one_shape() {
    let s = TestServer::start(&["--workers", "0"]).await;
    let c = &s.client;
    let (status, message) = error_of(
        c.post(s.url("/api/jobs"))
            .header("content-type", "text/plain")
            .body("hello")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400);
    assert!(message.contains("multipart/form-data"), "{message}");
    let (status, message) =
        error_of(c.get(s.url("/api/jobs?limit=abc")).send().await.unwrap()).await;
    assert_eq!(status, 400);
    assert!(message.contains("limit"), "{message}");
    for path in [
        "/api/jobs/%FF",
        "/api/jobs/%FF/result",
        "/api/jobs/%FF/content",
        "/api/no/such/thing",
    ] {
        let (status, _) = error_of(c.get(s.url(path)).send().await.unwrap()).await;
        assert_eq!(status, 404, "{path}");
    }
    let r = c.put(s.url("/api/jobs")).send().await.unwrap();
    assert!(r.headers().contains_key("allow"));
    let (status, _) = error_of(r).await;
    assert_eq!(status, 405);
    let (status, _) = error_of(c.delete(s.url("/api/health")).send().await.unwrap()).await;
    assert_eq!(status, 405);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_unreadable_row_does_not_break_the_listings() {
    let s = TestServer::start(&["--workers", "0"]).await;
    let good = s.submit_ok(small_job(48, 5)).await;
    // A row written by something else, or damaged: its settings are not JSON.
    let db = format!("sqlite://{}", s.data.path().join("restyle.db").display());
    let pool = sqlx::SqlitePool::connect(&db).await.unwrap();
    sqlx::query(
        "INSERT INTO jobs (id, state, settings, created_ms, owner) VALUES ($1, 'queued', '{oops', 0, $2)",
    )
    .bind("0123456789abcdef0123456789abcdef")
    .bind(restyle_server::viewer::owner_of(&s.key))
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;

    let r = s.client.get(s.url("/api/jobs")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let list: Value = r.json().await.unwrap();
    let ids: Vec<&str> = list["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [good.as_str()]);
    let page = s
        .client
        .get(s.url("/"))
        .header("cookie", format!("restyle_key={}", s.key))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains(&good));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caching_fits_and_nothing_outlives_a_delete_or_a_finished_job() {
    let s = TestServer::start(&[]).await;
    let id = s.submit_ok(small_job(32, 3)).await;
    let job = s
        .wait_for(&id, Duration::from_secs(120), |j| j["state"] == "done")
        .await;
    let c = &s.client;
    for path in [
        format!("/api/jobs/{id}"),
        "/api/jobs".to_owned(),
        format!("/api/jobs/{id}/events"),
    ] {
        let r = c.get(s.url(&path)).send().await.unwrap();
        assert_eq!(r.headers()["cache-control"], "no-store", "{path}");
    }
    // A finished job shows its result, not a preview.
    assert!(job["preview_url"].is_null(), "{job}");
    let (status, _) = error_of(
        c.get(s.url(&format!("/api/jobs/{id}/preview")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 404);

    let mut tags = Vec::new();
    for kind in ["result", "content", "style"] {
        let url = s.url(&format!("/api/jobs/{id}/{kind}"));
        let r = c.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 200, "{kind}");
        assert_eq!(r.headers()["cache-control"], "private, no-cache", "{kind}");
        let tag = r.headers()["etag"].to_str().unwrap().to_owned();
        let again = c
            .get(&url)
            .header("if-none-match", &tag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{kind}: revalidated");
        tags.push((url, tag));
    }
    let deleted = c
        .delete(s.url(&format!("/api/jobs/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    for (url, tag) in tags {
        let r = c
            .get(&url)
            .header("if-none-match", &tag)
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            404,
            "{url}: gone after the delete, cached copy or not"
        );
    }
    s.stop().await;
}
