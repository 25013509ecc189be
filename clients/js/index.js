'use strict';
/**
 * JavaScript client for the Exteros REST API (Node 20+, built-in fetch, no dependencies).
 *
 *   const exteros = require('exteros');
 *   const api = exteros.authorize('YOUR_API_KEY', { baseUrl: 'http://127.0.0.1:8000' });
 *   await api.impressionCounts('madison-ave-store', '2020-01-01');
 *   // [ { hr: 9, impressions: 100 }, ... ]  (the API's JSON array as is)
 *
 * Every method maps to one endpoint. An error answer rejects with ExterosError
 * (status and message from the API's error JSON; status 0 when there is no answer).
 * A 429 is retried after its Retry-After, a bounded number of times.
 */

const VERSION = '0.1.0';
const DEFAULT_BASE_URL = 'https://api.exteros.com';
const COUNT_PATHS = {
  impression: 'impression-counts',
  discovery: 'discovery-counts',
  engagement: 'engagement-counts',
  interaction: 'interaction-counts',
};

class ExterosError extends Error {
  /**
   * @param {number} status HTTP status, or 0 when the API could not be reached
   * @param {string} message the API's error message
   * @param {{retryAfter?: number|null}} [extra]
   */
  constructor(status, message, extra = {}) {
    super(message);
    this.name = 'ExterosError';
    this.status = status;
    this.retryAfter = extra.retryAfter ?? null;
  }
}

/** Seconds to wait from a Retry-After header (delta seconds or an HTTP date); null if none. */
function parseRetryAfter(value, nowMs = Date.now()) {
  if (value == null || value === '') return null;
  const text = String(value).trim();
  if (/^\d+$/.test(text)) return Number(text);
  const at = Date.parse(text);
  if (Number.isNaN(at)) return null;
  return Math.max(0, (at - nowMs) / 1000);
}

function dayString(date) {
  if (date instanceof Date) {
    if (Number.isNaN(date.getTime())) throw new TypeError('date is an invalid Date');
    return date.toISOString().slice(0, 10); // a Date is taken as its UTC calendar day
  }
  if (typeof date !== 'string' || date === '') {
    throw new TypeError("date must be a 'yyyy-MM-dd' string or a Date");
  }
  return date;
}

function segment(name, value) {
  if (typeof value !== 'string' || value === '') {
    throw new TypeError(`${name} must be a non-empty string`);
  }
  return encodeURIComponent(value);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

class Client {
  /**
   * @param {string} key the API key
   * @param {object} [options]
   * @param {string} [options.baseUrl] default $EXTEROS_API_URL, else https://api.exteros.com
   * @param {number} [options.timeoutMs] per request (default 10000)
   * @param {number} [options.maxRetries] retries of a 429 (default 3)
   * @param {number} [options.maxRetryWaitS] longest Retry-After honoured (default 30 s);
   *   a longer one rejects at once
   * @param {typeof fetch} [options.fetch] a fetch implementation (default the global one)
   */
  constructor(key, options = {}) {
    if (typeof key !== 'string' || key === '') throw new TypeError('an API key is required');
    const base = options.baseUrl || process.env.EXTEROS_API_URL || DEFAULT_BASE_URL;
    this.baseUrl = base.replace(/\/+$/, '');
    this.timeoutMs = options.timeoutMs ?? 10000;
    this.maxRetries = options.maxRetries ?? 3;
    this.maxRetryWaitS = options.maxRetryWaitS ?? 30;
    this._key = key;
    this._fetch = options.fetch || globalThis.fetch;
  }

  async _get(path, query = {}) {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) {
      if (value !== undefined && value !== null) params.append(name, String(value));
    }
    const qs = params.toString();
    const url = `${this.baseUrl}${path}${qs ? `?${qs}` : ''}`;
    for (let attempt = 0; ; attempt += 1) {
      let resp;
      let text;
      try {
        resp = await this._fetch(url, {
          headers: { Authorization: this._key, 'User-Agent': `exteros-js/${VERSION}` },
          signal: AbortSignal.timeout(this.timeoutMs),
        });
        text = await resp.text();
      } catch (err) {
        const why = err && err.cause ? err.cause.message || err.cause.code : err && err.message;
        throw new ExterosError(0, `cannot reach the Exteros API: ${why}`);
      }
      if (resp.ok) {
        try {
          return JSON.parse(text);
        } catch {
          throw new ExterosError(resp.status, `the API answered something that is not JSON`);
        }
      }
      let message;
      try {
        message = JSON.parse(text).error.message;
      } catch {
        message = undefined;
      }
      if (typeof message !== 'string') message = text.slice(0, 200) || resp.statusText;
      const retryAfter = parseRetryAfter(resp.headers.get('retry-after'));
      if (resp.status === 429) {
        const wait = retryAfter ?? Math.min(2 ** attempt, this.maxRetryWaitS);
        if (attempt < this.maxRetries && wait <= this.maxRetryWaitS) {
          await sleep(wait * 1000);
          continue;
        }
      }
      throw new ExterosError(resp.status, message, { retryAfter });
    }
  }

  /** Counts of `kind` (impression, discovery, engagement, interaction) for a local day. */
  counts(kind, location, date, options = {}) {
    const path = COUNT_PATHS[kind];
    if (!path) {
      return Promise.reject(
        new TypeError(`kind must be one of ${Object.keys(COUNT_PATHS).join(', ')}`),
      );
    }
    let url;
    try {
      url = `/v1/traffic/${path}/${segment('location', location)}/${segment('date', dayString(date))}`;
    } catch (err) {
      return Promise.reject(err);
    }
    return this._get(url, { hour: options.hour, interval: options.interval });
  }

  /** People passing by the location. */
  impressionCounts(location, date, options) {
    return this.counts('impression', location, date, options);
  }

  /** People spending at least 3 seconds at the location. */
  discoveryCounts(location, date, options) {
    return this.counts('discovery', location, date, options);
  }

  /** People spending at least 10 seconds at the location. */
  engagementCounts(location, date, options) {
    return this.counts('engagement', location, date, options);
  }

  /** People touching or picking up a product at the location. */
  interactionCounts(location, date, options) {
    return this.counts('interaction', location, date, options);
  }

  /** The locations this key may query; `{info: true}` adds company, parent, children, type, timezone. */
  locations(options = {}) {
    return this._get('/v1/locations', { info: options.info ? 'true' : undefined });
  }

  /** `[{"last-update": "2020-05-30T09:30:10Z"}]`, or `[]` for a location never heard of. */
  lastUpdate(location) {
    try {
      return this._get(`/v1/locations/last-update/${segment('location', location)}`);
    } catch (err) {
      return Promise.reject(err);
    }
  }
}

/** A client for `key`; see Client for the options. */
function authorize(key, options) {
  return new Client(key, options);
}

module.exports = { authorize, Client, ExterosError, parseRetryAfter, VERSION, DEFAULT_BASE_URL };
module.exports.default = module.exports;
