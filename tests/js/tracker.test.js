// Unit tests of ingest_service/static/tracker.js under node's built-in test runner:
//   node --test tests/js/
// The tracker takes its clock, timers, storage, fetch and sendBeacon from an injected environment, so every
// delay and request below is exact.
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { webcrypto } = require('node:crypto');
const T = require('../../ingest_service/static/tracker.js');

const START = Date.UTC(2026, 2, 1, 12, 0, 0);
const UUID4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const UUID7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

function memStorage() {
  const m = new Map();
  return {
    getItem: (k) => (m.has(k) ? m.get(k) : null),
    setItem: (k, v) => m.set(k, String(v)),
    removeItem: (k) => m.delete(k),
    map: m,
  };
}

function response(status, body = { accepted: 0, duplicates: 0, rejected: [] }, headers = {}) {
  return {
    status,
    headers: { get: (k) => (k in headers ? headers[k] : null) },
    json: async () => body,
  };
}

/** A tracker in a fake browser: manual clock and timers, recorded requests, scriptable answers. */
function harness(options = {}, over = {}) {
  const h = {
    t: START,
    timers: [],
    requests: [],
    beacons: [],
    gtagCalls: [],
    answer: () => response(200),
    beaconOk: true,
    local: over.localStorage || memStorage(),
    session: over.sessionStorage || memStorage(),
  };
  const win = {
    location: { href: over.href || 'https://calc.example/ai-job-impact-calculator.html' },
    document: { referrer: over.referrer || '' },
    navigator: Object.assign({ userAgent: 'Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0' }, over.navigator || {}),
  };
  if (over.gtag) win.gtag = (...args) => h.gtagCalls.push(args);
  h.env = {
    window: win,
    now: () => h.t,
    random: () => 0.5,
    crypto: webcrypto,
    localStorage: h.local,
    sessionStorage: h.session,
    console: { debug() {}, warn() {} },
    setTimeout: (f, ms) => {
      const timer = { f, at: h.t + ms };
      h.timers.push(timer);
      return timer;
    },
    clearTimeout: (timer) => {
      const i = h.timers.indexOf(timer);
      if (i >= 0) h.timers.splice(i, 1);
    },
    fetch: async (url, init) => {
      h.requests.push({ url, init, body: JSON.parse(init.body), at: h.t });
      const a = h.answer(h.requests.length);
      if (a instanceof Error) throw a;
      return a;
    },
    sendBeacon: (url, data) => {
      h.beacons.push({ url, data, body: JSON.parse(data) });
      return h.beaconOk;
    },
  };
  h.tracker = T.createTracker(Object.assign({ flushInterval: 500 }, options), h.env);
  h.settle = async () => {
    for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
  };
  /** Move the clock forward by ms, running every timer that falls due (in time order). */
  h.advance = async (ms) => {
    const end = h.t + ms;
    await h.settle();
    for (;;) {
      h.timers.sort((a, b) => a.at - b.at);
      const next = h.timers[0];
      if (!next || next.at > end) break;
      h.timers.shift();
      h.t = Math.max(h.t, next.at);
      next.f();
      await h.settle();
    }
    h.t = end;
  };
  h.stored = () => {
    const raw = h.local.getItem('aic_queue');
    return raw ? JSON.parse(raw).events : [];
  };
  h.sentIds = () => h.requests.flatMap((r) => r.body.batch.map((e) => e.event_id));
  return h;
}

test('an event has a UUID v7 event_id, the client time and the persistent session id', async () => {
  const h = harness();
  const e = h.tracker.trackStepCompleted(1, 45.2);
  assert.match(e.event_id, UUID7);
  // the first 48 bits are the client clock in ms: 2026-03-01T12:00:00.000Z
  assert.equal(parseInt(e.event_id.replace(/-/g, '').slice(0, 12), 16), Date.parse('2026-03-01T12:00:00.000Z'));
  assert.equal(e.timestamp, '2026-03-01T12:00:00.000Z');
  assert.equal(e.event_type, 'calculator_step_completed');
  assert.deepEqual(e.event_data, { step: 1, seconds_on_step: 45.2 });
  assert.match(e.session_id, UUID7);
  assert.equal(h.local.getItem('aic_sid'), e.session_id);
  // a second page load on the same browser keeps the session id
  const again = T.createTracker({}, Object.assign({}, h.env));
  assert.equal(again.sessionId(), e.session_id);
  assert.equal(e.user_id, undefined);
});

