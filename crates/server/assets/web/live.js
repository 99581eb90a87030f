// Live camera: the camera's frames painted as they come, in a Web Worker (this
// same file, loaded as one), so the page never waits on the networks. The
// worker draws into the page's canvas (transferred to it); the page sends it
// the newest frame whenever it has finished the last, so a slow device paints
// fewer frames instead of falling behind.
//
//   const live = new Live(canvas, { width: 320 }); // backend: as FastPainter.load's
//   await live.start(paintingBlob);     // asks for the camera
//   const png = await live.snapshot();  // the picture as it stands
//   live.stop();
import { FastPainter, decode, fromBitmap, toRgba } from "./fast.js";

const inWorker = typeof WorkerGlobalScope !== "undefined" && self instanceof WorkerGlobalScope;

if (inWorker) {
  let painter = null, vector = null, canvas = null;
  const reply = (m) => self.postMessage(m);
  self.onmessage = async ({ data: m }) => {
    try {
      if (m.type === "start") {
        canvas = m.canvas;
        painter = await FastPainter.load(new URL("./", import.meta.url), { backend: m.backend });
        vector = await painter.vectorOf(await decode(m.painting));
        reply({
          type: "ready",
          threads: painter.threads,
          loadSeconds: painter.loadSeconds,
          backend: painter.backend,
          adapter: painter.adapter,
          fallback: painter.fallback,
        });
      } else if (m.type === "style") {
        vector = await painter.vectorOf(await decode(m.painting));
        reply({ type: "styled" });
      } else if (m.type === "frame") {
        const frame = fromBitmap(m.bitmap);
        m.bitmap.close();
        const started = performance.now();
        const picture = await painter.stylize(frame, vector);
        if (canvas.width !== picture.width || canvas.height !== picture.height) {
          canvas.width = picture.width;
          canvas.height = picture.height;
        }
        canvas.getContext("2d").putImageData(toRgba(picture), 0, 0);
        // The backend with each frame: WebGPU may fail and fall back while painting.
        reply({ type: "painted", seconds: (performance.now() - started) / 1000, backend: painter.backend, fallback: painter.fallback });
      } else if (m.type === "snapshot") {
        reply({ type: "snapshot", blob: await canvas.convertToBlob({ type: "image/png" }) });
      }
    } catch (e) {
      reply({ type: "error", message: String((e && e.message) || e) });
    }
  };
}

export class Live {
  /** `canvas`: where the painted frames appear; frames are painted `width` px
   *  wide, on `backend` (FastPainter.load's: "auto", "webgpu" or "wasm"). */
  constructor(canvas, { width = 320, backend = "auto" } = {}) {
    this.canvas = canvas;
    this.width = width;
    this.backend = backend; // then the one the worker uses: "webgpu" or "wasm"
    this.requested = backend;
    this.frames = 0;
    this.onframe = null; // (frames a second) after each painted frame
    this.onerror = null;
  }

  /** Asks for the camera and starts painting in the style of `painting` (a Blob). */
  async start(painting) {
    this.stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
    this.video = document.createElement("video");
    this.video.muted = true;
    this.video.playsInline = true;
    this.video.srcObject = this.stream;
    await this.video.play();
    this.worker = new Worker(import.meta.url, { type: "module" });
    const offscreen = this.canvas.transferControlToOffscreen();
    const ready = this.next("ready");
    this.worker.postMessage({ type: "start", canvas: offscreen, painting, backend: this.requested }, [offscreen]);
    this.worker.onmessage = (e) => this.receive(e.data);
    const info = await ready;
    this.backend = info.backend;
    this.adapter = info.adapter;
    this.fallback = info.fallback;
    this.started = performance.now();
    this.send();
    return info;
  }

  next(type) {
    return new Promise((resolve, reject) => { this.waiting = { type, resolve, reject }; });
  }

  receive(m) {
    if (m.type === "error") {
      if (this.waiting) this.waiting.reject(new Error(m.message));
      else if (this.onerror) this.onerror(m.message);
      this.waiting = null;
      return;
    }
    if (this.waiting && this.waiting.type === m.type) {
      const w = this.waiting;
      this.waiting = null;
      w.resolve(m);
    }
    if (m.type === "painted") {
      this.frames++;
      this.backend = m.backend;
      this.fallback = m.fallback;
      if (this.onframe) this.onframe(this.frames / ((performance.now() - this.started) / 1000), m.seconds);
      this.send();
    }
  }

  /** The newest frame, scaled to the painting width, to the worker. */
  async send() {
    if (!this.stream) return;
    const { videoWidth: w, videoHeight: h } = this.video;
    const height = Math.max(8, Math.round((this.width * h) / Math.max(1, w)));
    const bitmap = await createImageBitmap(this.video, { resizeWidth: this.width, resizeHeight: height, resizeQuality: "medium" });
    this.worker.postMessage({ type: "frame", bitmap }, [bitmap]);
  }

  /** Another painting, from the next frame on. */
  style(painting) {
    this.worker.postMessage({ type: "style", painting });
  }

  /** The picture as it stands, as a PNG Blob. */
  async snapshot() {
    const got = new Promise((resolve) => {
      const previous = this.worker.onmessage;
      this.worker.onmessage = (e) => {
        if (e.data.type === "snapshot") { this.worker.onmessage = previous; resolve(e.data.blob); } else previous(e);
      };
    });
    this.worker.postMessage({ type: "snapshot" });
    return got;
  }

  stop() {
    if (this.stream) for (const t of this.stream.getTracks()) t.stop();
    this.stream = null;
    if (this.worker) this.worker.terminate();
    this.worker = null;
  }
}
