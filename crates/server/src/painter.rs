//! Fast pictures painted in processes of their own, so that a picture that runs out of
//! memory (or is killed) ends as a failed job, never as a server that is gone.
//!
//! The server runs its own executable again as `restyle instant-painter` (hidden), once
//! for each picture painted at once, and keeps the process for the next picture. A
//! picture goes to it over its standard input and comes back on its standard output, in
//! frames (a length, then the bytes): the request's settings (JSON), the photo, the
//! painting and the region images as stored; then the outcome (JSON) and the PNG.
//!
//! Each process limits its own memory ([`limit_memory`]: `RLIMIT_DATA`) to
//! `--max-job-memory` plus [`PAINTER_OVERHEAD`] (the executable, the network, threads,
//! the encoded uploads and the PNG): a picture beyond that fails its own allocation and
//! the process stops. The server then ends that job `failed`, with why, and starts a
//! fresh process for the next picture. The server's process never loads the network for
//! these pictures.
//!
//! Each picture also has a deadline ([`picture_deadline`]: [`DEADLINE_BASE`], and a second
//! for every [`WORK_PER_SECOND`] of its work, about ten times what two busy cores need): a
//! process that hangs past it (a deadlock, a stalled pipe) is killed, its job ends
//! `failed` with why, and a fresh process paints the next picture.

use std::io::{BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::jobs::JobSettings;
use crate::regions::{StoredRegions, KINDS};
use crate::storage::ImageKind;

/// The least time a picture is given before its process is killed: the process's start
/// and a machine busy with other work.
pub const DEADLINE_BASE: Duration = Duration::from_secs(20);

/// Work ([`crate::fast_picture::work`]) a picture is given a second for beyond
/// [`DEADLINE_BASE`]: about a tenth of what two busy cores do (six 30-megapixel uploads
/// at 1024 px, some 280 million, took 12 s), so that only a process that hangs reaches it.
pub const WORK_PER_SECOND: u64 = 2_000_000;

/// Memory a painting process may take beyond `--max-job-memory`: the executable and
/// its libraries, the fast networks' weights, a stack for each thread, the encoded
/// uploads it was sent and the PNG it sends back.
pub const PAINTER_OVERHEAD: usize = 384 << 20;

/// The hidden subcommand that runs a painting process.
pub const SUBCOMMAND: &str = "instant-painter";

/// The largest frame a painting process reads: more than any request the server sends.
const MAX_FRAME: u64 = 1 << 30;

/// `restyle instant-painter`: paints the fast pictures its parent sends, until its
/// standard input closes.
#[derive(clap::Args, Debug, Clone)]
pub struct PainterArgs {
    /// Most bytes of memory this process may take (`RLIMIT_DATA`); beyond, an
    /// allocation fails and the process stops
    #[arg(long, value_name = "BYTES")]
    pub memory_limit: Option<u64>,
}

/// What the server asks a painting process for.
#[derive(Serialize, Deserialize)]
struct PaintRequest {
    settings: JobSettings,
    /// The region images that follow the photo and the painting, by kind, in order.
    regions: Vec<String>,
}

/// What a painting process answers, before the PNG (empty when there is none).
#[derive(Serialize, Deserialize)]
struct PaintReply {
    error: Option<String>,
}

fn write_frame(out: &mut impl Write, bytes: &[u8]) -> std::io::Result<()> {
    out.write_all(&(bytes.len() as u64).to_le_bytes())?;
    out.write_all(bytes)
}

/// The next frame, or `None` where the stream ended before one began.
fn read_frame(input: &mut impl Read) -> std::io::Result<Option<Vec<u8>>> {
    let mut length = [0u8; 8];
    match input.read_exact(&mut length) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let length = u64::from_le_bytes(length);
    if length > MAX_FRAME {
        return Err(std::io::Error::other(format!(
            "a frame of {length} bytes is more than this process reads"
        )));
    }
    let mut bytes = vec![0; length as usize];
    input.read_exact(&mut bytes)?;
    Ok(Some(bytes))
}

fn expect_frame(input: &mut impl Read) -> std::io::Result<Vec<u8>> {
    read_frame(input)?.ok_or_else(|| std::io::ErrorKind::UnexpectedEof.into())
}

/// Limits this process's data (heap, anonymous memory, thread stacks) to `bytes`.
pub fn limit_memory(bytes: u64) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        let limit = libc::rlimit {
            rlim_cur: bytes as libc::rlim_t,
            rlim_max: bytes as libc::rlim_t,
        };
        // SAFETY: setrlimit reads the struct it is given, which lives across the call.
        if unsafe { libc::setrlimit(libc::RLIMIT_DATA, &limit) } != 0 {
            anyhow::bail!(
                "cannot limit this process's memory to {bytes} bytes: {}",
                std::io::Error::last_os_error()
            );
        }
    }
    #[cfg(not(unix))]
    let _ = bytes;
    Ok(())
}