test('uuid7 puts the milliseconds first, then version 7 and variant 10 over the random bytes (as analytics/ids.py)', () => {
  const seq = { getRandomValues: (a) => a.map((_, i) => i + 1) }; // random bytes 01 02 ... 0a
  // RFC 9562 layout, by hand: 0123456789ab | 7 over 01 -> 71, 02 | 10 over 03 -> 83, 04 | 05 06 07 08 09 0a
  assert.equal(T.uuid7(0x0123456789ab, seq), '01234567-89ab-7102-8304-05060708090a');
  assert.equal(T.uuid7(0, null, () => 0), '00000000-0000-7000-8000-000000000000');
  assert.equal(T.uuid7(0xffffffffffff, { getRandomValues: (a) => a.fill(0xff) }), 'ffffffff-ffff-7fff-bfff-ffffffffffff');
  // later milliseconds sort later as text, whatever the random bytes
  const ids = [1, 2, 1000, 1772366400000, 1772366400001].map((ms) => T.uuid7(ms, null, Math.random));
  assert.deepEqual([...ids].sort(), ids);
});

test('uuid4 falls back to getRandomValues and then Math.random with the version and variant bits set', () => {
  const fixed = { getRandomValues: (a) => a.fill(0xff) };
  assert.equal(T.uuid4(fixed), 'ffffffff-ffff-4fff-bfff-ffffffffffff');
  assert.equal(T.uuid4(null, () => 0), '00000000-0000-4000-8000-000000000000');
});

test('attribution: utm values, then the referrer (search, social, other), then direct', () => {
  const page = 'https://calc.example/c.html';
  assert.deepEqual(T.attributionFrom(page + '?utm_source=linkedin&utm_medium=social&utm_campaign=ai_jobs_li', ''), {
    source: 'linkedin', medium: 'social', campaign: 'ai_jobs_li',
  });
  assert.deepEqual(T.attributionFrom(page + '?utm_source=newsletter', 'https://www.google.com/'), {
    source: 'newsletter', medium: '(not set)', campaign: '(not set)',
  });
  assert.deepEqual(T.attributionFrom(page, 'https://www.google.com/search?q=ai'), {
    source: 'google', medium: 'organic', campaign: '(not set)',
  });
  assert.deepEqual(T.attributionFrom(page, 'https://t.co/abc'), {
    source: 'twitter', medium: 'social', campaign: '(not set)',
  });
  assert.deepEqual(T.attributionFrom(page, 'https://www.linkedin.com/feed'), {
    source: 'linkedin', medium: 'social', campaign: '(not set)',
  });
  assert.deepEqual(T.attributionFrom(page, 'https://news.ycombinator.com/item?id=1'), {
    source: 'ycombinator', medium: 'referral', campaign: '(not set)',
  });
  const direct = { source: '(direct)', medium: '(none)', campaign: '(not set)' };
  assert.deepEqual(T.attributionFrom(page, ''), direct);
  assert.deepEqual(T.attributionFrom(page, 'https://calc.example/other.html'), direct); // same site
  assert.deepEqual(T.attributionFrom('not a url', 'also not'), direct);
});

test('device from the user agent', () => {
  assert.equal(T.deviceFrom('Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0'), 'desktop');
  assert.equal(T.deviceFrom('Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) Mobile/15E148'), 'mobile');
  assert.equal(T.deviceFrom('Mozilla/5.0 (Linux; Android 14; Pixel 8) Mobile Safari/537.36'), 'mobile');
  assert.equal(T.deviceFrom('Mozilla/5.0 (Linux; Android 13; SM-X710) Safari/537.36'), 'tablet');
  assert.equal(T.deviceFrom('Mozilla/5.0 (iPad; CPU OS 17_0)'), 'tablet');
  assert.equal(T.deviceFrom(undefined), 'desktop');
});

test('calculator opened carries the landing UTM values, and every later event of the tab carries them too', async () => {
  const h = harness({}, {
    href: 'https://calc.example/c.html?utm_source=google&utm_medium=cpc&utm_campaign=ai_risk_search',
    referrer: 'https://www.google.com/',
  });
  const opened = h.tracker.trackCalculatorOpened();
  assert.deepEqual(opened.event_data, {
    source: 'google',
    medium: 'cpc',
    campaign: 'ai_risk_search',
    referrer: 'https://www.google.com/',
    landing_page: 'https://calc.example/c.html?utm_source=google&utm_medium=cpc&utm_campaign=ai_risk_search',
    device: 'desktop',
  });
  const submitted = h.tracker.trackAssessmentSubmitted('Software Engineer', 'Technology', 'low', { risk_score: 22 });
  assert.deepEqual(submitted.event_data, {
    source: 'google', medium: 'cpc', campaign: 'ai_risk_search',
    job_title: 'Software Engineer', industry: 'Technology', risk_level: 'low', risk_score: 22,
  });
  // A reload of the bare page in the same tab keeps the landing attribution.
  h.env.window.location.href = 'https://calc.example/c.html';
  h.env.window.document.referrer = '';
  const reload = T.createTracker({}, h.env);
  assert.equal(reload.trackCalculatorOpened().event_data.campaign, 'ai_risk_search');
});

