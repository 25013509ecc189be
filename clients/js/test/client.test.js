'use strict';
// The JavaScript client against a real exteros-central serve: every case of the shared table
// (clients/testdata/published_examples.json), byte for byte.

const assert = require('node:assert/strict');
const { after, before, describe, test } = require('node:test');

const exteros = require('..');
const { TABLE, prepare, startServer, rawGet, callCase } = require('./harness');

let store;
let server;

before(async () => {
  store = prepare();
  server = await startServer(store);
});

after(async () => {
  if (server) await server.stop();
  if (store) store.remove();
});

/** A client that also records the URLs it fetched. */
function recording(key) {
  const urls = [];
  const api = exteros.authorize(key, {
    baseUrl: server.baseUrl,
    fetch: (url, init) => {
      urls.push(new URL(url));
      return fetch(url, init);
    },
  });
  return { api, urls };
}

const sortedQuery = (params) => [...new URLSearchParams(params)].sort().map((kv) => kv.join('='));

describe('shared table', () => {
  for (const kase of TABLE.cases) {
    test(kase.name, async () => {
      const { api, urls } = recording(kase.key || server.key);
      const raw = await rawGet(server.baseUrl, kase, server.key);
      assert.equal(raw.status, kase.status, `the server answered ${raw.text}`);
      assert.equal(raw.text, JSON.stringify(kase.body), 'the server no longer sends the table body');
      if (kase.status < 400) {
        const result = await callCase(api, kase);
        assert.deepEqual(result, kase.body);
        assert.equal(JSON.stringify(result), raw.text, 'not byte-identical to the raw answer');
      } else {
        await assert.rejects(callCase(api, kase), (err) => {
          assert.ok(err instanceof exteros.ExterosError, `not an ExterosError: ${err}`);
          assert.equal(err.status, kase.status);
          assert.equal(err.message, kase.body.error.message);
          assert.equal(err.name, 'ExterosError');
          return true;
        });
      }
      assert.equal(urls.length, 1);
      assert.equal(urls[0].pathname, kase.path);
      assert.deepEqual(sortedQuery(urls[0].search), sortedQuery(kase.query));
    });
  }
});

describe('arguments', () => {
  test('a Date is its UTC calendar day', async () => {
    const api = exteros.authorize(server.key, { baseUrl: `${server.baseUrl}/` });
    const byDate = await api.engagementCounts('madison-ave-store', new Date(Date.UTC(2020, 0, 1)), {
      interval: 'day',
    });
    assert.deepEqual(byDate, [{ date: '2020-01-01', engagements: 650 }]);
  });

  test('hour "all" and interval "hour" are the defaults', async () => {
    const api = exteros.authorize(server.key, { baseUrl: server.baseUrl });
    const explicit = await api.impressionCounts('madison-ave-store', '2020-01-01', {
      hour: 'all',
      interval: 'hour',
    });
    assert.deepEqual(explicit, TABLE.cases[0].body);
  });

  test('bad arguments reject before any request', async () => {
    const api = exteros.authorize(server.key, { baseUrl: server.baseUrl });
    await assert.rejects(api.impressionCounts('', '2020-01-01'), TypeError);
    await assert.rejects(api.impressionCounts('madison-ave-store', 20200101), TypeError);
    await assert.rejects(api.counts('footfall', 'madison-ave-store', '2020-01-01'), TypeError);
    await assert.rejects(api.lastUpdate(undefined), TypeError);
    assert.throws(() => exteros.authorize(''), TypeError);
  });

  test('location names are escaped into one path segment', async () => {
    const api = exteros.authorize(server.key, { baseUrl: server.baseUrl });
    // Unescaped, '?' and '#' would end the path and the API would answer another question.
    await assert.rejects(api.lastUpdate('no such?place#x'), (err) => {
      assert.equal(err.status, 404);
      assert.equal(err.message, "unknown location 'no such?place#x'");
      return true;
    });
  });
});

test('no server: status 0 and a message', async () => {
  const api = exteros.authorize('k', { baseUrl: 'http://127.0.0.1:1' });
  await assert.rejects(api.locations(), (err) => {
    assert.ok(err instanceof exteros.ExterosError);
    assert.equal(err.status, 0);
    assert.match(err.message, /cannot reach the Exteros API/);
    return true;
  });
});
