// /explore: wires the page's parts to the API. Everything it reads comes from the public
// JSON API on this origin; nothing is fetched from anywhere else.

import "./style.css";

import { askForKey, downloadWithKey, hasKey, keyRequired } from "./api";
import { showChanges, watchChanges } from "./changes";
import { drawDensityChart } from "./chart";
import { byId } from "./dom";
import { Landscape } from "./landscape";
import { openRecord } from "./panel";

function fail(error: unknown): void {
  const message = error instanceof Error ? error.message : String(error);
  byId("problem").textContent = `Something went wrong: ${message}`;
}

async function start(): Promise<void> {
  if (keyRequired() && !hasKey()) await askForKey("Reading needs an API key on this service.");
  const landscape = new Landscape((row) => void openRecord(row).catch(fail));
  downloadWithKey(byId<HTMLAnchorElement>("landscape-csv"));
  byId("record-close").addEventListener("click", () => {
    byId("record").hidden = true;
    document.querySelector<HTMLElement>("#landscape tr[aria-current]")?.focus();
  });
  watchChanges();
  await Promise.all([landscape.countries(), landscape.load(), drawDensityChart(), showChanges()]);
}

start().catch(fail);
