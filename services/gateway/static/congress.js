// Workers' congress pages: the console's live due/present counts (polled, no reload) and the delegate
// page following the open vote. Loaded only on those pages; the CSP forbids inline scripts.
"use strict";

(function () {
  const POLL_MS = 1500;

  function text(id, value) {
    const el = document.getElementById(id);
    if (el && el.textContent !== String(value)) el.textContent = value;
  }

  // Console: GET /api/v1/congress/sessions/<id>/counts every 1.5 s; update the numbers in place.
  function followCounts(box) {
    const id = box.dataset.session;
    let lastState = box.dataset.state;
    async function tick() {
      let c;
      try {
        c = await window.dm.api("GET", `/api/v1/congress/sessions/${encodeURIComponent(id)}/counts`);
      } catch (e) {
        setTimeout(tick, POLL_MS * 2);
        return;
      }
      text("due-count", c.due_count);
      text("present-count", c.present_count);
      text("required-count", c.required);
      const bar = document.getElementById("present-bar");
      if (bar) { bar.max = c.due_count || 1; bar.value = c.present_count; }
      const q = document.getElementById("quorum-state");
      if (q) {
        q.className = c.quorum ? "ok" : "alert";
        q.textContent = c.quorum ? box.dataset.labelQuorum : box.dataset.labelNoquorum;
      }
      const tbody = document.getElementById("by-delegation");
      if (tbody) {
        tbody.replaceChildren(...c.by_delegation.map((d) => {
          const tr = document.createElement("tr");
          for (const v of [d.name, d.due, d.present]) { const td = document.createElement("td"); td.textContent = v; tr.appendChild(td); }
          return tr;
        }));
      }
      // 宣布开幕: enabled once quorate; until then the reason with the live figures (issue 16)
      const convene = document.getElementById("convene");
      const why = document.getElementById("convene-why");
      if (convene) convene.disabled = !c.quorum;
      if (why) {
        why.hidden = c.quorum;
        text("convene-why", why.dataset.template.replace("{present}", c.present_count)
          .replace("{due}", c.due_count).replace("{required}", c.required));
      }
      if (c.open_item) text("ballots", c.open_item.ballots == null ? "—" : c.open_item.ballots);
      box.dataset.present = c.present_count;
      box.dataset.updated = String(Date.now());
      if (c.state !== lastState) { lastState = c.state; box.dataset.state = c.state; }
      setTimeout(tick, POLL_MS);
    }
    setTimeout(tick, POLL_MS);
  }

  // Delegate page: when a vote opens or closes, show it (reload only when the open item changed).
  function followOpenItem(box) {
    const id = box.dataset.session;
    async function tick() {
      try {
        const me = await window.dm.api("GET", `/api/v1/congress/sessions/${encodeURIComponent(id)}/me`);
        const open = me.open_item ? me.open_item.id : "";
        if (open !== box.dataset.openItem) { window.location.replace(window.location.pathname); return; }
      } catch (e) { /* keep the page as it is */ }
      setTimeout(tick, POLL_MS * 2);
    }
    setTimeout(tick, POLL_MS * 2);
  }

  document.addEventListener("DOMContentLoaded", () => {
    const counts = document.getElementById("live-counts");
    if (counts) followCounts(counts);
    const mine = document.getElementById("my-status");
    if (mine) followOpenItem(mine);
  });
})();
