import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { LiveStream, preopenStream, type LiveState } from "./stream";
import type { LiveEvent } from "../api/types";

/** A stand-in for the browser's EventSource that the test drives by hand. */
class FakeSource {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSED = 2;
  static instances: FakeSource[] = [];
  readyState = FakeSource.CONNECTING;
  onopen: (() => void) | null = null;
  onmessage: ((m: MessageEvent<string>) => void) | null = null;
  onerror: (() => void) | null = null;
  closed = false;
  constructor(
    readonly url: string,
    readonly init: EventSourceInit,
  ) {
    FakeSource.instances.push(this);
  }
  open() {
    this.readyState = FakeSource.OPEN;
    this.onopen?.();
  }
  send(id: number, seq: number) {
    const data: Partial<LiveEvent> = { event: { run_id: "r", seq, kind: "progress", recorded_at: "", pos: id, workspace_id: "w" } };
    this.onmessage?.(new MessageEvent("message", { data: JSON.stringify(data), lastEventId: String(id) }));
  }
  listeners = new Map<string, ((m: MessageEvent<string>) => void)[]>();
  addEventListener(name: string, listener: (m: MessageEvent<string>) => void) {
    this.listeners.set(name, [...(this.listeners.get(name) ?? []), listener]);
  }
  removeEventListener(name: string, listener: (m: MessageEvent<string>) => void) {
    this.listeners.set(name, (this.listeners.get(name) ?? []).filter((l) => l !== listener));
  }
  /** Delivers to the listeners only, as the browser does before any handler is set. */
  dispatch(event: MessageEvent<string>) {
    for (const l of this.listeners.get(event.type) ?? []) l(event);
  }
  ready(position: number) {
    this.dispatch(new MessageEvent("ready", { data: JSON.stringify({ position }), lastEventId: String(position) }));
  }
  fail(closed: boolean) {
    this.readyState = closed ? FakeSource.CLOSED : FakeSource.CONNECTING;
    this.onerror?.();
  }
  close() {
    this.closed = true;
    this.readyState = FakeSource.CLOSED;
  }
}

describe("LiveStream", () => {
  let states: LiveState[];
  let batches: LiveEvent[][];
  let stream: LiveStream;
  let readies: [string, boolean][];
  beforeEach(() => {
    vi.useFakeTimers();
    FakeSource.instances = [];
    states = [];
    batches = [];
    readies = [];
    stream = new LiveStream({
      onReady: (position, resumed) => readies.push([position, resumed]),
      url: "/api/v1/stream",
      onEvents: (e) => batches.push(e),
      onState: (s) => states.push(s),
      flushMs: 100,
      eventSource: FakeSource as unknown as typeof EventSource,
    });
    stream.start();
  });
  afterEach(() => {
    stream.stop();
    vi.useRealTimers();
  });

  it("reports live only once the connection is open, with cookies", () => {
    expect(states).toEqual([]);
    const source = FakeSource.instances[0];
    expect(source.url).toBe("/api/v1/stream");
    expect(source.init.withCredentials).toBe(true);
    source.open();
    expect(states).toEqual(["live"]);
  });

  it("hands over events in batches, in order", () => {
    const source = FakeSource.instances[0];
    source.open();
    for (let i = 1; i <= 5; i++) source.send(i, i - 1);
    expect(batches).toEqual([]);
    vi.advanceTimersByTime(100);
    expect(batches).toHaveLength(1);
    expect(batches[0].map((e) => e.event.seq)).toEqual([0, 1, 2, 3, 4]);
    expect(stream.position).toBe("5");
  });

  it("lets the browser resume a dropped connection by itself", () => {
    const source = FakeSource.instances[0];
    source.open();
    source.fail(false);
    expect(states.at(-1)).toBe("reconnecting");
    vi.advanceTimersByTime(60_000);
    expect(FakeSource.instances).toHaveLength(1);
    source.open();
    expect(states.at(-1)).toBe("live");
  });

  it("reconnects a closed stream after the last position received, with backoff", () => {
    const first = FakeSource.instances[0];
    first.open();
    first.send(41, 0);
    first.send(42, 1);
    first.fail(true);
    expect(first.closed).toBe(true);
    expect(states.at(-1)).toBe("offline");
    vi.advanceTimersByTime(999);
    expect(FakeSource.instances).toHaveLength(1);
    vi.advanceTimersByTime(1);
    const second = FakeSource.instances[1];
    expect(second.url).toBe("/api/v1/stream?last_event_id=42");
    expect(states.at(-1)).toBe("reconnecting");
    // Refused again: the wait doubles.
    second.fail(true);
    vi.advanceTimersByTime(1999);
    expect(FakeSource.instances).toHaveLength(2);
    vi.advanceTimersByTime(1);
    expect(FakeSource.instances).toHaveLength(3);
    FakeSource.instances[2].open();
    expect(states.at(-1)).toBe("live");
    vi.advanceTimersByTime(100);
    expect(batches.flat().map((e) => e.event.seq)).toEqual([0, 1]);
  });

  it("resumes from the position the server opened at, even with no event received", () => {
    const first = FakeSource.instances[0];
    first.open();
    first.ready(7);
    expect(readies).toEqual([["7", false]]);
    expect(stream.position).toBe("7");
    first.fail(true);
    vi.advanceTimersByTime(1000);
    const second = FakeSource.instances[1];
    expect(second.url).toBe("/api/v1/stream?last_event_id=7");
    second.open();
    second.ready(7);
    expect(readies).toEqual([
      ["7", false],
      ["7", true],
    ]);
  });

  it("stops cleanly: flushes what it has and reconnects no more", () => {
    const source = FakeSource.instances[0];
    source.open();
    source.send(1, 0);
    stream.stop();
    expect(batches).toHaveLength(1);
    source.fail(true);
    vi.advanceTimersByTime(60_000);
    expect(FakeSource.instances).toHaveLength(1);
  });
});

