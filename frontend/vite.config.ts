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
    rollupOptions: {
      output: {
        manualChunks(id: string) {
          if (!id.includes("node_modules")) return undefined;
          if (id.includes("echarts") || id.includes("zrender")) return "echarts";
          if (id.includes("@xyflow") || id.includes("dagre")) return "graph";
          if (id.includes("antd") || id.includes("@ant-design") || id.includes("rc-")) return "antd";
          return "vendor";
        },
      },
    },
  },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.{ts,tsx}"],
    setupFiles: ["src/test-setup.ts"],
  },
});
