// The shifters' page. Everything that came from a message (names, summaries, details) goes
// into the page as text nodes, never as markup: a probe's output cannot become HTML.
// The view is in the URL's fragment (space, metric, filters); ?refresh=N polls every N s.
// Polling costs little: the API answers with an ETag and Cache-Control: no-cache, so the
// browser asks with If-None-Match and an unchanged view comes back as a bodiless 304.
"use strict";

const API = "/api/v1";
const AR_DAYS = 30;
const DAY_MS = 86400000;
const SVG = "http://www.w3.org/2000/svg";
const STATUSES = ["OK", "WARNING", "CRITICAL", "UNKNOWN", "MISSING", "DOWNTIME"];
const NA_HELP = "n/a: no defined status (UNKNOWN or MISSING throughout, so ARGO's formula"
  + " divides by zero). ARGO publishes such a day as -1 and such a month as 0 (its epsilon"
  + " denominator); both are shown as n/a here. Reliability is also n/a for a day spent in"
  + " scheduled downtime throughout.";
const REFRESH_MS = (() => {
  const asked = Number(new URLSearchParams(location.search).get("refresh"));
  return Number.isFinite(asked) && asked >= 1 ? Math.min(asked, 3600) * 1000 : 30000;
})();

let sitesData = [];
let downtimesData = [];
let generation = 0;

function el(tag, className, ...children) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function svg(tag, attributes, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  for (const child of children) node.append(child);
  return node;
}

function show(id, text) {
  const node = document.getElementById(id);
  node.textContent = text || "";
  node.hidden = !text;
}

function query(fields) {
  // an empty value would be a 422 (names are never empty): leave it out
  return new URLSearchParams(Object.entries(fields).filter(([, value]) => value)).toString();
}

async function getJSON(path) {
  // no-cache: revalidate with If-None-Match every time (304 when nothing changed)
  const response = await fetch(path, { headers: { Accept: "application/json" }, cache: "no-cache" });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const detail = typeof body.detail === "string" ? body.detail : response.statusText;
    throw new Error(`${response.status}: ${detail}`);
  }
  return body;
}

// --- the view, in the fragment ---------------------------------------------------------

function view() {
  return new URLSearchParams(location.hash.slice(1));
}

function setView(changes, { replace = false } = {}) {
  const params = view();
  for (const [key, value] of Object.entries(changes)) {
    if (value === null || value === "" || value === undefined) params.delete(key);
    else params.set(key, value);
  }
  const hash = `#${params}`;
  if (replace) {
    history.replaceState(null, "", hash);
    render();
  } else if (hash !== location.hash) {
    location.hash = hash; // hashchange renders
  }
}

function spaceParams(site, space) {
  // site, endpoint, service_type, vo first: the order links were made with
  const params = new URLSearchParams({
    site: site.name, endpoint: space.endpoint, service_type: space.service_type, vo: space.vo,
  });
  for (const key of ["fvo", "q", "problems"]) {
    if (view().get(key)) params.set(key, view().get(key));
  }
  return params;
}

function spaceKey(site, space) {
  return new URLSearchParams({
    site: site.name, endpoint: space.endpoint, service_type: space.service_type, vo: space.vo,
  }).toString();
}

function isOpened(site, space) {
  const params = view();
  return params.get("site") === site.name && params.get("endpoint") === space.endpoint
    && (params.get("service_type") || space.service_type) === space.service_type
    && (params.get("vo") || space.vo) === space.vo;
}

// --- words and numbers -------------------------------------------------------------------

