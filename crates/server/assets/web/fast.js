// restyle's fast method in the browser: the style network and the transformer
// (tools/export_fast_onnx.py, from restyle's own weights) run by
// onnxruntime-web, on the GPU through WebGPU where the browser offers an
// adapter, else on WebAssembly; and around them what crates/fast/src/paint.rs
// does natively (style images read as Magenta reads them, blends, strength,
// colours, regions), so that a picture painted here is the one `restyle
// --method fast` paints. Works in a page and in a worker; nothing is uploaded.
//
//   const painter = await FastPainter.load(new URL("./", import.meta.url));
//   const picture = await painter.paint({ photo, size: 512, styles: [{ image }] });
//   painter.backend; // "webgpu" or "wasm"; painter.fallback: why not WebGPU
//
// Images are { width, height, data: Float32Array } with the three colour
// planes one after another (RGB, 0..1), as restyle's Image holds them.

const STYLE_SIZE = 256;
const STYLE_DIMS = 100;
const MIN_CONTENT_SIZE = 8;
export const MIN_STYLE_SIDE = 32;

// ---- Images ---------------------------------------------------------------

/** Decodes a Blob (PNG, JPEG, WebP) to an image, as restyle reads one: 8-bit
 *  values / 255, EXIF orientation applied, no colour management. */
export async function decode(blob) {
  const bitmap = await createImageBitmap(blob, {
    colorSpaceConversion: "none",
    premultiplyAlpha: "none",
    imageOrientation: "from-image",
  });
  try {
    return fromBitmap(bitmap);
  } finally {
    bitmap.close();
  }
}

/** An ImageBitmap, a video frame or a canvas as an image. */
export function fromBitmap(source, width = source.width, height = source.height) {
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(source, 0, 0, width, height);
  return fromRgba(ctx.getImageData(0, 0, width, height));
}

/** ImageData (RGBA bytes) as an image; alpha is dropped. */
export function fromRgba({ width, height, data }) {
  const n = width * height;
  const out = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) {
    out[i] = data[4 * i] / 255;
    out[n + i] = data[4 * i + 1] / 255;
    out[2 * n + i] = data[4 * i + 2] / 255;
  }
  return { width, height, data: out };
}

/** An image as ImageData, rounded as restyle writes a PNG. */
export function toRgba({ width, height, data }) {
  const n = width * height;
  const out = new ImageData(width, height);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) {
      out.data[4 * i + c] = Math.round(Math.min(1, Math.max(0, data[c * n + i])) * 255);
    }
    out.data[4 * i + 3] = 255;
  }
  return out;
}

// ---- Resampling: the image crate's `imageops::resize`, which restyle uses --
// Written out here because the picture must match the native one: a canvas's
// own scaling filters differently (and differently in each browser).

const KERNELS = {
  lanczos3: [3, (x) => (Math.abs(x) < 3 ? sinc(x) * sinc(x / 3) : 0)],
  catmullrom: [2, (x) => cubic(x, 0, 0.5)],
  triangle: [1, (x) => (Math.abs(x) < 1 ? 1 - Math.abs(x) : 0)],
};

function sinc(t) {
  if (t === 0) return 1;
  const a = t * Math.PI;
  return Math.sin(a) / a;
}

function cubic(x, b, c) {
  const a = Math.abs(x);
  let k = 0;
  if (a < 1) k = (12 - 9 * b - 6 * c) * a ** 3 + (-18 + 12 * b + 6 * c) * a ** 2 + (6 - 2 * b);
  else if (a < 2) k = (-b - 6 * c) * a ** 3 + (6 * b + 30 * c) * a ** 2 + (-12 * b - 48 * c) * a + (8 * b + 24 * c);
  return k / 6;
}

/** For each output position along an axis: the first input and the weights. */
function taps(from, to, [support, kernel]) {
  const ratio = from / to;
  const sratio = ratio < 1 ? 1 : ratio;
  const reach = support * sratio;
  const rows = [];
  for (let o = 0; o < to; o++) {
    const centre = (o + 0.5) * ratio;
    const left = Math.min(Math.max(Math.floor(centre - reach), 0), from - 1);
    const right = Math.min(Math.max(Math.ceil(centre + reach), left + 1), from);
    const w = new Float32Array(right - left);
    let sum = 0;
    for (let i = left; i < right; i++) sum += w[i - left] = kernel((i - (centre - 0.5)) / sratio);
    for (let i = 0; i < w.length; i++) w[i] /= sum;
    rows.push([left, w]);
  }
  return rows;
}

