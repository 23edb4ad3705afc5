// Small progressive enhancements; every page works without them.
"use strict";

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

// JSON fetch with the session cookie and CSRF header; rejects with the API's error body.
async function api(method, url, body) {
  const opts = { method, credentials: "same-origin", headers: { "X-CSRF-Token": csrfToken() } };
  if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
  const res = await fetch(url, opts);
  const data = res.status === 204 ? null : await res.json();
  if (!res.ok) throw Object.assign(new Error(data && data.message), { status: res.status, data });
  return data;
}
window.dm = { api, csrfToken };

// Import progress: poll the job until it is done, updating the bar and the first bad rows.
function followImport(box) {
  const id = box.dataset.job;
  const fmt = (n) => (n == null ? "—" : Number(n).toLocaleString());
  const set = (sel, v) => { const el = document.getElementById(sel); if (el) el.textContent = v; };
  async function tick() {
    let job;
    try { job = await api("GET", `/api/v1/imports/${id}`); } catch (e) { setTimeout(tick, 2000); return; }
    const bar = document.getElementById("job-progress");
    if (job.total) bar.max = job.total; else if (job.processed >= bar.max) bar.max = job.processed + 1000;
    bar.value = job.processed;
    set("job-status", box.dataset["label" + job.status] || job.status);
    set("job-processed", fmt(job.processed)); set("job-inserted", fmt(job.inserted)); set("job-failed", fmt(job.failed));
    set("job-speed", job.rows_per_s ? `${fmt(job.rows_per_s)} rows/s` : "—");
    const tbody = document.getElementById("job-errors");
    // the column in words and the reason's half in the page's language (as the server renders them)
    const labels = JSON.parse(box.dataset.fields || "{}");
    const zh = document.documentElement.lang === "zh-CN";
    const half = (t) => { const i = (t || "").indexOf(" / "); return i < 0 ? t : (zh ? t.slice(i + 3) : t.slice(0, i)); };
    tbody.replaceChildren(...job.errors_sample.map((e) => {
      const tr = document.createElement("tr");
      for (const v of [e.row, labels[e.field] || e.field || "", half(e.reason)]) { const td = document.createElement("td"); td.textContent = v; tr.appendChild(td); }
      return tr;
    }));
    box.dataset.status = job.status;
    if (job.status === "queued" || job.status === "running") setTimeout(tick, 700);
  }
  tick();
}

// A staged import whose rows are still being counted: reload its page once the count (or a failure) is in.
function awaitCount(box) {
  async function tick() {
    let job;
    try { job = await api("GET", `/api/v1/imports/${box.dataset.job}`); } catch (e) { setTimeout(tick, 2000); return; }
    if (job.status !== "staged" || job.total != null) window.location.reload(); else setTimeout(tick, 700);
  }
  tick();
}

document.addEventListener("DOMContentLoaded", () => {
  const box = document.getElementById("import-job");
  if (box) followImport(box);
  const staged = document.getElementById("import-staged");
  if (staged && staged.dataset.total === "") awaitCount(staged);
});

// Unread inbox messages on every page: one cheap GET (/api/v1/inbox/unread, two _id reads in notify);
// the nav link gets a badge when there are any. Pages work without it.
async function showUnread(link) {
  let n = 0;
  try { n = (await api("GET", "/api/v1/inbox/unread")).unread; } catch (e) { return; }
  if (!n) return;
  const badge = document.createElement("span");
  badge.className = "badge unread-badge";
  badge.id = "unread-badge";
  badge.textContent = n > 99 ? "99+" : String(n);
  link.appendChild(badge);
}

document.addEventListener("DOMContentLoaded", () => {
  const link = document.getElementById("inbox-link");
  if (link) showUnread(link);
});

// Accessibility (issue 16): a table wider than the screen scrolls inside its .table-wrap; such a box is made
// a named, focusable region so keyboard users can scroll it with the arrow keys (axe:
// scrollable-region-focusable). Boxes that fit are left out of the tab order.
function focusableScrollers() {
  for (const box of document.querySelectorAll(".table-wrap")) {
    if (box.scrollWidth > box.clientWidth + 1) {
      if (!box.hasAttribute("tabindex")) box.setAttribute("tabindex", "0");
      if (!box.hasAttribute("role")) box.setAttribute("role", "region");
      if (!box.hasAttribute("aria-label") && !box.hasAttribute("aria-labelledby")) {
        const table = box.querySelector("table");
        const caption = table && table.caption ? table.caption.textContent : "";
        const heading = box.closest("section, .card, main")?.querySelector("h1, h2, h3");
        box.setAttribute("aria-label", (caption || (heading && heading.textContent) || document.title).trim());
      }
    } else if (box.getAttribute("tabindex") === "0" && box.getAttribute("role") === "region") {
      box.removeAttribute("tabindex");
    }
  }
}
document.addEventListener("DOMContentLoaded", focusableScrollers);
window.addEventListener("resize", focusableScrollers);
