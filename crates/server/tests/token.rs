//! The token page: a POST form whose values are URL-decoded (a token with
//! `@`, a space or `+` works), a session cookie that is not the token and
//! lasts a week, `Secure` behind HTTPS, and no redirect off the server.

use restyle_test_support::http::client_with_key;
use restyle_test_support::TestServer;

const TOKEN: &str = "me@home + you";

fn form_body(token: &str, next: &str) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                    (b as char).to_string()
                }
                b' ' => "+".to_owned(),
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    format!("token={}&next={}", enc(token), enc(next))
}

async fn sign_in(s: &TestServer, body: String, extra: &[(&str, &str)]) -> reqwest::Response {
    let mut r = client_with_key(None)
        .post(s.url("/token"))
        .header("content-type", "application/x-www-form-urlencoded");
    for (k, v) in extra {
        r = r.header(*k, *v);
    }
    r.body(body).send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_form_posts_and_sets_a_short_lived_cookie_that_is_not_the_token() {
    let s = TestServer::start(&["--workers", "0", "--token", TOKEN]).await;
    let anonymous = client_with_key(None);
    let page = anonymous.get(s.url("/jobs/abc")).send().await.unwrap();
    assert_eq!(page.status(), 401);
    let html = page.text().await.unwrap();
    assert!(
        html.contains(r#"method="post""#) && html.contains(r#"action="/token""#),
        "{html}"
    );
    assert!(html.contains(r#"name="next" value="/jobs/abc""#), "{html}");

    let wrong = sign_in(&s, form_body("me@home", "/"), &[]).await;
    assert_eq!(wrong.status(), 401);
    assert!(wrong.text().await.unwrap().contains("not right"));

    let ok = sign_in(&s, form_body(TOKEN, "/jobs/abc"), &[]).await;
    assert_eq!(ok.status(), 303);
    assert_eq!(ok.headers()["location"], "/jobs/abc");
    let set = ok.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(set.starts_with("restyle_session="), "{set}");
    assert!(
        !set.contains("home") && !set.contains("%40"),
        "not the token: {set}"
    );
    assert!(
        set.contains("HttpOnly") && set.contains("Max-Age=604800"),
        "{set}"
    );
    assert!(!set.contains("Secure"), "plain HTTP: {set}");
    let cookie = set.split(';').next().unwrap();
    let api = anonymous
        .get(s.url("/api/jobs"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 200);

    let behind_https = sign_in(&s, form_body(TOKEN, "/"), &[("x-forwarded-proto", "https")]).await;
    assert!(behind_https.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("; Secure"));

    // A link with the token, percent-encoded, works once and leaves the address bar.
    let link = anonymous
        .get(s.url("/?token=me%40home+%2B+you"))
        .send()
        .await
        .unwrap();
    assert!(link.status().is_redirection(), "{}", link.status());
    assert_eq!(link.headers()["location"], "/");
    assert!(link.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .starts_with("restyle_session="));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_never_redirects_off_the_server() {
    let s = TestServer::start(&["--workers", "0", "--token", "T0ken"]).await;
    let anonymous = client_with_key(None);
    let link = anonymous
        .get(s.url("//evil.example/?token=T0ken"))
        .send()
        .await
        .unwrap();
    let location = link.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with('/') && !location.starts_with("//"),
        "{location}"
    );
    for next in [
        "//evil.example/",
        "/\\evil.example",
        "https://evil.example/",
    ] {
        let r = sign_in(&s, form_body("T0ken", next), &[]).await;
        assert_eq!(r.headers()["location"], "/", "{next}");
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_https_public_url_makes_the_cookies_secure() {
    let s = TestServer::start(&[
        "--workers",
        "0",
        "--token",
        "T0ken",
        "--public-url",
        "https://restyle.example.org/",
    ])
    .await;
    let r = sign_in(&s, form_body("T0ken", "/"), &[]).await;
    assert!(r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("; Secure"));
    s.stop().await;
}
