// A code-split component that can be loaded ahead of its first render and that never suspends:
// until its code is there it renders a placeholder, and it renders the component as soon as
// the code has been evaluated. React throttles the reveal of content that suspended (it
// commits no sooner than 300 ms after the fallback appeared), which on a busy page's first load
// put the whole page that much later: the run page of a 10,000-job run rendered once its code
// had come, then waited for that timer.
import { createElement, useEffect, useSyncExternalStore, type ComponentType, type ReactNode } from "react";
import { Button, Result } from "antd";
import { errorMessage } from "../api/client";

export interface Preloadable<P extends object> {
  Component: ComponentType<P>;
  /** Starts loading the code (once); resolves when it is there or could not be loaded. */
  load: () => Promise<void>;
}

type State<P> = { loaded?: ComponentType<P>; error?: unknown };

export function preloadable<P extends object>(
  factory: () => Promise<{ default: ComponentType<P> }>,
  placeholder: ReactNode,
): Preloadable<P> {
  let state: State<P> = {};
  let loading: Promise<void> | undefined;
  const listeners = new Set<() => void>();
  const settle = (next: State<P>) => {
    state = next;
    listeners.forEach((l) => l());
  };
  const load = () =>
    (loading ??= factory().then(
      (module) => settle({ loaded: module.default }),
      (error: unknown) => settle({ error }),
    ));
  const subscribe = (listener: () => void) => {
    listeners.add(listener);
    return () => void listeners.delete(listener);
  };
  const snapshot = () => state;
  const Component = (props: P) => {
    const { loaded, error } = useSyncExternalStore(subscribe, snapshot);
    useEffect(() => void load(), []);
    if (loaded) return createElement(loaded, props);
    if (error !== undefined) return <LoadFailed error={error} />;
    return placeholder;
  };
  return { Component, load };
}

/** Shown when a part's code could not be fetched (the server gone, or upgraded under the page). */
function LoadFailed({ error }: { error: unknown }) {
  return (
    <div data-testid="load-failed">
      <Result
        status="error"
        title="Could not load this part of the dashboard"
        subTitle={errorMessage(error)}
        extra={
          <Button type="primary" onClick={() => window.location.reload()}>
            Reload
          </Button>
        }
      />
    </div>
  );
}