/** `planes` planes of `width x height` resampled to `w x h`: columns first, then
 *  rows, clamped to 0..1 at the end, as imageops::resize does for f32 pixels. */
function resample(data, planes, width, height, w, h, filter) {
  if (w === width && h === height) return data.slice();
  const vertical = taps(height, h, KERNELS[filter]);
  const horizontal = taps(width, w, KERNELS[filter]);
  const mid = new Float32Array(planes * width * h);
  for (let p = 0; p < planes; p++) {
    const src = p * width * height, dst = p * width * h;
    for (let y = 0; y < h; y++) {
      const [top, ws] = vertical[y];
      const row = dst + y * width;
      for (let i = 0; i < ws.length; i++) {
        const from = src + (top + i) * width, k = ws[i];
        for (let x = 0; x < width; x++) mid[row + x] += data[from + x] * k;
      }
    }
  }
  const out = new Float32Array(planes * w * h);
  for (let p = 0; p < planes; p++) {
    const src = p * width * h, dst = p * w * h;
    for (let y = 0; y < h; y++) {
      const row = src + y * width;
      for (let x = 0; x < w; x++) {
        const [left, ws] = horizontal[x];
        let t = 0;
        for (let i = 0; i < ws.length; i++) t += mid[row + left + i] * ws[i];
        out[dst + y * w + x] = Math.min(1, Math.max(0, t));
      }
    }
  }
  return out;
}

/** restyle's Image::resized: Lanczos3 when either side shrinks, else Catmull-Rom. */
export function resized(image, w, h) {
  if (w === image.width && h === image.height) return image;
  const filter = w < image.width || h < image.height ? "lanczos3" : "catmullrom";
  return { width: w, height: h, data: resample(image.data, 3, image.width, image.height, w, h, filter) };
}

/** restyle's fit_long_edge. */
export function fitLongEdge(width, height, longEdge) {
  const scale = longEdge / Math.max(width, height);
  return [Math.max(1, Math.round(width * scale)), Math.max(1, Math.round(height * scale))];
}

/** The centre square resized to the style network's 256x256 (paint.rs's style_input). */
export function styleInput(image) {
  const side = Math.min(image.width, image.height);
  const left = (image.width - side) >> 1, top = (image.height - side) >> 1;
  const n = image.width * image.height;
  const square = new Float32Array(3 * side * side);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < side; y++) {
      const from = c * n + (top + y) * image.width + left;
      square.set(image.data.subarray(from, from + side), (c * side + y) * side);
    }
  }
  return resized({ width: side, height: side, data: square }, STYLE_SIZE, STYLE_SIZE);
}

// ---- Colours: restyle's color module --------------------------------------

const RGB_TO_YIQ = [
  [0.299, 0.587, 0.114],
  [0.595716, -0.274453, -0.321263],
  [0.211456, -0.522591, 0.311135],
];

function invert3(m) {
  const cof = (r0, r1, c0, c1) => m[r0][c0] * m[r1][c1] - m[r0][c1] * m[r1][c0];
  const adj = [
    [cof(1, 2, 1, 2), -cof(0, 2, 1, 2), cof(0, 1, 1, 2)],
    [-cof(1, 2, 0, 2), cof(0, 2, 0, 2), -cof(0, 1, 0, 2)],
    [cof(1, 2, 0, 1), -cof(0, 2, 0, 1), cof(0, 1, 0, 1)],
  ];
  const det = m[0][0] * adj[0][0] + m[0][1] * adj[1][0] + m[0][2] * adj[2][0];
  return adj.map((r) => r.map((v) => v / det));
}
const YIQ_TO_RGB = invert3(RGB_TO_YIQ);

function mapPixels(data, n, m, offset = [0, 0, 0]) {
  const out = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) {
    const r = data[i], g = data[n + i], b = data[2 * n + i];
    for (let c = 0; c < 3; c++) out[c * n + i] = m[c][0] * r + m[c][1] * g + m[c][2] * b + offset[c];
  }
  return out;
}

