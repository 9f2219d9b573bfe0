// The landscape table: filters kept in the URL as the API's own parameters, sortable
// columns, and a CSV link of exactly the rows shown.

import { partnershipStatusValues, technologyValues } from "../generated/enums";
import { api, everyPage, type Row } from "./api";
import { byId, h, replace } from "./dom";

export const FILTERS = ["technology", "country", "status"] as const;
type Filter = (typeof FILTERS)[number];
export type Filters = Partial<Record<Filter, string>>;

interface Column {
  key: keyof Row;
  title: string;
  sortBy?: (row: Row) => string | number | null;
  show?: (row: Row) => string;
}

const COLUMNS: Column[] = [
  { key: "automaker", title: "Automaker" },
  { key: "battery_partner", title: "Battery partner" },
  { key: "battery", title: "Battery" },
  { key: "technology", title: "Technology", show: (row) => label(row.technology) },
  {
    key: "energy_density",
    title: "Energy density",
    sortBy: (row) => row.energy_density_min,
  },
  { key: "stage", title: "Stage", show: (row) => label(row.stage) },
  { key: "commercialization_status", title: "Commercialization status" },
  { key: "sources", title: "Sources", show: (row) => row.sources.join("; ") },
];

interface Sort {
  column: Column;
  descending: boolean;
}

export function label(value: string | null | undefined): string {
  return value ? value.replaceAll("_", " ") : "—";
}

/** The filters in the URL's query string (unknown or empty parameters left out). */
export function filtersFromUrl(): Filters {
  const query = new URLSearchParams(window.location.search);
  const filters: Filters = {};
  for (const name of FILTERS) {
    const value = query.get(name);
    if (value) filters[name] = value;
  }
  return filters;
}

export function queryOf(filters: Filters): URLSearchParams {
  const query = new URLSearchParams();
  for (const name of FILTERS) if (filters[name]) query.set(name, filters[name]);
  return query;
}

export class Landscape {
  rows: Row[] = [];
  private sort: Sort | null = null;
  private readonly form = byId<HTMLFormElement>("filters");
  private readonly body = byId<HTMLTableElement>("landscape").tBodies[0]!;

  constructor(private readonly open: (row: Row) => void) {
    this.header();
    this.options("technology", technologyValues);
    this.options("status", partnershipStatusValues);
    this.form.addEventListener("change", () => {
      const query = queryOf(this.filters()).toString();
      history.pushState(null, "", query ? `?${query}` : window.location.pathname);
      void this.load();
    });
    this.form.addEventListener("submit", (event) => event.preventDefault());
    window.addEventListener("popstate", () => void this.load());
  }

  /** Countries come from the automakers on file: the choice is what can match. */
  async countries(): Promise<void> {
    const automakers = await everyPage((cursor, limit) =>
      api.GET("/api/v1/automakers", { params: { query: { cursor, limit } } }),
    );
    const codes = [...new Set(automakers.map((a) => a.country))].sort();
    this.options("country", codes);
  }

  /** The controls set from the URL, then its rows read and shown. */
  async load(): Promise<void> {
    const filters = filtersFromUrl();
    for (const name of FILTERS) {
      const control = this.control(name);
      const value = filters[name] ?? "";
      if (value && ![...control.options].some((o) => o.value === value)) {
        control.append(h("option", { value }, value));
      }
      control.value = value;
    }
    const query = queryOf(filters);
    byId<HTMLAnchorElement>("landscape-csv").href =
      `/api/v1/landscape?${query.size ? `${query}&` : ""}format=csv`;
    this.rows = await everyPage((cursor, limit) =>
      api.GET("/api/v1/landscape", { params: { query: { ...filters, cursor, limit } } }),
    );
    this.render();
  }

  private filters(): Filters {
    const filters: Filters = {};
    for (const name of FILTERS) {
      const value = this.control(name).value;
      if (value) filters[name] = value;
    }
    return filters;
  }

  private control(name: Filter): HTMLSelectElement {
    return this.form.elements.namedItem(name) as HTMLSelectElement;
  }

  private options(name: Filter, values: readonly string[]): void {
    const control = this.control(name);
    const known = new Set([...control.options].map((o) => o.value));
    for (const value of values) {
      if (!known.has(value)) control.append(h("option", { value }, label(value)));
    }
  }

  private header(): void {
    const row = byId<HTMLTableElement>("landscape").tHead!.rows[0]!;
    replace(
      row,
      COLUMNS.map((column) => {
        const button = h("button", { type: "button" }, column.title);
        button.addEventListener("click", () => this.sortBy(column));
        return h("th", { scope: "col", "aria-sort": "none" }, button);
      }),
    );
  }

  private sortBy(column: Column): void {
    const again = this.sort?.column === column;
    this.sort = { column, descending: again ? !this.sort!.descending : false };
    const cells = byId<HTMLTableElement>("landscape").tHead!.rows[0]!.cells;
    COLUMNS.forEach((c, index) => {
      const state = c !== column ? "none" : this.sort!.descending ? "descending" : "ascending";
      cells[index]!.setAttribute("aria-sort", state);
    });
    this.render();
  }

  private sorted(): Row[] {
    if (this.sort === null) return this.rows;
    const { column, descending } = this.sort;
    const key = column.sortBy ?? ((row: Row) => text(row, column));
    const order = (a: Row, b: Row): number => {
      const x = key(a);
      const y = key(b);
      if (x === y) return 0;
      if (x === null || x === "") return 1; // blanks last, either way
      if (y === null || y === "") return -1;
      const less = typeof x === "number" && typeof y === "number" ? x < y : String(x).localeCompare(String(y)) < 0;
      return (less ? -1 : 1) * (descending ? -1 : 1);
    };
    return [...this.rows].sort(order);
  }

  private render(): void {
    const rows = this.sorted().map((row) => {
      const tr = h(
        "tr",
        { "data-partnership-id": row.partnership_id, tabindex: 0 },
        COLUMNS.map((column) => h("td", {}, text(row, column) || "—")),
      );
      tr.addEventListener("click", () => this.open(row));
      tr.addEventListener("keydown", (event) => {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          this.open(row);
        }
      });
      return tr;
    });
    replace(this.body, rows);
    const count = this.rows.length;
    byId("landscape-count").textContent =
      `${count} partnership${count === 1 ? "" : "s"}` + (count ? "; select a row for its record." : ".");
  }
}

function text(row: Row, column: Column): string {
  if (column.show) return column.show(row);
  const value = row[column.key];
  return value === null || value === undefined ? "" : String(value);
}
