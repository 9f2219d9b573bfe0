// The energy-density chart (uPlot): Wh/kg over `as_of`, one colour per technology, and the
// figure's status marked apart: targeted hollow, claimed filled, measured (or certified)
// filled and larger. Figures with no `as_of` cannot be placed in time; they are listed under
// the chart instead, and the chart is drawn (empty axes) even when none has a date.

import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

import { technologyValues } from "../generated/enums";
import { api, everyPage, type Schemas } from "./api";
import { byId, h, replace } from "./dom";
import { label } from "./landscape";

type Figure = Schemas["EnergyDensity"];
const COLOURS = ["#1b6ca8", "#c0392b", "#2e8b57", "#8e44ad", "#b7791f"];
const KINDS = [
  { name: "targeted", statuses: ["targeted"], fill: false, size: 9 },
  { name: "claimed", statuses: ["claimed"], fill: true, size: 8 },
  { name: "measured", statuses: ["measured", "certified"], fill: true, size: 12 },
] as const;
const HEIGHT = 280;
const YEAR_S = 365 * 24 * 3600;

export async function drawDensityChart(): Promise<void> {
  const [figures, batteries] = await Promise.all([
    everyPage((cursor, limit) =>
      api.GET("/api/v1/energy-densities", { params: { query: { unit: "Wh/kg", cursor, limit } } }),
    ),
    everyPage((cursor, limit) => api.GET("/api/v1/batteries", { params: { query: { cursor, limit } } })),
  ]);
  const battery = new Map(batteries.map((b) => [b.id, b]));
  const technologyOf = (f: Figure): string =>
    (f.battery_id ? battery.get(f.battery_id)?.technology : null) ?? "unknown";

  const dated = figures.filter((f) => f.as_of);
  const xs = [...new Set(dated.map((f) => seconds(f.as_of!)))].sort((a, b) => a - b);
  const technologies = [...technologyValues, "unknown"].filter(
    (t) => dated.some((f) => technologyOf(f) === t) || (dated.length === 0 && t !== "unknown"),
  );
  const series: uPlot.Series[] = [{ label: "as of" }];
  const data: (number | null)[][] = [xs];
  technologies.forEach((technology, index) => {
    const colour = COLOURS[index % COLOURS.length]!;
    for (const kind of KINDS) {
      const mine = dated.filter(
        (f) => technologyOf(f) === technology && (kind.statuses as readonly string[]).includes(f.status),
      );
      if (mine.length === 0 && dated.length > 0) continue;
      const at = new Map<number, number>();
      for (const f of mine) at.set(seconds(f.as_of!), Math.max(at.get(seconds(f.as_of!)) ?? 0, f.value_min));
      data.push(xs.map((x) => at.get(x) ?? null));
      series.push({
        label: `${label(technology)} · ${kind.name}`,
        stroke: colour,
        width: 0,
        paths: () => null,
        points: { show: true, size: kind.size, width: 2, stroke: colour, fill: kind.fill ? colour : "#fff" },
      });
    }
  });

  const box = byId("density-chart");
  const now = Date.now() / 1000;
  const options: uPlot.Options = {
    width: Math.max(box.clientWidth, 280),
    height: HEIGHT,
    series,
    scales: {
      x: { time: true, range: xs.length ? undefined : [now - 3 * YEAR_S, now] },
      y: { range: (_u, min, max) => [0, Math.max(500, Math.ceil(((max ?? 0) + 50) / 100) * 100, min ?? 0)] },
    },
    axes: [{}, { label: "Wh/kg", size: 60 }],
    legend: { live: false },
    cursor: { points: { show: false } },
  };
  replace(box);
  const plot = new uPlot(options, data as uPlot.AlignedData, box);
  plot.root.querySelector("canvas")?.setAttribute("aria-label", "Energy density over time, Wh/kg");
  new ResizeObserver(() => plot.setSize({ width: Math.max(box.clientWidth, 280), height: HEIGHT })).observe(box);

  const undated = figures.filter((f) => !f.as_of);
  const name = (f: Figure): string => (f.battery_id ? battery.get(f.battery_id)?.name : null) ?? "A figure";
  replace(
    byId("density-undated"),
    undated.length === 0
      ? ""
      : [
          h("p", {}, `Not on the chart, having no as_of date (${undated.length}):`),
          h("ul", {}, undated.map((f) => h("li", {}, `${name(f)}: ${f.display} (${f.status}, ${f.level})`))),
        ],
  );
}

function seconds(date: string): number {
  return Date.parse(`${date.slice(0, 10)}T00:00:00Z`) / 1000;
}
