// A code-split component that can be loaded ahead of its first render. Once loaded it renders
// directly, without suspending: React throttles the reveal of suspended content (by up to
// 300 ms), which a page whose code is already there should not pay.
import { createElement, lazy, type ComponentType } from "react";

export interface Preloadable<P extends object> {
  Component: ComponentType<P>;
  /** Starts loading the code (once); resolves when it is there. */
  load: () => Promise<unknown>;
}

export function preloadable<P extends object>(factory: () => Promise<{ default: ComponentType<P> }>): Preloadable<P> {
  let loaded: ComponentType<P> | undefined;
  let loading: Promise<{ default: ComponentType<P> }> | undefined;
  const load = () =>
    (loading ??= factory().then((module) => {
      loaded = module.default;
      return module;
    }));
  const Lazy = lazy(load);
  const Component = (props: P) => (loaded ? createElement(loaded, props) : createElement(Lazy, props));
  return { Component, load };
}