function age(iso) {
  const seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (seconds < 120) return `${Math.round(seconds)} s ago`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 172800) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86400)} d ago`;
}

function statusBadge(status, text) {
  // the class is one of a known set; anything else is shown in the neutral colour
  const known = STATUSES.includes(status) ? status : "MISSING";
  return el("span", `status ${known}`, text || status);
}

function noData(figure) {
  // a day or month without any defined status: n/a everywhere, whatever ARGO publishes
  return figure.unknown >= 1 || figure.availability < 0;
}

function na() {
  const node = el("abbr", "na", "n/a");
  node.title = NA_HELP;
  return node;
}

function percent(value, figure) {
  if (value < 0 || (figure && noData(figure))) return na();
  return `${value.toFixed(2)} %`;
}

function fraction(value, figure) {
  if (figure && noData(figure)) return na();
  return `${(100 * value).toFixed(1)} %`;
}

function utcDay(offset) {
  return new Date(Date.now() + offset * DAY_MS).toISOString().slice(0, 10);
}

function lastDays() {
  const days = [];
  for (let k = 1 - AR_DAYS; k <= 0; k += 1) days.push(utcDay(k));
  return days;
}

// --- downtimes ---------------------------------------------------------------------------

function downtimesOf(endpoint, serviceType) {
  return downtimesData.filter((downtime) => downtime.endpoint === endpoint
    && (!serviceType || downtime.service_type === serviceType));
}

function currentDowntime(endpoint, serviceType) {
  const now = Date.now();
  return downtimesOf(endpoint, serviceType).find(
    (downtime) => Date.parse(downtime.start) <= now && now < Date.parse(downtime.end),
  );
}

// --- the grid ----------------------------------------------------------------------------

function column(space, name) {
  // org.<vo>.WN-cvmfs of every VO in one column, WN-cvmfs
  const prefix = `org.${space.vo}.`;
  return name.startsWith(prefix) ? name.slice(prefix.length) : name;
}

function metricsOf(space) {
  const names = new Set(space.metrics.map((metric) => metric.metric));
  if (space.freshness) for (const name of Object.keys(space.freshness.metrics)) names.add(name);
  return names;
}

function isProblem(space) {
  if (space.status !== "OK") return true;
  if (space.freshness && (space.freshness.at_risk || space.freshness.staleness !== "fresh")) {
    return true;
  }
  const reported = new Set(space.metrics.map((metric) => metric.metric));
  return [...metricsOf(space)].some((name) => !reported.has(name));
}

function visibleSites() {
  const params = view();
  const vo = params.get("fvo") || "";
  const search = (params.get("q") || "").toLowerCase();
  const problems = params.get("problems") === "1";
  const shown = [];
  for (const site of sitesData) {
    const nameMatches = site.name.toLowerCase().includes(search);
    const endpoints = site.endpoints.filter((space) => (!vo || space.vo === vo)
      && (nameMatches || space.endpoint.toLowerCase().includes(search))
      && (!problems || isProblem(space)));
    if (endpoints.length) shown.push({ ...site, endpoints });
  }
  return shown;
}

function freshnessCell(freshness) {
  if (!freshness) return el("td", "muted", "-");
  const chance = `P(no result tomorrow) = ${(100 * freshness.p_missing_tomorrow).toFixed(1)} %,`
    + ` ${freshness.observed_vm_starts_per_hour.toFixed(3)} tested VM starts per hour`;
  if (!freshness.at_risk) {
    const cell = el("td", `freshness ${freshness.staleness === "fresh" ? "fresh" : "risk"}`, freshness.staleness);
    cell.title = chance;
    return cell;
  }
  const factor = freshness.sampling_factor_needed;
  const needed = freshness.tested_vm_starts_needed_per_hour.toFixed(3);
  const advice = factor === null
    ? "no tested VM booted in 7 days: test more VMs (raise the sampling fraction)"
    : `sampling fraction \u00d7${factor.toFixed(1)} keeps it defined`;
  const cell = el(
    "td", "freshness risk",
    `\u26a0 at risk (${freshness.staleness})`,
    el("span", "advice", advice),
  );
  cell.title = `${chance}. To have a result every UTC day (P \u2265 0.99) it needs \u2265 ${needed}`
    + " tested VM starts per hour: multiply the sampling fraction ([sampling] fraction or the"
    + " machinefeatures key vmsam_fraction) by the factor; above 1 the VM starts are too few"
    + " even when every VM is tested.";
  return cell;
}

function metricCell(site, space, label) {
  const name = [...metricsOf(space)].find((candidate) => column(space, candidate) === label);
  const found = name && space.metrics.find((metric) => metric.metric === name);
  const cell = el("td", "metric cell");
  if (!name) {
    cell.append(el("span", "muted", "\u2013"));
    cell.setAttribute("aria-label", `${space.endpoint} ${label}: not measured`);
    return cell;
  }
  cell.dataset.metric = name;
  const status = found ? found.status : "MISSING";
  const when = found ? age(found.timestamp) : "never";
  cell.append(statusBadge(status), el("span", "age", when));
  cell.title = found ? `${name}: ${status} at ${found.timestamp}` : `${name}: no result yet`;
  cell.setAttribute("aria-label", `${space.endpoint} ${name}: ${status}, ${when}`);
  return cell;
}

function renderSites() {
  const sites = visibleSites();
  const names = new Set();
  for (const site of sites) for (const space of site.endpoints) {
    for (const name of metricsOf(space)) names.add(column(space, name));
  }
  const metrics = [...names].sort();
  const head = document.getElementById("grid-head");
  while (head.cells.length > 6) head.deleteCell(6);
  for (const name of metrics) {
    const th = el("th", "metric-head", name);
    th.title = `metric ${name} (org.<VO>.${name})`;
    th.scope = "col";
    head.append(th);
  }
  const focused = document.activeElement && document.activeElement.dataset
    ? document.activeElement.dataset.cell : null;
  const rows = [];
  for (const site of sites) {
    const header = el("th", "", site.name);
    header.colSpan = 6 + metrics.length;
    header.scope = "rowgroup";
    if (site.at_risk) header.append(" ", el("span", "risk", "\u26a0 a space is at risk"));
    rows.push(el("tr", "site", header));
    for (const space of site.endpoints) {
      const key = spaceKey(site, space);
      const downtime = currentDowntime(space.endpoint, space.service_type);
      const statusCell = el("td", "cell space-status");
      if (downtime) {
        statusCell.append(statusBadge("DOWNTIME"), " ", el("span", "under", space.status));
        statusCell.title = `${downtime.scheduled ? "scheduled" : "unscheduled"} downtime until`
          + ` ${downtime.end}: ${downtime.description}`;
      } else {
        statusCell.append(statusBadge(space.status));
      }
      const row = el(
        "tr", isOpened(site, space) ? "space selected" : "space",
        el("td", "name", space.endpoint),
        el("td", "", space.service_type),
        el("td", "", space.vo),
        statusCell,
        el("td", "", age(space.last_result)),
        freshnessCell(space.freshness),
        ...metrics.map((label) => metricCell(site, space, label)),
      );
      row.dataset.key = key;
      row.title = `last result ${space.last_result}`;
      row.addEventListener("click", (event) => {
        const cell = event.target.closest("td.metric");
        const metric = cell && cell.dataset.metric ? cell.dataset.metric : null;
        openSpace(site, space, metric);
      });
      for (const cell of row.querySelectorAll("td.cell")) {
        cell.tabIndex = -1;
        cell.dataset.cell = `${key}|${cell.dataset.metric || ""}`;
      }
      rows.push(row);
    }
  }
  document.querySelector("#sites tbody").replaceChildren(...rows);
  document.getElementById("empty").hidden = sitesData.length > 0;
  document.getElementById("filtered").hidden = sitesData.length === 0 || sites.length > 0;
  const cells = [...document.querySelectorAll("#sites td.cell")];
  const again = cells.find((cell) => cell.dataset.cell === focused);
  const current = again || cells.find((cell) => cell.closest("tr.selected")) || cells[0];
  if (current) current.tabIndex = 0; // one tab stop for the grid; arrows move within
  if (again) again.focus({ preventScroll: true });
}

function openSpace(site, space, metric) {
  const params = spaceParams(site, space);
  if (metric) params.set("metric", metric);
  location.hash = `#${params}`;
}

