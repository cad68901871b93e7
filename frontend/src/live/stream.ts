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
    const source = new Source(url, { withCredentials: true });
    this.source = source;
    source.onopen = () => {
      this.backoff = 1000;
      this.setState("live");
    };
    source.addEventListener("ready", (message: MessageEvent<string>) => {
      const resumed = this.lastEventId !== null;
      if (message.lastEventId) this.lastEventId = message.lastEventId;
      if (this.lastEventId !== null) this.opts.onReady?.(this.lastEventId, resumed);
    });
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
  }

  private flush() {
    this.flushTimer = null;
    if (this.buffer.length === 0) return;
    const events = this.buffer;
    this.buffer = [];
    this.opts.onEvents(events);
  }
}
