// The page's instant pictures painted in the visitor's browser (fast.js), so
// the photo is never uploaded for one. app.js asks `window.restyleBrowser` to
// paint an "Instant" submission; when it cannot (no WebAssembly, the runtime
// failed to load), app.js sends the job to the server as before. The networks
// run on WebGPU where the browser offers it, else WebAssembly; `?backend=wasm`
// or `?backend=webgpu` on the page's address forces one (tests, timings).
import { FastPainter, backendFrom, backendName, paintForm, ranOn, supported, toRgba } from "./fast.js";
import { Live } from "./live.js";

const base = new URL("./", import.meta.url);
const backend = backendFrom(location.search);
let loading = null;

/** The painter, loaded once (onnxruntime-web and the two networks, ~6.6 MB). */
function painter() {
  if (!loading) loading = FastPainter.load(base, { backend });
  return loading;
}

function seconds(s) {
  return s < 10 ? s.toFixed(2) + " s" : Math.round(s) + " s";
}

async function toBlob(picture) {
  const canvas = new OffscreenCanvas(picture.width, picture.height);
  canvas.getContext("2d").putImageData(toRgba(picture), 0, 0);
  return canvas.convertToBlob({ type: "image/png" });
}

const browser = {
  available: supported(),
  /** What the last picture was, and how many were painted, for the page and its tests. */
  last: null,
  painted: 0,
  /** The loaded painter (fast.js's FastPainter), for scripts and tests. */
  painter,

  /** Paints the form's job (`data`, the API's fields) and shows it on the
   *  page; null on success, else why the browser could not. */
  async paint(data) {
    const started = performance.now();
    let p;
    try {
      p = await painter();
    } catch (e) {
      loading = null;
      return "this browser could not load the networks (" + e.message + ")";
    }
    const picture = await paintForm(p, data, async (name) => {
      const r = await fetch("/assets/styles/" + encodeURIComponent(name) + ".jpg");
      if (!r.ok) throw new Error("painting " + name + ": " + r.status);
      return r.blob();
    });
    const blob = await toBlob(picture);
    const total = (performance.now() - started) / 1000;
    this.last = {
      width: picture.width,
      height: picture.height,
      network_s: p.networkSeconds,
      total_s: total,
      load_s: p.loadSeconds,
      threads: p.threads,
      backend: p.backend,
      adapter: p.adapter,
      fallback: p.fallback,
      blob,
    };
    show(this.last);
    this.painted++;
    return null;
  },

  /** The fast picture a "Gatys" job starts from, as PNG, painted here so the server need
   *  not: as the server paints it, in the painting's colours (no `preserve_colors`), full
   *  strength, the whole picture. Null when this browser cannot. */
  async startingPicture(data) {
    let p;
    try {
      p = await painter();
    } catch (e) {
      loading = null;
      return null;
    }
    const plain = new FormData();
    for (const [name, value] of data) {
      if (name !== "preserve_colors" && name !== "method") plain.append(name, value);
    }
    plain.append("method", "fast");
    const picture = await paintForm(p, plain, async (name) => {
      const r = await fetch("/assets/styles/" + encodeURIComponent(name) + ".jpg");
      if (!r.ok) throw new Error("painting " + name + ": " + r.status);
      return r.blob();
    });
    this.started++;
    return toBlob(picture);
  },
  /** How many starting pictures were painted here, for the page's tests. */
  started: 0,
};

function show(last) {
  const section = document.getElementById("instant");
  if (!section) return;
  const img = document.getElementById("instant-picture");
  if (img.dataset.url) URL.revokeObjectURL(img.dataset.url);
  img.dataset.url = URL.createObjectURL(last.blob);
  img.src = img.dataset.url;
  const link = document.getElementById("instant-download");
  link.href = img.dataset.url;
  document.getElementById("instant-where").textContent =
    "Painted in your browser (" + backendName(last.backend) + "), " + last.width + " × " + last.height +
    " px in " + seconds(last.total_s) + " (the networks " + seconds(last.network_s) + ", " + ranOn(last) +
    "). Your photo was not uploaded.";
  section.hidden = false;
  section.dataset.where = "browser";
  section.scrollIntoView({ block: "nearest" });
}

window.restyleBrowser = browser;

// Live camera: the form's first painting (uploaded or shipped), on the camera's frames.
async function chosenPainting() {
  const file = document.getElementById("style").files[0];
  if (file) return file;
  const preset = document.querySelector("input[name=style_preset]:checked");
  if (!preset) throw new Error("Choose a painting first.");
  return (await fetch("/assets/styles/" + encodeURIComponent(preset.value) + ".jpg")).blob();
}

function setupCamera() {
  const section = document.getElementById("camera");
  if (!section || !browser.available || !navigator.mediaDevices) return;
  section.hidden = false;
  const [start, snap, stop] = ["camera-start", "camera-snapshot", "camera-stop"].map((id) => document.getElementById(id));
  const fps = document.getElementById("camera-fps");
  let live = null;
  start.addEventListener("click", async () => {
    start.disabled = true;
    fps.textContent = "Starting…";
    const canvas = document.createElement("canvas"); // a fresh one: a canvas goes to one worker only
    document.getElementById("camera-view").replaceChildren(canvas);
    live = new Live(canvas, { width: 320, backend });
    browser.live = live;
    live.onframe = (rate) => { fps.textContent = rate.toFixed(1) + " frames a second (" + backendName(live.backend) + ")"; };
    live.onerror = (message) => { fps.textContent = message; };
    try {
      await live.start(await chosenPainting());
      snap.disabled = stop.disabled = false;
    } catch (e) {
      fps.textContent = "The camera could not start: " + e.message;
      live.stop();
      start.disabled = false;
    }
  });
  snap.addEventListener("click", async () => {
    const blob = await live.snapshot();
    const img = document.getElementById("camera-picture");
    if (img.dataset.url) URL.revokeObjectURL(img.dataset.url);
    img.dataset.url = URL.createObjectURL(blob);
    img.src = img.dataset.url;
    document.getElementById("camera-download").href = img.dataset.url;
    document.getElementById("camera-shot").hidden = false;
  });
  stop.addEventListener("click", () => {
    live.stop();
    start.disabled = false;
    snap.disabled = stop.disabled = true;
    fps.textContent = "";
  });
}
setupCamera();
// Start loading while the visitor picks a photo, so the first picture is quick.
if (browser.available && document.getElementById("instant")) {
  const warm = () => painter().catch(() => { loading = null; });
  if ("requestIdleCallback" in window) requestIdleCallback(warm, { timeout: 2000 }); else setTimeout(warm, 500);
}
