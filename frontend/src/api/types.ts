// Names for the API's types, all generated from the server's OpenAPI document
// (`openapi.json` → `schema.d.ts` by `npm run gen:api`); nothing here is written twice.
import type { components } from "./schema";

type S = components["schemas"];
export type Run = S["Run"];
export type RunView = S["RunView"];
export type RunDetail = S["RunDetail"];
export type RunStatus = S["RunStatus"];
export type Job = S["Job"];
export type JobBrief = S["JobBrief"];
export type JobDetail = S["JobDetail"];
export type JobView = S["JobView"];
export type JobStatus = S["JobStatus"];
export type JobCounts = S["JobCounts"];
export type RuleSummary = S["RuleSummary"];
export type RuleGraph = S["RuleGraph"];
export type TimelineBar = S["TimelineBar"];
export type RunError = S["RunError"];
export type RunSource = S["RunSource"];
export type StoredEvent = S["StoredEvent"];
export type LiveEvent = S["LiveEvent"];
export type Page<T> = { items: T[]; next_cursor?: string | null; total?: number | null };
export type User = S["User"];
export type Role = S["Role"];
export type Me = S["Me"];
export type Workspace = S["Workspace"];
export type Member = S["Member"];
export type ApiToken = S["ApiToken"];
export type CreateToken = S["CreateToken"];
export type CreatedToken = S["CreatedToken"];
export type TokenScope = S["TokenScope"];
export type WorkspaceStats = S["WorkspaceStats"];
export type RuleStats = S["RuleStats"];
export type RunSort = S["RunSort"];
export type JobSort = S["JobSort"];
export type SortOrder = S["SortOrder"];
export type ErrorBody = S["ErrorBody"];
