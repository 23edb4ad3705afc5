// Worker surveys: the answering page saves a draft on every change and shows or hides the questions
// the skip logic decides (the surveys service answers `visible`); the builder shows the fields of the
// chosen kind; the results page follows participation live. Every page works without this file (the
// answering page then saves with its button and applies the skip logic on the next page).
"use strict";

function answering(form) {
  const saved = document.getElementById("saved-at");
  const progress = document.getElementById("progress");
  const questions = Array.from(form.querySelectorAll("fieldset.sv-q"));
  let timer = null;
  let seq = 0;

  function answered(fs) {
    return Array.from(fs.querySelectorAll("input, select, textarea")).some((el) =>
      (el.type === "radio" || el.type === "checkbox") ? el.checked : el.value.trim() !== "");
  }
  function showProgress() {
    const shown = questions.filter((fs) => !fs.hidden);
    const done = shown.filter(answered).length;
    if (progress) progress.textContent = (form.dataset.progress || "%(done)s / %(all)s")
      .replace("%(done)s", done).replace("%(all)s", shown.length);
  }
  function showErrors(fields) {
    for (const fs of questions) {
      const id = fs.id.slice(2);
      const box = document.getElementById(`${id}-error`);
      const text = fields && fields[id];
      fs.classList.toggle("sv-invalid", Boolean(text));
      if (box) { box.textContent = text || ""; box.hidden = !text; }
    }
  }
  async function save() {
    const mine = ++seq;
    const data = new FormData(form);
    data.set("action", "save");
    let res, body;
    try {
      res = await fetch(form.getAttribute("action"), {  // not form.action: the "action" buttons shadow it
        method: "POST", body: data, credentials: "same-origin",
        headers: { "Accept": "application/json", "X-CSRF-Token": window.dm.csrfToken() },
      });
      body = await res.json();
    } catch (e) { if (mine === seq) delete form.dataset.pending; return; }
    if (mine !== seq) return;  // a later change is on its way
    delete form.dataset.pending;
    if (!res.ok) {
      showErrors(body.fields || {});
      if (saved) saved.textContent = body.message || form.dataset.failed;
      return;
    }
    showErrors({});
    const visible = new Set(body.visible || []);
    for (const fs of questions) {
      const show = visible.has(fs.id.slice(2));
      fs.hidden = !show;
      fs.disabled = !show;
    }
    if (saved) saved.textContent = (form.dataset.saved || "%(when)s")
      .replace("%(when)s", new Date(body.saved_at || Date.now()).toLocaleTimeString());
    form.dataset.lastSaved = String(Date.now());
    showProgress();
  }
  function later() {
    form.dataset.pending = "1";  // a change not saved yet (tests wait for it to clear)
    showProgress();
    clearTimeout(timer);
    timer = setTimeout(save, 600);
  }
  form.addEventListener("change", later);
  form.addEventListener("input", (e) => { if (e.target.matches("input[type=text], input:not([type]), textarea, input[type=number]")) later(); });
  showProgress();
}

function builder(form) {
  const kind = form.querySelector("select[name=kind]");
  const target = form.querySelector("select[name=show_if_question]");
  function update() {
    for (const fs of form.querySelectorAll("fieldset[data-kinds]")) {
      fs.hidden = !fs.dataset.kinds.split(" ").includes(kind.value);
    }
    for (const label of form.querySelectorAll("#show-if-values label[data-question]")) {
      label.hidden = label.dataset.question !== target.value;
    }
  }
  form.addEventListener("change", update);
  update();
}

function liveParticipation(box) {
  const id = box.dataset.survey;
  const fmt = (n) => Number(n).toLocaleString();
  async function tick() {
    let p;
    try { p = await window.dm.api("GET", `/api/v1/surveys/${id}/participation`); } catch (e) { setTimeout(tick, 10000); return; }
    const set = (sel, v) => { const el = document.getElementById(sel); if (el) el.textContent = v; };
    set("live-responses", fmt(p.responses)); set("live-drafts", fmt(p.drafts));
    const ring = document.querySelector("#ring svg text");
    if (ring) ring.textContent = `${(p.rate * 100).toFixed(1)}%`;
    const arc = document.querySelectorAll("#ring svg circle")[1];
    if (arc) arc.setAttribute("stroke-dasharray", `${(p.rate * 100 * 3.1416).toFixed(1)} 400`);
    if (p.status === "open") setTimeout(tick, 5000);
  }
  if (box.dataset.status === "open") setTimeout(tick, 5000);
}

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("q-form");
  if (form) answering(form);
  const build = document.getElementById("q-builder");
  if (build) builder(build);
  const live = document.getElementById("participation");
  if (live) liveParticipation(live);
});
