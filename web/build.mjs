// Copies the onnxruntime-web builds restyle's page uses into the folder the
// server embeds (crates/server/assets/web):
//
// - the WebAssembly runtime (SIMD, threads when the page is cross-origin
//   isolated) as ort.mjs, its binary gzipped as ort.wasm.gz (3.8 MB instead of
//   15);
// - the WebGPU runtime (onnxruntime-web/webgpu: its WebGPU execution provider
//   compiled in, Asyncify) as ort.webgpu.mjs, its binary gzipped as
//   ort.webgpu.wasm.gz (7.1 MB instead of 29). The page fetches these only in a
//   browser that offers a WebGPU adapter.
//
// The server sends the .gz files with Content-Encoding: gzip; `restyle site`
// writes them out plain. The WebGL and JSEP builds are left out.
//
//   cd web && npm ci && npm run build
//
// The networks next to them (style.onnx, transformer.onnx) are written by
// tools/export_fast_onnx.py from restyle's weights file.
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";

const dist = new URL("./node_modules/onnxruntime-web/dist/", import.meta.url);
const out = new URL("../crates/server/assets/web/", import.meta.url);

// [what the page calls it, onnxruntime-web's bundle, the binary that bundle loads]
const builds = [
  ["ort", "ort.wasm.bundle.min.mjs", "ort-wasm-simd-threaded.wasm"],
  ["ort.webgpu", "ort.webgpu.bundle.min.mjs", "ort-wasm-simd-threaded.asyncify.wasm"],
];
for (const [name, bundle, binary] of builds) {
  copyFileSync(new URL(bundle, dist), new URL(name + ".mjs", out));
  const wasm = readFileSync(new URL(binary, dist));
  // gzip with no file name or time in its header: the same bytes on every build.
  const packed = gzipSync(wasm, { level: 9 });
  writeFileSync(new URL(name + ".wasm.gz", out), packed);
  console.log(`${name}.mjs, ${name}.wasm.gz (${wasm.length} bytes unpacked, ${packed.length} packed)`);
}
const version = JSON.parse(readFileSync(new URL("../package.json", dist))).version;
writeFileSync(new URL("ort.version", out), version + "\n");
console.log(`onnxruntime-web ${version}`);
