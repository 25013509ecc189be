// Type declarations for the `exteros` package (CommonJS and ESM).

/** Bucket size of a count query. */
export type Interval = 'hour' | '15min' | 'day';

export interface CountOptions {
  /** 'all' (default) or a local hour 0-23. */
  hour?: number | 'all';
  /** 'hour' (default), '15min' (items gain `min`) or 'day' (one item with `date`). */
  interval?: Interval;
}

/** One bucket: `hr` (and `min` for 15min) or `date` for a day, and the count under its plural. */
export interface CountItem {
  hr?: number;
  min?: number;
  date?: string;
  impressions?: number;
  discoveries?: number;
  engagements?: number;
  interactions?: number;
}

export interface LocationItem {
  'location-name': string;
  /** The following are present with `{info: true}`. */
  company?: string;
  parent?: string | null;
  children?: string[];
  type?: string;
  timezone?: string;
}

export interface LastUpdateItem {
  'last-update': string;
}

export interface ClientOptions {
  /** Default: $EXTEROS_API_URL, else https://api.exteros.com */
  baseUrl?: string;
  /** Per request, default 10000. */
  timeoutMs?: number;
  /** How often a 429 answer is retried, default 3. */
  maxRetries?: number;
  /** Longest Retry-After honoured (seconds, default 30); a longer one rejects at once. */
  maxRetryWaitS?: number;
  /** A fetch implementation, default the global one. */
  fetch?: typeof fetch;
}

export type Kind = 'impression' | 'discovery' | 'engagement' | 'interaction';

/** An error answer from the API (status 0: no answer at all). */
export class ExterosError extends Error {
  constructor(status: number, message: string, extra?: { retryAfter?: number | null });
  readonly name: 'ExterosError';
  /** HTTP status, or 0 when the API could not be reached. */
  status: number;
  /** Seconds from the answer's Retry-After header, if it had one. */
  retryAfter: number | null;
}

export class Client {
  constructor(key: string, options?: ClientOptions);
  readonly baseUrl: string;
  timeoutMs: number;
  maxRetries: number;
  maxRetryWaitS: number;
  counts(kind: Kind, location: string, date: string | Date, options?: CountOptions): Promise<CountItem[]>;
  impressionCounts(location: string, date: string | Date, options?: CountOptions): Promise<CountItem[]>;
  discoveryCounts(location: string, date: string | Date, options?: CountOptions): Promise<CountItem[]>;
  engagementCounts(location: string, date: string | Date, options?: CountOptions): Promise<CountItem[]>;
  interactionCounts(location: string, date: string | Date, options?: CountOptions): Promise<CountItem[]>;
  locations(options?: { info?: boolean }): Promise<LocationItem[]>;
  lastUpdate(location: string): Promise<LastUpdateItem[]>;
}

/** A client for `key`. */
export function authorize(key: string, options?: ClientOptions): Client;

/** Seconds to wait from a Retry-After header value; null if absent or unreadable. */
export function parseRetryAfter(value: string | null | undefined, nowMs?: number): number | null;

export const VERSION: string;
export const DEFAULT_BASE_URL: string;

declare const exteros: {
  authorize: typeof authorize;
  Client: typeof Client;
  ExterosError: typeof ExterosError;
  parseRetryAfter: typeof parseRetryAfter;
  VERSION: string;
  DEFAULT_BASE_URL: string;
};
export default exteros;
