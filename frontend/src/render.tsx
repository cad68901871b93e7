// Renders the app into the page (called by main.tsx once src/boot.ts says the first page can be
// drawn).
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App";

export function render() {
  createRoot(document.getElementById("root")!).render(
    <StrictMode>
      <App />
    </StrictMode>,
  );
}
