// Entry point: theme, query client, router.
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App";
import "antd/dist/antd.css";
import "./global.css";

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
