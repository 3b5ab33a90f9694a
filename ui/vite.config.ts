import { defineConfig } from "vite";

// The dashboard is served by `actionsd serve` under /dashboard/; the build lands inside
// the Python package so that pip users get it without Node.
export default defineConfig({
  base: "/dashboard/",
  build: {
    outDir: "../src/actionsd/dashboard/static",
    emptyOutDir: true,
    chunkSizeWarningLimit: 1200,
  },
});
