// Holds the app's one live connection while someone is logged in, applies its events to the
// query cache, and exposes the connection's real state to the indicator.
import { createContext, useContext, useEffect, useRef, useState, type ReactNode } from "react";
import { useQueryClient } from "@tanstack/react-query";
import { LiveStream, type LiveState } from "./stream";
import { applyLiveEvents } from "./apply";
import { keys } from "../api/queries";

interface LiveInfo {
  state: LiveState;
  /** Events received since the page loaded. */
  received: number;
  /** Position of the last event received. */
  position: string | null;
}

const LiveContext = createContext<LiveInfo>({ state: "connecting", received: 0, position: null });

export const useLive = () => useContext(LiveContext);

/** Refetches of runs lists when new runs appear are at most this frequent. */
const NEW_RUN_REFETCH_MS = 1000;

export function LiveProvider({ children }: { children: ReactNode }) {
  const client = useQueryClient();
  const [info, setInfo] = useState<LiveInfo>({ state: "connecting", received: 0, position: null });
  const lastRunsRefetch = useRef(0);
  const runsTimer = useRef<ReturnType<typeof setTimeout> | null>(null);

  useEffect(() => {
    const refetchRuns = () => {
      runsTimer.current = null;
      lastRunsRefetch.current = Date.now();
      void client.invalidateQueries({ queryKey: keys.runsAll });
      void client.invalidateQueries({ queryKey: ["stats"] });
    };
    const stream: LiveStream = new LiveStream({
      url: "/api/v1/stream",
      onState: (state) => setInfo((i) => ({ ...i, state })),
      onEvents: (events) => {
        const follow = applyLiveEvents(client, events);
        for (const key of follow.invalidate) void client.invalidateQueries({ queryKey: key, exact: true });
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
  }, [client]);

  return <LiveContext.Provider value={info}>{children}</LiveContext.Provider>;
}