function moveFocus(event) {
  const cell = event.target.closest && event.target.closest("#sites td.cell");
  if (!cell) return;
  const row = cell.parentElement;
  const rows = [...document.querySelectorAll("#sites tr.space")];
  const inRow = (r) => [...r.querySelectorAll("td.cell")];
  const column = inRow(row).indexOf(cell);
  let target = null;
  if (event.key === "ArrowRight") target = inRow(row)[column + 1];
  else if (event.key === "ArrowLeft") target = inRow(row)[column - 1];
  else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
    const next = rows[rows.indexOf(row) + (event.key === "ArrowDown" ? 1 : -1)];
    if (next) target = inRow(next)[Math.min(column, inRow(next).length - 1)];
  } else if (event.key === "Home") target = inRow(row)[0];
  else if (event.key === "End") target = inRow(row).at(-1);
  else if (event.key === "Enter" || event.key === " ") {
    event.preventDefault();
    cell.click();
    return;
  } else return;
  event.preventDefault();
  if (!target) return;
  for (const other of document.querySelectorAll("#sites td.cell")) other.tabIndex = -1;
  target.tabIndex = 0;
  target.focus();
}

// --- A/R: chart, monthly and daily figures ----------------------------------------------

function downtimeSpans(downtimes, days) {
  // [first day index, last day index + fraction] bands clipped to the chart
  const first = Date.parse(`${days[0]}T00:00:00Z`);
  const end = first + days.length * DAY_MS;
  return downtimes
    .map((downtime) => ({
      from: Math.max(first, Date.parse(downtime.start)),
      to: Math.min(end, Date.parse(downtime.end)),
      downtime,
    }))
    .filter((span) => span.from < span.to)
    .map((span) => ({ ...span, x0: (span.from - first) / DAY_MS, x1: (span.to - first) / DAY_MS }));
}

