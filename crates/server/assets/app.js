// restyle's page: previews and drag-and-drop, submitting through the JSON
// API, and the job's live progress over server-sent events. Plain
// JavaScript, no build step.
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);

function show(el, on) { if (el) el.hidden = !on; }

function formatSeconds(s) {
  if (s == null || !isFinite(s)) return "–";
  s = Math.max(0, Math.round(s));
  if (s < 60) return s + " s";
  const m = Math.floor(s / 60), r = s % 60;
  if (m < 60) return m + " min " + String(r).padStart(2, "0") + " s";
  return Math.floor(m / 60) + " h " + String(m % 60).padStart(2, "0") + " min";
}

async function errorText(response) {
  try {
    const body = await response.json();
    if (body && body.error) return body.error;
  } catch (_) { /* not JSON */ }
  return "the server answered " + response.status + " " + response.statusText;
}

// A clip (a video job) rather than a photo: painted frame by frame on the server.
function isClip(file) {
  return !!file && (file.type.startsWith("video/") || file.type === "image/gif" || /\.(mp4|m4v|webm|mov|mkv|gif)$/i.test(file.name));
}

// ---- The form -----------------------------------------------------------

function setupForm(form) {
  const errorBox = $("#form-error");
  const maxUpload = Number(form.dataset.maxUpload || 0);
  const fail = (message) => { errorBox.textContent = message; show(errorBox, true); };

  function preview(input) {
    const zone = input.closest(".drop");
    const img = $(".preview", zone);
    const file = input.files && input.files[0];
    if (img.dataset.url) URL.revokeObjectURL(img.dataset.url);
    // A clip plays where a photo is shown.
    let clip = $("video.preview", zone);
    if (clip) { clip.remove(); clip = null; }
    if (file && isClip(file) && file.type !== "image/gif") {
      img.dataset.url = URL.createObjectURL(file);
      img.removeAttribute("src");
      show(img, false);
      clip = document.createElement("video");
      clip.className = "preview";
      clip.muted = true;
      clip.loop = true;
      clip.autoplay = true;
      clip.playsInline = true;
      clip.src = img.dataset.url;
      img.after(clip);
      zone.classList.add("has-image");
    } else if (file) {
      img.dataset.url = URL.createObjectURL(file);
      img.src = img.dataset.url;
      show(img, true);
      zone.classList.add("has-image");
    } else {
      img.removeAttribute("src");
      show(img, false);
      zone.classList.remove("has-image");
    }
  }

  for (const zone of form.querySelectorAll(".drop")) {
    const input = $("input[type=file]", zone);
    input.addEventListener("change", () => {
      show(errorBox, false);
      preview(input);
      // An uploaded painting replaces the shipped ones.
      if (input.name === "style" && input.files.length) {
        for (const r of form.querySelectorAll("input[name=style_preset]")) r.checked = false;
      }
    });
    ["dragenter", "dragover"].forEach((t) => zone.addEventListener(t, (e) => { e.preventDefault(); zone.classList.add("over"); }));
    ["dragleave", "drop"].forEach((t) => zone.addEventListener(t, () => zone.classList.remove("over")));
    zone.addEventListener("drop", (e) => {
      e.preventDefault();
      const files = e.dataTransfer && e.dataTransfer.files;
      if (!files || !files.length) return;
      const dt = new DataTransfer();
      dt.items.add(files[0]);
      input.files = dt.files;
      input.dispatchEvent(new Event("change"));
    });
  }
  // How long each method takes, estimated from the output size (a 4:3 picture) and steps.
  const methods = $("#methods");
  function estimate() {
    if (!methods) return;
    const size = Number(form.elements.size.value);
    const mp = (size * size * 0.75) / 1e6;
    const steps = Number(form.elements.iterations.value);
    const fast = Number(methods.dataset.fastFixed) + Number(methods.dataset.fastPerMp) * mp;
    const gatys = fast + Number(methods.dataset.gatysPerMpStep) * mp * steps;
    $("[data-estimate=fast]", methods).textContent = fast < 1.5 ? "a second" : formatSeconds(fast);
    $("[data-estimate=gatys]", methods).textContent = formatSeconds(gatys);
    // The optimisation's settings play no part in an instant picture.
    const instant = form.elements.method.value === "fast";
    for (const name of ["style_weight", "iterations"]) form.elements[name].disabled = instant;
  }
  for (const name of ["size", "iterations"]) form.elements[name].addEventListener("change", estimate);
  for (const radio of form.querySelectorAll("input[name=method]")) radio.addEventListener("change", estimate);
  estimate();

  for (const radio of form.querySelectorAll("input[name=style_preset]")) {
    radio.addEventListener("change", () => {
      const style = $("#style");
      style.value = "";
      preview(style);
    });
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    show(errorBox, false);
    const content = $("#content").files[0];
    const style = $("#style").files[0];
    const preset = form.querySelector("input[name=style_preset]:checked");
    if (!content) return fail("Choose a photo first.");
    if (!style && !preset) return fail("Choose a painting, or pick one of the shipped ones.");
    const total = content.size + (style ? style.size : 0);
    if (maxUpload && total > maxUpload) {
      return fail("These files are too large for this server: " + (total / 1048576).toFixed(1) +
        " MB together, at most " + (maxUpload / 1048576).toFixed(0) + " MB.");
    }
    const data = new FormData();
    data.append("content", content);
    if (style) data.append("style", style); else data.append("style_preset", preset.value);
    // The optimisation's own fields are off (and refused) for a fast picture.
    for (const name of ["size", "style_weight", "iterations"]) {
      if (!form.elements[name].disabled) data.append(name, form.elements[name].value);
    }
    if (form.elements.preserve_colors.checked) data.append("preserve_colors", "luminance");
    // The second painting and the painted regions (assets/regions.js).
    if (window.restyleRegions) {
      const problem = await window.restyleRegions.append(data);
      if (problem) return fail(problem);
    }
    // "Gatys" starts the optimisation from the fast picture, shown at once;
    // with regions it starts from the photo (the picture it would start from is one
    // painting everywhere). "Fast" with regions blends one picture per painting.
    const method = form.elements.method ? form.elements.method.value : "gatys";
    const regions = data.has("style_2") || data.has("style_preset_2") || data.has("keep") || data.has("mask_1");
    data.append("method", method);
    const button = $("#submit");
    // A clip is painted on the server, frame by frame, each from the frame itself.
    const clip = isClip(content);
    if (clip && regions) return fail("A clip is painted with one painting: regions are for photos.");
    const inBrowser = browser => !clip && browser && browser.available && !new URLSearchParams(location.search).has("server");
    if (method === "gatys" && !regions && !clip) {
      // The optimisation starts from the fast picture: painted here when the browser can
      // (and sent with the job), else by the server.
      let start = null;
      if (inBrowser(window.restyleBrowser)) {
        button.disabled = true;
        button.textContent = "Painting…";
        try {
          start = await window.restyleBrowser.startingPicture(data);
        } catch (err) {
          console.warn("restyle: the server paints the starting picture: " + err.message);
        } finally {
          button.disabled = false;
          button.textContent = "Paint it";
        }
      }
      if (start) data.append("init", start, "start.png"); else data.append("init", "fast");
    }
    // An instant picture is painted in this browser when it can (assets/web/
    // browser.js): nothing is uploaded. `?server` in the address, or a browser
    // that cannot, sends it to the server's instant lane instead.
    const browser = window.restyleBrowser;
    if (method === "fast" && inBrowser(browser)) {
      button.disabled = true;
      button.textContent = "Painting…";
      let why;
      try {
        why = await browser.paint(data);
      } catch (err) {
        why = err.message;
      } finally {
        button.disabled = false;
        button.textContent = "Paint it";
      }
      if (!why) return;
      console.warn("restyle: painting on the server instead: " + why);
    }
    button.disabled = true;
    button.textContent = "Uploading…";
    try {
      const response = await fetch("/api/jobs", { method: "POST", body: data, credentials: "same-origin" });
      if (response.status === 201) {
        const job = await response.json();
        window.location.href = "/jobs/" + job.id;
        return;
      }
      let message = await errorText(response);
      if (response.status === 503) message += " The server is busy; your picture was not queued.";
      fail(message.charAt(0).toUpperCase() + message.slice(1));
    } catch (err) {
      fail("Could not reach the server: " + err.message);
    } finally {
      button.disabled = false;
      button.textContent = "Paint it";
    }
  });
}

