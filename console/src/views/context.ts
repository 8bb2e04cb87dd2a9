import type { Clients } from "../api";

/** What a view gets: the clients, a signal aborted when the page moves on, and the route's
 * parameters (the query part of the fragment). */
export interface Context {
  api: Clients;
  signal: AbortSignal;
  params: URLSearchParams;
}

/** The fragment for a route with its parameters, leaving out empty ones. */
export function route(path: string, params: Record<string, string>): string {
  const query = new URLSearchParams(Object.entries(params).filter(([, value]) => value !== ""));
  const text = query.toString();
  return `#${path}${text ? `?${text}` : ""}`;
}

/** An enum's value names after the prefix, UNSPECIFIED left out (TypeScript enums map both ways). */
export function choices(names: Record<string, string | number>): string[] {
  return Object.keys(names).filter((key) => Number.isNaN(Number(key)) && key !== "UNSPECIFIED");
}