function drawChart(container, figures, downtimes, label) {
  const days = lastDays();
  const byDay = new Map(figures.map((figure) => [figure.date, figure]));
  const width = 30 * 14;
  const height = 120;
  const left = 34;
  const top = 6;
  const slot = width / days.length;
  const y = (value) => top + height * (1 - value / 100);
  const chart = svg("svg", {
    class: "ar-chart", viewBox: `0 0 ${left + width + 4} ${top + height + 22}`,
    role: "img", "aria-label": `${label}: daily availability and reliability, last ${days.length} days`,
  }, svg("title", {}, `${label}: daily availability and reliability`));
  for (const value of [0, 50, 100]) {
    chart.append(
      svg("line", { class: "grid", x1: left, x2: left + width, y1: y(value), y2: y(value) }),
      svg("text", { class: "axis", x: left - 4, y: y(value) + 4, "text-anchor": "end" }, `${value}`),
    );
  }
  for (const span of downtimeSpans(downtimes, days)) {
    const kind = span.downtime.scheduled ? "scheduled" : "unscheduled";
    chart.append(svg("rect", {
      class: `downtime ${kind}`, x: left + span.x0 * slot, y: top,
      width: Math.max(1, (span.x1 - span.x0) * slot), height,
    }, svg("title", {}, `${kind} downtime ${span.downtime.start} \u2013 ${span.downtime.end}:`
      + ` ${span.downtime.description}`)));
  }
  const points = [];
  days.forEach((dayName, index) => {
    const figure = byDay.get(dayName);
    const x = left + index * slot;
    const group = svg("g", { class: "day", "data-day": dayName });
    if (!figure || noData(figure)) {
      group.classList.add("nodata");
      group.append(
        svg("rect", { class: "na", x: x + 2, y: y(100), width: slot - 4, height }),
        svg("title", {}, `${dayName}: availability n/a, reliability n/a. ${NA_HELP}`),
      );
    } else {
      const value = Math.max(0, figure.availability);
      group.append(
        // the part of the day not available in red, the available part in green: 0 % shows
        svg("rect", { class: "unavailable", x: x + 2, y: y(100), width: slot - 4, height: y(value) - y(100) }),
        svg("rect", { class: "availability", x: x + 2, y: y(value), width: slot - 4, height: y(0) - y(value) }),
        svg("title", {}, `${dayName}: availability ${figure.availability.toFixed(2)} %,`
          + ` reliability ${figure.reliability < 0 ? "n/a" : `${figure.reliability.toFixed(2)} %`},`
          + ` scheduled downtime ${(100 * figure.down).toFixed(1)} % of the day`),
      );
      if (figure.reliability >= 0) {
        points.push(`${x + slot / 2},${y(figure.reliability)}`);
        group.append(svg("circle", { class: "reliability", cx: x + slot / 2, cy: y(figure.reliability), r: 2 }));
      }
    }
    if ((days.length - 1 - index) % 7 === 0) {
      group.append(svg("text", { class: "axis", x: x + slot / 2, y: top + height + 16, "text-anchor": "middle" },
        dayName.slice(5)));
    }
    chart.append(group);
  });
  if (points.length) chart.append(svg("polyline", { class: "reliability", points: points.join(" ") }));
  container.replaceChildren(chart);
}

