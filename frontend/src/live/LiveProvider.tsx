// Exposes the app's one live connection (see connection.ts) to React while someone is logged
// in: opens it on mount (unless it was opened before the first render) and closes it on unmount.
import { createContext, useContext, useEffect, useSyncExternalStore, type ReactNode } from "react";
import { INITIAL_LIVE_INFO, type LiveConnection, type LiveInfo } from "./connection";

const LiveContext = createContext<LiveInfo>(INITIAL_LIVE_INFO);

export const useLive = () => useContext(LiveContext);

export function LiveProvider({ connection, children }: { connection: LiveConnection; children: ReactNode }) {
  useEffect(() => {
    connection.start();
    return () => connection.stop();
  }, [connection]);
  const info = useSyncExternalStore(connection.subscribe, connection.getSnapshot);
  return <LiveContext.Provider value={info}>{children}</LiveContext.Provider>;
}

/** Renders its children once the live stream is synced (see [`LiveInfo.synced`]). */
export function WhenSynced({ children, fallback }: { children: ReactNode; fallback: ReactNode }) {
  return useLive().synced ? children : fallback;
}
