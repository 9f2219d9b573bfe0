// The record panel: one partnership with its figures, milestones, sources (as links) and
// history, read from the collections' own endpoints.

import { api, everyPage, read, type Row, type Schemas } from "./api";
import { byId, h, replace, when } from "./dom";
import { label } from "./landscape";

type Version = Schemas["PartnershipVersion"];

export async function openRecord(row: Row): Promise<void> {
  const panel = byId("record");
  const id = row.partnership_id;
  panel.hidden = false;
  replace(byId("record-body"), h("p", {}, "Loading…"));
  byId("record-title").textContent = `${row.automaker} × ${row.battery_partner}`;
  for (const tr of document.querySelectorAll("#landscape tr[aria-current]")) tr.removeAttribute("aria-current");
  document.querySelector(`#landscape tr[data-partnership-id="${CSS.escape(id)}"]`)?.setAttribute("aria-current", "true");

  const byPartnership = { partnership_id: id };
  const [partnership, figures, milestones, history] = await Promise.all([
    read(() => api.GET("/api/v1/partnerships/{id}", { params: { path: { id } } })),
    everyPage((cursor, limit) =>
      api.GET("/api/v1/energy-densities", { params: { query: { ...byPartnership, cursor, limit } } }),
    ),
    everyPage((cursor, limit) =>
      api.GET("/api/v1/milestones", { params: { query: { ...byPartnership, sort: "date", cursor, limit } } }),
    ),
    everyPage<Version>((cursor, limit) =>
      api.GET("/api/v1/partnerships/{id}/history", { params: { path: { id }, query: { cursor, limit } } }),
    ),
  ]);
  const sourceIds = new Set(
    [partnership.source_id, ...figures.map((f) => f.source_id), ...milestones.map((m) => m.source_id)].filter(
      (s): s is string => Boolean(s),
    ),
  );
  const sources = await Promise.all(
    [...sourceIds].map((sid) => read(() => api.GET("/api/v1/sources/{id}", { params: { path: { id: sid } } }))),
  );

  replace(
    byId("record-body"),
    h(
      "dl",
      {},
      facts([
        ["Status", label(partnership.status)],
        ["Stage", label(partnership.stage)],
        ["Battery", row.battery ?? "—"],
        ["Technology", label(row.technology)],
        ["Commercialization", partnership.commercialization_status ?? "—"],
        ["Vehicle models", (partnership.vehicle_models ?? []).join(", ") || "—"],
      ]),
    ),
    section(
      "Sources",
      sources.map((s) =>
        h("li", {}, h("a", { href: s.url ?? `/api/v1/sources/${s.id}`, rel: "noreferrer" }, s.title)),
      ),
    ),
    section(
      "Energy density",
      figures.map((f) => h("li", {}, `${f.display} — ${f.status}, ${f.level}${f.as_of ? `, as of ${f.as_of}` : ""}`)),
    ),
    section(
      "Milestones",
      milestones.map((m) => h("li", {}, `${m.date ?? "undated"} · ${label(m.stage)} (${m.status}): ${m.title}`)),
    ),
    section(
      "History",
      history.map((v, index) =>
        h("li", {}, `v${v.version} ${v.op} ${when(v.changed_at)} by ${v.actor}`, changed(history[index - 1], v)),
      ),
    ),
  );
  byId("record-title").focus();
}

function facts(pairs: [string, string][]): HTMLElement[] {
  return pairs.flatMap(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]);
}

function section(title: string, items: HTMLElement[]): HTMLElement {
  return h("section", {}, h("h3", {}, title), items.length ? h("ul", {}, items) : h("p", {}, "None."));
}

/** The fields a version changed, from the one before it. */
function changed(before: Version | undefined, after: Version): string {
  if (!before?.record || !after.record) return "";
  const old = before.record as Record<string, unknown>;
  const now = after.record as Record<string, unknown>;
  const skip = new Set(["version", "updated_at"]);
  const fields = Object.keys(now).filter((k) => !skip.has(k) && JSON.stringify(old[k]) !== JSON.stringify(now[k]));
  return fields.length ? `: ${fields.join(", ")}` : "";
}
