// What starts before React's first render: the query client, the live connection and, unless
// this is the login page, the login check, the live stream and the first page's code. main.tsx
// imports this module first and it imports no UI library, so it runs before the app's code
// (Ant Design, React DOM) is evaluated, and those requests overlap that work instead of
// waiting for it. The first page's data follows as soon as the stream has its position.
import { QueryClient, type QueryKey } from "@tanstack/react-query";
import { ApiError } from "./api/client";
import { keys, meQuery, prefetchRun, runQueries } from "./api/queries";
import { LiveConnection } from "./live/connection";
import { preloadable } from "./lib/preloadable";

export const pages = {
  runs: preloadable(() => import("./pages/runs/RunsPage")),
  run: preloadable(() => import("./pages/run/RunPage")),
  dashboard: preloadable(() => import("./pages/dashboard/DashboardPage")),
  settings: preloadable(() => import("./pages/settings/SettingsPage")),
};

export const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      staleTime: 30_000,
      refetchOnWindowFocus: false,
      retry: (count, err) => !(err instanceof ApiError && err.status < 500) && count < 2,
    },
  },
});

/** The queries the page at the address shows first, keyed as in src/api/queries.ts. */
function firstQueries(): QueryKey[] {
  const [, section, id] = window.location.pathname.split("/");
  if (section === "runs" && id) return [keys.run(id), keys.graph(id), keys.rules(id), keys.jobs(id)];
  return [];
}

/** Starts loading the data of the page at the address (called once the live stream is synced). */
function prefetchPage(client: QueryClient) {
  const [, section, id] = window.location.pathname.split("/");
  if (section === "runs" && id) {
    prefetchRun(client, id);
    // The DAG's layout (dagre: tens of milliseconds) is worked out while the other answers are
    // on their way, rather than in the first render (layoutGraph keeps it by graph).
    void Promise.all([client.fetchQuery(runQueries.graph(id)), import("./pages/run/dagModel")])
      .then(([graph, dag]) => dag.layoutGraph(graph))
      .catch(() => {});
  }
}

/** The live connection, held open by `LiveProvider` while someone is logged in. */
export const live = new LiveConnection(queryClient, prefetchPage);

/** Longest that the first render waits for the first page's code and data. */
const FIRST_RENDER_WAIT_MS = 1500;

/**
 * Resolves when the login check, the first page's code and its first data are there (each
 * query has data or has failed; the jobs of a run have their first page), or after
 * FIRST_RENDER_WAIT_MS. Rendering then draws the page once, instead of a spinner, then the
 * frame, then the run's header and then its jobs, each a render of its own that kept the
 * main thread busy while the next answers waited to be read.
 */
function firstPageReady(code: Promise<unknown>): Promise<void> {
  const wanted = [keys.me, ...firstQueries()];
  const settled = () => {
    // Not logged in: the login page shows, and nothing else will arrive.
    if (queryClient.getQueryState(keys.me)?.status === "error") return true;
    return wanted.every((key) => {
      const state = queryClient.getQueryState(key);
      return state !== undefined && (state.data !== undefined || state.status === "error");
    });
  };
  return new Promise((resolve) => {
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      unsubscribe();
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(finish, FIRST_RENDER_WAIT_MS);
    const check = () => {
      if (settled()) void code.then(finish, finish);
    };
    const unsubscribe = queryClient.getQueryCache().subscribe(check);
    check();
  });
}

/** When to render the app first (see `firstPageReady`). */
export let firstRender: Promise<void> = Promise.resolve();

{
  const [, section, id] = window.location.pathname.split("/");
  if (section !== "login") {
    void queryClient.prefetchQuery(meQuery);
    live.start();
    const code =
      section === "runs" && id
        ? pages.run.load()
        : section === "dashboard"
          ? pages.dashboard.load()
          : section === "settings"
            ? pages.settings.load()
            : pages.runs.load();
    firstRender = firstPageReady(code);
  }
}
