// Copies the one onnxruntime-web build restyle's page uses into the folder the
// server embeds (crates/server/assets/web): the WebAssembly runtime (SIMD,
// threads when the page is cross-origin isolated) as ort.mjs, and its binary
// gzipped as ort.wasm.gz (3.8 MB instead of 15; the server sends it with
// Content-Encoding: gzip, `restyle site` writes it out plain). The WebGPU and
// WebGL builds are left out: each would add 15-30 MB.
//
//   cd web && npm ci && npm run build
//
// The networks next to them (style.onnx, transformer.onnx) are written by
// tools/export_fast_onnx.py from restyle's weights file.
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";

const dist = new URL("./node_modules/onnxruntime-web/dist/", import.meta.url);
const out = new URL("../crates/server/assets/web/", import.meta.url);

copyFileSync(new URL("ort.wasm.bundle.min.mjs", dist), new URL("ort.mjs", out));
const wasm = readFileSync(new URL("ort-wasm-simd-threaded.wasm", dist));
// gzip with no file name or time in its header: the same bytes on every build.
writeFileSync(new URL("ort.wasm.gz", out), gzipSync(wasm, { level: 9 }));
const version = JSON.parse(readFileSync(new URL("../package.json", dist))).version;
writeFileSync(new URL("ort.version", out), version + "\n");
console.log(`onnxruntime-web ${version}: ort.mjs, ort.wasm.gz (${wasm.length} bytes unpacked)`);