test('events within the flush interval go in one batch with sent_at, and an acknowledged batch is forgotten',
  async () => {
    const h = harness();
    h.tracker.trackCalculatorOpened();
    h.tracker.trackStepCompleted(1, 12.5);
    h.t += 100;
    h.tracker.trackStepCompleted(2, 8);
    assert.equal(h.stored().length, 3);
    await h.advance(399); // the timer started with the first event
    assert.equal(h.requests.length, 0);
    await h.advance(1);
    assert.equal(h.requests.length, 1);
    const r = h.requests[0];
    assert.equal(r.url, '/api/analytics/event');
    assert.equal(r.init.method, 'POST');
    assert.equal(r.init.headers['Content-Type'], 'application/json');
    assert.equal(r.body.sent_at, '2026-03-01T12:00:00.500Z');
    assert.deepEqual(r.body.batch.map((e) => e.event_type),
      ['ai_calculator_opened', 'calculator_step_completed', 'calculator_step_completed']);
    assert.deepEqual(h.tracker.queued(), []);
    assert.equal(h.local.getItem('aic_queue'), null);
    assert.deepEqual(h.tracker.stats(), { sent: 3, acknowledged: 3, dropped: 0, retries: 0, beacons: 0, rejected: 0 });
  });

test('a full batch is sent at once; the rest follows in the next request', async () => {
  const h = harness({ batchSize: 20 });
  for (let i = 0; i < 25; i++) h.tracker.trackStepLoad(1 + (i % 20), i);
  await h.advance(0);
  assert.equal(h.requests.length, 2);
  assert.deepEqual(h.requests.map((r) => r.body.batch.length), [20, 5]);
  assert.equal(new Set(h.sentIds()).size, 25);
});

test('sidecar unreachable: events stay queued and stored, retried with backoff, then arrive once', async () => {
  const h = harness({ backoffBase: 1000, backoffMax: 60000 });
  let down = true;
  h.answer = () => (down ? new TypeError('Failed to fetch') : response(200, { accepted: 2, duplicates: 0, rejected: [] }));
  h.tracker.trackCalculatorOpened();
  h.tracker.trackStepCompleted(1, 3);
  await h.advance(500); // first attempt fails
  assert.equal(h.requests.length, 1);
  // equal jitter with random() = 0.5: delay = exp/2 + 0.5 * exp/2 = 0.75 * min(max, base * 2^attempt)
  await h.advance(749);
  assert.equal(h.requests.length, 1);
  await h.advance(1);
  assert.equal(h.requests.length, 2);
  await h.advance(1500);
  assert.equal(h.requests.length, 3);
  assert.deepEqual(h.requests.map((r) => r.at - START), [500, 1250, 2750]);
  assert.equal(h.stored().length, 2);
  down = false;
  await h.advance(3000);
  assert.equal(h.requests.length, 4);
  assert.deepEqual(h.requests[3].body.batch.map((e) => e.event_id), h.requests[0].body.batch.map((e) => e.event_id));
  assert.equal(h.stored().length, 0);
  await h.advance(120000);
  assert.equal(h.requests.length, 4);
  assert.equal(h.tracker.stats().retries, 3);
});

test('backoff is capped at backoffMax', async () => {
  const h = harness({ backoffBase: 1000, backoffMax: 4000 });
  h.answer = () => new TypeError('Failed to fetch');
  h.tracker.trackStepCompleted(1, 3);
  await h.advance(500 + 750 + 1500 + 3000 + 3000 + 3000);
  assert.deepEqual(h.requests.map((r) => r.at - START), [500, 1250, 2750, 5750, 8750, 11750]);
});

