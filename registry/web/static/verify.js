// Verify a download in the browser: SHA-256 (Web Crypto) of each chosen file against the record's manifest,
// read from the artifacts table (digests the server checked against the on-chain root). Nothing is uploaded.
// Results are built with textContent only: file names are the user's, manifest paths are another party's.
"use strict";

(function () {
  const form = document.getElementById("verify-form");
  const input = document.getElementById("verify-files");
  const out = document.getElementById("verify-result");
  if (!form || !input || !out) return;

  function manifestEntries() {
    return Array.from(document.querySelectorAll("#artifacts tr.artifact")).map((row) => ({
      path: row.dataset.path,
      role: row.dataset.role,
      size: Number(row.dataset.size),
      sha256: row.dataset.sha256,
    }));
  }

  function hex(buffer) {
    return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // A chosen file's place in the record: its path under a chosen folder, else its name; a bare name also
  // matches a nested path when exactly one artifact has that name.
  function entryFor(file, entries) {
    const rel = file.webkitRelativePath ? file.webkitRelativePath.split("/").slice(1).join("/") : file.name;
    const exact = entries.find((e) => e.path === rel);
    if (exact) return exact;
    const byName = entries.filter((e) => e.path.split("/").pop() === file.name);
    return byName.length === 1 ? byName[0] : null;
  }

  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  }

  function section(title, items, id) {
    const box = el("div");
    box.id = id;
    box.appendChild(el("h3", `${title} (${items.length})`));
    const list = el("ul");
    items.forEach((text) => list.appendChild(el("li", text)));
    box.appendChild(list);
    return box;
  }

  async function verify(files) {
    const entries = manifestEntries();
    const intact = [], mismatched = [], extra = [], unreadable = [];
    const seen = new Set();
    for (const file of files) {
      const entry = entryFor(file, entries);
      if (!entry) { extra.push(`${file.name}: not an artifact of this record`); continue; }
      seen.add(entry.path);
      out.replaceChildren(el("p", `Hashing ${file.name} (${file.size.toLocaleString()} bytes)…`));
      let digest;
      try {
        digest = hex(await crypto.subtle.digest("SHA-256", await file.arrayBuffer()));
      } catch (err) {
        unreadable.push(`${file.name}: could not be read (${err})`);
        continue;
      }
      const wrong = [];
      if (file.size !== entry.size) wrong.push(`size: expected ${entry.size}, got ${file.size}`);
      if (digest !== entry.sha256) wrong.push(`sha256: expected ${entry.sha256}, got ${digest}`);
      if (wrong.length) mismatched.push(`${entry.path} (${entry.role}): ${wrong.join("; ")}`);
      else intact.push(`${entry.path} (${entry.role}): ${file.size} bytes, SHA-256 ${digest}`);
    }
    const missing = entries.filter((e) => !seen.has(e.path)).map((e) => `${e.path} (${e.role}): not chosen`);
    report({ intact, mismatched, extra, unreadable, missing }, entries.length);
  }

  function report(r, total) {
    const failed = r.mismatched.length + r.extra.length + r.unreadable.length > 0;
    let verdict, cls;
    if (failed) {
      verdict = "Does not match the record: do not use these files.";
      cls = "bad";
    } else if (r.missing.length) {
      verdict = `${r.intact.length} of ${total} artifacts checked, all intact; the others were not chosen.`;
      cls = "partial";
    } else {
      verdict = `All ${total} artifacts intact: every byte is what the record anchors.`;
      cls = "good";
    }
    const head = el("p", verdict, `verdict ${cls}`);
    head.id = "verify-verdict";
    out.replaceChildren(head);
    if (r.mismatched.length) out.appendChild(section("Mismatched", r.mismatched, "verify-mismatched"));
    if (r.extra.length) out.appendChild(section("Not in the record", r.extra, "verify-extra"));
    if (r.unreadable.length) out.appendChild(section("Unreadable", r.unreadable, "verify-unreadable"));
    if (r.intact.length) out.appendChild(section("Intact", r.intact, "verify-intact"));
    if (r.missing.length) out.appendChild(section("Not checked", r.missing, "verify-missing"));
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!input.files.length) {
      out.replaceChildren(el("p", "Choose at least one file first.", "verdict bad"));
      return;
    }
    if (!window.crypto || !crypto.subtle) {
      out.replaceChildren(el("p", "This browser has no Web Crypto here (it needs https or localhost).", "verdict bad"));
      return;
    }
    verify(Array.from(input.files)).catch((err) => out.replaceChildren(el("p", `Failed: ${err}`, "verdict bad")));
  });
})();
