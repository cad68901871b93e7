// Debian's chromium and the flags it runs with headless here, shared by the end-to-end tests
// (playwright.config.ts) and the benchmark (bench/run.mjs). Without the background-networking
// flags, Chromium keeps trying hosts that a closed network refuses.
export const CHROMIUM = "/usr/bin/chromium";
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