function renderMonthly(tbody, figures) {
  tbody.replaceChildren(...figures.slice().reverse().map((figure) => el(
    "tr", "",
    el("td", "", figure.date),
    el("td", "number", percent(figure.availability, figure)),
    el("td", "number", percent(figure.reliability, figure)),
    el("td", "number", fraction(figure.down, figure)),
  )));
}

function renderDaily(figures) {
  const rows = figures.slice().reverse().map((figure) => {
    const bar = el("span", "bar");
    bar.style.width = `${noData(figure) ? 0 : Math.max(0, figure.availability) * 0.6}px`;
    return el(
      "tr", noData(figure) ? "nodata" : "",
      el("td", "", figure.date),
      el("td", "number", bar, percent(figure.availability, figure)),
      el("td", "number", percent(figure.reliability, figure)),
      el("td", "number", fraction(figure.up, figure)),
      el("td", "number", fraction(figure.unknown, figure)),
      el("td", "number", fraction(figure.down, figure)),
    );
  });
  document.querySelector("#ar tbody").replaceChildren(...rows);
}

function firstOfPreviousMonth() {
  const now = new Date();
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1)).toISOString().slice(0, 10);
}

// --- status timelines and trends ----------------------------------------------------------

function settingVMs(piece) {
  // who set a piece: a metric piece names its result, an endpoint piece the metrics' results
  const results = piece.result ? [piece.result]
    : (piece.set_by || []).map((entry) => entry.result).filter(Boolean);
  const names = new Set(results.map((result) => `${result.vm_uuid || "?"} (${result.machinetype || "?"})`));
  return [...names];
}

// what explains a MISSING piece (docs/availability.md#no-vms-ran); it changes no figure
const ACTIVITY = {
  "no-vms": "no VMs ran: the factories reported none running",
  "vms-ran": "VMs ran: they failed or were not tested",
  unknown: "nobody reported whether VMs ran",
};

function drawStrip(label, pieces, excluded = []) {
  // aligned with the A/R charts above: the same 30 days over the same width
  const days = lastDays();
  const first = Date.parse(`${days[0]}T00:00:00Z`);
  const span = days.length * DAY_MS;
  const left = 34;
  const width = 30 * 14;
  const strip = svg("svg", {
    class: "timeline", viewBox: `0 0 ${left + width + 4} 14`, preserveAspectRatio: "none",
    role: "img", "aria-label": `${label}: status timeline, last ${days.length} days`,
  });
  for (const piece of pieces) {
    const from = Math.max(first, Date.parse(piece.start));
    const to = Math.min(first + span, Date.parse(piece.end));
    if (to <= from) continue;
    const vms = settingVMs(piece);
    const who = vms.length ? ` \u00b7 set by ${vms.join(", ")}` : "";
    const activity = ACTIVITY[piece.activity] ? piece.activity : "";
    const why = activity ? ` \u00b7 ${ACTIVITY[activity]}` : "";
    strip.append(svg("rect", {
      class: `piece ${STATUSES.includes(piece.status) ? piece.status : "MISSING"} ${activity}`.trim(),
      x: left + ((from - first) / span) * width, y: 2,
      width: Math.max(0.5, ((to - from) / span) * width), height: 10,
      "data-start": piece.start, "data-end": piece.end, "data-status": piece.status,
      "data-activity": activity,
    }, svg("title", {}, `${piece.status} ${piece.start} \u2013 ${piece.end}${who}${why}`)));
  }
  // over the pieces: the time applied recomputations excluded (UNKNOWN in A/R)
  for (const recomputation of excluded) {
    const from = Math.max(first, Date.parse(recomputation.start));
    const to = Math.min(first + span, Date.parse(recomputation.end));
    if (to <= from) continue;
    const metrics = recomputation.metrics.length ? ` (${recomputation.metrics.join(", ")})` : "";
    strip.append(svg("rect", {
      class: "excluded", x: left + ((from - first) / span) * width, y: 1,
      width: Math.max(0.5, ((to - from) / span) * width), height: 12,
      "data-recomputation": recomputation.id,
    }, svg("title", {}, `excluded by recomputation ${recomputation.id}${metrics}`
      + ` ${recomputation.start} \u2013 ${recomputation.end}: ${recomputation.reason}`)));
  }
  return strip;
}

