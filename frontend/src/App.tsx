// Routes, providers and the login guard.
import { lazy, Suspense, useEffect } from "react";
import { BrowserRouter, Navigate, Route, Routes, useLocation, useNavigate } from "react-router";
import { QueryClient, QueryClientProvider, useQueryClient } from "@tanstack/react-query";
import { App as AntApp, ConfigProvider, Spin } from "antd";
import { ApiError, onUnauthorized } from "./api/client";
import { keys, useMe } from "./api/queries";
import { LiveProvider } from "./live/LiveProvider";
import { AppLayout } from "./components/AppLayout";
import { LoginPage } from "./pages/LoginPage";

const RunsPage = lazy(() => import("./pages/runs/RunsPage"));
const RunPage = lazy(() => import("./pages/run/RunPage"));
const DashboardPage = lazy(() => import("./pages/dashboard/DashboardPage"));
const SettingsPage = lazy(() => import("./pages/settings/SettingsPage"));

const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      staleTime: 30_000,
      refetchOnWindowFocus: false,
      retry: (count, err) => !(err instanceof ApiError && err.status < 500) && count < 2,
    },
  },
});

function Loading() {
  return (
    <div style={{ display: "grid", placeItems: "center", height: "60vh" }}>
      <Spin size="large" />
    </div>
  );
}

/** Renders the app for a logged-in user; sends everyone else to the login page. */
function RequireLogin() {
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
    <LiveProvider>
      <AppLayout me={me.data}>
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
      </AppLayout>
    </LiveProvider>
  );
}

export function App() {
  return (
    <ConfigProvider theme={{ token: { colorPrimary: "#1677ff", borderRadius: 6 } }}>
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
