// Regions on the form: a second painting, and a brush to paint over the
// photo which part gets which painting, or which part is kept as it is.
// The strokes become grey masks (white: the region), sent as the uploads
// mask_1, mask_2 and keep. Plain JavaScript, no build step.
"use strict";

(function () {
  // Painting 1 is everywhere nothing else is painted; the "Painting 1"
  // brush wipes the others' strokes. Colours on the (translucent) overlay:
  // no green in the one, no blue in the other, so that a pixel's mix of the
  // two reads back from its colour.
  const COLOURS = { 2: [40, 0, 255], keep: [40, 200, 0] };
  const LONG_EDGE = 512; // the masks' size: enough for a soft region
  const HISTORY = 30;

  function setup(form) {
    const area = document.getElementById("paint-area");
    const canvas = document.getElementById("paint-canvas");
    const photo = document.getElementById("paint-photo");
    const hint = document.getElementById("paint-hint");
    const size = document.getElementById("brush-size");
    const ctx = canvas.getContext("2d", { willReadFrequently: true });
    const undo = [];
    let painting = false;
    let last = null;
    let painted = false;

    function brush() {
      const checked = form.querySelector("input[name=brush]:checked");
      return checked ? checked.value : "1";
    }

    function loadPhoto() {
      const file = document.getElementById("content").files[0];
      if (photo.dataset.url) URL.revokeObjectURL(photo.dataset.url);
      if (!file) { area.hidden = true; hint.hidden = false; return; }
      photo.dataset.url = URL.createObjectURL(file);
      photo.onload = () => {
        const scale = LONG_EDGE / Math.max(photo.naturalWidth, photo.naturalHeight);
        canvas.width = Math.max(1, Math.round(photo.naturalWidth * scale));
        canvas.height = Math.max(1, Math.round(photo.naturalHeight * scale));
        clear(false);
        area.hidden = false;
        hint.hidden = true;
      };
      photo.src = photo.dataset.url;
    }

    function snapshot() {
      undo.push(ctx.getImageData(0, 0, canvas.width, canvas.height));
      if (undo.length > HISTORY) undo.shift();
    }

    function clear(remember) {
      if (remember) snapshot();
      ctx.clearRect(0, 0, canvas.width, canvas.height);
      painted = false;
    }

    // A soft round dab: full strength in the middle, fading to nothing at
    // the edge. "Painting 1" wipes the other brushes' strokes; the others
    // paint over them (where colours mix, the weights split between them).
    function dab(x, y) {
      const radius = (Number(size.value) / 100) * Math.max(canvas.width, canvas.height);
      const soft = (rgb, alpha) => {
        const g = ctx.createRadialGradient(x, y, 0, x, y, radius);
        g.addColorStop(0, "rgba(" + rgb + "," + alpha + ")");
        g.addColorStop(0.5, "rgba(" + rgb + "," + alpha + ")");
        g.addColorStop(1, "rgba(" + rgb + ",0)");
        return g;
      };
      const colour = COLOURS[brush()];
      ctx.globalCompositeOperation = colour ? "source-over" : "destination-out";
      ctx.fillStyle = soft(colour ? colour.join(",") : "0,0,0", 1);
      ctx.fillRect(x - radius, y - radius, 2 * radius, 2 * radius);
      ctx.globalCompositeOperation = "source-over";
      painted = true;
    }

    function at(e) {
      const r = canvas.getBoundingClientRect();
      return [(e.clientX - r.left) * (canvas.width / r.width), (e.clientY - r.top) * (canvas.height / r.height)];
    }

    canvas.addEventListener("pointerdown", (e) => {
      e.preventDefault();
      try { canvas.setPointerCapture(e.pointerId); } catch (_) { /* a pointer the page cannot capture */ }
      snapshot();
      painting = true;
      last = at(e);
      dab(...last);
    });
    canvas.addEventListener("pointermove", (e) => {
      if (!painting) return;
      const [x, y] = at(e);
      // Dabs every few pixels along the stroke, so fast strokes stay whole.
      const step = Math.max(1, (Number(size.value) / 400) * Math.max(canvas.width, canvas.height));
      const n = Math.ceil(Math.hypot(x - last[0], y - last[1]) / step);
      for (let i = 1; i <= n; i++) dab(last[0] + ((x - last[0]) * i) / n, last[1] + ((y - last[1]) * i) / n);
      last = [x, y];
    });
    for (const t of ["pointerup", "pointercancel"]) canvas.addEventListener(t, () => { painting = false; });

    document.getElementById("undo").addEventListener("click", () => {
      const previous = undo.pop();
      if (previous) ctx.putImageData(previous, 0, 0);
    });
    document.getElementById("clear").addEventListener("click", () => clear(true));
    document.getElementById("content").addEventListener("change", loadPhoto);

    // Each region's weight per pixel, from the overlay's colours.
    function weights() {
      const { data } = ctx.getImageData(0, 0, canvas.width, canvas.height);
      const n = canvas.width * canvas.height;
      const second = new Float32Array(n), keep = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        const [g, b, a] = [data[4 * i + 1], data[4 * i + 2], data[4 * i + 3] / 255];
        if (a === 0) continue;
        // Blue is painting 2, green the kept part; a mix at soft edges splits.
        const share = b / Math.max(1, g + b);
        second[i] = a * share;
        keep[i] = a * (1 - share);
      }
      return { second, keep };
    }

    function maskBlob(values) {
      const out = document.createElement("canvas");
      out.width = canvas.width;
      out.height = canvas.height;
      const octx = out.getContext("2d");
      const img = octx.createImageData(out.width, out.height);
      let any = false;
      values.forEach((v, i) => {
        const grey = Math.round(Math.min(1, Math.max(0, v)) * 255);
        if (grey > 0) any = true;
        img.data.set([grey, grey, grey, 255], 4 * i);
      });
      if (!any) return Promise.resolve(null);
      octx.putImageData(img, 0, 0);
      return new Promise((resolve) => out.toBlob(resolve, "image/png"));
    }

    // Adds the second painting and the masks to `data`; returns an error
    // message instead if the choices do not fit together.
    async function append(data) {
      const file = document.getElementById("style_2").files[0];
      const preset = form.elements.style_preset_2.value;
      if (file) data.append("style_2", file);
      else if (preset) data.append("style_preset_2", preset);
      const hasSecond = !!(file || preset);
      if (!painted) return null;
      const { second, keep } = weights();
      const secondBlob = await maskBlob(second);
      const keepBlob = await maskBlob(keep);
      if (secondBlob && !hasSecond) return "Choose a second painting for the part painted for it, or paint it over with the Painting 1 brush.";
      if (secondBlob) {
        const first = second.map((v, i) => Math.max(0, 1 - v - keep[i]));
        const firstBlob = await maskBlob(first);
        if (firstBlob) data.append("mask_1", firstBlob, "mask_1.png");
        data.append("mask_2", secondBlob, "mask_2.png");
      }
      if (keepBlob) data.append("keep", keepBlob, "keep.png");
      return null;
    }

    window.restyleRegions = { append };
  }

  document.addEventListener("DOMContentLoaded", () => {
    const form = document.getElementById("job-form");
    if (form && document.getElementById("paint-canvas")) setup(form);
  });
})();
