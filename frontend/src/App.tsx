// Routes, providers and the login guard.
import { Suspense, useEffect } from "react";
import { BrowserRouter, Navigate, Route, Routes, useLocation, useNavigate } from "react-router";
import { QueryClientProvider, useQueryClient } from "@tanstack/react-query";
import { App as AntApp, ConfigProvider, Spin } from "antd";
import { onUnauthorized } from "./api/client";
import { keys, useMe } from "./api/queries";
import { LiveProvider, WhenSynced } from "./live/LiveProvider";
import { AppLayout } from "./components/AppLayout";
import { LoginPage } from "./pages/LoginPage";
import { live, pages, queryClient } from "./boot";

const RunsPage = pages.runs.Component;
const RunPage = pages.run.Component;
const DashboardPage = pages.dashboard.Component;
const SettingsPage = pages.settings.Component;

function Loading() {
  return (
    <div style={{ display: "grid", placeItems: "center", height: "60vh" }}>
      <Spin size="large" />
    </div>
  );
}

/**
 * Renders the app for a logged-in user; sends everyone else to the login page. The live stream
 * opens beside the login check (it is refused without a session, and closed when this leaves).
 */
function RequireLogin() {
  return (
    <LiveProvider connection={live}>
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
        <Suspense fallback={<Loading />}>
          <Routes>
            <Route path="/" element={<Navigate to="/runs" replace />} />
            <Route path="/runs" element={<RunsPage />} />
            <Route path="/runs/:runId" element={<RunPage />} />
            <Route path="/dashboard" element={<DashboardPage />} />
            <Route path="/settings/*" element={<SettingsPage me={me.data} />} />
            <Route path="*" element={<Navigate to="/runs" replace />} />
          </Routes>
        </Suspense>
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