function renderRecomputations(listing, failure) {
  const section = document.getElementById("recomputations-panel");
  section.hidden = !listing && !failure;
  show("recomputations-error", failure ? `cannot load the recomputations: ${failure}` : "");
  const rows = (listing ? listing.recomputations : []).map((recomputation) => {
    const row = el("tr", recomputation.state,
      el("td", "", recomputation.id), el("td", "state", recomputation.state),
      el("td", "", recomputation.start), el("td", "", recomputation.end),
      el("td", "", recomputation.sites.join(", ") || "all"),
      el("td", "", recomputation.metrics.join(", ") || "all"),
      el("td", "", recomputation.reason), el("td", "", recomputation.requester));
    row.dataset.id = recomputation.id;
    return row;
  });
  document.querySelector("#recomputations tbody").replaceChildren(...rows);
  document.getElementById("recomputations-none").hidden = !listing || rows.length > 0;
}

function renderTimelines(document_, failure) {
  const section = document.getElementById("timelines");
  section.hidden = !document_ && !failure;
  show("timelines-error", failure ? `cannot load the timelines: ${failure}` : "");
  const strips = [];
  if (document_) {
    if (document_.scope === "site") {
      strips.push(el("div", "strip site", el("span", "strip-name", document_.name),
        drawStrip(document_.name, document_.pieces, document_.recomputations || [])));
    }
    for (const space of document_.endpoints) {
      const row = el("div", "strip space", el("span", "strip-name", space.endpoint),
        drawStrip(space.endpoint, space.pieces, document_.recomputations || []));
      row.dataset.endpoint = space.endpoint;
      row.dataset.serviceType = space.service_type;
      if (view().get("endpoint") === space.endpoint) row.classList.add("selected");
      strips.push(row);
    }
  }
  document.getElementById("strips").replaceChildren(...strips);
}

function trendLine(entry, count) {
  const by = entry.machinetypes.map((m) => `${m.machinetype || "?"} ${m[count]}`).join(", ");
  return el("li", "", `${entry.metric} on ${entry.endpoint}: ${entry[count]}`
    + `${count === "changes" ? ` (${entry.changes_per_day.toFixed(1)} a day)` : ` of ${entry.results}`}`
    + ` [${by}]`);
}

function renderTrends(trends, failure) {
  document.getElementById("trends").hidden = !trends && !failure;
  show("trends-error", failure ? `cannot load the trends: ${failure}` : "");
  document.getElementById("trends-contrast").textContent = trends
    ? trends.contrast || "No machinetype fails more than another." : "";
  const failing = trends ? trends.failing.filter((entry) => entry.critical > 0) : [];
  document.getElementById("trends-failing").replaceChildren(...failing.map((e) => trendLine(e, "critical")));
  document.getElementById("trends-flapping").replaceChildren(
    ...(trends ? trends.flapping : []).map((e) => trendLine(e, "changes")),
  );
}

// --- results -----------------------------------------------------------------------------

function resultArticle(result) {
  const vm = el(
    "dl", "vm",
    el("dt", "", "VM UUID"), el("dd", "vm-uuid", result.vm_uuid || "?"),
    el("dt", "", "machinetype"), el("dd", "machinetype", result.machinetype || "?"),
    el("dt", "", "hostname"), el("dd", "hostname", result.gathered_at || "?"),
  );
  return el(
    "article", "result",
    el(
      "div", "head",
      statusBadge(result.status),
      el("strong", "metric", result.metric),
      el("span", "muted", `${result.timestamp} (${age(result.timestamp)})`),
      ...signatureBadge(result),
    ),
    vm,
    el("p", "summary", result.summary),
    el("pre", "details", result.details),
  );
}

// a result that carried no signature where the consumer checks them: flagged, so that
// nobody takes it for one a known VM sent
function signatureBadge(result) {
  if (result.signature !== "unsigned") return [];
  const badge = el("span", "unsigned", "unsigned");
  badge.title = "carried no signature: anyone who can write to the broker could have sent it";
  return [badge];
}

function fillResults(target, results) {
  if (results.length === 0) target.replaceChildren(el("p", "muted", "No results."));
  else target.replaceChildren(...results.map(resultArticle));
}

// --- the opened panel --------------------------------------------------------------------

