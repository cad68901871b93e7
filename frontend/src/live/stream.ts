// The one live connection: the browser's EventSource (which already resumes with
// `Last-Event-ID` after a dropped connection), recreated with `?last_event_id=` and backoff
// when the server refused or closed it, so that no event is missed across reconnects. The
// server opens every stream with a `ready` message carrying its position, so even a client
// that has received no event yet resumes from where it was.
import type { LiveEvent } from "../api/types";

/** The real state of the live stream, shown by the connection indicator. */
export type LiveState = "connecting" | "live" | "reconnecting" | "offline";

export interface LiveStreamOptions {
  /** Path of the stream endpoint, e.g. `/api/v1/stream`. */
  url: string;
  onEvents: (events: LiveEvent[]) => void;
  onState: (state: LiveState) => void;
  /**
   * The stream is open at `position` (its `ready` message). `resumed` is false when there was no
   * earlier position to resume from, so data loaded before may miss events: refetch it.
   */
  onReady?: (position: string, resumed: boolean) => void;
  /** How often buffered events are handed over, in ms (one batch per flush). */
  flushMs?: number;
  /** The EventSource constructor (tests pass a fake). */
  eventSource?: typeof EventSource;
}

const MAX_BACKOFF_MS = 30_000;

/** The dashboard's live stream endpoint. */
export const STREAM_URL = "/api/v1/stream";

/** What a pre-opened stream records until a LiveStream takes it over. */
const EARLY_EVENTS = ["open", "ready", "message", "error"] as const;

/** A stream opened before React rendered (see [`preopenStream`]), with what it has received. */
interface Preopened {
  url: string;
  source: EventSource;
  /** Events received before a LiveStream took it over, in order. */
  queue: { type: (typeof EARLY_EVENTS)[number]; event: Event }[];
  record: (event: Event) => void;
}
let preopened: Preopened | null = null;

/**
 * Opens the live stream at once (at module load, before the first render), so that its `ready`
 * message, which the pages wait for, arrives while the app renders. The first LiveStream of the
 * same URL takes it over and replays what it received meanwhile.
 */
export function preopenStream(url: string): void {
  if (preopened || typeof EventSource === "undefined") return;
  const source = new EventSource(url, { withCredentials: true });
  const queue: Preopened["queue"] = [];
  const record = (event: Event) => queue.push({ type: event.type as Preopened["queue"][number]["type"], event });
  for (const type of EARLY_EVENTS) source.addEventListener(type, record);
  preopened = { url, source, queue, record };
}

/** The pre-opened stream of `url`, if there is one and it is still usable (taken once). */
function takePreopened(url: string): Preopened | null {
  const p = preopened;
  if (!p || p.url !== url || p.source.readyState === EventSource.CLOSED) return null;
  preopened = null;
  for (const type of EARLY_EVENTS) p.source.removeEventListener(type, p.record);
  return p;
}

export class LiveStream {
  private source: EventSource | null = null;
  private lastEventId: string | null = null;
  private buffer: LiveEvent[] = [];
  private flushTimer: ReturnType<typeof setTimeout> | null = null;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private backoff = 1000;
  private stopped = false;
  private state: LiveState = "connecting";
  private readonly opts: LiveStreamOptions;

  constructor(opts: LiveStreamOptions) {
    this.opts = opts;
  }

  /** The position of the last event received (what a reconnect resumes after). */
  get position(): string | null {
    return this.lastEventId;
  }

  start(): void {
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flush();
    this.source?.close();
    this.source = null;
  }

  private setState(state: LiveState) {
    if (state !== this.state) {
      this.state = state;
      this.opts.onState(state);
    }
  }

  private connect() {
    const Source = this.opts.eventSource ?? EventSource;
    const url = this.lastEventId
      ? `${this.opts.url}${this.opts.url.includes("?") ? "&" : "?"}last_event_id=${encodeURIComponent(this.lastEventId)}`
      : this.opts.url;
    const early = this.opts.eventSource ? null : takePreopened(url);
    const source = early?.source ?? new Source(url, { withCredentials: true });
    this.source = source;
    source.onopen = () => {
      this.backoff = 1000;
      this.setState("live");
    };
    const onReady = (message: MessageEvent<string>) => {
      const resumed = this.lastEventId !== null;
      if (message.lastEventId) this.lastEventId = message.lastEventId;
      if (this.lastEventId !== null) this.opts.onReady?.(this.lastEventId, resumed);
    };
    source.addEventListener("ready", onReady);
    source.onmessage = (message: MessageEvent<string>) => {
      if (message.lastEventId) this.lastEventId = message.lastEventId;
      try {
        this.buffer.push(JSON.parse(message.data) as LiveEvent);
      } catch {
        return;
      }
      if (!this.flushTimer) {
        this.flushTimer = setTimeout(() => this.flush(), this.opts.flushMs ?? 100);
      }
    };
    source.onerror = () => {
      if (this.stopped) return;
      if (source.readyState === Source.CONNECTING) {
        // The browser reconnects by itself and sends Last-Event-ID.
        this.setState("reconnecting");
        return;
      }
      // Closed for good (an HTTP error such as 401 or 503): reconnect ourselves, resuming
      // after the last position received.
      source.close();
      this.setState("offline");
      this.retryTimer = setTimeout(() => {
        this.retryTimer = null;
        if (!this.stopped) {
          this.setState("reconnecting");
          this.connect();
        }
      }, this.backoff);
      this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF_MS);
    };
    // What the pre-opened stream received before this took it over, in order.
    for (const { type, event } of early?.queue ?? []) {
      if (type === "ready") onReady(event as MessageEvent<string>);
      else if (type === "open") source.onopen?.(event);
      else if (type === "message") source.onmessage?.(event as MessageEvent<string>);
      else source.onerror?.(event);
    }
  }

  private flush() {
    this.flushTimer = null;
    if (this.buffer.length === 0) return;
    const events = this.buffer;
    this.buffer = [];
    this.opts.onEvents(events);
  }
}
