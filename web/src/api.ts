// The page's only way to the data: the public JSON API, typed from its OpenAPI document
// (generated/api.ts, made by web/build), through openapi-fetch.
//
// With READS_REQUIRE_KEY=true the server says so in a <meta> of the page, and the page asks
// for a key before its first request. The key lives in sessionStorage: this tab only, gone
// when it closes; never localStorage or a cookie.

import createClient, { type Middleware } from "openapi-fetch";

import type { components, paths } from "../generated/api";
import { byId } from "./dom";

export type Schemas = components["schemas"];
export type Row = Schemas["LandscapeRow"];

const KEY = "battery-intel:api-key";
const MAX_PAGE = 500;

export const api = createClient<paths, `${string}/${string}json`>({
  baseUrl: window.location.origin,
});

const withKey: Middleware = {
  onRequest({ request }) {
    const key = sessionStorage.getItem(KEY);
    if (key) request.headers.set("Authorization", `Bearer ${key}`);
    return request;
  },
};
api.use(withKey);

export class ApiError extends Error {
  constructor(
    readonly status: number,
    detail: string,
  ) {
    super(detail);
  }
}

interface Answer<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/** The answer's data; on 401 the key is asked for (again) and the request retried. */
export async function read<T>(request: () => Promise<Answer<T>>): Promise<T> {
  for (;;) {
    const { data, error, response } = await request();
    if (data !== undefined) return data;
    if (response.status === 401) {
      await askForKey("That key was refused; try another.");
      continue;
    }
    const detail = (error as { detail?: string } | undefined)?.detail ?? response.statusText;
    throw new ApiError(response.status, detail);
  }
}

/** Every page of a list, following `next_cursor`. */
export async function everyPage<T>(
  page: (cursor: string | undefined, limit: number) => Promise<Answer<{ items: T[]; next_cursor: string | null }>>,
): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | undefined;
  do {
    const answer = await read(() => page(cursor, MAX_PAGE));
    items.push(...answer.items);
    cursor = answer.next_cursor ?? undefined;
  } while (cursor !== undefined);
  return items;
}

export function keyRequired(): boolean {
  const meta = document.querySelector<HTMLMetaElement>('meta[name="battery-intel:reads-require-key"]');
  return meta?.content === "true";
}

export function hasKey(): boolean {
  return Boolean(sessionStorage.getItem(KEY));
}

/** Show the key form and resolve once a key is given. */
export function askForKey(message = ""): Promise<void> {
  const form = byId<HTMLFormElement>("key-form");
  const input = form.elements.namedItem("api-key") as HTMLInputElement;
  byId("key-message").textContent = message;
  form.hidden = false;
  input.focus();
  return new Promise((resolve) => {
    form.addEventListener(
      "submit",
      (event) => {
        event.preventDefault();
        sessionStorage.setItem(KEY, input.value.trim());
        input.value = "";
        form.hidden = true;
        resolve();
      },
      { once: true },
    );
  });
}

/** A CSV of the API as a download; with a key, fetched with it (a plain link sends none). */
export function downloadWithKey(link: HTMLAnchorElement): void {
  link.addEventListener("click", async (event) => {
    const key = sessionStorage.getItem(KEY);
    if (!key) return; // the link works as it is
    event.preventDefault();
    const answer = await fetch(link.href, { headers: { Authorization: `Bearer ${key}` } });
    const url = URL.createObjectURL(await answer.blob());
    const save = document.createElement("a");
    save.href = url;
    save.download = "landscape.csv";
    save.click();
    URL.revokeObjectURL(url);
  });
}