function siteVo(siteName, params) {
  if (params.get("vo")) return params.get("vo");
  if (params.get("fvo")) return params.get("fvo");
  const site = sitesData.find((candidate) => candidate.name === siteName);
  return site && site.endpoints.length ? site.endpoints[0].vo : "";
}

async function refreshPanel() {
  const mine = ++generation;
  const params = view();
  const section = document.getElementById("detail");
  const site = params.get("site");
  const endpoint = params.get("endpoint");
  if (!site && !endpoint) {
    section.hidden = true;
    return;
  }
  const serviceType = params.get("service_type") || "";
  const vo = siteVo(site, params);
  const metric = params.get("metric");
  section.hidden = false;
  document.getElementById("detail-title").textContent = endpoint || site;
  document.getElementById("detail-meta").textContent = endpoint
    ? `${site || ""} \u00b7 ${serviceType} \u00b7 VO ${vo}` : `site \u00b7 VO ${vo}`;
  const daily = { start: utcDay(1 - AR_DAYS), end: utcDay(0), granularity: "daily" };
  const monthly = { start: firstOfPreviousMonth(), end: utcDay(0), granularity: "monthly" };
  const since = `${utcDay(1 - AR_DAYS)}T00:00:00Z`;
  const requests = {
    siteDaily: site ? getJSON(`${API}/ar/sites/${encodeURIComponent(site)}?${query({ vo, ...daily })}`) : null,
    siteMonthly: site ? getJSON(`${API}/ar/sites/${encodeURIComponent(site)}?${query({ vo, ...monthly })}`) : null,
    siteDowntimes: site ? getJSON(`${API}/downtimes?${new URLSearchParams({ site, start: since })}`) : null,
    status: getJSON(site
      // the strips need no metric's own timeline: metrics=false keeps the answer small
      ? `${API}/status/sites/${encodeURIComponent(site)}?${query({
        vo, start: daily.start, end: daily.end, metrics: "false",
      })}`
      : `${API}/status/endpoints/${encodeURIComponent(endpoint)}?${query({
        service_type: serviceType, vo, start: daily.start, end: daily.end, metrics: "false",
      })}`),
    trends: site ? getJSON(`${API}/trends?${query({ site, vo, start: daily.start, end: daily.end, top: "5" })}`) : null,
    recomputations: vo ? getJSON(`${API}/recomputations?${query({ vo })}`) : null,
  };
  if (endpoint) {
    const ar = `${API}/ar/endpoints/${encodeURIComponent(endpoint)}`;
    const type = serviceType ? { service_type: serviceType } : {};
    Object.assign(requests, {
      results: getJSON(`${API}/results?${query({ endpoint, vo, limit: "50" })}`),
      spaceDaily: getJSON(`${ar}?${query({ ...type, vo, ...daily })}`),
      spaceMonthly: getJSON(`${ar}?${query({ ...type, vo, ...monthly })}`),
    });
    if (metric) {
      requests.metric = getJSON(`${API}/results?${query({ endpoint, vo, metric, limit: "20" })}`);
    }
  }
  const keys = Object.keys(requests);
  const settled = await Promise.allSettled(keys.map((key) => requests[key]));
  if (mine !== generation) return; // the view changed meanwhile: a newer refresh draws it
  const got = {};
  const failures = [];
  keys.forEach((key, index) => {
    if (settled[index].status === "fulfilled") got[key] = settled[index].value;
    else failures.push([key, settled[index].reason.message]);
  });
  const failed = (key) => failures.find(([name]) => name === key);
  const ofType = (results) => results.filter((result) => !serviceType || result.service_type === serviceType);

  const metricSection = document.getElementById("metric-history");
  metricSection.hidden = !metric || !endpoint;
  if (metric && endpoint) {
    document.getElementById("metric-title").textContent = `${metric}: recent results`;
    const target = document.getElementById("metric-results");
    if (got.metric) fillResults(target, ofType(got.metric.results));
    else target.replaceChildren(el("p", "error", `cannot load the results: ${failed("metric")?.[1]}`));
  }
  if (endpoint) {
    const target = document.getElementById("results");
    if (got.results) fillResults(target, ofType(got.results.results));
    else target.replaceChildren(el("p", "error", `cannot load the results: ${failed("results")?.[1]}`));
  } else {
    document.getElementById("results").replaceChildren(el("p", "muted", "Open a space for its results."));
  }
  const siteDowntimes = got.siteDowntimes ? got.siteDowntimes.downtimes : [];
  const spaceBlock = document.getElementById("space-ar");
  spaceBlock.hidden = !endpoint;
  if (endpoint) {
    document.getElementById("space-ar-title").textContent = `Space ${endpoint}`;
    const own = siteDowntimes.filter((downtime) => downtime.endpoint === endpoint
      && (!serviceType || downtime.service_type === serviceType));
    drawChart(spaceBlock.querySelector(".chart"), got.spaceDaily ? got.spaceDaily.results : [], own, endpoint);
    renderMonthly(spaceBlock.querySelector("tbody"), got.spaceMonthly ? got.spaceMonthly.results : []);
    renderDaily(got.spaceDaily ? got.spaceDaily.results : []);
  }
  const siteBlock = document.getElementById("site-ar");
  siteBlock.hidden = !site;
  if (site) {
    document.getElementById("site-ar-title").textContent = `Site ${site}`;
    drawChart(siteBlock.querySelector(".chart"), got.siteDaily ? got.siteDaily.results : [], siteDowntimes, site);
    renderMonthly(siteBlock.querySelector("tbody"), got.siteMonthly ? got.siteMonthly.results : []);
    if (!endpoint) renderDaily(got.siteDaily ? got.siteDaily.results : []);
  }
  renderTimelines(got.status, failed("status")?.[1]);
  renderTrends(got.trends, failed("trends")?.[1]);
  renderRecomputations(got.recomputations, failed("recomputations")?.[1]);
  const arFailures = failures.filter(
    ([key]) => !["results", "metric", "status", "trends", "recomputations"].includes(key));
  show("ar-error", arFailures.length ? `cannot compute A/R: ${arFailures[0][1]}` : "");
}