test('503 and 429 honour Retry-After, 403 is retried; other 4xx drop the batch without retrying', async () => {
  const h = harness();
  const answers = [response(503, {}, { 'Retry-After': '5' }), response(429, {}, { 'Retry-After': '2' }),
    response(403, { title: 'Origin not allowed' }), response(200)];
  h.answer = (n) => answers[n - 1];
  h.tracker.trackStepCompleted(1, 3);
  await h.advance(500);
  await h.advance(5000);
  await h.advance(2000);
  await h.advance(3000); // third attempt failed twice before: 0.75 * 1000 * 2^2
  assert.deepEqual(h.requests.map((r) => r.at - START), [500, 5500, 7500, 10500]);
  assert.deepEqual(h.tracker.queued(), []);

  const bad = harness();
  bad.answer = () => response(400, { error: 'malformed' });
  bad.tracker.trackStepCompleted(1, 3);
  await bad.advance(60000);
  assert.equal(bad.requests.length, 1);
  assert.deepEqual(bad.tracker.queued(), []);
  assert.equal(bad.tracker.stats().dropped, 1);
});

test('length limits never split a surrogate pair (half an emoji is a string no database stores)', async () => {
  const campaign = 'a'.repeat(99) + '\u{1F680}launch'; // the rocket's two code units sit at 99 and 100
  const h = harness({}, { href: 'https://calc.example/?utm_source=x&utm_campaign=' + encodeURIComponent(campaign) });
  h.tracker.trackCalculatorOpened();
  await h.advance(500);
  const sent = h.requests[0].body.batch[0].event_data;
  assert.equal(sent.campaign, 'a'.repeat(99));
});

test('a 413 halves the batch until the sidecar takes it; a single event too large is dropped', async () => {
  const h = harness();
  h.answer = (n) => (h.requests[n - 1].body.batch.length > 5 ? response(413, { code: 'too_many_events' }) : response(200));
  for (let i = 0; i < 20; i++) h.tracker.trackStepCompleted(1, i);
  await h.advance(60000);
  assert.deepEqual(h.requests.map((r) => r.body.batch.length), [20, 10, 5, 5, 5, 5]);
  assert.deepEqual(h.tracker.queued(), []);
  assert.equal(h.tracker.stats().acknowledged, 20);
  assert.equal(h.tracker.stats().dropped, 0);

  const one = harness();
  one.answer = () => response(413, { code: 'body_too_large' });
  one.tracker.trackStepCompleted(1, 3);
  await one.advance(60000);
  assert.equal(one.requests.length, 1);
  assert.equal(one.tracker.stats().dropped, 1);
});

test('events the sidecar rejects in a 2xx answer are counted and not resent', async () => {
  const h = harness();
  h.answer = () => response(200, {
    accepted: 1, duplicates: 0, rejected: [{ index: 1, field: 'event_data.step', code: 'out_of_range', message: 'x' }],
  });
  h.tracker.trackStepCompleted(1, 3);
  h.tracker.trackStepCompleted(99, 3);
  await h.advance(500);
  await h.advance(60000);
  assert.equal(h.requests.length, 1);
  assert.equal(h.tracker.stats().rejected, 1);
  assert.deepEqual(h.tracker.queued(), []);
});

test('the queue is bounded: the oldest events are dropped first, in memory and in localStorage', async () => {
  const h = harness({ maxQueue: 5 });
  h.answer = () => new TypeError('Failed to fetch');
  const ids = [];
  for (let i = 1; i <= 8; i++) {
    h.t += 1;
    ids.push(h.tracker.trackStepCompleted(i, i).event_id);
  }
  assert.deepEqual(h.stored().map((e) => e.event_id), ids.slice(3));
  assert.deepEqual(h.tracker.queued().map((e) => e.event_id), ids.slice(3));
  assert.equal(h.tracker.stats().dropped, 3);
});

test('queued events survive a reload and are sent by the next page', async () => {
  const h = harness();
  h.answer = () => new TypeError('Failed to fetch');
  const a = h.tracker.trackCalculatorOpened();
  const b = h.tracker.trackStepCompleted(1, 3);
  await h.advance(500);
  // the page is reloaded: a new tracker on the same storage, with the sidecar back
  const next = harness({}, { localStorage: h.local, sessionStorage: h.session });
  assert.deepEqual(next.tracker.queued().map((e) => e.event_id), [a.event_id, b.event_id]);
  await next.advance(0);
  assert.equal(next.requests.length, 1);
  assert.deepEqual(next.sentIds(), [a.event_id, b.event_id]);
  assert.equal(next.stored().length, 0);
});

