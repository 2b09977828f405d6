// The write steps from the browser: publish, check a suspect model, open a dispute, reveal, review, vote,
// finalise. Each form is sent by this same-origin script to the JSON API (the page's CSP allows nothing else)
// and the answer, a result or an RFC 9457 problem, is shown with textContent only: every string in it may come
// from another party or from the user. The operator's API token lives in this tab's sessionStorage only: never
// in a URL, a cookie or the page; it goes out in the Authorization header of a write, to this origin alone.
"use strict";

(function () {
  const TOKEN_KEY = "ledgermark.api-token";

  // ------------------------------------------------------------------ small DOM helpers (text only)

  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }

  function link(href, text) {
    const a = el("a", text);
    a.href = href; // only paths this script builds from numbers the API returned
    return a;
  }

  // A definition list of [label, value] pairs; a value may be a DOM node (a link) or text.
  function facts(pairs, id) {
    const dl = el("dl", undefined, "facts");
    if (id) dl.id = id;
    for (const [label, value] of pairs) {
      if (value === undefined || value === null || value === "") continue;
      dl.appendChild(el("dt", label));
      const dd = el("dd");
      if (value instanceof Node) dd.appendChild(value);
      else dd.textContent = String(value);
      dl.appendChild(dd);
    }
    return dl;
  }

  function show(out, ...nodes) {
    out.replaceChildren(...nodes);
    out.scrollIntoView({ block: "nearest" });
  }

  // ------------------------------------------------------------------ the token

  function token() {
    try {
      return sessionStorage.getItem(TOKEN_KEY) || "";
    } catch (err) {
      return "";
    }
  }

  function tokenPanel() {
    const form = document.getElementById("token-form");
    const input = document.getElementById("token");
    const state = document.getElementById("token-state");
    const forget = document.getElementById("token-forget");
    if (!form || !input || !state) return;
    const refresh = () => {
      const set = token() !== "";
      state.textContent = set
        ? "A token is set for this tab (sessionStorage, gone when the tab closes). It is not shown again."
        : "No token set: the forms marked “operator” will not send until you give one.";
      state.className = set ? "token-state good" : "token-state muted";
      document.body.classList.toggle("has-token", set);
    };
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const value = input.value.trim();
      input.value = ""; // never kept in the page
      if (!value) return refresh();
      try {
        sessionStorage.setItem(TOKEN_KEY, value);
      } catch (err) {
        state.textContent = `This browser keeps no sessionStorage here (${err}): the token cannot be used.`;
        return;
      }
      refresh();
    });
    if (forget) {
      forget.addEventListener("click", () => {
        try {
          sessionStorage.removeItem(TOKEN_KEY);
        } catch (err) {
          /* nothing stored */
        }
        refresh();
      });
    }
    refresh();
  }

  // ------------------------------------------------------------------ requests

  class NoToken extends Error {}

  // One request to this origin; resolves to {ok, status, data} whatever the status (data: parsed JSON or null).
  async function send(method, path, { body, json, operator } = {}) {
    const headers = { Accept: "application/json, application/problem+json" };
    if (operator) {
      const value = token();
      if (!value) throw new NoToken();
      headers.Authorization = `Bearer ${value}`;
    }
    let payload = body;
    if (json !== undefined) {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify(json);
    }
    const response = await fetch(path, {
      method,
      headers,
      body: payload,
      credentials: "omit",
      cache: "no-store",
      redirect: "error",
    });
    const text = await response.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch (err) {
      data = { detail: text.slice(0, 2000) };
    }
    return { ok: response.ok, status: response.status, data };
  }

  // RFC 9457: status and title, the detail, the stable code; validation errors and itemised differences.
  function problem(data, status) {
    const body = data && typeof data === "object" ? data : {};
    const box = el("div", undefined, "problem-box");
    box.id = "problem";
    box.setAttribute("role", "alert");
    const title = body.title ? `${status} ${body.title}` : `${status}`;
    box.appendChild(el("p", `Refused: ${title}`, "verdict bad"));
    if (body.detail) box.appendChild(el("p", body.detail, "detail"));
    const items = [];
    if (Array.isArray(body.errors)) body.errors.forEach((e) => items.push(`${e.loc}: ${e.msg}`));
    if (Array.isArray(body.problems)) body.problems.forEach((p) => items.push(String(p)));
    if (items.length) {
      const list = el("ul");
      items.slice(0, 50).forEach((text) => list.appendChild(el("li", text)));
      box.appendChild(list);
    }
    if (body.type) box.appendChild(el("p", `type ${body.type}`, "muted mono"));
    if (status === 401 || status === 403) {
      box.appendChild(el("p", "Nothing was written. Check the token above: it is the service operator's.", "muted"));
    }
    return box;
  }

  // Wire a form: collect(form) gives the request (or a promise of it), render(data, form) a success's nodes.
  function wire(id, collect, render) {
    const form = document.getElementById(id);
    if (!form) return;
    const out = document.getElementById(`${id}-result`);
    const button = form.querySelector("button[type=submit]");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      let request;
      try {
        request = await collect(form);
      } catch (err) {
        show(out, el("p", err.message, "verdict bad"));
        return;
      }
      button.disabled = true;
      show(out, el("p", request.busy || "Sending…", "muted"));
      try {
        const answer = await send(request.method || "POST", request.path, request);
        if (answer.ok) show(out, ...render(answer.data, form));
        else show(out, problem(answer.data, answer.status));
      } catch (err) {
        if (err instanceof NoToken) {
          const message = "Nothing sent: this step needs the operator's API token. Give it in the box above.";
          show(out, el("p", message, "verdict bad"));
        } else {
          show(out, el("p", `The request failed: ${err}`, "verdict bad"));
        }
      } finally {
        button.disabled = false;
      }
    });
  }

  function file(form, name, label) {
    const input = form.querySelector(`input[name="${name}"]`);
    const chosen = input && input.files.length ? input.files[0] : null;
    if (!chosen && label) throw new Error(`Choose ${label} first.`);
    return chosen;
  }

  function value(form, name) {
    const field = form.elements.namedItem(name);
    return field ? String(field.value).trim() : "";
  }

  function pct(x) {
    return typeof x === "number" ? `${(100 * x).toFixed(1)}%` : x;
  }

  function pValue(x) {
    return typeof x === "number" ? x.toExponential(3) : x;
  }

  function reload() {
    const a = link(window.location.pathname, "Reload this page to see the new state.");
    a.id = "reload";
    return el("p").appendChild(a).parentNode;
  }

  // ------------------------------------------------------------------ publish

  const ROLE_BY_SUFFIX = [
    [/\.(pt|pth|bin|safetensors|onnx|ckpt|h5|gguf)$/i, "model"],
    [/\.(json|md|txt)$/i, "card"],
    [/\.(npz|npy)$/i, "trigger"],
  ];

  function guessRole(name) {
    const hit = ROLE_BY_SUFFIX.find(([pattern]) => pattern.test(name));
    return hit ? hit[1] : "other";
  }

  // One row per chosen file, each with a role the user may change.
  function publishRows() {
    const input = document.getElementById("publish-files");
    const table = document.getElementById("publish-roles");
    if (!input || !table) return;
    input.addEventListener("change", () => {
      const body = table.querySelector("tbody");
      body.replaceChildren();
      Array.from(input.files).forEach((chosen, i) => {
        const row = el("tr");
        row.appendChild(el("td", chosen.name, "mono"));
        row.appendChild(el("td", chosen.size.toLocaleString(), "num"));
        const cell = el("td");
        const role = el("input");
        role.type = "text";
        role.className = "role";
        role.id = `role-${i}`;
        role.value = guessRole(chosen.name);
        role.maxLength = 64;
        role.setAttribute("list", "known-roles");
        role.setAttribute("aria-label", `role of ${chosen.name}`);
        cell.appendChild(role);
        row.appendChild(cell);
        body.appendChild(row);
      });
      table.hidden = input.files.length === 0;
    });
  }

  function collectPublish(form) {
    const input = document.getElementById("publish-files");
    if (!input.files.length) throw new Error("Choose the files to publish first.");
    const body = new FormData();
    Array.from(input.files).forEach((chosen, i) => {
      const role = (document.getElementById(`role-${i}`) || {}).value || guessRole(chosen.name);
      body.append("files", chosen, chosen.name);
      body.append("roles", role.trim());
    });
    body.append("name", value(form, "name") || "unnamed");
    const parent = value(form, "parent") || "0";
    if (!/^\d{1,18}$/.test(parent)) throw new Error("The parent is a record id (a whole number; 0 for none).");
    body.append("parent", parent);
    body.append("derivation", value(form, "derivation"));
    const key = file(form, "watermark_key");
    if (key) body.append("watermark_key", key, key.name);
    return { path: "/records", body, operator: true, busy: "Uploading, storing and anchoring…" };
  }

  function renderPublish(data, form) {
    const id = data.record_id;
    const nodes = [
      el("p", `Published: record ${id}, anchored on-chain.`, "verdict good"),
      facts(
        [
          ["record", link(`/record/${Number(id)}`, `record ${id}`)],
          ["Merkle root", data.root],
          ["manifest CID", data.manifest_cid],
          ["transaction", data.tx_hash],
          ["parent", data.parent_id ? `record ${data.parent_id} (${data.derivation})` : "none"],
          ["watermark key hash", data.watermark_key_hash],
        ],
        "published",
      ),
    ];
    const table = el("table", undefined, "artifacts");
    table.id = "published-artifacts";
    const head = el("tr");
    ["path", "role", "size (bytes)", "SHA-256", "CID"].forEach((h) => head.appendChild(el("th", h)));
    table.appendChild(el("thead")).appendChild(head);
    const body = table.appendChild(el("tbody"));
    (data.artifacts || []).forEach((a) => {
      const row = el("tr");
      row.appendChild(el("td", a.path, "mono"));
      row.appendChild(el("td", a.role));
      row.appendChild(el("td", Number(a.size).toLocaleString(), "num"));
      row.appendChild(el("td", a.sha256, "mono hash"));
      row.appendChild(el("td", a.cid, "mono hash"));
      body.appendChild(row);
    });
    nodes.push(table);
    if (data.sealed_key_data_key) nodes.push(dataKeyBox(data.sealed_key_data_key, file(form, "watermark_key")));
    const list = link("/", "See it in the list of records");
    nodes.push(el("p").appendChild(list).parentNode);
    form.reset();
    document.getElementById("publish-roles").hidden = true;
    return nodes;
  }

  // The sealed key's data key: shown once, never stored by the service; offered as a file like the CLI's.
  function dataKeyBox(hex, keyFile) {
    const box = el("div", undefined, "warning");
    box.id = "data-key-box";
    box.setAttribute("role", "alert");
    box.appendChild(
      el(
        "p",
        "Keep this data key now: it is shown once. The service does not keep it, and without it you cannot " +
          "reveal your watermark key in a dispute (the record anchors only the sealed copy).",
        "strong",
      ),
    );
    const code = el("code", hex, "mono");
    code.id = "data-key";
    box.appendChild(el("p").appendChild(code).parentNode);
    const name = `${keyFile ? keyFile.name : "key.wmk"}.datakey`;
    const save = link(URL.createObjectURL(new Blob([`${hex}\n`], { type: "text/plain" })), `Save it as ${name}`);
    save.download = name;
    save.id = "data-key-save";
    box.appendChild(el("p").appendChild(save).parentNode);
    return box;
  }

  // ------------------------------------------------------------------ content address

  function collectCid(form) {
    const chosen = file(form, "file", "a file");
    const body = new FormData();
    body.append("file", chosen, chosen.name);
    const query = new URLSearchParams({ cid_version: value(form, "cid_version") || "0" });
    if (value(form, "profile")) query.set("profile", value(form, "profile"));
    return { path: `/cid?${query}`, body };
  }

  function renderCid(data, form) {
    const cid = el("p", data.cid, "verdict good mono");
    cid.id = "cid-value";
    const name = file(form, "file").name;
    return [cid, facts([["file", name], ["size (bytes)", data.size], ["SHA-256", data.sha256]])];
  }

  // ------------------------------------------------------------------ check a suspect model

  function collectCheck(form) {
    const body = new FormData();
    const model = file(form, "model", "the suspect model");
    const key = file(form, "key", "the watermark key");
    body.append("model", model, model.name);
    body.append("key", key, key.name);
    const alpha = value(form, "alpha") || "0.01";
    return {
      path: `/watermark/verify?alpha=${encodeURIComponent(alpha)}`,
      body,
      busy: "Extracting the watermark and testing (this takes a few seconds)…",
    };
  }

  function renderCheck(data) {
    const verdict = el("p", data.verdict, `verdict ${data.is_copy ? "bad" : "good"}`);
    verdict.id = "check-verdict";
    return [
      verdict,
      facts(
        [
          ["a copy?", data.is_copy ? "yes: it carries the key's watermark" : "no"],
          ["bits matching", `${data.matches} of ${data.n_bits} (WSR ${pct(data.wsr)})`],
          ["p (Fisher, one-sided)", `${pValue(data.p_value)} (decides at α ${data.alpha})`],
          ["p (χ², reported only)", pValue(data.chi2_p_value)],
          ["model SHA-256", data.model_sha256],
        ],
        "check-facts",
      ),
    ];
  }

  // ------------------------------------------------------------------ disputes

  function collectOpen(form) {
    const body = new FormData();
    const model = file(form, "model", "the suspect model");
    const key = file(form, "key", "your watermark key");
    body.append("claimant_record", form.dataset.record);
    body.append("model", model, model.name);
    body.append("key", key, key.name);
    const suspect = value(form, "suspect");
    if (suspect) body.append("suspect", suspect);
    body.append("force", form.elements.namedItem("force").checked ? "true" : "false");
    return { path: "/disputes", body, operator: true, busy: "Testing the suspect and opening the dispute…" };
  }

  function renderOpen(data) {
    const id = Number(data.dispute_id);
    const head = el("p", `Dispute ${id} opened (bond ${data.bond_wei} wei).`, "verdict good");
    head.id = "opened";
    return [
      head,
      facts([
        ["dispute", link(`/dispute/${id}`, `dispute ${id}`)],
        ["verdict", data.verdict],
        ["WSR (bits matching)", pct(data.wsr)],
        ["p (Fisher, one-sided)", pValue(data.p_value)],
        ["priority", data.priority],
        ["voting closes", new Date(Number(data.deadline) * 1000).toISOString()],
        ["public summary CID", data.evidence_cid],
        ["report SHA-256 (committed)", data.evidence_sha256],
        ["transaction", data.tx_hash],
      ]),
      el("p", "Only the commitment and a public summary left the service. Reveal on the dispute's page.", "muted"),
    ];
  }

  function disputePath(form, step) {
    return `/disputes/${Number(form.dataset.dispute)}/${step}`;
  }

  async function collectReveal(form) {
    const body = new FormData();
    const key = file(form, "key", "your watermark key");
    body.append("key", key, key.name);
    const saved = file(form, "data_key_file");
    const dataKey = value(form, "data_key") || (saved ? (await saved.text()).trim().slice(0, 200) : "");
    if (!dataKey) throw new Error("Give the data key the publish showed (or choose its .datakey file).");
    body.append("data_key", dataKey);
    const report = file(form, "report");
    if (report) body.append("report", report, report.name);
    return { path: disputePath(form, "reveal"), body, operator: true, busy: "Checking and revealing…" };
  }

  function renderReveal(data) {
    return [
      el("p", `Revealed: anyone can now open the sealed key and check the report.`, "verdict good"),
      facts([
        ["key CID", data.key_cid],
        ["report CID", data.report_cid],
        ["transaction", data.tx_hash],
      ]),
      reload(),
    ];
  }

  function collectReview(form) {
    const body = new FormData();
    const model = file(form, "model");
    if (model) body.append("model", model, model.name);
    return { path: disputePath(form, "review"), body, operator: true, busy: "Re-running the test…" };
  }

  function renderReview(data) {
    const vote = document.getElementById("vote-form");
    if (vote) {
      vote.elements.namedItem("report_cid").value = data.report_cid;
      const choice = vote.querySelector(`input[name=uphold][value="${data.recommendation === "uphold"}"]`);
      if (choice) choice.checked = true;
    }
    const head = el("p", `Recommendation: ${data.recommendation}. ${data.verdict}`, "verdict partial");
    head.id = "review-verdict";
    return [
      head,
      facts([
        ["your report CID", data.report_cid],
        ["WSR (bits matching)", pct(data.wsr)],
        ["p (Fisher, one-sided)", pValue(data.p_value)],
        ["claimant's report", data.claimant_report_cid],
      ]),
      el("p", "Your report is pinned by this service; the vote form below now cites it.", "muted"),
    ];
  }

  function collectVote(form) {
    const chosen = form.querySelector("input[name=uphold]:checked");
    if (!chosen) throw new Error("Choose uphold or reject.");
    const cid = value(form, "report_cid");
    if (!cid) throw new Error("Give the CID of your review report (run the review first).");
    return { path: disputePath(form, "votes"), json: { uphold: chosen.value === "true", report_cid: cid }, operator: true };
  }

  function renderVote(data) {
    return [
      el("p", `Voted to ${data.uphold ? "uphold" : "reject"}, citing report ${data.report_cid}.`, "verdict good"),
      facts([["transaction", data.tx_hash]]),
      reload(),
    ];
  }

  function collectFinalise(form) {
    const skip = form.elements.namedItem("skip_wait").checked;
    return { path: `${disputePath(form, "finalise")}${skip ? "?skip_wait=true" : ""}`, operator: true };
  }

  function renderFinalise(data) {
    return [
      el("p", `Finalised: ${data.outcome}. The bond (${data.bond_wei} wei) went to ${data.bond_to}.`, "verdict good"),
      facts([["transaction", data.tx_hash]]),
      reload(),
    ];
  }

  tokenPanel();
  publishRows();
  wire("publish-form", collectPublish, renderPublish);
  wire("cid-form", collectCid, renderCid);
  wire("check-form", collectCheck, renderCheck);
  wire("open-form", collectOpen, renderOpen);
  wire("reveal-form", collectReveal, renderReveal);
  wire("review-form", collectReview, renderReview);
  wire("vote-form", collectVote, renderVote);
  wire("finalise-form", collectFinalise, renderFinalise);
})();