// --- refreshing --------------------------------------------------------------------------

function renderFilters() {
  const params = view();
  const select = document.getElementById("filter-vo");
  const vos = [...new Set(sitesData.flatMap((site) => site.endpoints.map((space) => space.vo)))].sort();
  const wanted = ["", ...vos];
  if ([...select.options].map((option) => option.value).join("\n") !== wanted.join("\n")) {
    select.replaceChildren(...wanted.map((vo) => {
      const option = el("option", "", vo || "all");
      option.value = vo;
      return option;
    }));
  }
  select.value = params.get("fvo") || "";
  const search = document.getElementById("filter-site");
  if (document.activeElement !== search) search.value = params.get("q") || "";
  document.getElementById("filter-problems").checked = params.get("problems") === "1";
  document.getElementById("permalink").href = location.href;
}

function render() {
  renderFilters();
  renderSites();
  return refreshPanel();
}

async function refreshAll() {
  try {
    const since = `${utcDay(1 - AR_DAYS)}T00:00:00Z`;
    const [sites, downtimes] = await Promise.all([
      getJSON(`${API}/sites`),
      getJSON(`${API}/downtimes?${new URLSearchParams({ start: since })}`),
    ]);
    sitesData = sites.sites;
    downtimesData = downtimes.downtimes;
    show("error", "");
    show("updated", `updated ${new Date().toISOString().replace(/\.\d+Z$/, "Z")}`
      + ` \u00b7 refreshes every ${REFRESH_MS / 1000} s`);
  } catch (error) {
    show("error", `cannot load the sites: ${error.message}`);
  }
  await render();
}

window.addEventListener("hashchange", render);
window.addEventListener("DOMContentLoaded", () => {
  document.getElementById("na-help").title = NA_HELP;
  document.getElementById("filters").addEventListener("submit", (event) => event.preventDefault());
  document.getElementById("filter-vo").addEventListener("change", (event) => {
    setView({ fvo: event.target.value }, { replace: true });
  });
  document.getElementById("filter-site").addEventListener("input", (event) => {
    setView({ q: event.target.value }, { replace: true });
  });
  document.getElementById("filter-problems").addEventListener("change", (event) => {
    setView({ problems: event.target.checked ? "1" : "" }, { replace: true });
  });
  document.getElementById("sites").addEventListener("keydown", moveFocus);
  refreshAll();
  setInterval(refreshAll, REFRESH_MS);
});
