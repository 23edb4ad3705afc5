// The projector view (大屏) of a congress session or (data-kind="election") an election: polls the page's JSON source (data-source, every data-poll ms) and updates
// the numbers and bars in place: no reload, and an element is touched only when its value changed (no
// flash). A 403 with details.revoked shows that the link was revoked. The CSP forbids inline scripts
// and inline styles: the bars get their widths here, through the CSSOM.
"use strict";

(function () {
  const STATE_ZH = { planned: "未开幕", convened: "会议进行中", closed: "已闭幕" };

  function setText(id, value) {
    const el = document.getElementById(id);
    const v = value == null ? "—" : String(value);
    if (el && el.textContent !== v) el.textContent = v;
  }

  function setShare(id, part, whole) {
    const el = document.getElementById(id);
    if (!el) return;
    const share = whole > 0 ? Math.min(100, (100 * (part || 0)) / whole) : 0;
    const width = share.toFixed(1) + "%";
    if (el.dataset.share !== share.toFixed(1)) el.dataset.share = share.toFixed(1);
    const prop = el.classList.contains("line") ? "left" : "width";
    if (el.style[prop] !== width) el.style[prop] = width;
  }

  function bilingual(el, zh, en) {
    if (!el || el.dataset.text === zh) return;
    el.dataset.text = zh;
    const span = document.createElement("span");
    span.className = "en";
    span.textContent = en;
    el.replaceChildren(zh + " ", span);
  }

  function show(id, visible) {
    const el = document.getElementById(id);
    if (el && el.hidden === visible) el.hidden = !visible;
  }

  function render(p) {
    setText("p-title", p.title);
    const state = document.getElementById("p-state");
    if (state && state.dataset.state !== p.state) {
      state.dataset.state = p.state;
      bilingual(state, STATE_ZH[p.state] || p.state, p.state);
    }
    setText("p-due", p.due_count);
    setText("p-present", p.present_count);
    setText("p-required", p.required);
    setShare("p-present-bar", p.present_count, p.due_count);
    setShare("p-quorum-line", p.required, p.due_count);
    const q = document.getElementById("p-quorum");
    if (q && q.dataset.ok !== (p.quorum ? "1" : "0")) {
      q.dataset.ok = p.quorum ? "1" : "0";
      bilingual(q, p.quorum ? "已达法定人数" : "未达法定人数", p.quorum ? "Quorum reached" : "Quorum not reached");
    }
    const v = p.voting;
    show("p-vote", !!v);
    if (v) {
      setText("p-vote-title", v.title);
      setText("p-ballots", v.ballots);
      setText("p-eligible", v.eligible);
      setShare("p-ballots-bar", v.ballots, v.eligible);
      // an election item: the turnout line (> 2/3 of the electors due, the delegates present when voting opened)
      const election = v.kind === "election";
      show("p-turnout-line", election);
      show("p-vote-rule", election);
      if (election) {
        setShare("p-turnout-line", v.turnout_required || 0, v.eligible || 0);
        bilingual(
          document.getElementById("p-vote-rule"),
          `选举人为投票开始时到会代表；选举有效须超过三分之二参加：至少 ${v.turnout_required} / ${v.eligible} 张`,
          `Electors: the delegates present when voting opened; valid with more than 2/3 voting: ${v.turnout_required} of ${v.eligible}`,
        );
      }
    }
    const o = p.outcome;
    show("p-outcome", !v && !!o);
    const electionOutcome = !!o && o.kind === "election";
    show("p-elected", electionOutcome);
    show("p-tally", !!o && !electionOutcome);
    if (electionOutcome) {
      setText("p-outcome-title", o.title);
      setText("p-elected", o.elected.join("　") || "—");
      bilingual(document.getElementById("p-verdict"), "当选", "Elected");
      bilingual(
        document.getElementById("p-rule"),
        `选举人为投票开始时到会代表 ${o.due} 人；当选须获超过半数赞成票`,
        `Electors: the ${o.due} delegates present when voting opened; elected with approvals from more than half of them`,
      );
    } else if (o) {
      setText("p-outcome-title", o.title);
      setText("p-yes", o.yes);
      setText("p-no", o.no);
      setText("p-abstain", o.abstain);
      const verdict = document.getElementById("p-verdict");
      if (verdict && verdict.dataset.adopted !== (o.adopted ? "1" : "0")) verdict.dataset.adopted = o.adopted ? "1" : "0";
      bilingual(verdict, o.adopted ? "通过" : "未通过", o.adopted ? "Adopted" : "Not adopted");
      bilingual(
        document.getElementById("p-rule"),
        `通过须全体代表过半数赞成：至少 ${o.required} / ${o.due} 票`,
        `Adoption needs more than half of all delegates: ${o.required} of ${o.due}`,
      );
    }
  }

  const ELECTION_ZH = {
    nominating: ["提名中", "Nominating"], voting: ["投票中", "Voting"],
    decided: ["已计票，待公布", "Counted, to be published"], published: ["结果已公布", "Published"],
  };
  const ROUND_ZH = { first: "第一轮", runoff: "决胜轮", further: "另行选举", repeat: "重新投票" };

  function renderElection(p) {
    setText("e-title", p.title);
    const st = document.getElementById("e-status");
    if (st && st.dataset.state !== p.status) {
      st.dataset.state = p.status;
      const [zh, en] = ELECTION_ZH[p.status] || [p.status, p.status];
      bilingual(st, zh, en);
    }
    const ballots = p.round ? p.round.ballots : 0;
    setText("e-due", p.due);
    setText("e-ballots", ballots);
    setText("e-turnout", p.turnout_required);
    setText("e-majority", p.majority_required);
    setShare("e-ballots-bar", ballots, p.due || 0);
    setShare("e-turnout-line", p.turnout_required || 0, p.due || 0);
    show("e-round", !!p.round);
    if (p.round) {
      setText("e-round-name", `${ROUND_ZH[p.round.kind] || p.round.kind}（第${p.round.n}轮） · 应选 ${p.round.seats} 名`);
      setText("e-candidates", p.round.candidates.join("　"));
    }
    show("e-result", !!p.result);
    if (p.result) {
      setText("e-elected", p.result.elected.map((x) => `${x.name}（${x.approvals}票）`).join("　"));
      const list = document.getElementById("e-approvals");
      const key = JSON.stringify(p.result.approvals);
      if (list && list.dataset.key !== key) {
        list.dataset.key = key;
        list.replaceChildren(...p.result.approvals.map((x) => {
          const li = document.createElement("li");
          li.className = "figure";
          const label = document.createElement("span");
          label.className = "label";
          label.textContent = x.name;
          const b = document.createElement("b");
          b.textContent = x.approve;
          li.append(label, b);
          return li;
        }));
      }
    }
  }

  function revoked(stage) {
    stage.dataset.revoked = "1";
    const h = document.createElement("h1");
    h.textContent = "此大屏链接已被撤销";
    const en = document.createElement("p");
    en.className = "en";
    en.textContent = "This projector link was revoked.";
    stage.classList.add("revoked");
    stage.replaceChildren(h, en);
  }

  function follow(stage) {
    const source = stage.dataset.source;
    const every = Number(stage.dataset.poll) || 1500;
    const live = document.getElementById("p-live");
    async function tick() {
      try {
        const r = await fetch(source, { headers: { Accept: "application/json" }, cache: "no-store" });
        if (r.status === 403) {
          const body = await r.json().catch(() => ({}));
          if (body.details && body.details.revoked) { revoked(stage); return; }
        }
        if (!r.ok) throw new Error(String(r.status));
        const data = await r.json();
        if (stage.dataset.kind === "election") renderElection(data); else render(data);
        if (live && live.dataset.stale) delete live.dataset.stale;
        stage.dataset.updated = String(Date.now());
      } catch (e) {
        if (live) live.dataset.stale = "1"; // keep the last figures; try again
      }
      setTimeout(tick, every);
    }
    setTimeout(tick, every);
  }

  document.addEventListener("DOMContentLoaded", () => {
    for (const el of document.querySelectorAll("[data-share]")) {
      el.style[el.classList.contains("line") ? "left" : "width"] = el.dataset.share + "%";
    }
    // links page: copy a link to the clipboard
    for (const b of document.querySelectorAll("button[data-copy]")) {
      b.addEventListener("click", () => {
        const input = document.getElementById(b.dataset.copy);
        if (!input) return;
        input.select();
        if (navigator.clipboard) navigator.clipboard.writeText(input.value).catch(() => {});
        b.dataset.copied = "1";
      });
    }
    const stage = document.getElementById("projector");
    if (stage && stage.dataset.source) follow(stage);
  });
})();
