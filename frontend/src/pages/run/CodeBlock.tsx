// Captured text with line numbers: two plain <pre>s (numbers and text), so a long file costs
// two text nodes rather than an element per line, and nothing is ever read as HTML.
import type { CSSProperties } from "react";

export const preStyle: CSSProperties = {
  margin: 0,
  padding: 8,
  background: "#fafafa",
  border: "1px solid #f0f0f0",
  borderRadius: 4,
  fontSize: 12,
  lineHeight: "18px",
  fontFamily: "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace",
  whiteSpace: "pre-wrap",
  wordBreak: "break-all",
  overflow: "auto",
};

export function CodeBlock({ text, firstLine = 1, maxHeight = 600 }: { text: string; firstLine?: number; maxHeight?: number }) {
  const count = text.split("\n").length;
  const numbers = Array.from({ length: count }, (_, i) => String(firstLine + i)).join("\n");
  const mono: CSSProperties = { ...preStyle, whiteSpace: "pre", wordBreak: "normal", border: 0, borderRadius: 0, overflow: "visible" };
  return (
    <div style={{ display: "flex", maxHeight, overflow: "auto", border: "1px solid #f0f0f0", borderRadius: 4, background: "#fafafa" }}>
      <pre aria-hidden style={{ ...mono, color: "#bfbfbf", textAlign: "right", userSelect: "none", flex: "none", borderRight: "1px solid #f0f0f0" }}>
        {numbers}
      </pre>
      <pre data-testid="code-text" style={{ ...mono, flex: 1 }}>
        {text}
      </pre>
    </div>
  );
}
