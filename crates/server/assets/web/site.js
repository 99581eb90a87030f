// The static site's page (`restyle site DIR`): the fast method in the
// browser with no server behind it: a photo, a painting (uploaded or
// shipped), size, strength, colours; the picture to download; live camera.
// WebGPU where the browser offers it, else WebAssembly (`?backend=` forces one).
import { FastPainter, backendFrom, backendName, decode, ranOn, supported, toRgba } from "./fast.js";
import { Live } from "./live.js";

const $ = (id) => document.getElementById(id);
const base = new URL("./", import.meta.url);
const backend = backendFrom(location.search);
let loading = null;
const painter = () => (loading ||= FastPainter.load(base, { backend }).catch((e) => { loading = null; throw e; }));

const site = { painted: 0, last: null };
window.restyleSite = site;

async function painting() {
  const file = $("style").files[0];
  if (file) return file;
  const preset = document.querySelector("input[name=style_preset]:checked");
  if (!preset) throw new Error("Choose a painting first.");
  return (await fetch(new URL("styles/" + preset.value + ".jpg", base))).blob();
}

function preview(input) {
  const img = input.closest(".drop").querySelector(".preview");
  const file = input.files[0];
  if (img.dataset.url) URL.revokeObjectURL(img.dataset.url);
  img.hidden = !file;
  if (file) img.src = img.dataset.url = URL.createObjectURL(file);
}

async function setup() {
  const fail = (m) => { $("form-error").textContent = m; $("form-error").hidden = false; };
  if (!supported()) return fail("This browser cannot run the networks (it needs WebAssembly and OffscreenCanvas).");
  const presets = await (await fetch(new URL("styles.json", base))).json();
  $("presets").insertAdjacentHTML("beforeend", presets.map((p, i) =>
    `<label class="preset"><input type="radio" name="style_preset" value="${p.name}"${i ? "" : " checked"}><img src="styles/${p.name}-thumb.jpg" alt="" width="120" height="90"><span>${p.title}<small>${p.artist}</small></span></label>`).join(""));
  for (const id of ["content", "style"]) $(id).addEventListener("change", () => preview($(id)));
  $("style").addEventListener("change", () => { for (const r of document.querySelectorAll("input[name=style_preset]")) r.checked = false; });
  painter().catch(() => {}); // load while the visitor chooses

  const form = $("site-form");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    $("form-error").hidden = true;
    const photoFile = $("content").files[0];
    if (!photoFile) return fail("Choose a photo first.");
    const button = $("submit");
    button.disabled = true;
    button.textContent = "Painting…";
    try {
      const started = performance.now();
      const p = await painter();
      const picture = await p.paint({
        photo: await decode(photoFile),
        size: Number(form.elements.size.value),
        styles: [{ image: await decode(await painting()) }],
        strength: Number(form.elements.strength.value),
        color: form.elements.preserve_colors.checked ? "luminance" : "none",
      });
      const canvas = new OffscreenCanvas(picture.width, picture.height);
      canvas.getContext("2d").putImageData(toRgba(picture), 0, 0);
      const blob = await canvas.convertToBlob({ type: "image/png" });
      const img = $("instant-picture");
      if (img.dataset.url) URL.revokeObjectURL(img.dataset.url);
      img.src = img.dataset.url = URL.createObjectURL(blob);
      $("instant-download").href = img.dataset.url;
      const total = (performance.now() - started) / 1000;
      $("instant-where").textContent = `Painted in your browser (${backendName(p.backend)}), ${picture.width} × ${picture.height} px in ${total.toFixed(2)} s (${ranOn(p)}).`;
      $("instant").hidden = false;
      site.last = { width: picture.width, height: picture.height, blob, backend: p.backend, adapter: p.adapter, fallback: p.fallback };
      site.painted++;
    } catch (err) {
      fail("The picture could not be painted: " + err.message);
    } finally {
      button.disabled = false;
      button.textContent = "Paint it";
    }
  });

  if (!navigator.mediaDevices) return;
  $("camera").hidden = false;
  let live = null;
  $("camera-start").addEventListener("click", async () => {
    $("camera-start").disabled = true;
    $("camera-fps").textContent = "Starting…";
    const canvas = document.createElement("canvas");
    $("camera-view").replaceChildren(canvas);
    live = site.live = new Live(canvas, { width: 320, backend });
    live.onframe = (rate) => { $("camera-fps").textContent = `${rate.toFixed(1)} frames a second (${backendName(live.backend)})`; };
    try {
      await live.start(await painting());
      $("camera-snapshot").disabled = $("camera-stop").disabled = false;
    } catch (err) {
      $("camera-fps").textContent = "The camera could not start: " + err.message;
      live.stop();
      $("camera-start").disabled = false;
    }
  });
  $("camera-snapshot").addEventListener("click", async () => {
    const img = $("camera-picture");
    if (img.dataset.url) URL.revokeObjectURL(img.dataset.url);
    img.src = img.dataset.url = URL.createObjectURL(await live.snapshot());
    $("camera-download").href = img.dataset.url;
    $("camera-shot").hidden = false;
  });
  $("camera-stop").addEventListener("click", () => {
    live.stop();
    $("camera-start").disabled = false;
    $("camera-snapshot").disabled = $("camera-stop").disabled = true;
  });
}

setup();
