// The runs page's state in the URL (filters, sort, page size) and the stack of cursors that
// lets the cursor-paged API go back a page.
import type { RunFilters } from "../../api/queries";
import type { RunStatus } from "../../api/types";
import { RUN_STATUSES } from "../../lib/status";

export const PAGE_SIZES = [25, 50, 100] as const;
export const DEFAULT_PAGE_SIZE = 50;
export const SORTS = ["started_at", "last_event_at", "name"] as const;
export type Sort = (typeof SORTS)[number];
export type Order = "asc" | "desc";

/** Filters without the cursor: what selects and orders the runs, as kept in the URL. */
export type ListFilters = Omit<RunFilters, "cursor">;

const text = (v: string | null): string | undefined => {
  const t = v?.trim();
  return t ? t : undefined;
};

/** Valid statuses of a comma-separated list, in the canonical order, without repeats. */
export function parseStatuses(v: string | null | undefined): RunStatus[] {
  const wanted = new Set((v ?? "").split(",").map((s) => s.trim()));
  return RUN_STATUSES.filter((s) => wanted.has(s));
}

/** Filters from the URL's search params; anything invalid is dropped (defaults apply). */
export function filtersFromParams(p: URLSearchParams): ListFilters {
  const statuses = parseStatuses(p.get("status"));
  const sort = p.get("sort");
  const order = p.get("order");
  const limit = Number(p.get("limit"));
  const f: ListFilters = {
    q: text(p.get("q")),
    status: statuses.length ? statuses.join(",") : undefined,
    tag: text(p.get("tag")),
    workspace: text(p.get("workspace")),
    from: text(p.get("from")),
    to: text(p.get("to")),
    sort: SORTS.includes(sort as Sort) && sort !== "started_at" ? (sort as Sort) : undefined,
    order: order === "asc" ? "asc" : undefined,
    limit: (PAGE_SIZES as readonly number[]).includes(limit) && limit !== DEFAULT_PAGE_SIZE ? limit : undefined,
  };
  return compact(f);
}

/** Drops unset fields, so that equal filters give equal query keys. */
export function compact<T extends object>(f: T): T {
  const out = {} as T;
  for (const [k, v] of Object.entries(f)) if (v !== undefined && v !== null && v !== "") (out as Record<string, unknown>)[k] = v;
  return out;
}

/** The URL's search params for filters (defaults left out, so URLs stay short). */
export function filtersToParams(f: ListFilters): URLSearchParams {
  const p = new URLSearchParams();
  const put = (k: string, v: string | number | undefined) => {
    if (v !== undefined && v !== "") p.set(k, String(v));
  };
  put("q", f.q?.trim());
  const statuses = parseStatuses(f.status);
  put("status", statuses.length ? statuses.join(",") : undefined);
  put("tag", f.tag?.trim());
  put("workspace", f.workspace);
  put("from", f.from);
  put("to", f.to);
  put("sort", f.sort && f.sort !== "started_at" ? f.sort : undefined);
  put("order", f.order === "asc" ? "asc" : undefined);
  put("limit", f.limit && f.limit !== DEFAULT_PAGE_SIZE ? f.limit : undefined);
  return p;
}

/** The request for one page: the filters with the effective page size and the cursor. */
export function pageRequest(f: ListFilters, cursor: string | undefined): RunFilters {
  return compact({ ...f, limit: f.limit ?? DEFAULT_PAGE_SIZE, cursor });
}

/**
 * Cursors that led to the current page (empty: the first page). It belongs to one set of
 * filters (`key`); other filters start again at the first page.
 */
export interface CursorStack {
  key: string;
  cursors: string[];
}

export const filtersKey = (f: ListFilters): string => filtersToParams(f).toString();

/** The stack for `key`: the same one, or an empty one when the filters changed. */
export function stackFor(stack: CursorStack, key: string): CursorStack {
  return stack.key === key ? stack : { key, cursors: [] };
}

export const currentCursor = (s: CursorStack): string | undefined => s.cursors[s.cursors.length - 1];
export const pageNumber = (s: CursorStack): number => s.cursors.length + 1;
export const nextPage = (s: CursorStack, next: string): CursorStack => ({ key: s.key, cursors: [...s.cursors, next] });
export const previousPage = (s: CursorStack): CursorStack => ({ key: s.key, cursors: s.cursors.slice(0, -1) });

/** Pages in all, from the total count (at least 1). */
export function pageCount(total: number | null | undefined, limit: number): number | undefined {
  if (total === null || total === undefined) return undefined;
  return Math.max(1, Math.ceil(total / limit));
}
