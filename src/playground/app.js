// The playground: choose a shipped example or paste/drop a FHIR Bundle or a CDS Hooks request,
// send it to this service's own endpoint, and see the cards as an EHR renders them. Accepting a
// suggestion or overriding a card sends real CDS Hooks feedback. Nothing leaves the browser but
// calls to the service itself; no card text is ever inserted as HTML (markdown is rendered from
// escaped text).
"use strict";

const $ = (id) => document.getElementById(id);
// The playground's own service endpoints: the CDS Hooks handlers (behind the admin credentials
// when authentication is required), whose answers also list the cards held back.
const base = "/playground/cds-services";
const HELD_BACK = "ketamine-cds-held-back";
let lastRequest = null;

function setStatus(text, error) {
  const s = $("status");
  s.textContent = text;
  s.className = error ? "error" : "";
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

// Inline markdown on already escaped text: **bold**, *italic*, `code`, [label](https://…).
function inline(escaped) {
  return escaped
    .replace(/`([^`]+)`/g, "<code>$1</code>")
    .replace(/\*\*([^*]+)\*\*/g, "<strong>$1</strong>")
    .replace(/(^|[^*])\*([^*\s][^*]*)\*/g, "$1<em>$2</em>")
    .replace(/\[([^\]]+)\]\((https?:\/\/[^\s)"]+)\)/g, '<a href="$2" target="_blank" rel="noopener noreferrer">$1</a>');
}

// The CDS Hooks card detail (GitHub-flavoured markdown, the parts cards use): paragraphs and
// "- " lists. Every character of the source is escaped first: raw HTML stays text.
function markdown(source) {
  const out = [];
  let list = null;
  for (const raw of String(source).split("\n")) {
    const line = escapeHtml(raw);
    const item = /^\s*[-*] (.*)$/.exec(line);
    if (item) {
      if (!list) { list = []; }
      list.push("<li>" + inline(item[1]) + "</li>");
      continue;
    }
    if (list) { out.push("<ul>" + list.join("") + "</ul>"); list = null; }
    if (line.trim() !== "") { out.push("<p>" + inline(line) + "</p>"); }
  }
  if (list) { out.push("<ul>" + list.join("") + "</ul>"); }
  return out.join("");
}

function element(tag, className, text) {
  const e = document.createElement(tag);
  if (className) { e.className = className; }
  if (text !== undefined) { e.textContent = text; }
  return e;
}

function safeUrl(url) {
  return typeof url === "string" && /^https?:\/\//.test(url) ? url : null;
}

function link(label, url) {
  const href = safeUrl(url);
  if (!href) { return element("span", "", label); }
  const a = element("a", "", label);
  a.href = href;
  a.target = "_blank";
  a.rel = "noopener noreferrer";
  return a;
}

function serviceFor(hook) {
  if (hook === "patient-view") { return "ketamine-patient-view"; }
  return hook === "order-select" ? "ketamine-order-select" : "ketamine-order-sign";
}

async function sendFeedback(card, item, node) {
  const service = serviceFor(lastRequest && lastRequest.hook);
  const body = { feedback: [item] };
  $("feedback").hidden = false;
  $("feedback-request").textContent = JSON.stringify(body, null, 2);
  try {
    const answer = await fetch(base + "/" + service + "/feedback", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    const text = await answer.text();
    $("feedback-status").textContent = "POST " + base + "/" + service + "/feedback → " + answer.status + (text ? " " + text : "");
    $("feedback-status").dataset.status = String(answer.status);
    if (answer.ok) { node.classList.add("done"); }
  } catch (e) {
    $("feedback-status").textContent = "feedback failed: " + e;
  }
}

// What triggered an Epic call, by hook (Epic's bpa-trigger-action: enter order, sign orders,
// open patient chart): the request extension that makes the service answer in Epic's shape.
const EPIC_TRIGGERS = { "order-select": "18", "order-sign": "23", "patient-view": "60" };

function showAs() { return $("show-as").value; }

// Epic shows `any` suggestions as check boxes labelled with their action's description, the
// recommended ones ticked, and accepts the ticked ones together.
function renderAnySuggestions(card, node) {
  const list = element("div", "suggestions any");
  for (const s of card.suggestions) {
    const row = element("label", s.isRecommended ? "suggestion recommended" : "suggestion");
    const box = element("input");
    box.type = "checkbox";
    box.checked = Boolean(s.isRecommended);
    box.dataset.uuid = s.uuid || "";
    row.appendChild(box);
    const action = (s.actions || [])[0] || {};
    row.appendChild(element("span", "description", action.description || s.label || ""));
    list.appendChild(row);
  }
  const accept = element("button", "accept-selected", "Accept selected");
  accept.type = "button";
  accept.addEventListener("click", () => {
    const ids = Array.from(list.querySelectorAll("input:checked")).map((b) => ({ id: b.dataset.uuid }));
    sendFeedback(card, { card: card.uuid, outcome: "accepted", acceptedSuggestions: ids, outcomeTimestamp: new Date().toISOString() }, node);
  });
  list.appendChild(accept);
  node.appendChild(list);
}

function renderCard(card) {
  const node = element("article", "card " + (card.indicator || "info"));
  node.dataset.uuid = card.uuid || "";
  node.appendChild(element("div", "indicator", card.indicator || ""));
  node.appendChild(element("div", "summary", card.summary || ""));
  if (card.detail) {
    const detail = element("div", "detail");
    detail.innerHTML = markdown(card.detail); // escaped first: see markdown()
    node.appendChild(detail);
  }
  if (card.source) {
    const source = element("div", "source", "Source: ");
    source.appendChild(link(card.source.label || "", card.source.url));
    node.appendChild(source);
  }
  if (Array.isArray(card.links) && card.links.length) {
    const links = element("div", "links");
    for (const l of card.links) { links.appendChild(link(l.label || l.url, l.url)); }
    node.appendChild(links);
  }
  if (Array.isArray(card.suggestions) && card.suggestions.length && card.selectionBehavior === "any") {
    renderAnySuggestions(card, node);
  } else if (Array.isArray(card.suggestions) && card.suggestions.length) {
    const list = element("div", "suggestions");
    for (const s of card.suggestions) {
      const button = element("button", s.isRecommended ? "suggestion recommended" : "suggestion", s.label || "");
      button.type = "button";
      button.dataset.uuid = s.uuid || "";
      if (s.isRecommended) { button.appendChild(element("span", "badge", "recommended")); }
      button.addEventListener("click", () => sendFeedback(card, {
        card: card.uuid, outcome: "accepted", acceptedSuggestions: [{ id: s.uuid }], outcomeTimestamp: new Date().toISOString(),
      }, node));
      list.appendChild(button);
    }
    node.appendChild(list);
  }
  if (Array.isArray(card.overrideReasons) && card.overrideReasons.length) {
    const row = element("div", "override");
    const select = element("select", "override-reason");
    select.setAttribute("aria-label", "Override reason");
    for (const r of card.overrideReasons) {
      const option = element("option", "", r.display || r.code);
      option.value = r.code;
      option.dataset.system = r.system || "";
      select.appendChild(option);
    }
    const button = element("button", "secondary override-button", "Override");
    button.type = "button";
    button.addEventListener("click", () => {
      const chosen = select.options[select.selectedIndex];
      const reason = { reason: { system: chosen.dataset.system, code: chosen.value, display: chosen.textContent } };
      const item = { card: card.uuid, outcome: "overridden", outcomeTimestamp: new Date().toISOString() };
      // Epic sends the reason as `overrideReasons` (plural), one object.
      if (showAs() === "epic") { item.overrideReasons = reason; } else { item.overrideReason = reason; }
      sendFeedback(card, item, node);
    });
    row.appendChild(select);
    row.appendChild(button);
    node.appendChild(row);
  }
  return node;
}

function heldBack(response) {
  const held = response && response.extension && response.extension[HELD_BACK];
  return Array.isArray(held) ? held : [];
}

// Lifts the snooze that holds a card back, then sends the request again.
async function liftSnooze(card, button) {
  button.disabled = true;
  try {
    const answer = await fetch("/playground/snoozes/" + encodeURIComponent(card) + "/lift", { method: "POST" });
    const body = await answer.json();
    if (!answer.ok) {
      setStatus(answer.status + ": " + ((body.issue || []).map((i) => i.diagnostics).join("; ") || answer.statusText), true);
      button.disabled = false;
      return;
    }
    const still = body.stillInForce || [];
    await send();
    if (still.length) {
      setStatus("snooze lifted; " + still.length + " other snooze" + (still.length === 1 ? "" : "s") + " of this patient still in force", true);
    }
  } catch (e) {
    setStatus("lift failed: " + e, true);
    button.disabled = false;
  }
}

function renderCards(response) {
  const cards = $("cards");
  cards.replaceChildren();
  const list = (response && response.cards) || [];
  const held = heldBack(response);
  if (!list.length && !held.length) { cards.appendChild(element("p", "none", "No cards: the service is quiet for this order.")); }
  if (!list.length && held.length) { cards.appendChild(element("p", "none", "No card shown: the EHR would see none. Held back:")); }
  for (const card of list) { cards.appendChild(renderCard(card)); }
  // A held-back card is shown as such: the EHR does not see it, and why is said on it.
  for (const h of held) {
    const node = renderCard(h.card || {});
    node.classList.add("held");
    const banner = element("div", "held-why", h.why || "held back");
    banner.dataset.heldBy = h.heldBy || "";
    if (h.heldBy === "snooze" && h.overriddenCard) {
      const lift = element("button", "secondary lift-button", "Lift the snooze");
      lift.type = "button";
      lift.addEventListener("click", () => liftSnooze(h.overriddenCard, lift));
      banner.appendChild(lift);
    }
    node.insertBefore(banner, node.firstChild);
    cards.appendChild(node);
  }
}

function parseInput() {
  const text = $("input").value.trim();
  if (!text) { throw new Error("nothing to send: choose an example or paste a Bundle or a hook request"); }
  return JSON.parse(text);
}

// The ketamine drafts a Bundle offers (the service decides which are ketamine; every draft
// MedicationRequest is listed).
function listDrafts(value) {
  const select = $("draft");
  select.replaceChildren(element("option", "", "every ketamine draft"));
  select.options[0].value = "";
  const entries = (value && value.resourceType === "Bundle" && Array.isArray(value.entry)) ? value.entry : [];
  for (const e of entries) {
    const r = e && e.resource;
    if (r && r.resourceType === "MedicationRequest" && r.status === "draft" && r.id) {
      const label = (r.medicationCodeableConcept && (r.medicationCodeableConcept.text || (r.medicationCodeableConcept.coding || [])[0]?.display)) || r.id;
      const option = element("option", "", label + " (MedicationRequest/" + r.id + ")");
      option.value = "MedicationRequest/" + r.id;
      select.appendChild(option);
    }
  }
  select.disabled = entries.length === 0;
}

async function hookRequest(value) {
  const hook = $("hook").value;
  if (value && value.resourceType === "Bundle") {
    const params = new URLSearchParams({ hook });
    if ($("draft").value) { params.set("order", $("draft").value); }
    const answer = await fetch("/playground/request?" + params, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(value),
    });
    const body = await answer.json();
    if (!answer.ok) { throw new Error((body.issue || []).map((i) => i.diagnostics).join("; ") || answer.statusText); }
    return body;
  }
  const request = Object.assign({}, value);
  if (request.hook !== hook) {
    request.hook = hook;
    request.context = Object.assign({}, request.context);
    if (hook === "order-select" && !Array.isArray(request.context.selections)) {
      const entries = (request.context.draftOrders && request.context.draftOrders.entry) || [];
      request.context.selections = entries.map((e) => e.resource && e.resource.resourceType + "/" + e.resource.id).filter(Boolean);
    }
  }
  return request;
}

async function send() {
  setStatus("sending…");
  $("feedback").hidden = true;
  try {
    const request = await hookRequest(parseInput());
    // Each send is a new call, as each order entry is (a new hookInstance, so new card uuids).
    if (window.crypto && typeof window.crypto.randomUUID === "function") { request.hookInstance = window.crypto.randomUUID(); }
    if (showAs() === "epic") {
      request.extension = Object.assign({}, request.extension, { "com.epic.cdshooks.request.bpa-trigger-action": EPIC_TRIGGERS[request.hook] || "18" });
    } else if (request.extension) {
      request.extension = Object.assign({}, request.extension);
      delete request.extension["com.epic.cdshooks.request.bpa-trigger-action"];
    }
    lastRequest = request;
    $("request-pane").textContent = JSON.stringify(request, null, 2);
    const answer = await fetch(base + "/" + serviceFor(request.hook), {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(request),
    });
    const body = await answer.json();
    $("response-pane").textContent = JSON.stringify(body, null, 2);
    if (!answer.ok) {
      renderCards({ cards: [] });
      setStatus(answer.status + ": " + ((body.issue || []).map((i) => i.diagnostics).join("; ") || answer.statusText), true);
      return;
    }
    renderCards(body);
    const held = heldBack(body).length;
    setStatus(answer.status + " · " + body.cards.length + " card" + (body.cards.length === 1 ? "" : "s")
      + (held ? " · " + held + " held back" : ""));
  } catch (e) {
    setStatus(String(e.message || e), true);
  }
}

function useText(text) {
  $("input").value = text;
  try {
    const value = JSON.parse(text);
    listDrafts(value);
    if (["order-select", "order-sign", "patient-view"].includes(value.hook)) { $("hook").value = value.hook; }
  } catch (_) {
    listDrafts(null);
  }
}

async function loadExamples() {
  const answer = await fetch("/playground/examples");
  const list = await answer.json();
  const select = $("example");
  for (const e of list) {
    const option = element("option", "", e.kind + ": " + e.name);
    option.value = e.path;
    select.appendChild(option);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  loadExamples().catch((e) => setStatus("examples not loaded: " + e, true));
  $("example").addEventListener("change", async () => {
    const path = $("example").value;
    if (!path) { return; }
    const answer = await fetch("/playground/examples/" + path);
    useText(await answer.text());
    setStatus("example loaded");
  });
  $("input").addEventListener("input", () => useText($("input").value));
  $("send").addEventListener("click", send);
  $("narrow").addEventListener("change", () => $("cards").classList.toggle("narrow", $("narrow").checked));
  // Oracle Health shows cards in a side panel about an eighth of the screen wide.
  $("show-as").addEventListener("change", () => {
    if (showAs() === "oracle") { $("narrow").checked = true; }
    $("cards").classList.toggle("narrow", $("narrow").checked);
  });
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    const file = e.dataTransfer && e.dataTransfer.files[0];
    if (file) { file.text().then(useText); }
  });
});
