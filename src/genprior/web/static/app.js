// genprior serve: the page's logic. Plain JavaScript, no library, nothing fetched from elsewhere.
"use strict";

const $ = (id) => document.getElementById(id);
const FINISHED = ["done", "failed", "cancelled"];
let options = null;      // /api/options
let currentImage = null; // the Blob that will be uploaded as the truth
let currentJob = null;   // id of the job being polled
let maskPainted = false;

function say(text, ok = false) {
  const m = $("message");
  m.textContent = text || "";
  m.className = ok ? "ok" : "";
}

async function errorOf(response) {
  try {
    const body = await response.json();
    if (body && body.error) return body.error;
  } catch (e) { /* not JSON */ }
  return `the server answered ${response.status} ${response.statusText}`;
}

async function api(url, init) {
  let response;
  try {
    response = await fetch(url, init);
  } catch (e) {
    throw new Error(`the server did not answer (${e.message}); is genprior serve still running?`);
  }
  if (!response.ok) throw new Error(await errorOf(response));
  return response;
}

// ---- the image: upload, sample, drawing -------------------------------------------------------------------------

async function showPreview() {
  const canvas = $("preview");
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  if (!currentImage) { $("preview-caption").textContent = "no image yet"; return; }
  const bitmap = await createImageBitmap(currentImage);
  const side = Math.min(bitmap.width, bitmap.height);  // the centred square the server keeps
  ctx.imageSmoothingEnabled = false;
  ctx.filter = $("invert").checked ? "invert(1)" : "none";
  ctx.drawImage(bitmap, (bitmap.width - side) / 2, (bitmap.height - side) / 2, side, side, 0, 0, canvas.width, canvas.height);
  ctx.filter = "none";
  $("preview-caption").textContent = `${bitmap.width}x${bitmap.height} pixels (centred square, resized to the model's size)`;
}

async function setImage(blob, label) {
  currentImage = blob;
  clearMask();
  await showPreview();
  say(`image: ${label}`, true);
}

async function onFile() {
  const file = $("file").files[0];
  if (!file) return;
  const form = new FormData();
  form.append("image", file, file.name);
  try {
    await api("/api/images", { method: "POST", body: form });  // the server's own checks: size, type, dimensions
  } catch (e) {
    currentImage = null;
    await showPreview();
    say(`${file.name} refused: ${e.message}`);
    $("file").value = "";
    return;
  }
  await setImage(file, file.name);
}

async function useSample() {
  const index = $("sample-index").value || "0";
  try {
    const response = await api(`/api/samples/${encodeURIComponent(index)}`);
    await setImage(await response.blob(), `bundled MNIST test image ${index}`);
  } catch (e) { say(e.message); }
}

function paintable(canvas, { color, width, onPaint }) {
  const ctx = canvas.getContext("2d");
  let last = null;
  const at = (ev) => {
    const r = canvas.getBoundingClientRect();
    return [(ev.clientX - r.left) * canvas.width / r.width, (ev.clientY - r.top) * canvas.height / r.height];
  };
  const stroke = (p) => {
    ctx.strokeStyle = color; ctx.fillStyle = color; ctx.lineWidth = width; ctx.lineCap = "round"; ctx.lineJoin = "round";
    ctx.beginPath();
    if (last) { ctx.moveTo(...last); ctx.lineTo(...p); ctx.stroke(); }
    else { ctx.arc(p[0], p[1], width / 2, 0, 2 * Math.PI); ctx.fill(); }
    last = p;
    if (onPaint) onPaint();
  };
  canvas.addEventListener("pointerdown", (ev) => { canvas.setPointerCapture(ev.pointerId); last = null; stroke(at(ev)); });
  canvas.addEventListener("pointermove", (ev) => { if (ev.buttons) stroke(at(ev)); });
  canvas.addEventListener("pointerup", () => { last = null; });
}

function clearDrawing() {
  const c = $("draw"), ctx = c.getContext("2d");
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, c.width, c.height);
}

function useDrawing() {
  $("draw").toBlob((blob) => setImage(blob, "your drawing"), "image/png");
}

function clearMask() {
  const c = $("mask");
  c.getContext("2d").clearRect(0, 0, c.width, c.height);
  maskPainted = false;
}

