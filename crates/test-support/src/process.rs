//! The real `restyle serve` and `restyle worker` processes, and a client of
//! them.

use std::io::{BufRead, BufReader, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cli::restyle_bin;
use crate::http::{self, small_job};

/// A `restyle` process, killed (SIGKILL) when dropped.
pub struct Proc {
    /// The process.
    pub child: Child,
    /// Where its standard error goes.
    pub log: PathBuf,
    /// What it printed first on standard output.
    pub first_line: String,
}

impl Proc {
    /// Starts `restyle ARGS`, logging to `log`; waits for its first line.
    pub fn start(args: &[&str], log: &Path) -> Self {
        let mut command = Command::new(restyle_bin());
        command.args(args);
        Self::spawn(command, args, log)
    }

    /// `restyle serve ARGS` with the process's file limit set to `files`
    /// (through the shell's `ulimit`); returns it and its URL.
    pub fn serve_with_file_limit(files: u32, args: &[&str], log: &Path) -> (Self, String) {
        let mut all = vec!["serve", "--listen", "127.0.0.1:0"];
        all.extend_from_slice(args);
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(format!("ulimit -n {files} && exec \"$0\" \"$@\""))
            .arg(restyle_bin())
            .args(&all);
        let p = Self::spawn(command, &all, log);
        let url = p.url();
        (p, url)
    }

    fn spawn(mut command: Command, args: &[&str], log: &Path) -> Self {
        let err = std::fs::File::create(log).unwrap();
        let mut child = command
            .env("RESTYLE_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(err)
            .spawn()
            .expect("restyle starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(
            !line.is_empty(),
            "restyle {args:?} printed nothing: {}",
            std::fs::read_to_string(log).unwrap()
        );
        Self {
            child,
            log: log.to_owned(),
            first_line: line.trim().to_owned(),
        }
    }

    /// `restyle serve ARGS` on a free loopback port; returns it and its URL.
    pub fn serve(args: &[&str], log: &Path) -> (Self, String) {
        let mut all = vec!["serve", "--listen", "127.0.0.1:0"];
        all.extend_from_slice(args);
        let p = Self::start(&all, log);
        let url = p.url();
        (p, url)
    }

    /// `restyle serve FLAGS` on a free loopback port, its data in `dir/data` and its log
    /// in `dir/serve.log`; returns it and its URL.
    pub fn serve_in(dir: &Path, flags: &[&str]) -> (Self, String) {
        let data = dir.join("data");
        let mut args = vec!["--data", data.to_str().unwrap()];
        args.extend_from_slice(flags);
        Self::serve(&args, &dir.join("serve.log"))
    }

    /// The URL a server printed it listens on (its first line's last word).
    fn url(&self) -> String {
        let url = self.first_line.rsplit(' ').next().unwrap().to_owned();
        assert!(url.starts_with("http://127.0.0.1:"), "{}", self.first_line);
        url
    }

    /// Kills the process (SIGKILL) and waits for it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits (at most `limit`) for the exit status.
    pub fn terminate(&mut self, limit: Duration) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                start.elapsed() < limit,
                "no exit within {limit:?} of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What the process has logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A process's current and peak resident memory, bytes (Linux's VmRSS and
/// VmHWM).
pub fn rss(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("process {pid}'s status: {e}"));
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map(|kb| kb * 1024)
            .unwrap_or_else(|| panic!("no {name} in process {pid}'s status"))
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// The processes `pid` started that still run (Linux's `/proc/PID/task/*/children`).
pub fn children(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let mut ids: Vec<u32> = tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("children")).ok())
        .flat_map(|list| {
            list.split_whitespace()
                .filter_map(|id| id.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// A submitter key issued by the server at `url` (its page sets it as a
/// cookie), asked for with `extra` headers (a token). Plain blocking HTTP,
/// so that a client is made without a runtime: once a client.
fn issued_key_blocking(url: &str, extra: &[(&'static str, &str)]) -> String {
    let address = url.trim_start_matches("http://");
    let mut c = std::net::TcpStream::connect(address).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut request = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n".to_owned();
    for (name, value) in extra {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    c.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = c.read_to_string(&mut answer);
    let start = answer
        .find("restyle_key=")
        .unwrap_or_else(|| panic!("the page issues a key: {answer:.200}"))
        + "restyle_key=".len();
    answer[start..].split(';').next().unwrap().trim().to_owned()
}

/// A client of a server process, with its own submitter key.
pub struct Api {
    /// The server's address, `http://127.0.0.1:PORT`.
    pub url: String,
    /// A client that sends the key (and the operator's token, if any).
    pub client: reqwest::Client,
    /// The submitter key it sends.
    pub key: String,
}

impl Api {
    /// A client with its own submitter key: it sees the jobs it submits.
    pub fn new(url: &str) -> Self {
        Self::with_headers(url, &[])
    }

    /// The operator (`--admin-token TOKEN`): sees every job and its worker.
    pub fn operator(url: &str, token: &str) -> Self {
        Self::with_headers(url, &[("authorization", &format!("Bearer {token}"))])
    }

    /// The same client (the same key) on another server address.
    pub fn at(&self, url: &str) -> Self {
        Self {
            url: url.to_owned(),
            client: self.client.clone(),
            key: self.key.clone(),
        }
    }

    fn with_headers(url: &str, extra: &[(&'static str, &str)]) -> Self {
        let key = issued_key_blocking(url, extra);
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("x-restyle-key", key.parse().unwrap());
        for (name, value) in extra {
            let name = reqwest::header::HeaderName::from_bytes(name.as_bytes()).unwrap();
            headers.insert(name, value.parse().unwrap());
        }
        Self {
            url: url.to_owned(),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .default_headers(headers)
                .build()
                .unwrap(),
            key,
        }
    }

    /// Submits `form` as a job (see [`http::submit`]).
    pub async fn submit_form(&self, form: reqwest::multipart::Form) -> reqwest::Response {
        http::submit(&self.client, &self.url, form).await
    }

    /// Submits `form` and expects 201; returns the id.
    pub async fn submit_form_ok(&self, form: reqwest::multipart::Form) -> String {
        http::submit_ok(&self.client, &self.url, form).await
    }

    /// The status `GET path` answers.
    pub async fn status_of(&self, path: &str) -> u16 {
        let r = self.client.get(format!("{}{path}", self.url)).send().await;
        r.unwrap().status().as_u16()
    }

    /// Submits a small job ([`small_job`]); its id.
    pub async fn submit(&self, size: u32, iterations: u32) -> String {
        self.try_submit(size, iterations)
            .await
            .unwrap_or_else(|status| panic!("refused with {status}"))
    }

    /// Submits a small job ([`small_job`]): its id, or the status it was
    /// refused with.
    pub async fn try_submit(&self, size: u32, iterations: u32) -> Result<String, u16> {
        let r = self.submit_form(small_job(size, iterations)).await;
        if r.status() != 201 {
            return Err(r.status().as_u16());
        }
        Ok(r.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned())
    }

    /// What the images take, as the health check reports it.
    pub async fn disk_bytes(&self) -> u64 {
        let health: Value = self
            .client
            .get(format!("{}/api/health", self.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        health["disk_bytes"]
            .as_u64()
            .expect("disk_bytes in the health check")
    }

    /// Job `id` (see [`http::job`]).
    pub async fn job(&self, id: &str) -> Value {
        http::job(&self.client, &self.url, id).await
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

    /// The result, checked to be a picture of the job's size.
    pub async fn check_result(&self, job: &Value) {
        let url = format!(
            "{}{}",
            self.url,
            job["result_url"].as_str().expect("a result")
        );
        let bytes = self
            .client
            .get(url)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let img = image::load_from_memory(&bytes).expect("a valid image");
        assert_eq!(
            (img.width() as u64, img.height() as u64),
            (
                job["width"].as_u64().unwrap(),
                job["height"].as_u64().unwrap()
            )
        );
    }
}
