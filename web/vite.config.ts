// Builds the page into the Python package (app/static/explore), served at /explore by the app.
// `npm run dev` serves it on :5173 with the API proxied to a service on :8000.
import { defineConfig } from "vite";

export default defineConfig({
  base: "/explore/",
  build: {
    outDir: "../app/static/explore",
    emptyOutDir: true,
    assetsDir: "assets",
    // One script and one stylesheet: the page is small, and fewer requests load faster.
    modulePreload: false,
    chunkSizeWarningLimit: 200,
  },
  server: { proxy: { "/api": "http://127.0.0.1:8000" } },
});