/** The picture's brightness under the photo's colours (I and Q of YIQ). */
export function recombine(picture, content) {
  const n = content.width * content.height;
  const yiq = mapPixels(content.data, n, RGB_TO_YIQ);
  const r = picture.data;
  for (let i = 0; i < n; i++) yiq[i] = (r[i] + r[n + i] + r[2 * n + i]) / 3;
  return { width: content.width, height: content.height, data: mapPixels(yiq, n, YIQ_TO_RGB) };
}

function colorStatistics(data, n) {
  const mean = [0, 1, 2].map((c) => {
    let s = 0;
    for (let i = 0; i < n; i++) s += data[c * n + i];
    return s / Math.max(n, 1);
  });
  const cov = [[0, 0, 0], [0, 0, 0], [0, 0, 0]];
  for (let i = 0; i < 3; i++) {
    for (let j = i; j < 3; j++) {
      let s = 0;
      for (let p = 0; p < n; p++) s += (data[i * n + p] - mean[i]) * (data[j * n + p] - mean[j]);
      cov[i][j] = cov[j][i] = s / Math.max(n, 1);
    }
  }
  return [mean, cov];
}

/** m^p for a symmetric 3x3 m, by Jacobi rotations (as restyle computes it). */
function symmetricPower(m, p) {
  const a = m.map((r) => r.slice());
  const v = [[1, 0, 0], [0, 1, 0], [0, 0, 1]];
  for (let sweep = 0; sweep < 50; sweep++) {
    if (a[0][1] ** 2 + a[0][2] ** 2 + a[1][2] ** 2 < 1e-30) break;
    for (const [pp, q] of [[0, 1], [0, 2], [1, 2]]) {
      if (Math.abs(a[pp][q]) < 1e-300) continue;
      const theta = (a[q][q] - a[pp][pp]) / (2 * a[pp][q]);
      let t = Math.sign(theta) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
      if (theta === 0) t = 1;
      const c = 1 / Math.sqrt(t * t + 1), s = t / Math.sqrt(t * t + 1);
      for (const row of a) {
        const akp = row[pp], akq = row[q];
        row[pp] = c * akp - s * akq;
        row[q] = s * akp + c * akq;
      }
      const rowP = a[pp].slice(), rowQ = a[q].slice();
      for (let k = 0; k < 3; k++) {
        a[pp][k] = c * rowP[k] - s * rowQ[k];
        a[q][k] = s * rowP[k] + c * rowQ[k];
      }
      for (const row of v) {
        const vkp = row[pp], vkq = row[q];
        row[pp] = c * vkp - s * vkq;
        row[q] = s * vkp + c * vkq;
      }
    }
  }
  const lambda = [a[0][0], a[1][1], a[2][2]].map((l) => Math.max(l, 1e-8) ** p);
  return [0, 1, 2].map((i) => [0, 1, 2].map((j) => [0, 1, 2].reduce((s, k) => s + v[i][k] * lambda[k] * v[j][k], 0)));
}

/** The painting recoloured to the photo's mean colour and colour covariance. */
export function matchColors(style, content) {
  const [ms, cs] = colorStatistics(style.data, style.width * style.height);
  const [mc, cc] = colorStatistics(content.data, content.width * content.height);
  const x = symmetricPower(cc, 0.5), y = symmetricPower(cs, -0.5);
  const a = [0, 1, 2].map((i) => [0, 1, 2].map((j) => [0, 1, 2].reduce((s, k) => s + x[i][k] * y[k][j], 0)));
  const offset = [0, 1, 2].map((i) => mc[i] - (a[i][0] * ms[0] + a[i][1] * ms[1] + a[i][2] * ms[2]));
  return { width: style.width, height: style.height, data: mapPixels(style.data, style.width * style.height, a, offset) };
}

/** A mask from a picture: its brightness (Y of YIQ), as restyle's Mask::from_image. */
export function maskFromImage(image) {
  const n = image.width * image.height, d = image.data;
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = 0.299 * d[i] + 0.587 * d[n + i] + 0.114 * d[2 * n + i];
  return { width: image.width, height: image.height, data };
}

function maskResized(mask, w, h) {
  if (w === mask.width && h === mask.height) return mask.data;
  return resample(mask.data, 1, mask.width, mask.height, w, h, "triangle");
}

