// Worker Home evaluations: words under the stars and a progress line on the rating form; live
// participation on the manage page. Every page works without this file.
"use strict";

function enhanceRating(form) {
  const words = (form.dataset.words || "").split("|");
  const progress = document.getElementById("rate-progress");
  const groups = Array.from(form.querySelectorAll("fieldset.ev-criterion"));
  function update() {
    let done = 0;
    for (const g of groups) {
      const checked = g.querySelector("input:checked");
      const out = g.querySelector(".ev-word");
      if (checked) { done += 1; if (out) out.textContent = `${checked.value} ★ ${words[checked.value - 1] || ""}`; }
      g.classList.toggle("ev-done", Boolean(checked));
    }
    if (progress) progress.textContent = (form.dataset.progress || "%(done)s / %(all)s").replace("%(done)s", done).replace("%(all)s", groups.length);
  }
  form.addEventListener("change", update);
  update();
}

function followParticipation(box) {
  const id = box.dataset.campaign;
  const fmt = (n) => Number(n).toLocaleString();
  async function tick() {
    let camp;
    try { camp = await window.dm.api("GET", `/api/v1/campaigns/${id}`); } catch (e) { setTimeout(tick, 10000); return; }
    const set = (sel, v) => { const el = document.getElementById(sel); if (el) el.textContent = v; };
    set("live-ballots", fmt(camp.ballots)); set("live-opinions", fmt(camp.opinions));
    for (const h of camp.homes) {
      const row = box.querySelector(`tr[data-home="${h.union_id}"]`);
      if (!row) continue;
      row.querySelector(".v").textContent = fmt(h.voters);
      row.querySelector("meter").value = h.participation;
      row.querySelector(".p").textContent = `${h.participation}%`;
    }
    const ring = document.querySelector("#ring svg text");
    if (ring) ring.textContent = `${camp.participation.toFixed(1)}%`;
    const arc = document.querySelectorAll("#ring svg circle")[1];
    if (arc) arc.setAttribute("stroke-dasharray", `${(camp.participation * 3.1416).toFixed(1)} 400`);
    if (camp.status === "open") setTimeout(tick, 5000);
  }
  if (box.dataset.status === "open") setTimeout(tick, 5000);
}

// The campaign form: choosing a scheme puts its shares in the weight inputs (the starting point of
// custom weights), so what is shown is always what the scheme sets (issue 16).
function followPresets(box) {
  box.addEventListener("change", (e) => {
    const d = e.target.dataset;
    if (e.target.name !== "preset" || d.member === undefined) return;
    for (const k of ["member", "unit", "superior"]) box.querySelector(`input[name=w_${k}]`).value = d[k];
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const weights = document.getElementById("weights");
  if (weights) followPresets(weights);
  const form = document.getElementById("rate-form");
  if (form) enhanceRating(form);
  const live = document.getElementById("live");
  if (live) followParticipation(live);
});
