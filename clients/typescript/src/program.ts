// The TypeScript types generated from /openapi.json (openapi-typescript), used through
// openapi-fetch against a running service: list with a filter and follow the cursor, read
// one record and get a 304 with its ETag, create, replace, and follow /changes. Every JSON
// answer is also checked at run time against the schema the document gives for it (ajv):
// a field that breaks its schema fails the run.
//
//   BASE_URL=http://127.0.0.1:8000 API_KEY=bik_... node build/src/program.js OPENAPI_JSON

import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";

import { Ajv2020 } from "ajv/dist/2020.js";
import type { ValidateFunction } from "ajv/dist/2020.js";
import formats from "ajv-formats";
import createClient, { type Middleware } from "openapi-fetch";

import type { components, paths } from "../generated/api.js";

type Automaker = components["schemas"]["Automaker"];
type Change = components["schemas"]["ChangesPage"]["items"][number];

interface Document {
  paths: Record<string, Record<string, { responses: Record<string, Documented> }>>;
}
interface Documented {
  content?: Record<string, { schema: { $ref?: string } }>;
}

function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

const [specFile] = process.argv.slice(2);
const { BASE_URL: baseUrl, API_KEY: key } = process.env;
check(specFile !== undefined && baseUrl !== undefined && key !== undefined,
  "usage: BASE_URL=... API_KEY=... node program.js OPENAPI_JSON");

const spec = JSON.parse(readFileSync(specFile, "utf8")) as Document;
const ajv = new Ajv2020({ strict: false });
// ajv-formats is CommonJS: its default import is the module object under NodeNext.
const addFormats = (formats as unknown as { default: (a: Ajv2020) => void }).default;
addFormats(ajv);
ajv.addSchema(spec, "openapi");
let checked = 0;

const schemaCheck: Middleware = {
  async onResponse({ request, response, schemaPath }) {
    const mediaType = (response.headers.get("content-type") ?? "").split(";")[0] ?? "";
    if (!mediaType.endsWith("json")) return undefined;
    const method = request.method.toLowerCase();
    const documented = spec.paths[schemaPath]?.[method]?.responses[String(response.status)];
    check(documented !== undefined, `${request.method} ${schemaPath}: ${response.status} undocumented`);
    const schema = documented.content?.[mediaType]?.schema;
    check(schema !== undefined, `${schemaPath} ${response.status}: no schema for ${mediaType}`);
    const validate: ValidateFunction | undefined = schema.$ref
      ? ajv.getSchema(`openapi${schema.$ref}`)
      : ajv.compile(schema);
    check(validate !== undefined, `no schema at ${schema.$ref}`);
    const body: unknown = await response.clone().json();
    check(validate(body), `${schemaPath} ${response.status}: ${ajv.errorsText(validate.errors)}`);
    checked += 1;
    return undefined;
  },
};

// `${string}/${string}json`: answers typed as their JSON (and problem+json) media types; a list's CSV
// would be read with `parseAs: "text"` through a client made without it.
const client = createClient<paths, `${string}/${string}json`>({
  baseUrl,
  headers: { Authorization: `Bearer ${key}` },
});
client.use(schemaCheck);

// A filter and the cursor: every Chinese automaker, two a page, each once.
const seen: Automaker[] = [];
let cursor: string | undefined;
do {
  const { data, error } = await client.GET("/api/v1/automakers", {
    params: { query: { country: "CN", limit: 2, cursor } },
  });
  check(data !== undefined, `list: ${JSON.stringify(error)}`);
  seen.push(...data.items);
  cursor = data.next_cursor ?? undefined;
} while (cursor !== undefined);
check(seen.length >= 5 && new Set(seen.map((a) => a.id)).size === seen.length, "each once");
check(seen.every((a) => a.country === "CN"), "filtered");

// One record, its ETag, and 304 Not Modified for that tag.
const nio = await client.GET("/api/v1/automakers/{id}", { params: { path: { id: "nio" } } });
check(nio.data !== undefined, `get: ${nio.response.status}`);
const etag = nio.response.headers.get("etag");
check(etag === `"${nio.data.version}"`, `etag ${etag}`);
const again = await client.GET("/api/v1/automakers/{id}", {
  params: { path: { id: "nio" }, header: { "if-none-match": etag } },
});
check(again.response.status === 304, `conditional get: ${again.response.status}`);

// Create with a server-made id, then create and replace at a client-chosen id.
const slug = `ts-${randomUUID().slice(0, 8)}`;
const made = await client.POST("/api/v1/automakers", {
  body: { slug, name: "TypeScript Motors", country: "DE" },
});
check(made.response.status === 201 && made.data !== undefined, `create: ${made.response.status}`);
const mine = randomUUID();
const body = { slug: `${slug}-b`, name: "Partner Motors", country: "SE" };
const put = await client.PUT("/api/v1/automakers/{id}", { params: { path: { id: mine } }, body });
check(put.response.status === 201 && put.data !== undefined, `put: ${put.response.status}`);
const replaced = await client.PUT("/api/v1/automakers/{id}", {
  params: { path: { id: mine }, header: { "if-match": `"${put.data.version}"` } },
  body: { ...body, name: "Partner Motors AB" },
});
check(replaced.response.status === 200 && replaced.data !== undefined, "replace");
check(replaced.data.version === 2 && replaced.data.name === "Partner Motors AB", "replaced");

// The change feed from the start: strictly increasing, ours at the end.
const ours: string[] = [];
let after = 0;
let lastSeq = 0;
for (;;) {
  const { data } = await client.GET("/api/v1/changes", { params: { query: { after, limit: 7 } } });
  check(data !== undefined, "changes");
  data.items.forEach((change: Change) => {
    check(change.seq > lastSeq, `seq ${change.seq} after ${lastSeq}`);
    lastSeq = change.seq;
    // `collection` narrows the union: here `record` is an Automaker (or null).
    if (change.collection === "automakers" && [made.data.id, mine].includes(change.id)) {
      const name: string | undefined = change.record?.name;
      ours.push(`${change.id} ${change.op} ${change.version} ${name ?? "-"}`);
    }
  });
  if (data.next_after === after) break;
  after = data.next_after;
}
const expected = [
  `${made.data.id} create 1 TypeScript Motors`,
  `${mine} create 1 Partner Motors`,
  `${mine} update 2 Partner Motors AB`,
];
check(JSON.stringify(ours) === JSON.stringify(expected), `feed: ${JSON.stringify(ours)}`);

// Two analyst views, typed too.
const landscape = await client.GET("/api/v1/landscape", {});
check(landscape.data !== undefined, "landscape");
const automakers = new Set(landscape.data.items.map((row) => row.automaker));
check(automakers.has("NIO") && automakers.has("Changan (Deepal)"), "landscape rows");
const stats = await client.GET("/api/v1/stats/energy-density", {
  params: { query: { group_by: "technology" } },
});
check(stats.data !== undefined && (stats.data.groups[0]?.count ?? 0) >= 1, "stats");

console.log(`typescript client: every step passed; ${checked} JSON answers fit their schemas`);
