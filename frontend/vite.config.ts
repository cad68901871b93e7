/// <reference types="vitest/config" />
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// `npm run dev` proxies the API to a `flowo serve` on FLOWO_DEV_SERVER (default 127.0.0.1:3100).
const server = process.env.FLOWO_DEV_SERVER ?? "http://127.0.0.1:3100";

export default defineConfig({
  plugins: [react()],
  server: { proxy: { "/api": { target: server, changeOrigin: false } } },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    chunkSizeWarningLimit: 1500,
  },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.{ts,tsx}"],
    setupFiles: ["src/test-setup.ts"],
    // A guard against hangs, not a speed check: rendering the run and runs pages in jsdom
    // took over vitest's default 5 s on a 2-core machine busy with builds.
    testTimeout: 30_000,
  },
});