/// `restyle instant-painter`: paints what arrives on standard input until it closes.
pub fn run_painter(args: PainterArgs) -> anyhow::Result<()> {
    if let Some(bytes) = args.memory_limit {
        limit_memory(bytes)?;
    }
    // Loaded at once: the first picture is then as quick as the next.
    let model = restyle_fast::FastStyle::embedded().map_err(|e| e.to_string());
    let mut input = BufReader::new(std::io::stdin().lock());
    let mut output = std::io::stdout().lock();
    while let Some(head) = read_frame(&mut input)? {
        let request: PaintRequest = serde_json::from_slice(&head)?;
        let content = expect_frame(&mut input)?;
        let style = expect_frame(&mut input)?;
        let mut regions = StoredRegions::default();
        for name in &request.regions {
            let kind = KINDS
                .into_iter()
                .find(|k| k.as_str() == name)
                .ok_or_else(|| anyhow::anyhow!("no region image `{name}`"))?;
            regions.images.push((kind, expect_frame(&mut input)?));
        }
        let outcome = match &model {
            Ok(model) => std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                crate::fast_picture::paint_now(model, &content, &style, regions, &request.settings)
            }))
            .unwrap_or_else(|_| Err("internal error: the fast picture crashed".into())),
            Err(e) => Err(e.clone()),
        };
        let (reply, png) = match outcome {
            Ok(png) => (PaintReply { error: None }, png),
            Err(error) => (PaintReply { error: Some(error) }, Vec::new()),
        };
        write_frame(&mut output, &serde_json::to_vec(&reply)?)?;
        write_frame(&mut output, &png)?;
        output.flush()?;
    }
    Ok(())
}

/// The work of painting `settings` from the stored `content`, `style` and `regions`:
/// their decoded pixels and the pixels painted, once for each painting.
fn picture_work(
    content: &[u8],
    style: &[u8],
    regions: &StoredRegions,
    settings: &JobSettings,
) -> u64 {
    // Stored images passed the submission's checks: no pixel limit here.
    let limits = crate::limits::Limits {
        max_pixels: u64::MAX,
        ..Default::default()
    };
    let size = |bytes: &[u8]| {
        crate::upload::header(bytes, "stored", &limits)
            .map(|h| (h.width as u64, h.height as u64))
            .unwrap_or((0, 0))
    };
    let (cw, ch) = size(content);
    let decoded = std::iter::once(content)
        .chain(std::iter::once(style))
        .chain(regions.images.iter().map(|(_, b)| b.as_slice()))
        .map(|b| {
            let (w, h) = size(b);
            w.saturating_mul(h)
        })
        .fold(0u64, u64::saturating_add);
    let (pw, ph) = restyle::fit_long_edge(cw as usize, ch as usize, settings.size);
    let paintings = 1 + regions
        .images
        .iter()
        .filter(|(k, _)| *k == ImageKind::Style2)
        .count() as u64;
    crate::fast_picture::work(decoded, (pw * ph) as u64 * paintings)
}

/// How long a picture of `work` may take before its process is killed (see the module's
/// documentation): `base` ([`DEADLINE_BASE`] unless a test asks for less) and more for more work.
pub fn picture_deadline(base: Duration, work: u64) -> Duration {
    base + Duration::from_secs(work / WORK_PER_SECOND)
}

/// Kills a process should it not be called off within its deadline.
struct Deadline {
    call_off: mpsc::Sender<()>,
    watcher: std::thread::JoinHandle<()>,
    passed: Arc<AtomicBool>,
}

