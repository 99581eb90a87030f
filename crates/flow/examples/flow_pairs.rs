//! Optical flow of frame pairs, timed: what `bench/flow.py` runs.
//!
//! ```text
//! flow_pairs [--preset ultrafast|fast|medium] [--finest-scale N] [--repeats N] OUT_DIR A.png B.png [A.png B.png ...]
//! flow_pairs [--preset ...] [--finest-scale N] --stdin
//! ```
//!
//! For each pair, writes `OUT_DIR/NNNN.flo` (Middlebury's format: "PIEH", width, height, then
//! u and v interleaved, little-endian) and prints one line `pair NNNN ms M` with the median
//! time of `dis_flow` over the repeats (decoding and writing not counted). With `--stdin`, it
//! reads lines `A.png B.png OUT.flo` and answers each with `ms M` (one run, frames decoded
//! once), so a benchmark can interleave it with another tool under the same load. Threads:
//! rayon's default, or RAYON_NUM_THREADS.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use restyle_flow::{dis_flow, DisParams, FlowField, Gray, Preset};

fn main() {
    if let Err(e) = run() {
        eprintln!("flow_pairs: {e}");
        std::process::exit(2);
    }
}

fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let mut preset = Preset::Medium;
    let mut finest = None;
    let mut repeats = 1usize;
    let mut serve = false;
    let mut rest = Vec::new();
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--preset" => {
                preset = match value("--preset")?.as_str() {
                    "ultrafast" => Preset::UltraFast,
                    "fast" => Preset::Fast,
                    "medium" => Preset::Medium,
                    other => return Err(format!("unknown preset {other:?}")),
                }
            }
            "--finest-scale" => {
                finest = Some(
                    value("--finest-scale")?
                        .parse::<usize>()
                        .map_err(|e| format!("--finest-scale: {e}"))?,
                )
            }
            "--repeats" => {
                repeats = value("--repeats")?
                    .parse::<usize>()
                    .map_err(|e| format!("--repeats: {e}"))?
                    .max(1)
            }
            "--stdin" => serve = true,
            _ => rest.push(PathBuf::from(a)),
        }
    }
    let mut params = DisParams::preset(preset);
    if let Some(f) = finest {
        params.finest_scale = f;
    }
    if serve {
        return answer_stdin(&params);
    }
    if rest.len() < 3 || rest.len() % 2 == 0 {
        return Err("usage: flow_pairs [--preset P] [--finest-scale N] [--repeats N] OUT_DIR A.png B.png [A.png B.png ...]".into());
    }
    let out = rest.remove(0);
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    for (k, pair) in rest.chunks(2).enumerate() {
        let (a, b) = (load(&pair[0])?, load(&pair[1])?);
        if (a.width, a.height) != (b.width, b.height) {
            return Err(format!(
                "{} and {} differ in size",
                pair[0].display(),
                pair[1].display()
            ));
        }
        let mut times = Vec::with_capacity(repeats);
        let mut flow = None;
        for _ in 0..repeats {
            let start = Instant::now();
            flow = Some(dis_flow(&a, &b, &params));
            times.push(start.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        let path = out.join(format!("{k:04}.flo"));
        write_flo(&path, &flow.expect("at least one repeat"))?;
        println!("pair {k:04} ms {:.3}", times[times.len() / 2]);
    }
    Ok(())
}

fn answer_stdin(params: &DisParams) -> Result<(), String> {
    let mut frames: HashMap<PathBuf, Gray> = HashMap::new();
    let stdout = std::io::stdout();
    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(|e| format!("stdin: {e}"))?;
        let parts: Vec<&str> = line.split_whitespace().collect();
        let [a, b, out] = parts[..] else {
            return Err(format!("expected `A.png B.png OUT.flo`, got {line:?}"));
        };
        for p in [a, b] {
            if !frames.contains_key(Path::new(p)) {
                frames.insert(PathBuf::from(p), load(Path::new(p))?);
            }
        }
        let (fa, fb) = (&frames[Path::new(a)], &frames[Path::new(b)]);
        if (fa.width, fa.height) != (fb.width, fb.height) {
            return Err(format!("{a} and {b} differ in size"));
        }
        let start = Instant::now();
        let flow = dis_flow(fa, fb, params);
        let ms = start.elapsed().as_secs_f64() * 1000.0;
        write_flo(Path::new(out), &flow)?;
        let mut lock = stdout.lock();
        writeln!(lock, "ms {ms:.3}")
            .and_then(|_| lock.flush())
            .map_err(|e| format!("stdout: {e}"))?;
    }
    Ok(())
}

fn load(path: &Path) -> Result<Gray, String> {
    let img = image::open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .to_rgb8();
    let (w, h) = (img.width() as usize, img.height() as usize);
    Ok(Gray::from_rgb8(w, h, img.as_raw()))
}

fn write_flo(path: &Path, flow: &FlowField) -> Result<(), String> {
    let mut bytes = Vec::with_capacity(12 + 8 * flow.u.len());
    bytes.extend_from_slice(b"PIEH");
    bytes.extend_from_slice(&(flow.width as i32).to_le_bytes());
    bytes.extend_from_slice(&(flow.height as i32).to_le_bytes());
    for (u, v) in flow.u.iter().zip(&flow.v) {
        bytes.extend_from_slice(&u.to_le_bytes());
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))
}
