// Routes, providers and the login guard.
import { useEffect } from "react";
import { BrowserRouter, Navigate, Route, Routes, useLocation, useNavigate } from "react-router";
import { QueryClient, QueryClientProvider, useQueryClient } from "@tanstack/react-query";
import { App as AntApp, ConfigProvider, Spin } from "antd";
import { ApiError, onUnauthorized } from "./api/client";
import { keys, meQuery, prefetchRun, useMe } from "./api/queries";
import { LiveProvider, WhenSynced } from "./live/LiveProvider";
import { preopenStream, STREAM_URL } from "./live/stream";
import { AppLayout } from "./components/AppLayout";
import { LoginPage } from "./pages/LoginPage";
import { preloadable } from "./lib/preloadable";

function Loading() {
  return (
    <div style={{ display: "grid", placeItems: "center", height: "60vh" }}>
      <Spin size="large" />
    </div>
  );
}

// Each page's code loads apart, and never suspends the app (see preloadable).
const pages = {
  runs: preloadable(() => import("./pages/runs/RunsPage"), <Loading />),
  run: preloadable(() => import("./pages/run/RunPage"), <Loading />),
  dashboard: preloadable(() => import("./pages/dashboard/DashboardPage"), <Loading />),
  settings: preloadable(() => import("./pages/settings/SettingsPage"), <Loading />),
};
const RunsPage = pages.runs.Component;
const RunPage = pages.run.Component;
const DashboardPage = pages.dashboard.Component;
const SettingsPage = pages.settings.Component;

const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      staleTime: 30_000,
      refetchOnWindowFocus: false,
      retry: (count, err) => !(err instanceof ApiError && err.status < 500) && count < 2,
    },
  },
});

// The first page's code, the login check and the live stream (whose position the pages wait
// for) all start at once, before the first render rather than after it; LiveProvider's stream
// takes the early one over.
{
  const [, section, id] = window.location.pathname.split("/");
  if (section === "runs" && id) void pages.run.load();
  else if (section === "dashboard") void pages.dashboard.load();
  else if (section === "settings") void pages.settings.load();
  else if (section !== "login") void pages.runs.load();
  if (section !== "login") {
    void queryClient.prefetchQuery(meQuery);
    preopenStream(STREAM_URL);
  }
}

/** Starts loading the data of the page at the address, once the live stream is synced. */
function prefetchPage(client: QueryClient) {
  const [, section, id] = window.location.pathname.split("/");
  if (section === "runs" && id) prefetchRun(client, id);
}

/**
 * Renders the app for a logged-in user; sends everyone else to the login page. The live stream
 * opens beside the login check (it is refused without a session, and closed when this leaves).
 */
function RequireLogin() {
  return (
    <LiveProvider onSynced={prefetchPage}>
      <LoggedIn />
    </LiveProvider>
  );
}

function LoggedIn() {
  const me = useMe();
  const location = useLocation();
  const navigate = useNavigate();
  const client = useQueryClient();
  useEffect(
    () =>
      onUnauthorized(() => {
        client.removeQueries({ queryKey: keys.me });
        navigate(`/login?next=${encodeURIComponent(window.location.pathname + window.location.search)}`);
      }),
    [client, navigate],
  );
  if (me.isPending) return <Loading />;
  if (me.isError) {
    return <Navigate to={`/login?next=${encodeURIComponent(location.pathname + location.search)}`} replace />;
  }
  return (
    <AppLayout me={me.data}>
      <WhenSynced fallback={<Loading />}>
        <Routes>
          <Route path="/" element={<Navigate to="/runs" replace />} />
          <Route path="/runs" element={<RunsPage />} />
          <Route path="/runs/:runId" element={<RunPage />} />
          <Route path="/dashboard" element={<DashboardPage />} />
          <Route path="/settings/*" element={<SettingsPage me={me.data} />} />
          <Route path="*" element={<Navigate to="/runs" replace />} />
        </Routes>
      </WhenSynced>
    </AppLayout>
  );
}

// Ant Design's styles come from its static stylesheet (imported in main.tsx) rather than being
// generated at run time, so the first render of a page costs far less.
export function App() {
  return (
    <ConfigProvider theme={{ zeroRuntime: true }}>
      <AntApp>
        <QueryClientProvider client={queryClient}>
          <BrowserRouter>
            <Routes>
              <Route path="/login" element={<LoginPage />} />
              <Route path="*" element={<RequireLogin />} />
            </Routes>
          </BrowserRouter>
        </QueryClientProvider>
      </AntApp>
    </ConfigProvider>
  );
}
