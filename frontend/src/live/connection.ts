// The app's one live connection apart from React: it owns the stream, applies its events to the
// query cache and keeps the connection's state for the indicator. Being plain code, it can be
// started before React's first render (src/boot.ts), so that the stream's position, and with it
// the first page's data, is on its way while the app's code is still being evaluated.
import type { QueryClient } from "@tanstack/react-query";
import { LiveStream, type LiveState } from "./stream";
import { applyLiveEvents } from "./apply";
import { keys } from "../api/queries";

export interface LiveInfo {
  state: LiveState;
  /** The stream has told its position once (or failed to open): pages may load data. */
  synced: boolean;
  /** Events received since the page loaded. */
  received: number;
  /** Position of the last event received. */
  position: string | null;
}

export const INITIAL_LIVE_INFO: LiveInfo = { state: "connecting", synced: false, received: 0, position: null };

/** Longest wait for the stream's position before pages load regardless. */
const SYNC_WAIT_MS = 2000;

/** Refetches of runs lists when new runs appear are at most this frequent. */
const NEW_RUN_REFETCH_MS = 1000;

export class LiveConnection {
  private info: LiveInfo = INITIAL_LIVE_INFO;
  private readonly listeners = new Set<() => void>();
  private stream: LiveStream | null = null;
  private synced = false;
  private syncTimer: ReturnType<typeof setTimeout> | null = null;
  private runsTimer: ReturnType<typeof setTimeout> | null = null;
  private lastRunsRefetch = 0;
  private readonly client: QueryClient;
  private readonly onSynced?: (client: QueryClient) => void;
  private readonly eventSource?: typeof EventSource;

  /**
   * `onSynced` is called once per start, when the pages may load (before they render), e.g. to
   * start their requests. `eventSource` is for tests (a fake).
   */
  constructor(client: QueryClient, onSynced?: (client: QueryClient) => void, eventSource?: typeof EventSource) {
    this.client = client;
    this.onSynced = onSynced;
    this.eventSource = eventSource;
  }

  /** What the indicator and the pages read; a new object on every change. */
  readonly getSnapshot = (): LiveInfo => this.info;

  readonly subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  /** Opens the stream; a no-op while it is open. */
  start(): void {
    if (this.stream) return;
    this.synced = false;
    this.set(INITIAL_LIVE_INFO);
    const client = this.client;
    const stream: LiveStream = new LiveStream({
      url: "/api/v1/stream",
      eventSource: this.eventSource,
      // Pages wait for the stream's position before loading, so nothing committed between
      // their loads and the stream's start is missed; if the stream cannot open, they load
      // anyway (and refetch once it opens, see onReady).
      onState: (state) => {
        if (state === "offline") this.markSynced();
        this.set({ ...this.info, state, synced: this.synced });
      },
      onReady: (position, resumed) => {
        if (this.synced && !resumed) void client.invalidateQueries();
        this.markSynced();
        this.set({ ...this.info, synced: true, position });
      },
      onEvents: (events) => {
        const follow = applyLiveEvents(client, events);
        for (const key of follow.invalidate) void client.invalidateQueries({ queryKey: key, exact: true });
        if (follow.newRuns && !this.runsTimer) {
          const wait = Math.max(0, this.lastRunsRefetch + NEW_RUN_REFETCH_MS - Date.now());
          this.runsTimer = setTimeout(() => this.refetchRuns(), wait);
        }
        this.set({ ...this.info, received: this.info.received + events.length, position: stream.position });
      },
    });
    this.stream = stream;
    stream.start();
    // Never hold the pages back for long, whatever the stream does.
    this.syncTimer = setTimeout(() => {
      this.markSynced();
      if (!this.info.synced) this.set({ ...this.info, synced: true });
    }, SYNC_WAIT_MS);
  }

  /** Closes the stream (when nobody is logged in any more). */
  stop(): void {
    this.stream?.stop();
    this.stream = null;
    if (this.syncTimer) clearTimeout(this.syncTimer);
    if (this.runsTimer) clearTimeout(this.runsTimer);
    this.syncTimer = null;
    this.runsTimer = null;
  }

  private refetchRuns() {
    this.runsTimer = null;
    this.lastRunsRefetch = Date.now();
    void this.client.invalidateQueries({ queryKey: keys.runsAll });
    void this.client.invalidateQueries({ queryKey: ["stats"] });
  }

  private markSynced() {
    if (!this.synced) {
      this.synced = true;
      this.onSynced?.(this.client);
    }
  }

  private set(info: LiveInfo) {
    this.info = info;
    this.listeners.forEach((l) => l());
  }
}
