// What every vitest file gets: jsdom stand-ins for the browser APIs that Ant Design and React
// Flow measure with, and an unmounted DOM after each test.
import { afterEach } from "vitest";
import { cleanup } from "@testing-library/react";

afterEach(cleanup);

if (!window.matchMedia) {
  window.matchMedia = (query: string) =>
    ({
      matches: false,
      media: query,
      onchange: null,
      addListener: () => {},
      removeListener: () => {},
      addEventListener: () => {},
      removeEventListener: () => {},
      dispatchEvent: () => false,
    }) as MediaQueryList;
}

globalThis.ResizeObserver ??= class {
  observe() {}
  unobserve() {}
  disconnect() {}
} as unknown as typeof ResizeObserver;

if (!("DOMMatrixReadOnly" in globalThis)) {
  (globalThis as Record<string, unknown>).DOMMatrixReadOnly = class {
    m22 = 1;
  };
}