impl Deadline {
    /// Watches `child` (not yet waited for, so that its id cannot be another's).
    fn start(child: &Child, limit: Duration) -> Self {
        let pid = child.id();
        let (call_off, called_off) = mpsc::channel::<()>();
        let passed = Arc::new(AtomicBool::new(false));
        let flag = passed.clone();
        let watcher = std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = called_off.recv_timeout(limit) {
                flag.store(true, Ordering::SeqCst);
                #[cfg(unix)]
                // SAFETY: kill takes plain integers; the process is not reaped before the
                // watcher is joined, so the id is still its own.
                unsafe {
                    libc::kill(pid as libc::pid_t, libc::SIGKILL);
                }
            }
        });
        Self {
            call_off,
            watcher,
            passed,
        }
    }

    /// Calls the watch off; whether the deadline passed (and the process was killed).
    fn stop(self) -> bool {
        let _ = self.call_off.send(());
        let _ = self.watcher.join();
        self.passed.load(Ordering::SeqCst)
    }
}

/// One painting process, idle between pictures.
struct PainterProcess {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
}

impl PainterProcess {
    /// Sends one picture and reads its outcome; an error here means the process is
    /// gone (or broke the protocol), not that the picture failed.
    fn exchange(
        &mut self,
        content: &[u8],
        style: &[u8],
        regions: &StoredRegions,
        settings: &JobSettings,
    ) -> std::io::Result<Result<Vec<u8>, String>> {
        let request = PaintRequest {
            settings: settings.clone(),
            regions: regions
                .images
                .iter()
                .map(|(k, _)| k.as_str().to_owned())
                .collect(),
        };
        write_frame(&mut self.input, &serde_json::to_vec(&request)?)?;
        write_frame(&mut self.input, content)?;
        write_frame(&mut self.input, style)?;
        for (_, bytes) in &regions.images {
            write_frame(&mut self.input, bytes)?;
        }
        self.input.flush()?;
        let reply: PaintReply = serde_json::from_slice(&expect_frame(&mut self.output)?)?;
        let png = expect_frame(&mut self.output)?;
        Ok(match reply.error {
            None => Ok(png),
            Some(error) => Err(error),
        })
    }

    /// Ends the process (if it still runs) and says how it ended.
    fn end(mut self) -> Option<ExitStatus> {
        let _ = self.child.kill();
        self.child.wait().ok()
    }
}

