//! `restyle-bench peak [THREADS]`: measures this machine's single-precision
//! multiply-add peak (independent FMA chains on every thread), the
//! yardstick for the achieved GFLOP/s.
//!
//! `restyle-bench gemm`: restyle's matrix product against matrixmultiply's
//! on the convolutions' shapes, one thread, GFLOP/s.
//!
//! `restyle-bench objective CONTENT STYLE PICTURE`: the objective of a
//! finished picture at its own size with the default weights, as one JSON
//! line: how a schedule's result is compared with another's (the losses a
//! run reports are its last evaluation's, not the saved picture's).
//!
//! `restyle-bench SIZE [REPEATS] [THREADS]`: times one VGG-19 step on an
//! SIZE x SIZE image (or WIDTHxHEIGHT), exactly as `bench/torch_step.py` does for PyTorch: the
//! network up to relu5_1, forward, then backward to the input image for the
//! loss sum(relu5_1 * R). Prints one JSON line: the median seconds per step
//! over REPEATS timed steps (after one warm-up), this process's peak RSS,
//! and the convolutions' floating-point operations.

use std::time::Instant;

use restyle_engine::Tensor;
use restyle_vgg::{Layer, Vgg19};

/// CPU time this process's threads have run, from the scheduler's per-thread
/// accounting: unlike wall time, it does not grow when other programs take
/// the cores (Linux only; 0 elsewhere).
fn cpu_seconds() -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum::<u64>() as f64
        / 1e9
}

fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(str::to_owned)
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(0, |kib| kib * 1024)
}

/// GFLOP/s of `threads` threads each running independent FMA chains.
fn fma_peak(threads: usize) -> f64 {
    const ITERATIONS: u64 = 200_000_000;
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| std::hint::black_box(fma_chains(ITERATIONS)));
        }
    });
    let lanes = if cfg!(target_arch = "x86_64") && std::is_x86_feature_detected!("avx512f") {
        16
    } else {
        8
    };
    // 12 chains of `lanes`-wide fused multiply-adds (2 FLOP each) per iteration.
    (threads as u64 * ITERATIONS / 12 * 12 * lanes * 2) as f64 / start.elapsed().as_secs_f64() / 1e9
}

#[cfg(target_arch = "x86_64")]
fn fma_chains(iterations: u64) -> f32 {
    use std::arch::x86_64::*;
    #[target_feature(enable = "avx512f")]
    unsafe fn avx512(iterations: u64) -> f32 {
        let (a, b) = (_mm512_set1_ps(0.999_999), _mm512_set1_ps(1e-7));
        let mut acc = [_mm512_set1_ps(1.0); 12];
        for _ in 0..iterations / 12 {
            for v in acc.iter_mut() {
                *v = _mm512_fmadd_ps(*v, a, b);
            }
        }
        acc.iter().map(|&v| _mm512_reduce_add_ps(v)).sum()
    }
    #[target_feature(enable = "avx2,fma")]
    unsafe fn avx2(iterations: u64) -> f32 {
        let (a, b) = (_mm256_set1_ps(0.999_999), _mm256_set1_ps(1e-7));
        let mut acc = [_mm256_set1_ps(1.0); 12];
        for _ in 0..iterations / 12 {
            for v in acc.iter_mut() {
                *v = _mm256_fmadd_ps(*v, a, b);
            }
        }
        let mut out = [0f32; 8];
        _mm256_storeu_ps(out.as_mut_ptr(), acc[0]);
        out.iter().sum()
    }
    // SAFETY: each is called only where the CPU has the feature.
    unsafe {
        if std::is_x86_feature_detected!("avx512f") {
            avx512(iterations)
        } else {
            avx2(iterations)
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn fma_chains(iterations: u64) -> f32 {
    let mut acc = [1.0f32; 96];
    for _ in 0..iterations / 12 {
        for v in acc.iter_mut() {
            *v = v.mul_add(0.999_999, 1e-7);
        }
    }
    acc.iter().sum()
}

/// Best-of-five GFLOP/s of `f`, which does `flops` floating-point operations.
fn gflops(flops: f64, mut f: impl FnMut()) -> f64 {
    f();
    let best = (0..5)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min);
    flops / best / 1e9
}

fn compare_gemm() {
    use restyle_engine::gemm::{gemm, PackedA};
    for (m, k, n) in [
        (64, 576, 16384),
        (128, 1152, 8192),
        (256, 2304, 4096),
        (512, 4608, 1024),
        (64, 64, 9216),
    ] {
        let a: Vec<f32> = (0..m * k).map(|i| (i % 17) as f32 * 0.01).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i % 13) as f32 * 0.01).collect();
        let mut c = vec![0.0f32; m * n];
        let flops = 2.0 * (m * k * n) as f64;
        let packed = PackedA::pack(&a, m, k, k);
        let ours = gflops(flops, || gemm(&packed, &b, n, n, &mut c, n, false));
        // SAFETY: a is m x k (row stride k), b is k x n and c is m x n (row
        // stride n), all as long as those shapes need; c is not read (beta 0).
        let theirs = gflops(flops, || unsafe {
            matrixmultiply::sgemm(
                m,
                k,
                n,
                1.0,
                a.as_ptr(),
                k as isize,
                1,
                b.as_ptr(),
                n as isize,
                1,
                0.0,
                c.as_mut_ptr(),
                n as isize,
                1,
            )
        });
        println!(
            "{}",
            serde_json::json!({"m": m, "k": k, "n": n, "restyle_gflops": ours, "matrixmultiply_gflops": theirs})
        );
    }
}