/** paint.rs's blend: layers over base, each weighted by its mask (none: 1);
 *  weights adding up to more than 1 scaled to 1, what is left is the base. */
function blend(base, layers) {
  const { width: w, height: h } = base;
  const n = w * h;
  const masks = layers.map(([, m]) => (m ? maskResized(m, w, h) : new Float32Array(n).fill(1)));
  const out = new Float32Array(3 * n);
  for (let p = 0; p < n; p++) {
    let total = 0;
    for (const m of masks) total += m[p];
    const scale = total > 1 ? 1 / total : 1;
    for (let c = 0; c < 3; c++) {
      let v = (1 - total * scale) * base.data[c * n + p];
      for (let l = 0; l < layers.length; l++) v += scale * masks[l][p] * layers[l][0].data[c * n + p];
      out[c * n + p] = v;
    }
  }
  return { width: w, height: h, data: out };
}

// ---- The networks ---------------------------------------------------------

/** Whether this browser can run the networks at all. */
export function supported() {
  return typeof WebAssembly === "object" && typeof OffscreenCanvas === "function" &&
    typeof createImageBitmap === "function";
}

/** The backends `FastPainter.load` takes: "auto" (WebGPU where the browser
 *  offers an adapter, else WebAssembly), or one forced, for tests and timings. */
export const BACKENDS = ["auto", "webgpu", "wasm"];

/** The page's `?backend=` when it names one of BACKENDS, else "auto". */
export function backendFrom(search) {
  const asked = new URLSearchParams(search).get("backend");
  return BACKENDS.includes(asked) ? asked : "auto";
}

/** The browser's WebGPU adapter, or null (no WebGPU, or no adapter offered). */
async function webgpuAdapter() {
  if (!globalThis.navigator?.gpu) return null;
  try {
    return await navigator.gpu.requestAdapter();
  } catch {
    return null;
  }
}

/** What an adapter is, and whether it is a software one (its timings are not a GPU's). */
function describe(adapter) {
  const info = adapter.info || {};
  const name = [info.vendor, info.architecture, info.description].filter(Boolean).join(" ");
  const software = info.isFallbackAdapter === true || adapter.isFallbackAdapter === true ||
    /swiftshader|llvmpipe|lavapipe|softpipe|microsoft basic render/i.test(name);
  return { name: name || "unnamed adapter", software };
}

/** "WebGPU" or "WebAssembly", for the page. */
export function backendName(backend) {
  return backend === "webgpu" ? "WebGPU" : "WebAssembly";
}

/** What ran the networks, for the page: the GPU adapter, or the threads and
 *  why not WebGPU when it failed. Takes a painter or what was saved of one. */
export function ranOn({ backend, adapter, threads, fallback }) {
  if (backend === "webgpu") return "on " + adapter.name + (adapter.software ? ", a software GPU" : "");
  return threads + (threads === 1 ? " thread" : " threads") + (fallback ? "; " + fallback : "");
}

function message(e) {
  return String((e && e.message) || e);
}

/** One of onnxruntime-web's builds from `base`, set up to run there: the
 *  WebAssembly one (ort.mjs, ort.wasm) or the WebGPU one (ort.webgpu.mjs,
 *  ort.webgpu.wasm), which is only fetched when WebGPU is used. */
async function runtime(base, backend, threads) {
  const url = (name) => new URL(name, base).href;
  const stem = backend === "webgpu" ? "ort.webgpu" : "ort";
  const ort = await import(url(stem + ".mjs"));
  // Threads need SharedArrayBuffer, which needs a cross-origin isolated page.
  const isolated = globalThis.crossOriginIsolated === true;
  ort.env.wasm.numThreads = threads || (isolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1);
  ort.env.wasm.wasmPaths = { wasm: url(stem + ".wasm") };
  return ort;
}