describe("preopenStream", () => {
  afterEach(() => {
    vi.unstubAllGlobals();
    vi.useRealTimers();
  });

  it("hands a stream opened before the app rendered to the first LiveStream, with what it received", () => {
    vi.useFakeTimers();
    vi.stubGlobal("EventSource", FakeSource);
    FakeSource.instances = [];
    preopenStream("/api/v1/stream");
    expect(FakeSource.instances).toHaveLength(1);
    const early = FakeSource.instances[0];
    early.readyState = FakeSource.OPEN;
    early.dispatch(new MessageEvent("open"));
    early.ready(7);
    const data: Partial<LiveEvent> = { event: { run_id: "r", seq: 0, kind: "progress", recorded_at: "", pos: 8, workspace_id: "w" } };
    early.dispatch(new MessageEvent("message", { data: JSON.stringify(data), lastEventId: "8" }));

    const states: LiveState[] = [];
    const readies: [string, boolean][] = [];
    const batches: LiveEvent[][] = [];
    const stream = new LiveStream({
      url: "/api/v1/stream",
      onReady: (position, resumed) => readies.push([position, resumed]),
      onEvents: (e) => batches.push(e),
      onState: (s) => states.push(s),
      flushMs: 100,
    });
    stream.start();
    // No second connection; the early one's open, ready and event are replayed in order.
    expect(FakeSource.instances).toHaveLength(1);
    expect(states).toEqual(["live"]);
    expect(readies).toEqual([["7", false]]);
    vi.advanceTimersByTime(100);
    expect(batches.map((b) => b.map((e) => e.event.pos))).toEqual([[8]]);
    expect(stream.position).toBe("8");
    // The listeners that recorded for it are gone: a later event arrives once, through the stream.
    early.send(9, 1);
    vi.advanceTimersByTime(100);
    expect(batches.flat().map((e) => e.event.pos)).toEqual([8, 9]);
    stream.stop();
    expect(early.closed).toBe(true);

    // Taken once: the next LiveStream opens its own connection.
    const again = new LiveStream({ url: "/api/v1/stream", onEvents: () => {}, onState: () => {} });
    again.start();
    expect(FakeSource.instances).toHaveLength(2);
    again.stop();
  });
});