impl Drop for PainterProcess {
    fn drop(&mut self) {
        // Idle: its input closing would end it too; this also reaps it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The painting processes: one for each picture being painted, kept for the next.
pub struct Painters {
    program: PathBuf,
    memory_limit: u64,
    /// The least time a picture is given ([`picture_deadline`]).
    deadline_base: Duration,
    idle: Mutex<Vec<PainterProcess>>,
}

impl Painters {
    /// Processes of `program` (run as `program instant-painter`), each limited to
    /// `job_memory` plus [`PAINTER_OVERHEAD`], each picture given `deadline_base` and more
    /// for more work ([`picture_deadline`]).
    pub fn new(program: PathBuf, job_memory: usize, deadline_base: Duration) -> Self {
        Self {
            program,
            memory_limit: job_memory.saturating_add(PAINTER_OVERHEAD) as u64,
            deadline_base,
            idle: Mutex::default(),
        }
    }

    /// The process ids of the idle painting processes (for tests and logs).
    pub fn idle_ids(&self) -> Vec<u32> {
        self.idle
            .lock()
            .map(|idle| idle.iter().map(|p| p.child.id()).collect())
            .unwrap_or_default()
    }

    fn spawn(&self) -> Result<PainterProcess, String> {
        let mut child = Command::new(&self.program)
            .arg(SUBCOMMAND)
            .arg("--memory-limit")
            .arg(self.memory_limit.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| {
                format!(
                    "internal error: cannot start the process that paints fast pictures ({}): {e}",
                    self.program.display()
                )
            })?;
        let input = child.stdin.take().expect("piped");
        let output = BufReader::new(child.stdout.take().expect("piped"));
        tracing::debug!(pid = child.id(), "started a painting process");
        Ok(PainterProcess {
            child,
            input,
            output,
        })
    }

    /// Paints one picture in an idle process (a new one if none is idle).
    pub async fn paint(
        self: &Arc<Self>,
        content: Vec<u8>,
        style: Vec<u8>,
        regions: StoredRegions,
        settings: &JobSettings,
    ) -> Result<Vec<u8>, String> {
        let painters = self.clone();
        let settings = settings.clone();
        tokio::task::spawn_blocking(move || {
            painters.paint_blocking(&content, &style, &regions, &settings)
        })
        .await
        .map_err(|e| format!("internal error: the fast picture crashed: {e}"))?
    }

    fn paint_blocking(
        &self,
        content: &[u8],
        style: &[u8],
        regions: &StoredRegions,
        settings: &JobSettings,
    ) -> Result<Vec<u8>, String> {
        let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        // One that stopped while idle (killed, say) is replaced, the picture unharmed.
        let mut process = match idle {
            Some(mut p) => match p.child.try_wait() {
                Ok(None) => p,
                _ => self.spawn()?,
            },
            None => self.spawn()?,
        };
        let work = picture_work(content, style, regions, settings);
        let limit = picture_deadline(self.deadline_base, work);
        let deadline = Deadline::start(&process.child, limit);
        let exchanged = process.exchange(content, style, regions, settings);
        let hung = deadline.stop();
        match exchanged {
            Ok(outcome) if !hung => {
                if let Ok(mut idle) = self.idle.lock() {
                    idle.push(process);
                }
                outcome
            }
            exchanged => {
                let pid = process.child.id();
                let status = process.end();
                let error = exchanged.err().map(|e| e.to_string());
                tracing::warn!(
                    pid,
                    ?status,
                    ?error,
                    hung,
                    "the process painting a fast picture stopped; starting another"
                );
                // Ready for the next picture.
                match self.spawn() {
                    Ok(fresh) => {
                        if let Ok(mut idle) = self.idle.lock() {
                            idle.push(fresh);
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "no painting process"),
                }
                Err(match hung {
                    true => timed_out(limit),
                    false => stopped(status, self.memory_limit),
                })
            }
        }
    }
}

/// Why a picture has no result when its process was killed past its deadline.
fn timed_out(limit: Duration) -> String {
    format!(
        "the fast picture took longer than {} s, the most this server gives it: its process was stopped; try again, or a smaller size",
        limit.as_secs()
    )
}

/// Why a picture has no result when its process stopped while it painted it.
fn stopped(status: Option<ExitStatus>, memory_limit: u64) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        // An allocation beyond the limit aborts the process.
        if status.and_then(|s| s.signal()) == Some(libc::SIGABRT) {
            return format!(
                "the fast picture needed more memory than this server gives one ({} MiB); try a smaller size or smaller images",
                memory_limit >> 20
            );
        }
    }
    let how = match status {
        Some(s) => s.to_string(),
        None => "unknown".to_owned(),
    };
    format!("the process painting the fast picture stopped before it was done ({how}); try again")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_bytes_and_a_closed_stream_ends_them() {
        let mut stream = Vec::new();
        write_frame(&mut stream, b"head").unwrap();
        write_frame(&mut stream, b"").unwrap();
        let mut input = &stream[..];
        assert_eq!(read_frame(&mut input).unwrap().unwrap(), b"head");
        assert_eq!(read_frame(&mut input).unwrap().unwrap(), b"");
        assert!(read_frame(&mut input).unwrap().is_none());
        let mut cut_body = &stream[..10];
        assert!(read_frame(&mut cut_body).is_err());
    }

    #[test]
    fn a_picture_has_the_base_deadline_and_more_for_more_work() {
        assert_eq!(picture_deadline(DEADLINE_BASE, 0), DEADLINE_BASE);
        // A 1024 px square in one painting, with its uploads: half a minute more.
        let large = picture_deadline(DEADLINE_BASE, 64_000_000);
        assert_eq!(large, DEADLINE_BASE + Duration::from_secs(32));
        let message = timed_out(large);
        assert!(message.contains("took longer than 52 s"), "{message}");
    }

    #[test]
    fn a_stopped_process_is_named_in_the_failure() {
        let message = stopped(None, 1 << 30);
        assert!(message.contains("stopped before it was done"), "{message}");
    }
}