/** Both networks as sessions of `backend` ("webgpu" on `adapter`, or "wasm"). */
async function sessions(base, backend, models, threads, adapter) {
  const ort = await runtime(base, backend, threads);
  if (adapter) ort.env.webgpu.adapter = adapter;
  const options = { executionProviders: [backend], graphOptimizationLevel: "all" };
  // A copy each time: the bytes stay whole for a later fallback.
  const create = (bytes) => ort.InferenceSession.create(bytes.slice(), options);
  // onnxruntime-web's WebGPU provider creates one session at a time ("another
  // WebGPU EP inference session is being created"); WebAssembly both at once.
  if (backend !== "webgpu") {
    const [style, transformer] = await Promise.all(models.map(create));
    return { ort, style, transformer, threads: ort.env.wasm.numThreads };
  }
  const style = await create(models[0]);
  let transformer;
  try {
    transformer = await create(models[1]);
  } catch (e) {
    style.release().catch(() => {}); // its GPU buffers, before the fallback
    throw e;
  }
  return { ort, style, transformer, threads: ort.env.wasm.numThreads };
}

export class FastPainter {
  /** Loads onnxruntime-web and both networks from `base` (the folder holding
   *  the runtimes, style.onnx and transformer.onnx). `backend` (BACKENDS):
   *  "auto" uses WebGPU when the browser offers an adapter; WebGPU that fails
   *  to load (or later to run) falls back to WebAssembly, and `fallback` says why. */
  static async load(base, { threads, backend = "auto" } = {}) {
    if (!BACKENDS.includes(backend)) throw new Error(`unknown backend ${backend} (${BACKENDS.join(", ")})`);
    const started = performance.now();
    const models = await Promise.all(
      ["style.onnx", "transformer.onnx"].map(async (name) => {
        const response = await fetch(new URL(name, base));
        if (!response.ok) throw new Error(name + ": " + response.status);
        return new Uint8Array(await response.arrayBuffer());
      }),
    );
    let loaded = null, fallback = null, adapter = null;
    if (backend !== "wasm") adapter = await webgpuAdapter();
    if (adapter) {
      try {
        loaded = await sessions(base, "webgpu", models, threads, adapter);
      } catch (e) {
        fallback = "WebGPU failed to load (" + message(e) + ")";
      }
    } else if (backend === "webgpu") {
      fallback = "WebGPU was asked for, but this browser offers no WebGPU adapter";
    }
    if (!loaded) loaded = await sessions(base, "wasm", models, threads);
    const painter = new FastPainter(loaded);
    painter.base = base;
    painter.models = models;
    painter.requestedThreads = threads;
    painter.backend = adapter && !fallback ? "webgpu" : "wasm";
    painter.adapter = adapter ? describe(adapter) : null;
    painter.fallback = fallback;
    painter.loadSeconds = (performance.now() - started) / 1000;
    return painter;
  }

  constructor({ ort, style, transformer, threads }) {
    this.ort = ort;
    this.style = style;
    this.transformer = transformer;
    this.threads = threads;
    this.backend = "wasm";
    this.vectors = new WeakMap();
    this.networkSeconds = 0;
  }

  /** WebGPU failed: the WebAssembly runtime from now on, and why. */
  async fallBack(why) {
    const old = [this.style, this.transformer];
    Object.assign(this, await sessions(this.base, "wasm", this.models, this.requestedThreads));
    this.backend = "wasm";
    this.fallback = why;
    this.vectors = new WeakMap(); // the GPU's vectors: computed again here, as the picture is
    for (const s of old) s.release?.().catch(() => {});
  }

  /** Runs network `which` ("style" or "transformer") on `inputs` ({ name:
   *  [Float32Array, dims] }); on WebGPU, a failure falls back and runs again. */
  async run(which, inputs) {
    const feeds = () => Object.fromEntries(
      Object.entries(inputs).map(([name, [data, dims]]) => [name, new this.ort.Tensor("float32", data, dims)]),
    );
    const started = performance.now();
    const onGpu = this.backend === "webgpu";
    let out;
    try {
      out = await this[which].run(feeds());
    } catch (e) {
      if (!onGpu) throw e;
      // Once, however many runs failed together.
      await (this.falling ||= this.fallBack("WebGPU failed to paint (" + message(e) + ")"));
      out = await this[which].run(feeds());
    }
    this.networkSeconds += (performance.now() - started) / 1000;
    return out;
  }

  /** The 100-number style vector of a 256x256 image. */
  async styleVector(input) {
    const out = await this.run("style", { style: [input.data, [1, 3, STYLE_SIZE, STYLE_SIZE]] });
    return out.vector.data;
  }