test('two tabs sharing localStorage do not overwrite each other\'s queued events', async () => {
  const one = harness();
  one.answer = () => new TypeError('Failed to fetch');
  const two = harness({}, { localStorage: one.local });
  two.answer = () => new TypeError('Failed to fetch');
  const a = one.tracker.trackStepCompleted(1, 1);
  two.t += 1;
  const b = two.tracker.trackStepCompleted(2, 1);
  assert.deepEqual(one.stored().map((e) => e.event_id), [a.event_id, b.event_id]);
});

test('page hide: the whole queue goes out with sendBeacon as text, in chunks, and stays stored until acked',
  async () => {
    const h = harness({ batchSize: 3 });
    h.answer = () => new TypeError('Failed to fetch');
    const ids = [];
    for (let i = 1; i <= 7; i++) {
      h.t += 1;
      ids.push(h.tracker.trackStepCompleted(i, 1).event_id);
    }
    h.timers.length = 0; // the page is closing before the flush timer fires
    assert.equal(h.tracker.flushBeacon(), 7);
    assert.equal(h.beacons.length, 3);
    assert.ok(h.beacons.every((b) => typeof b.data === 'string' && b.url === '/api/analytics/event'));
    assert.deepEqual(h.beacons.map((b) => b.body.batch.length), [3, 3, 1]);
    assert.deepEqual(h.beacons.flatMap((b) => b.body.batch.map((e) => e.event_id)), ids);
    assert.equal(h.stored().length, 7);
    assert.equal(h.tracker.stats().beacons, 3);
  });

test('page hide: beacons respect the byte budget and stop at the first refused one', async () => {
  const h = harness({ batchSize: 100, maxBeaconBytes: 700 });
  for (let i = 1; i <= 6; i++) h.tracker.trackStepCompleted(i, 1);
  h.timers.length = 0;
  assert.equal(h.tracker.flushBeacon(), 6);
  assert.ok(h.beacons.length >= 2);
  assert.ok(h.beacons.every((b) => b.data.length <= 700));
  assert.equal(h.beacons.reduce((n, b) => n + b.body.batch.length, 0), 6);

  // the budget is in UTF-8 bytes, as the browser counts it: 3 per character of a Chinese job title
  const cjk = harness({ batchSize: 100, maxBeaconBytes: 2000 });
  for (let i = 1; i <= 4; i++) cjk.tracker.trackAssessmentSubmitted('软件工程师'.repeat(40), '科技', 'high');
  cjk.timers.length = 0;
  assert.equal(cjk.tracker.flushBeacon(), 4);
  assert.ok(cjk.beacons.length >= 2);
  assert.ok(cjk.beacons.every((b) => Buffer.byteLength(b.data, 'utf8') <= 2000));

  const refused = harness({ batchSize: 2 });
  refused.beaconOk = false;
  for (let i = 1; i <= 6; i++) refused.tracker.trackStepCompleted(i, 1);
  assert.equal(refused.tracker.flushBeacon(), 0);
  assert.equal(refused.beacons.length, 1);
});

test('consent mode: nothing is stored or sent before consent; granting sends what waited', async () => {
  const h = harness({ consentMode: true }, { gtag: true });
  const e = h.tracker.trackCalculatorOpened();
  assert.ok(e);
  await h.advance(10000);
  assert.equal(h.requests.length, 0);
  assert.equal(h.tracker.flushBeacon(), 0);
  assert.equal(h.local.getItem('aic_queue'), null);
  assert.equal(h.local.getItem('aic_sid'), null);
  assert.equal(h.gtagCalls.length, 0);
  h.tracker.setConsent(true);
  await h.advance(0);
  assert.deepEqual(h.sentIds(), [e.event_id]);
  assert.equal(h.local.getItem('aic_consent'), 'granted');
  assert.equal(h.local.getItem('aic_sid'), e.session_id);
  assert.deepEqual(h.gtagCalls.map((c) => c.slice(0, 2)),
    [['consent', 'update'], ['event', 'ai_calculator_opened']]);
  // the choice is remembered by the next page
  const next = harness({ consentMode: true }, { localStorage: h.local });
  assert.equal(next.tracker.consent(), 'granted');
});

test('consent mode: denying drops what waited and tracks nothing more', async () => {
  const h = harness({ consentMode: true });
  h.tracker.trackCalculatorOpened();
  h.tracker.setConsent(false);
  assert.equal(h.tracker.trackStepCompleted(1, 2), null);
  await h.advance(10000);
  assert.equal(h.requests.length, 0);
  assert.equal(h.local.getItem('aic_queue'), null);
  assert.equal(h.tracker.isEnabled(), false);
});