// the painted overlay as a PNG: white where painted (missing pixels), black elsewhere
function maskBlob() {
  const src = $("mask"), out = document.createElement("canvas");
  out.width = src.width; out.height = src.height;
  const data = src.getContext("2d").getImageData(0, 0, src.width, src.height);
  const ctx = out.getContext("2d"), img = ctx.createImageData(src.width, src.height);
  for (let i = 0; i < data.data.length; i += 4) {
    const v = data.data[i + 3] > 0 ? 255 : 0;
    img.data[i] = img.data[i + 1] = img.data[i + 2] = v; img.data[i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
  return new Promise((resolve) => out.toBlob(resolve, "image/png"));
}

// ---- the form -----------------------------------------------------------------------------------------------------

function maskMode() { return document.querySelector("input[name=mask-mode]:checked").value; }

function updateTaskFields() {
  const task = $("task").value;
  for (const row of document.querySelectorAll(".task-field")) row.hidden = row.dataset.task !== task;
  $("mask").classList.toggle("active", task === "inpaint" && maskMode() === "draw");
}

function chosenMethods() {
  return [...document.querySelectorAll("input[name=method]:checked")].map((el) => el.value);
}

function updateOptionHint() {
  if (!options) return;
  const users = (key) => options.methods.filter((m) => key in m.options).map((m) => `${m.name} ${m.options[key]}`);
  $("option-hint").textContent = `Blank means the method's default: steps (${users("steps").join(", ")}, at most ` +
    `${options.limits.max_steps}); restarts (${users("restarts").join(", ")}, at most ${options.limits.max_restarts}); ` +
    `alpha (${users("alpha").join(", ")}); lambda (${users("lam").join(", ")}). A job is cancelled between two methods.`;
}

async function loadOptions() {
  options = await (await api("/api/options")).json();
  const model = $("model");
  for (const m of options.models) {
    const o = document.createElement("option");
    o.value = m.name;
    o.textContent = `${m.name} (${m.shape.join("x")}${m.ensemble ? ", ensemble: hybrid only" : ""})`;
    if (m.name === "mnist-vae") o.selected = true;
    model.append(o);
  }
  const box = $("methods");
  for (const m of options.methods) {
    const label = document.createElement("label");
    const input = document.createElement("input");
    input.type = "checkbox"; input.name = "method"; input.value = m.name;
    input.checked = m.name === "csgm-fast" || m.name === "lasso-dct";
    label.append(input, ` ${m.name}: ${m.label}`);
    box.append(label);
  }
  $("sample-index").max = String(options.samples - 1);
  updateOptionHint();
}

async function buildForm() {
  if (!currentImage) throw new Error("choose an image first: upload one, pick a sample or draw a digit");
  const methods = chosenMethods();
  if (!methods.length) throw new Error("choose at least one method");
  const form = new FormData();
  form.append("image", currentImage, "image.png");
  form.append("model", $("model").value);
  for (const m of methods) form.append("methods", m);
  const task = $("task").value;
  form.append("task", task);
  if (task === "cs") form.append("m", $("m").value);
  if (task === "superres") form.append("factor", $("factor").value);
  if (task === "inpaint") {
    if (maskMode() === "draw") {
      if (!maskPainted) throw new Error("paint the missing pixels on the image first (or choose a random fraction)");
      form.append("mask", await maskBlob(), "mask.png");
    } else {
      form.append("keep", $("keep").value);
    }
  }
  for (const key of ["noise_std", "noise", "seed", "steps", "restarts", "alpha", "lam"]) {
    const v = $(key).value.trim();
    if (v !== "") form.append(key, v);
  }
  if ($("invert").checked) form.append("invert", "1");
  return form;
}

// ---- jobs ---------------------------------------------------------------------------------------------------------

function fmt(x, digits = 4) { return x === null || x === undefined ? "-" : Number(x).toPrecision(digits); }

function card(name, entry, extra) {
  const div = document.createElement("div");
  div.className = "card";
  div.dataset.method = name;
  const title = document.createElement("span");
  title.className = "name"; title.textContent = name;
  div.append(title);
  if (entry && entry.png) {
    const img = document.createElement("img");
    img.src = entry.png; img.alt = name;
    div.append(img);
  }
  if (entry && entry.error) {
    const e = document.createElement("span");
    e.className = "error-text"; e.textContent = entry.error;
    div.append(e);
  } else if (entry && entry.mse_per_pixel !== undefined) {
    const s = document.createElement("span");
    s.className = "mse"; s.dataset.value = String(entry.mse_per_pixel);
    s.textContent = `error/pixel ${fmt(entry.mse_per_pixel)} · PSNR ${fmt(entry.psnr, 3)} dB` +
      (entry.seconds !== undefined ? ` · ${fmt(entry.seconds, 2)} s` : "");
    div.append(s);
  }
  if (extra) { const p = document.createElement("span"); p.className = "hint"; p.textContent = extra; div.append(p); }
  return div;
}

function render(job) {
  const box = $("results");
  box.replaceChildren();
  if (job.truth) box.append(card("truth", job.truth, `model ${job.model}`));
  if (job.operator) {
    const op = job.operator;
    const what = `${op.task}: m = ${op.m} of n = ${op.n}`;
    box.append(job.measured ? card("measured", job.measured, what) : card("measured", null, `${what} (no picture)`));
  }
  for (const r of job.results) box.append(card(r.method, r));
  const bar = $("progress-bar");
  bar.max = job.total; bar.value = job.done;
  const where = job.state === "queued" ? `: ${job.position} ahead` : job.state === "running" ? `: ${job.stage}` : "";
  $("progress").textContent = `${job.state}${where}` + (job.elapsed ? ` (${job.elapsed.toFixed(1)} s)` : "");
  const link = $("download");
  link.hidden = !job.download;
  if (job.download) link.href = job.download;
}

async function poll(id) {
  while (currentJob === id) {
    let job;
    try {
      job = await (await api(`/api/jobs/${id}`)).json();
    } catch (e) { say(e.message); break; }
    render(job);
    if (FINISHED.includes(job.state)) {
      if (job.state === "failed") say(`the job failed: ${job.error}`);
      else if (job.state === "cancelled") say("cancelled");
      else say("done", true);
      break;
    }
    await new Promise((r) => setTimeout(r, 400));
  }
  if (currentJob === id) { currentJob = null; $("run").disabled = false; $("cancel").disabled = true; }
}

async function run() {
  let form;
  try { form = await buildForm(); } catch (e) { say(e.message); return; }
  say("");
  $("run").disabled = true;
  try {
    const { id } = await (await api("/api/jobs", { method: "POST", body: form })).json();
    currentJob = id;
    $("cancel").disabled = false;
    $("download").hidden = true;
    $("results").replaceChildren();
    poll(id);
  } catch (e) {
    say(e.message);
    $("run").disabled = false;
  }
}

async function cancel() {
  if (!currentJob) return;
  try { await api(`/api/jobs/${currentJob}/cancel`, { method: "POST" }); say("cancelling after the method running now"); }
  catch (e) { say(e.message); }
}

// ---- start --------------------------------------------------------------------------------------------------------

window.addEventListener("DOMContentLoaded", async () => {
  clearDrawing();
  paintable($("draw"), { color: "#fff", width: 22 });
  paintable($("mask"), { color: "rgba(255, 40, 40, 0.75)", width: 24, onPaint: () => { maskPainted = true; } });
  $("file").addEventListener("change", onFile);
  $("use-sample").addEventListener("click", useSample);
  $("clear-drawing").addEventListener("click", clearDrawing);
  $("use-drawing").addEventListener("click", useDrawing);
  $("clear-mask").addEventListener("click", clearMask);
  $("invert").addEventListener("change", showPreview);
  $("task").addEventListener("change", updateTaskFields);
  for (const r of document.querySelectorAll("input[name=mask-mode]")) r.addEventListener("change", updateTaskFields);
  $("run").addEventListener("click", run);
  $("cancel").addEventListener("click", cancel);
  updateTaskFields();
  await showPreview();
  try {
    await loadOptions();
    document.body.dataset.ready = "1";
  } catch (e) { say(e.message); }
});