  /** The vector of a painting as loaded (cached per image object). */
  async vectorOf(image) {
    let v = this.vectors.get(image);
    if (!v) {
      v = await this.styleVector(styleInput(image));
      this.vectors.set(image, v);
    }
    return v;
  }

  /** `content` painted with `vector`, the same size. */
  async stylize(content, vector) {
    if (Math.min(content.width, content.height) < MIN_CONTENT_SIZE) {
      throw new Error(`the picture is ${content.width}x${content.height}: the fast method needs at least ${MIN_CONTENT_SIZE} pixels a side`);
    }
    const out = await this.run("transformer", {
      content: [content.data, [1, 3, content.height, content.width]],
      vector: [vector, [1, STYLE_DIMS]],
    });
    const picture = { width: content.width, height: content.height, data: out.picture.data };
    out.picture.dispose?.();
    return picture;
  }

  /** paint.rs's `paint`: the photo at `size` px (long edge) in the blend of
   *  `styles` ({ image, weight }), `strength` of the way from the photo's own
   *  style, colours kept as `color` says (none, luminance, histogram). */
  async paintOne({ photo, size, styles, strength = 1, color = "none" }) {
    const [w, h] = fitLongEdge(photo.width, photo.height, size);
    const content = resized(photo, w, h);
    const total = styles.reduce((s, x) => s + (x.weight ?? 1), 0);
    const vector = new Float32Array(STYLE_DIMS);
    for (const s of styles) {
      const v = color === "histogram"
        ? await this.styleVector(styleInput(matchColors(s.image, content)))
        : await this.vectorOf(s.image);
      for (let i = 0; i < STYLE_DIMS; i++) vector[i] += (v[i] * (s.weight ?? 1)) / total;
    }
    if (strength < 1) {
      const own = await this.vectorOf(photo);
      for (let i = 0; i < STYLE_DIMS; i++) vector[i] = own[i] * (1 - strength) + vector[i] * strength;
    }
    const picture = await this.stylize(content, vector);
    return color === "luminance" ? recombine(picture, content) : picture;
  }

  /** paint.rs's `paint_regions`: each masked style painted over the whole
   *  photo and the pictures blended by their masks, the part `keep` marks left
   *  as the photo; without masks, one picture in the styles' blend. */
  async paint({ photo, size, styles, strength = 1, color = "none", keep = null }) {
    this.networkSeconds = 0;
    const one = (s) => this.paintOne({ photo, size, styles: s, strength, color });
    let image;
    if (styles.every((s) => !s.mask)) {
      image = await one(styles);
    } else {
      const layers = [];
      for (const s of styles) layers.push([await one([s]), s.mask || null]);
      image = blend(resized(photo, layers[0][0].width, layers[0][0].height), layers);
    }
    if (keep) image = blend(image, [[resized(photo, image.width, image.height), keep]]);
    return image;
  }
}

/** The job the page's form describes (the API's fields in `data`), painted
 *  as the server's instant lane paints it. `fetchPreset(name)` gives a shipped
 *  painting's Blob. */
export async function paintForm(painter, data, fetchPreset) {
  const image = async (file, preset) => {
    if (file && file.size) return decode(file);
    if (preset) return decode(await fetchPreset(preset));
    return null;
  };
  const photo = await decode(data.get("content"));
  const first = await image(data.get("style"), data.get("style_preset"));
  const second = await image(data.get("style_2"), data.get("style_preset_2"));
  for (const s of [first, second]) {
    if (s && Math.min(s.width, s.height) < MIN_STYLE_SIDE) {
      throw new Error(`the style image is ${s.width}x${s.height}: the fast method needs at least ${MIN_STYLE_SIDE}x${MIN_STYLE_SIDE} pixels`);
    }
  }
  const mask = async (name) => (data.get(name) ? maskFromImage(await decode(data.get(name))) : null);
  const styles = [{ image: first, weight: 1, mask: await mask("mask_1") }];
  if (second) styles.push({ image: second, weight: 1, mask: await mask("mask_2") });
  return painter.paint({
    photo,
    size: Number(data.get("size")),
    styles,
    strength: 1,
    color: data.get("preserve_colors") || "none",
    keep: await mask("keep"),
  });
}
