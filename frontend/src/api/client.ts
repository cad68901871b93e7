// The typed API client (openapi-fetch over the generated `paths`), with the CSRF header on
// cookie-authenticated writes and one error type carrying the server's error envelope.
import createClient, { type Middleware } from "openapi-fetch";
import type { paths } from "./schema";
import type { ErrorBody } from "./types";

/** Name of the cookie holding the CSRF token (readable by scripts) and its header. */
export const CSRF_COOKIE = "flowo_csrf";
export const CSRF_HEADER = "X-CSRF-Token";

/** An API error: HTTP status plus the envelope's stable code and message. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
}

export function readCookie(name: string, cookies: string = document.cookie): string | undefined {
  for (const part of cookies.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return decodeURIComponent(rest.join("="));
  }
  return undefined;
}

type Listener = () => void;
const unauthorizedListeners = new Set<Listener>();
/** Called whenever a request answers 401 (the session ended). */
export function onUnauthorized(listener: Listener): () => void {
  unauthorizedListeners.add(listener);
  return () => unauthorizedListeners.delete(listener);
}

const csrf: Middleware = {
  onRequest({ request }) {
    if (request.method !== "GET" && request.method !== "HEAD") {
      const token = readCookie(CSRF_COOKIE);
      if (token) request.headers.set(CSRF_HEADER, token);
    }
    return request;
  },
  onResponse({ response, request }) {
    if (response.status === 401 && !request.url.includes("/auth/")) {
      unauthorizedListeners.forEach((l) => l());
    }
    return response;
  },
};

export const api = createClient<paths>({
  baseUrl: typeof window === "undefined" ? "http://localhost" : window.location.origin,
  credentials: "same-origin",
  // Lists in a query are one comma-separated value (`status=running,failed`), as the API
  // documents them (style form, explode false).
  querySerializer: { array: { style: "form", explode: false } },
});
api.use(csrf);

/** Unwraps an openapi-fetch result: the data, or an [`ApiError`]. */
export async function unwrap<T>(
  call: Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<T> {
  const { data, error, response } = await call;
  if (response.ok) return data as T;
  const body = error as Partial<ErrorBody> | undefined;
  throw new ApiError(
    response.status,
    body?.error?.code ?? "http_" + response.status,
    body?.error?.message ?? response.statusText ?? "request failed",
  );
}

/** A message for an error thrown by a query or mutation. */
export function errorMessage(err: unknown): string {
  if (err instanceof ApiError) return `${err.message} (${err.status})`;
  if (err instanceof Error) return err.message;
  return String(err);
}
