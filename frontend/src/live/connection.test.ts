import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { QueryClient } from "@tanstack/react-query";
import { LiveConnection } from "./connection";

/** Just enough of EventSource for the connection: opened, then told its position. */
class FakeSource {
  static readonly CONNECTING = 0;
  static readonly CLOSED = 2;
  static instances: FakeSource[] = [];
  readyState = FakeSource.CONNECTING;
  onopen: (() => void) | null = null;
  onmessage: ((m: MessageEvent<string>) => void) | null = null;
  onerror: (() => void) | null = null;
  closed = false;
  listeners = new Map<string, (m: MessageEvent<string>) => void>();
  constructor(readonly url: string) {
    FakeSource.instances.push(this);
  }
  addEventListener(name: string, listener: (m: MessageEvent<string>) => void) {
    this.listeners.set(name, listener);
  }
  ready(position: number) {
    this.onopen?.();
    this.listeners.get("ready")?.(new MessageEvent("ready", { data: "{}", lastEventId: String(position) }));
  }
  close() {
    this.closed = true;
  }
}

describe("LiveConnection", () => {
  let synced: number;
  let live: LiveConnection;
  beforeEach(() => {
    vi.useFakeTimers();
    FakeSource.instances = [];
    synced = 0;
    live = new LiveConnection(new QueryClient(), () => synced++, FakeSource as unknown as typeof EventSource);
  });
  afterEach(() => {
    live.stop();
    vi.useRealTimers();
  });

  it("opens one stream however often it is started, and is synced once it has its position", () => {
    live.start();
    live.start(); // e.g. at boot, then by LiveProvider on mount
    expect(FakeSource.instances).toHaveLength(1);
    expect(live.getSnapshot().synced).toBe(false);
    FakeSource.instances[0].ready(7);
    expect(live.getSnapshot()).toMatchObject({ state: "live", synced: true, position: "7" });
    expect(synced).toBe(1);
  });

  it("tells subscribers of changes, and lets pages load after a while without a position", () => {
    const seen: boolean[] = [];
    live.subscribe(() => seen.push(live.getSnapshot().synced));
    live.start();
    vi.advanceTimersByTime(2000);
    expect(live.getSnapshot().synced).toBe(true);
    expect(seen.at(-1)).toBe(true);
    expect(synced).toBe(1);
  });

  it("closes the stream on stop and opens a new one, synced afresh, on the next start", () => {
    live.start();
    FakeSource.instances[0].ready(1);
    live.stop();
    expect(FakeSource.instances[0].closed).toBe(true);
    live.start();
    expect(FakeSource.instances).toHaveLength(2);
    expect(live.getSnapshot().synced).toBe(false);
    FakeSource.instances[1].ready(2);
    expect(synced).toBe(2);
  });
});
