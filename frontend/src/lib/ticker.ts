// One shared one-second clock for everything that ticks on screen (durations of running runs):
// a single interval, started by the first subscriber and stopped by the last, however many
// cells show a running duration.
import { useSyncExternalStore } from "react";

let now = Date.now();
const listeners = new Set<() => void>();
let timer: ReturnType<typeof setInterval> | null = null;

function tick() {
  now = Date.now();
  listeners.forEach((l) => l());
}

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  if (timer === null) {
    now = Date.now();
    timer = setInterval(tick, 1000);
  }
  return () => {
    listeners.delete(listener);
    if (listeners.size === 0 && timer !== null) {
      clearInterval(timer);
      timer = null;
    }
  };
}

const still = () => () => {};
const getNow = () => now;

/** Number of components following the clock (for tests). */
export const tickerSubscribers = () => listeners.size;

/**
 * The current time in milliseconds, re-rendering the caller every second while `live`; when
 * not live the caller does not follow the clock (and gets the time of the last tick).
 */
export function useNow(live = true): number {
  return useSyncExternalStore(live ? subscribe : still, getNow, getNow);
}