// ---- The job page ---------------------------------------------------------

const LABELS = { queued: "Queued", running: "Running", done: "Done", failed: "Failed", cancelled: "Cancelled" };

function setupJob(section) {
  const id = section.dataset.id;
  let job = JSON.parse($("#job-data").textContent);
  const live = $("#live");
  const canvas = $("#canvas");
  let shownImage = live.getAttribute("src");
  let source = null;

  const clip = job.settings && job.settings.clip;

  // A finished clip plays in place of the live view.
  function showClip(url) {
    let video = $("#clip");
    if (!video) {
      video = document.createElement("video");
      video.id = "clip";
      video.controls = true;
      video.playsInline = true;
      video.preload = "metadata";
      live.before(video);
    }
    if (video.getAttribute("src") !== url) video.src = url;
    show(live, false);
  }

  function swapImage(url) {
    if (clip && url && url === job.result_url) return showClip(url);
    if (!url || url === shownImage) return;
    shownImage = url;
    const next = new Image();
    next.onload = () => { live.src = url; };
    next.src = url;
  }

  function render(j) {
    job = j;
    const badge = $("#state");
    let label = LABELS[j.state] || j.state;
    if (j.state === "queued" && j.position != null) label = j.position === 0 ? "Next in queue" : "Queued (" + j.position + " ahead)";
    if (j.state === "running" && j.cancel_requested) label = "Stopping";
    badge.textContent = label;
    badge.className = "badge state-" + j.state;

    const status = $("#status-line");
    const pct = j.total_steps ? Math.round((100 * j.step) / j.total_steps) : 0;
    const fast = j.settings && j.settings.method === "fast";
    const startsFast = j.settings && j.settings.init === "fast";
    const texts = {
      queued: j.position ? "Waiting for " + j.position + " picture" + (j.position === 1 ? "" : "s") + " ahead of it." : "Starting soon.",
      running: clip ? (j.step ? "Painting frame " + j.step + " of " + j.total_steps + "… " + pct + "%" : "Preparing the first frame…") :
        fast ? "Painting in one pass…" : j.step ? "Refining… " + pct + "%" : "Preparing the painting's style…",
      done: "Finished.",
      failed: "This picture could not be made.",
      cancelled: "Cancelled.",
    };
    status.textContent = texts[j.state] || "";
    const bar = $("#bar");
    bar.max = Math.max(1, j.total_steps);
    bar.value = j.state === "done" ? bar.max : j.step;
    $("#step").textContent = j.total_steps ? j.step + " of " + j.total_steps : "–";
    $("#eta").textContent = j.state === "running" ? formatSeconds(j.eta_seconds) : j.state === "queued" ? "waiting" : "–";
    // Dimmed while there is nothing to show but the photo (a fast picture is shown as is).
    canvas.classList.toggle("waiting", (j.state === "queued" || j.state === "running") && !j.preview_url);
    let caption = "";
    if (j.state === "done" && clip) caption = j.width + " × " + j.height + " px, " + j.total_steps + " frames" + (clip.sound ? ", with its sound" : "");
    else if (j.preview_url && clip) caption = "Live view, frame " + j.step;
    else if (j.state === "done") caption = j.width + " × " + j.height + " px" + (fast ? ", instant, painted on the server" : "");
    else if (j.preview_url && startsFast && j.step === 0) caption = "The instant picture; the refinement forms over it";
    else if (j.preview_url && startsFast) caption = "Refining the instant picture, step " + j.step;
    else if (j.preview_url) caption = "Live view, step " + j.step;
    $("#caption").textContent = caption;

    const err = $("#job-error");
    err.textContent = j.error || "";
    show(err, !!j.error);
    show($("#download"), j.state === "done");
    show($("#cancel"), j.state === "queued" || j.state === "running");
    $("#cancel").disabled = !!j.cancel_requested;
    swapImage(j.result_url || j.preview_url);
    document.title = label + " · restyle";
  }

  function listen() {
    if (!window.EventSource || ["done", "failed", "cancelled"].includes(job.state)) return;
    source = new EventSource("/api/jobs/" + id + "/events");
    source.addEventListener("job", (e) => {
      const j = JSON.parse(e.data);
      render(j);
      if (["done", "failed", "cancelled"].includes(j.state)) source.close();
    });
    source.addEventListener("deleted", () => {
      source.close();
      $("#status-line").textContent = "This picture was deleted.";
    });
    // On errors EventSource reconnects by itself (a server restart, say).
  }

  $("#cancel").addEventListener("click", async () => {
    const r = await fetch("/api/jobs/" + id + "/cancel", { method: "POST" });
    if (r.ok) render(await r.json()); else alert(await errorText(r));
  });
  $("#delete").addEventListener("click", async () => {
    if (!confirm("Delete this picture and its uploads?")) return;
    if (source) source.close();
    const r = await fetch("/api/jobs/" + id, { method: "DELETE" });
    if (r.ok || r.status === 404) window.location.href = "/#gallery"; else alert(await errorText(r));
  });

  render(job);
  listen();
}

document.addEventListener("DOMContentLoaded", () => {
  const form = $("#job-form");
  if (form) setupForm(form);
  const job = $("#job");
  if (job) setupJob(job);
});
