// The shifters' page. Everything that came from a message (names, summaries, details) goes
// into the page as text nodes, never as markup: a probe's output cannot become HTML.
"use strict";

const API = "/api/v1";
const REFRESH_MS = 60000;
const AR_DAYS = 30;

function el(tag, className, ...children) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function show(id, text) {
  const node = document.getElementById(id);
  node.textContent = text || "";
  node.hidden = !text;
}

async function getJSON(path) {
  const response = await fetch(path, { headers: { Accept: "application/json" } });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const detail = typeof body.detail === "string" ? body.detail : response.statusText;
    throw new Error(`${response.status}: ${detail}`);
  }
  return body;
}

function age(iso) {
  const seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (seconds < 120) return `${Math.round(seconds)} s ago`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 172800) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86400)} d ago`;
}

function statusBadge(status) {
  // the class is one of a known set; anything else is shown in the neutral colour
  const known = ["OK", "WARNING", "CRITICAL", "UNKNOWN"].includes(status) ? status : "MISSING";
  return el("span", `status ${known}`, status);
}

function percent(value) {
  return value < 0 ? "n/a" : `${value.toFixed(2)} %`;
}

function freshnessCell(freshness) {
  if (!freshness) return el("td", "muted", "-");
  const chance = `P(no result tomorrow) = ${(100 * freshness.p_missing_tomorrow).toFixed(1)} %,`
    + ` ${freshness.observed_vm_starts_per_hour.toFixed(2)} tested VM starts per hour`;
  const cell = freshness.at_risk
    ? el("td", "risk", `\u26a0 at risk (${freshness.staleness})`)
    : el("td", "fresh", freshness.staleness);
  cell.title = chance;
  return cell;
}

function spaceKey(site, space) {
  const params = new URLSearchParams({
    site: site.name, endpoint: space.endpoint, service_type: space.service_type, vo: space.vo,
  });
  return params.toString();
}

function renderSites(sites) {
  const body = document.querySelector("#sites tbody");
  const rows = [];
  const selected = location.hash.slice(1);
  for (const site of sites) {
    const header = el("th", "", site.name);
    header.colSpan = 6;
    if (site.at_risk) header.append(" ", el("span", "risk", "\u26a0 a space is at risk"));
    rows.push(el("tr", "site", header));
    for (const space of site.endpoints) {
      const key = spaceKey(site, space);
      const row = el(
        "tr", key === selected ? "space selected" : "space",
        el("td", "name", space.endpoint),
        el("td", "", space.service_type),
        el("td", "", space.vo),
        el("td", "", statusBadge(space.status)),
        el("td", "", age(space.last_result)),
        freshnessCell(space.freshness),
      );
      row.dataset.key = key;
      row.tabIndex = 0;
      row.title = `last result ${space.last_result}`;
      row.addEventListener("click", () => { location.hash = key; });
      row.addEventListener("keydown", (event) => {
        if (event.key === "Enter") location.hash = key;
      });
      rows.push(row);
    }
  }
  body.replaceChildren(...rows);
  document.getElementById("empty").hidden = sites.length > 0;
}

async function refreshSites() {
  try {
    const data = await getJSON(`${API}/sites`);
    renderSites(data.sites);
    show("error", "");
    show("updated", `updated ${new Date().toISOString().replace(/\.\d+Z$/, "Z")}`);
  } catch (error) {
    show("error", `cannot load the sites: ${error.message}`);
  }
}

function day(offset) {
  const moment = new Date(Date.now() + offset * 86400000);
  return moment.toISOString().slice(0, 10);
}

function renderAR(document_) {
  const rows = document_.results.slice().reverse().map((figure) => {
    const bar = el("span", "bar");
    bar.style.width = `${Math.max(0, figure.availability) * 0.6}px`;
    return el(
      "tr", "",
      el("td", "", figure.date),
      el("td", "number", bar, percent(figure.availability)),
      el("td", "number", percent(figure.reliability)),
      el("td", "number", figure.up.toFixed(3)),
      el("td", "number", figure.unknown.toFixed(3)),
      el("td", "number", figure.down.toFixed(3)),
    );
  });
  document.querySelector("#ar tbody").replaceChildren(...rows);
}

function renderResults(results, serviceType) {
  const items = results
    .filter((result) => result.service_type === serviceType)
    .map((result) => el(
      "article", "result",
      el(
        "div", "head",
        statusBadge(result.status),
        el("strong", "metric", result.metric),
        el("span", "muted", `${result.timestamp} (${age(result.timestamp)})`),
        el("span", "muted", `VM ${result.vm_uuid || "?"} ${result.machinetype}`),
      ),
      el("p", "summary", result.summary),
      el("pre", "details", result.details),
    ));
  const target = document.getElementById("results");
  if (items.length === 0) target.replaceChildren(el("p", "muted", "No results."));
  else target.replaceChildren(...items);
}

async function showSpace() {
  const section = document.getElementById("detail");
  const params = new URLSearchParams(location.hash.slice(1));
  const endpoint = params.get("endpoint");
  for (const row of document.querySelectorAll("tr.space")) {
    row.classList.toggle("selected", row.dataset.key === location.hash.slice(1));
  }
  if (!endpoint) {
    section.hidden = true;
    return;
  }
  const serviceType = params.get("service_type") || "";
  const vo = params.get("vo") || "";
  section.hidden = false;
  document.getElementById("detail-title").textContent = endpoint;
  document.getElementById("detail-meta").textContent =
    `${params.get("site") || ""} \u00b7 ${serviceType} \u00b7 VO ${vo}`;
  const query = new URLSearchParams({ endpoint, vo, limit: "50" });
  const ar = new URLSearchParams({
    service_type: serviceType, vo, start: day(1 - AR_DAYS), end: day(0), granularity: "daily",
  });
  const [results, figures] = await Promise.allSettled([
    getJSON(`${API}/results?${query}`),
    getJSON(`${API}/ar/endpoints/${encodeURIComponent(endpoint)}?${ar}`),
  ]);
  if (results.status === "fulfilled") renderResults(results.value.results, serviceType);
  else document.getElementById("results").replaceChildren(
    el("p", "error", `cannot load the results: ${results.reason.message}`),
  );
  if (figures.status === "fulfilled") {
    show("ar-error", "");
    renderAR(figures.value);
  } else {
    show("ar-error", `cannot compute A/R: ${figures.reason.message}`);
    document.querySelector("#ar tbody").replaceChildren();
  }
}

window.addEventListener("hashchange", showSpace);
window.addEventListener("DOMContentLoaded", () => {
  refreshSites().then(showSpace);
  setInterval(refreshSites, REFRESH_MS);
});
