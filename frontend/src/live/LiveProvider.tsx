// Holds the app's one live connection while someone is logged in, applies its events to the
// query cache, and exposes the connection's real state to the indicator.
import { createContext, useCallback, useContext, useEffect, useRef, useState, type ReactNode } from "react";
import { useQueryClient, type QueryClient } from "@tanstack/react-query";
import { LiveStream, STREAM_URL, type LiveState } from "./stream";
import { applyLiveEvents, invalidateLive } from "./apply";
import { keys } from "../api/queries";

interface LiveInfo {
  state: LiveState;
  /** The stream has told its position once (or failed to open): pages may load data. */
  synced: boolean;
  /** Events received since the page loaded. */
  received: number;
  /** Position of the last event received. */
  position: string | null;
}

const LiveContext = createContext<LiveInfo>({ state: "connecting", synced: false, received: 0, position: null });

export const useLive = () => useContext(LiveContext);

/** Longest wait for the stream's position before pages load regardless. */
const SYNC_WAIT_MS = 2000;

/** Refetches of runs lists when new runs appear are at most this frequent. */
const NEW_RUN_REFETCH_MS = 1000;

export function LiveProvider({
  children,
  onSynced,
}: {
  children: ReactNode;
  /** Called once, when the pages may load (before they render), e.g. to start their requests. */
  onSynced?: (client: QueryClient) => void;
}) {
  const client = useQueryClient();
  const [info, setInfo] = useState<LiveInfo>({ state: "connecting", synced: false, received: 0, position: null });
  const lastRunsRefetch = useRef(0);
  const synced = useRef(false);
  const onSyncedRef = useRef(onSynced);
  const markSynced = useCallback(() => {
    if (!synced.current) {
      synced.current = true;
      onSyncedRef.current?.(client);
    }
  }, [client]);
  const runsTimer = useRef<ReturnType<typeof setTimeout> | null>(null);

  useEffect(() => {
    const refetchRuns = () => {
      runsTimer.current = null;
      lastRunsRefetch.current = Date.now();
      void client.invalidateQueries({ queryKey: keys.runsAll });
      void client.invalidateQueries({ queryKey: ["stats"] });
    };
    const stream: LiveStream = new LiveStream({
      url: STREAM_URL,
      // Pages wait for the stream's position before loading, so nothing committed between
      // their loads and the stream's start is missed; if the stream cannot open, they load
      // anyway (and refetch once it opens, see onReady).
      onState: (state) => {
        if (state === "offline") markSynced();
        setInfo((i) => ({ ...i, state, synced: synced.current }));
      },
      onReady: (position, resumed) => {
        if (synced.current && !resumed) void client.invalidateQueries();
        markSynced();
        setInfo((i) => ({ ...i, synced: true, position }));
      },
      onEvents: (events) => {
        const follow = applyLiveEvents(client, events);
        for (const key of follow.invalidate) invalidateLive(client, key);
        if (follow.newRuns && !runsTimer.current) {
          const wait = Math.max(0, lastRunsRefetch.current + NEW_RUN_REFETCH_MS - Date.now());
          runsTimer.current = setTimeout(refetchRuns, wait);
        }
        setInfo((i) => ({ ...i, received: i.received + events.length, position: stream.position }));
      },
    });
    stream.start();
    return () => {
      stream.stop();
      if (runsTimer.current) clearTimeout(runsTimer.current);
    };
  }, [client, markSynced]);

  useEffect(() => {
    // Never hold the pages back for long, whatever the stream does.
    const timer = setTimeout(() => {
      markSynced();
      setInfo((i) => (i.synced ? i : { ...i, synced: true }));
    }, SYNC_WAIT_MS);
    return () => clearTimeout(timer);
  }, [markSynced]);

  return <LiveContext.Provider value={info}>{children}</LiveContext.Provider>;
}

/** Renders its children once the live stream is synced (see [`LiveInfo.synced`]). */
export function WhenSynced({ children, fallback }: { children: ReactNode; fallback: ReactNode }) {
  return useLive().synced ? children : fallback;
}