fn main() {
    // As a run does (`restyle::stylize`): freed buffers stay for the next step.
    restyle_engine::allocator::keep_freed_memory();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("gemm") {
        compare_gemm();
        return;
    }
    if args.first().map(String::as_str) == Some("peak") {
        let threads = args
            .get(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        println!(
            "{}",
            serde_json::json!({"threads": threads, "peak_gflops": fma_peak(threads)})
        );
        return;
    }
    if args.first().map(String::as_str) == Some("objective") {
        if let Err(e) = print_objective(&args[1..]) {
            eprintln!("restyle-bench objective: {e}");
            std::process::exit(2);
        }
        return;
    }
    let usage = "usage: restyle-bench SIZE [REPEATS] [THREADS]";
    // SIZE is a square's side, or WIDTHxHEIGHT (a photo's 512x384).
    let (width, height): (usize, usize) = args
        .first()
        .and_then(|s| match s.split_once('x') {
            Some((w, h)) => Some((w.parse().ok()?, h.parse().ok()?)),
            None => s.parse().ok().map(|n| (n, n)),
        })
        .expect(usage);
    let repeats: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(5);
    if let Some(threads) = args.get(2).and_then(|s| s.parse().ok()) {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build_global()
            .expect("thread pool");
    }
    let relu5_1: Layer = "relu5_1".parse().unwrap();
    // RESTYLE_BENCH_DIRECT=1 times the plain direct convolutions instead.
    let algorithm = if std::env::var_os("RESTYLE_BENCH_DIRECT").is_some() {
        restyle_engine::Algorithm::Direct
    } else {
        restyle_engine::Algorithm::Auto
    };
    let net = Vgg19::with_algorithm(
        restyle_vgg::VggWeights::embedded().truncated(relu5_1),
        algorithm,
    );
    // A deterministic, image-like input in 0..1.
    let image = Tensor::from_vec(
        3,
        height,
        width,
        (0..3 * width * height)
            .map(|i| 0.5 + 0.4 * ((i as f32 * 0.618).sin() * (i as f32 * 0.0013).cos()))
            .collect(),
    );
    let (h5, w5) = relu5_1.output_size(height, width);
    let r = Tensor::from_vec(
        512,
        h5,
        w5,
        (0..512 * h5 * w5)
            .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
            .collect(),
    );
    let step = || {
        net.value_and_grad(&image, &[relu5_1], |_, x| {
            let value = x
                .as_slice()
                .iter()
                .zip(r.as_slice())
                .map(|(a, b)| (a * b) as f64)
                .sum();
            (value, r.clone())
        })
    };
    std::hint::black_box(step());
    let mut cpu: Vec<f64> = Vec::new();
    let mut times: Vec<f64> = (0..repeats)
        .map(|_| {
            let (start, cpu_start) = (Instant::now(), cpu_seconds());
            std::hint::black_box(step());
            cpu.push(cpu_seconds() - cpu_start);
            start.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    cpu.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let forward = net.forward_flops(relu5_1, height, width);
    // The backward pass repeats every convolution but the first's full cost.
    let first = net.forward_flops("conv1_1".parse().unwrap(), height, width);
    let flops = 2 * forward - first;
    println!(
        "{}",
        serde_json::json!({
            "engine": "restyle",
            "width": width,
            "height": height,
            "threads": rayon::current_num_threads(),
            "seconds_per_step": times[times.len() / 2],
            "cpu_seconds_per_step": cpu[cpu.len() / 2],
            "min_seconds": times[0],
            "peak_rss_bytes": peak_rss_bytes(),
            "gflop": flops as f64 / 1e9,
        })
    );
}

/// `objective CONTENT STYLE PICTURE`: see the crate doc.
fn print_objective(args: &[String]) -> Result<(), String> {
    use restyle::{io, objective_of, Settings, StyleImage};
    let [content, style, picture] = args else {
        return Err("usage: restyle-bench objective CONTENT STYLE PICTURE".into());
    };
    let limits = io::ImageLimits::default();
    let load = |p: &str| io::load_image(std::path::Path::new(p), limits).map_err(|e| e.to_string());
    let (content, picture) = (load(content)?, load(picture)?);
    let style = StyleImage::new(load(style)?, 1.0);
    let settings = Settings {
        size: picture.width().max(picture.height()),
        ..Settings::default()
    };
    let net = Vgg19::embedded_up_to(settings.deepest_layer().expect("default layers"));
    let losses =
        objective_of(&net, &content, &[style], &settings, &picture).map_err(|e| e.to_string())?;
    println!(
        "{}",
        serde_json::json!({
            "width": picture.width(), "height": picture.height(),
            "objective": losses.total(), "content": losses.content,
            "style": losses.style, "tv": losses.tv,
        })
    );
    Ok(())
}
