//! A `restyle serve` in the test's own process, on a free loopback port.

use std::time::Duration;

use clap::Parser;
use restyle_server::{ServeArgs, Server};
use serde_json::Value;

use crate::http::{self, client_with_key, issued_key};

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    serve: ServeArgs,
}

/// A server with its own data directory, and a client of it.
pub struct TestServer {
    /// The server, until it is stopped.
    pub server: Option<Server>,
    /// Its address, `http://127.0.0.1:PORT`.
    pub url: String,
    /// A client with its own submitter key (`X-Restyle-Key`).
    pub client: reqwest::Client,
    /// That key.
    pub key: String,
    /// Its data directory, removed when dropped.
    pub data: tempfile::TempDir,
}

impl TestServer {
    /// A server with its own data directory; `extra` are `restyle serve` flags.
    pub async fn start(extra: &[&str]) -> Self {
        let data = tempfile::tempdir().unwrap();
        let server = serve(&data, extra).await;
        let url = format!("http://{}", server.addr());
        // A server with a token issues a key to whoever brings it.
        let token = extra
            .iter()
            .position(|a| *a == "--admin-token" || *a == "--token")
            .map(|i| extra[i + 1]);
        let key = issued_key(&url, token).await;
        Self {
            server: Some(server),
            url,
            client: client_with_key(Some(&key)),
            key,
            data,
        }
    }

    /// The address of `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// `GET path` on this server, as its client.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// The JSON that `GET path` answers.
    pub async fn get_json(&self, path: &str) -> Value {
        self.get(path).await.json().await.unwrap()
    }

    /// `POST path` with no body.
    pub async fn post(&self, path: &str) -> reqwest::Response {
        self.client.post(self.url(path)).send().await.unwrap()
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str) -> reqwest::Response {
        self.client.delete(self.url(path)).send().await.unwrap()
    }

    /// The health check (`GET /api/health`).
    pub async fn health(&self) -> Value {
        self.get_json("/api/health").await
    }

    /// The jobs this client sees (`GET /api/jobs`).
    pub async fn jobs(&self) -> Vec<Value> {
        self.get_json("/api/jobs").await["jobs"]
            .as_array()
            .expect("a list of jobs")
            .clone()
    }

    /// Asks to cancel job `id`.
    pub async fn cancel(&self, id: &str) -> reqwest::Response {
        self.post(&format!("/api/jobs/{id}/cancel")).await
    }

    /// Job `id`'s result, which must answer 200.
    pub async fn result(&self, id: &str) -> Vec<u8> {
        let r = self.get(&format!("/api/jobs/{id}/result")).await;
        assert_eq!(r.status(), 200, "job {id}'s result");
        r.bytes().await.unwrap().to_vec()
    }

    /// Another submitter key this server issued.
    pub async fn new_key(&self) -> String {
        issued_key(&self.url, None).await
    }

    /// Submits `form` as a job (see [`http::submit`]).
    pub async fn submit(&self, form: reqwest::multipart::Form) -> reqwest::Response {
        http::submit(&self.client, &self.url, form).await
    }

    /// Submits and expects 201; returns the id.
    pub async fn submit_ok(&self, form: reqwest::multipart::Form) -> String {
        http::submit_ok(&self.client, &self.url, form).await
    }

    /// Job `id` (see [`http::job`]).
    pub async fn job(&self, id: &str) -> Value {
        http::job(&self.client, &self.url, id).await
    }

    /// The job's page (`/jobs/{id}`), which must answer 200.
    pub async fn job_page(&self, id: &str) -> String {
        let page = self
            .client
            .get(self.url(&format!("/jobs/{id}")))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        page.text().await.unwrap()
    }

    /// Polls job `id` until `done(job)` (see [`http::wait_for`]).
    pub async fn wait_for(
        &self,
        id: &str,
        timeout: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        http::wait_for(&self.client, &self.url, id, timeout, done).await
    }

    /// Polls job `id` until it has ended ([`http::is_final`]).
    pub async fn wait_until_final(&self, id: &str, timeout: Duration) -> Value {
        self.wait_for(id, timeout, http::is_final).await
    }

    /// Submits `form`, expects 201, and waits until the job is done (not failed, not
    /// cancelled); returns its id and the job.
    pub async fn submit_until_done(
        &self,
        form: reqwest::multipart::Form,
        timeout: Duration,
    ) -> (String, Value) {
        let id = self.submit_ok(form).await;
        let job = self.wait_until_final(&id, timeout).await;
        assert_eq!(job["state"], "done", "{job}");
        (id, job)
    }

    /// Stops this server and starts another on the same data directory, for the
    /// same submitter; `extra` are the new server's flags.
    pub async fn restart(mut self, extra: &[&str]) -> Self {
        if let Some(s) = self.server.take() {
            s.stop().await.unwrap();
        }
        let server = serve(&self.data, extra).await;
        self.url = format!("http://{}", server.addr());
        self.server = Some(server);
        self
    }

    /// Stops the server.
    pub async fn stop(mut self) {
        if let Some(s) = self.server.take() {
            s.stop().await.unwrap();
        }
    }
}

/// A server on a free loopback port keeping its data in `data`; `extra` are its flags.
async fn serve(data: &tempfile::TempDir, extra: &[&str]) -> Server {
    let dir = data.path().to_str().unwrap().to_owned();
    // The tests' executable has no `instant-painter` to run: pictures painted here.
    let mut args = vec![
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data",
        &dir,
        "--instant-painter",
        restyle_server::config::IN_PROCESS,
    ];
    args.extend_from_slice(extra);
    Server::start(Cli::parse_from(args).serve)
        .await
        .expect("the server starts")
}
