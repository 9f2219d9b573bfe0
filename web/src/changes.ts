// "What changed since": the landscape's diff between a date and now, for the filters shown.

import { api, read, type Schemas } from "./api";
import { byId, h, replace } from "./dom";
import { filtersFromUrl, label } from "./landscape";

type Value = Schemas["FieldChange"]["from"];
const WEEK_MS = 7 * 24 * 3600 * 1000;

export function watchChanges(): void {
  const since = byId<HTMLInputElement>("since");
  since.value = new Date(Date.now() - WEEK_MS).toISOString().slice(0, 10);
  since.addEventListener("change", () => void showChanges());
  window.addEventListener("popstate", () => void showChanges());
}

export async function showChanges(): Promise<void> {
  const since = byId<HTMLInputElement>("since").value;
  const out = byId("diff");
  if (!since) {
    replace(out, h("p", {}, "Pick a date to see what changed since."));
    return;
  }
  const diff = await read(() =>
    api.GET("/api/v1/landscape/diff", { params: { query: { from: since, ...filtersFromUrl() } } }),
  );
  const name = (r: { automaker: string; battery_partner: string }): string => `${r.automaker} × ${r.battery_partner}`;
  const groups = [
    ["Added", diff.added.map((r) => h("li", {}, `${name(r)}: ${label(r.stage)}, ${r.energy_density ?? "no figure"}`))],
    ["Removed", diff.removed.map((r) => h("li", {}, name(r)))],
    [
      "Changed",
      diff.changed.map((r) =>
        h(
          "li",
          {},
          name(r),
          h("ul", {}, r.changes.map((c) => h("li", {}, `${label(c.field)}: ${show(c.from)} → ${show(c.to)}`))),
        ),
      ),
    ],
  ] as const;
  const total = diff.added.length + diff.removed.length + diff.changed.length;
  replace(
    out,
    total === 0
      ? h("p", {}, `Nothing changed since ${since}.`)
      : groups
          .filter(([, items]) => items.length > 0)
          .map(([title, items]) => h("section", {}, h("h3", {}, `${title} (${items.length})`), h("ul", {}, items))),
  );
}

function show(value: Value): string {
  if (value === null || value === undefined) return "—";
  return Array.isArray(value) ? value.join(", ") || "—" : label(String(value));
}
