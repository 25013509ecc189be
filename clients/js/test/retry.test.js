'use strict';
// 429 answers from a real server: the per-key rate limit (Retry-After ~2 s) is waited out;
// the failed-authentication limit (Retry-After ~60 s, past maxRetryWaitS) rejects at once.

const assert = require('node:assert/strict');
const { after, before, describe, test } = require('node:test');

const exteros = require('..');
const { prepare, startServer } = require('./harness');

let store;
before(() => {
  store = prepare();
});
after(() => store && store.remove());

describe('per-key rate limit (1 request per 2 s, burst 1)', () => {
  let server;
  before(async () => {
    server = await startServer(store, { EXTEROS_RATE_PER_S: '0.5', EXTEROS_RATE_BURST: '1' });
  });
  after(async () => server && server.stop());

  test('a 429 is retried after its Retry-After', async () => {
    let calls = 0;
    const statuses = [];
    const api = exteros.authorize(server.key, {
      baseUrl: server.baseUrl,
      fetch: async (url, init) => {
        calls += 1;
        const resp = await fetch(url, init);
        statuses.push(resp.status);
        return resp;
      },
    });
    const first = await api.locations();
    const t0 = performance.now();
    const second = await api.locations();
    const waited = performance.now() - t0;
    assert.deepEqual(second, first);
    assert.equal(calls, 3);
    assert.deepEqual(statuses, [200, 429, 200]);
    assert.ok(waited >= 1950, `retried after ${waited} ms, before Retry-After (2 s)`);
  });

  test('maxRetries 0: the 429 rejects with status, message and retryAfter', async () => {
    const patient = exteros.authorize(server.key, { baseUrl: server.baseUrl });
    const hasty = exteros.authorize(server.key, { baseUrl: server.baseUrl, maxRetries: 0 });
    await patient.locations(); // takes the token (after waiting, if need be)
    await assert.rejects(hasty.locations(), (err) => {
      assert.ok(err instanceof exteros.ExterosError);
      assert.equal(err.status, 429);
      assert.match(err.message, /^too many requests for this key; retry in /);
      assert.ok(err.retryAfter >= 1 && err.retryAfter <= 3, `retryAfter ${err.retryAfter}`);
      return true;
    });
  });
});

describe('failed authentications per address (2 in 60 s)', () => {
  let server;
  before(async () => {
    server = await startServer(store, {
      EXTEROS_AUTH_FAIL_LIMIT: '2',
      EXTEROS_AUTH_FAIL_WINDOW_S: '60',
    });
  });
  after(async () => server && server.stop());

  test('a Retry-After past maxRetryWaitS rejects at once', async () => {
    const wrong = exteros.authorize('ext_wrong', { baseUrl: server.baseUrl });
    for (let i = 0; i < 2; i += 1) {
      await assert.rejects(wrong.locations(), (err) => err.status === 401);
    }
    const right = exteros.authorize(server.key, { baseUrl: server.baseUrl });
    const t0 = performance.now();
    await assert.rejects(right.locations(), (err) => {
      assert.equal(err.status, 429);
      assert.match(err.message, /^too many failed authentications from this address/);
      assert.ok(err.retryAfter >= 50 && err.retryAfter <= 61, `retryAfter ${err.retryAfter}`);
      return true;
    });
    assert.ok(performance.now() - t0 < 5000, 'waited although Retry-After exceeds maxRetryWaitS');
  });
});

test('Retry-After as seconds or an HTTP date', () => {
  const now = Date.parse('2020-01-01T00:00:00Z');
  assert.equal(exteros.parseRetryAfter('7', now), 7);
  assert.equal(exteros.parseRetryAfter('Wed, 01 Jan 2020 00:00:30 GMT', now), 30);
  assert.equal(exteros.parseRetryAfter('Tue, 31 Dec 2019 00:00:00 GMT', now), 0);
  assert.equal(exteros.parseRetryAfter(null, now), null);
  assert.equal(exteros.parseRetryAfter('soon', now), null);
});