test('Do Not Track and Global Privacy Control turn tracking off unless respectDoNotTrack is false', async () => {
  for (const navigator of [{ doNotTrack: '1' }, { globalPrivacyControl: true }]) {
    const h = harness({}, { navigator, gtag: true });
    assert.equal(h.tracker.trackCalculatorOpened(), null);
    await h.advance(10000);
    assert.equal(h.requests.length, 0);
    assert.equal(h.gtagCalls.length, 0);
    assert.equal(h.local.getItem('aic_sid'), null);
  }
  const h = harness({ respectDoNotTrack: false }, { navigator: { doNotTrack: '1' } });
  assert.ok(h.tracker.trackCalculatorOpened());
});

test('gtag receives the five seed events with their parameters, and nothing else', async () => {
  const h = harness({}, { gtag: true, href: 'https://calc.example/c.html?utm_source=newsletter&utm_medium=email' });
  h.tracker.trackCalculatorOpened();
  h.tracker.trackPageLoad('calculator'); // no navigation timing in node: not tracked
  h.tracker.trackStepLoad(1, 12.34);
  h.tracker.trackStepCompleted(1, 45.2);
  h.tracker.trackAssessmentSubmitted('Software Engineer', 'Technology', 'low');
  h.tracker.trackConversionOfferViewed('premium', { price: 79.99, test_id: 'offer_test', variant: 'premium' });
  const click = h.tracker.trackPaidUpgradeClicked('premium', 79.99);
  h.tracker.trackError('boom', 'app.js', 1, 2, 'stack');
  assert.deepEqual(h.gtagCalls.map((c) => c[1]), T.SEED_EVENTS);
  assert.deepEqual(h.gtagCalls[4], ['event', 'paid_upgrade_clicked', {
    source: 'newsletter', medium: 'email', campaign: '(not set)', plan: 'premium', price: 79.99, currency: 'USD',
    event_id: click.event_id, value: 79.99,
  }]);
  assert.deepEqual(h.gtagCalls[1][2].step, 1);
});

test('ga4Params keeps GA4-legal names and scalar values, truncating strings to 100 characters', () => {
  assert.deepEqual(T.ga4Params({
    ok_name: 'x'.repeat(150), n: 3, b: true, '1bad': 1, 'bad-name': 2, ['a'.repeat(41)]: 3, nested: { a: 1 },
    nothing: null,
  }), { ok_name: 'x'.repeat(100), n: 3, b: true });
});

test('client errors are tracked up to maxErrors per page, with long fields cut to the catalogue limits', () => {
  const h = harness({ maxErrors: 2 });
  const e = h.tracker.trackError('m'.repeat(1200), 'https://calc.example/app.js', 10, 5, 's'.repeat(5000));
  assert.equal(e.event_data.message.length, 1000);
  assert.equal(e.event_data.stack.length, 4000);
  assert.equal(e.event_data.lineno, 10);
  assert.ok(h.tracker.trackError('second'));
  assert.equal(h.tracker.trackError('third'), null);
});

test('timings are rounded and never negative; a user id is attached when set', () => {
  const h = harness({ userId: 'user-7' });
  assert.deepEqual(h.tracker.trackStepLoad(2.4, 12.345).event_data, { step: 2, load_time_ms: 12.3 });
  assert.deepEqual(h.tracker.trackStepCompleted(3, -1).event_data, { step: 3, seconds_on_step: 0 });
  assert.equal(h.tracker.trackStepCompleted(3, 1).user_id, 'user-7');
  h.tracker.setUserId(null);
  assert.equal(h.tracker.trackStepCompleted(3, 1).user_id, undefined);
});

test('page load timing comes from the Navigation Timing entry', () => {
  const h = harness();
  h.env.performance = { getEntriesByType: () => [{ startTime: 0, loadEventEnd: 812.46 }] };
  const t = T.createTracker({}, h.env);
  assert.deepEqual(t.trackPageLoad('calculator').event_data, { load_time_ms: 812.5, page: 'calculator' });
});

test('storage that throws (private mode, quota) falls back to memory without breaking tracking', async () => {
  const broken = { getItem() { throw new Error('denied'); }, setItem() { throw new Error('quota'); }, removeItem() {} };
  const h = harness({}, { localStorage: broken, sessionStorage: broken });
  const e = h.tracker.trackCalculatorOpened();
  assert.match(e.session_id, UUID7);
  await h.advance(500);
  assert.deepEqual(h.sentIds(), [e.event_id]);
});
