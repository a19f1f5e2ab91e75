/*
 * AI Job Impact Calculator tracker: one small dependency-free script (ES2017, no build step).
 *
 * Events go to the ingest sidecar (POST /api/analytics/event, {"batch": [...], "sent_at": ...}) and, when a
 * `gtag` function is present, the five seed events also go to GA4 under the seed's names.
 *
 * Delivery is at least once; the sidecar's dedup on `event_id` makes the stored result exactly once:
 *  - each event gets a time-ordered UUID (version 7) `event_id`, an ISO client timestamp and the persistent
 *    anonymous session id (also a UUID version 7);
 *  - events are queued in memory and in localStorage (bounded, oldest dropped first) until a 2xx answer
 *    acknowledges them, sent in batches, retried with exponential backoff and jitter while the sidecar is
 *    unreachable (network error, 401/403 misconfiguration, 408, 429, 5xx; Retry-After honoured);
 *  - on page hide the whole queue is also sent with navigator.sendBeacon (text/plain, no preflight) and kept
 *    until a later fetch is acknowledged.
 * Privacy: with `consentMode` nothing is stored or sent before consent (events wait in memory and are sent on
 * grant, dropped on denial); with `respectDoNotTrack` (default) a browser sending DNT / GPC is not tracked.
 *
 * See docs/tracker.md. In node (`require`) this file exports {createTracker, ...} for the unit tests.
 */
(function (root, factory) {
  'use strict';
  var api = factory();
  if (typeof module === 'object' && module.exports) {
    module.exports = api;
  }
  if (root && typeof root.document !== 'undefined' && typeof root.addEventListener === 'function') {
    root.AICalcTracker = api;
    api.installGlobals(root);
  }
})(typeof globalThis !== 'undefined' ? globalThis : this, function () {
  'use strict';

  var VERSION = '1.0.0';
  var SEED_EVENTS = [
    'ai_calculator_opened',
    'calculator_step_completed',
    'assessment_submitted',
    'conversion_offer_viewed',
    'paid_upgrade_clicked',
  ];
  var DEFAULTS = {
    endpoint: '/api/analytics/event',
    batchSize: 20, // events per request
    flushInterval: 500, // ms to wait for more events before sending
    maxQueue: 500, // events kept (memory and localStorage); oldest dropped beyond
    maxBeaconBytes: 60000, // UTF-8 bytes per beacon: sendBeacon's budget is 64 KiB per page
    backoffBase: 1000,
    backoffMax: 60000,
    consentMode: false,
    respectDoNotTrack: true,
    userId: null,
    storagePrefix: 'aic_',
    maxErrors: 10, // client_error events per page
    gtag: true, // forward the seed events to window.gtag when present
    debug: false,
  };
  var SEARCH = /(^|\.)(google|bing|duckduckgo|yahoo|baidu|yandex|ecosia)\./;
  var SOCIAL = /(^|\.)(facebook|linkedin|lnkd|twitter|t|x|instagram|reddit)\.(com|co|in)$/;

  function randomBytes(n, cryptoObj, random) {
    if (cryptoObj && typeof cryptoObj.getRandomValues === 'function') {
      return Array.prototype.slice.call(cryptoObj.getRandomValues(new Uint8Array(n)));
    }
    var b = new Array(n);
    for (var i = 0; i < n; i++) b[i] = Math.floor(random() * 256);
    return b;
  }

  function uuidText(bytes) {
    var h = bytes.map(function (x) { return (x + 0x100).toString(16).slice(1); }).join('');
    return h.slice(0, 8) + '-' + h.slice(8, 12) + '-' + h.slice(12, 16) + '-' + h.slice(16, 20) + '-' + h.slice(20);
  }

  function uuid4(cryptoObj, random) {
    if (cryptoObj && typeof cryptoObj.randomUUID === 'function') {
      return cryptoObj.randomUUID();
    }
    var b = randomBytes(16, cryptoObj, random);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    return uuidText(b);
  }

  /**
   * A UUID version 7 (RFC 9562 section 5.7): 48 bits of Unix time in milliseconds, then version 7, variant 10 and
   * random bits. Event and session ids are time-ordered so that the sidecar's dedup ledger and session index
   * append instead of writing a random page per event (analytics/ids.py has the same layout and the numbers).
   */
  function uuid7(ms, cryptoObj, random) {
    var t = Math.min(Math.max(0, Math.floor(ms)), 0xffffffffffff);
    var hi = Math.floor(t / 0x1000000); // 48-bit time as two 24-bit halves (exact in doubles)
    var lo = t % 0x1000000;
    var b = [(hi >> 16) & 0xff, (hi >> 8) & 0xff, hi & 0xff, (lo >> 16) & 0xff, (lo >> 8) & 0xff, lo & 0xff]
      .concat(randomBytes(10, cryptoObj, random));
    b[6] = (b[6] & 0x0f) | 0x70;
    b[8] = (b[8] & 0x3f) | 0x80;
    return uuidText(b);
  }

  /** Storage that never throws (Safari private mode, disabled cookies, quota): falls back to memory. */
  function safeStorage(store) {
    var memory = {};
    return {
      get: function (key) {
        try { return store ? store.getItem(key) : (key in memory ? memory[key] : null); } catch (e) { return memory[key] || null; }
      },
      set: function (key, value) {
        try { if (store) { store.setItem(key, value); return; } } catch (e) { /* quota or disabled */ }
        memory[key] = value;
      },
      remove: function (key) {
        try { if (store) store.removeItem(key); } catch (e) { /* ignore */ }
        delete memory[key];
      },
    };
  }

  /**
   * The first n UTF-16 code units of s, one fewer when the cut would split a surrogate pair: half a "🚀" is a lone
   * surrogate, which no database stores and the sidecar rejects (the whole event).
   */
  function clip(s, n) {
    s = String(s);
    if (s.length <= n) return s;
    var c = s.charCodeAt(n - 1);
    return s.slice(0, c >= 0xd800 && c <= 0xdbff ? n - 1 : n);
  }

  /** The UTF-8 size of s in bytes, as sendBeacon counts its 64 KiB: a job title in Chinese takes 3 per character. */
  function utf8Bytes(s) {
    var n = 0;
    for (var i = 0; i < s.length; i++) {
      var c = s.charCodeAt(i);
      if (c < 0x80) n += 1;
      else if (c < 0x800) n += 2;
      else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) { n += 4; i++; }
      else n += 3;
    }
    return n;
  }

  /** GA-style source/medium/campaign from the landing URL's utm_* values, else the referrer, else direct. */
  function attributionFrom(href, referrer) {
    var url;
    try { url = new URL(href); } catch (e) { url = null; }
    var q = url ? url.searchParams : null;
    var utm = function (k) { var v = q && q.get('utm_' + k); return v ? clip(v, 100) : null; };
    if (utm('source') || utm('medium') || utm('campaign')) {
      return {
        source: utm('source') || '(not set)',
        medium: utm('medium') || '(not set)',
        campaign: utm('campaign') || '(not set)',
      };
    }
    var ref = null;
    try { ref = referrer ? new URL(referrer) : null; } catch (e) { ref = null; }
    if (ref && (!url || ref.host !== url.host)) {
      var host = ref.hostname.replace(/^www\./, '');
      var medium = SEARCH.test(host) ? 'organic' : SOCIAL.test(host) ? 'social' : 'referral';
      var name = host === 't.co' ? 'twitter' : host === 'lnkd.in' ? 'linkedin' : host.split('.').slice(-2, -1)[0] || host;
      return { source: name, medium: medium, campaign: '(not set)' };
    }
    return { source: '(direct)', medium: '(none)', campaign: '(not set)' };
  }

  function deviceFrom(userAgent) {
    var ua = userAgent || '';
    if (/iPad|Tablet|PlayBook|Silk|(Android(?!.*Mobile))/i.test(ua)) return 'tablet';
    if (/Mobi|iPhone|iPod|Android|BlackBerry|IEMobile|Opera Mini/i.test(ua)) return 'mobile';
    return 'desktop';
  }

  /** GA4 parameters: names <= 40 chars [A-Za-z0-9_] starting with a letter, string values <= 100 chars. */
  function ga4Params(data) {
    var out = {};
    Object.keys(data).forEach(function (k) {
      var v = data[k];
      if (!/^[A-Za-z][A-Za-z0-9_]{0,39}$/.test(k) || v === null || v === undefined || typeof v === 'object') return;
      out[k] = typeof v === 'string' ? clip(v, 100) : v;
    });
    return out;
  }

  function createTracker(options, env) {
    var opts = {};
    Object.keys(DEFAULTS).forEach(function (k) { opts[k] = DEFAULTS[k]; });
    Object.keys(options || {}).forEach(function (k) { if (options[k] !== undefined) opts[k] = options[k]; });
    env = env || {};
    var win = env.window || {};
    var nav = env.navigator || win.navigator || {};
    var now = env.now || function () { return Date.now(); };
    var random = env.random || Math.random;
    var setT = env.setTimeout || function (f, ms) { return setTimeout(f, ms); };
    var clearT = env.clearTimeout || function (id) { clearTimeout(id); };
    var fetchFn = env.fetch || (typeof win.fetch === 'function' ? win.fetch.bind(win) : null);
    var beaconFn = env.sendBeacon || (typeof nav.sendBeacon === 'function' ? nav.sendBeacon.bind(nav) : null);
    var local = safeStorage(env.localStorage !== undefined ? env.localStorage : win.localStorage);
    var session = safeStorage(env.sessionStorage !== undefined ? env.sessionStorage : win.sessionStorage);
    var cryptoObj = env.crypto !== undefined ? env.crypto : win.crypto;
    var logger = env.console || (typeof console !== 'undefined' ? console : { warn: function () {} });
    var P = opts.storagePrefix;
    var QUEUE_KEY = P + 'queue';

    var queue = []; // events not yet acknowledged, oldest first
    var gone = {}; // event_id -> true: acknowledged or dropped by this page (never re-adopted from storage)
    var held = []; // events waiting for consent (memory only)
    var flushTimer = null;
    var retryTimer = null;
    var inFlight = false;
    var attempt = 0;
    var sendSize = opts.batchSize; // halved on a 413 until the sidecar's limits take the batch
    var errorsSent = 0;
    var stats = { sent: 0, acknowledged: 0, dropped: 0, retries: 0, beacons: 0, rejected: 0 };

    var dnt = nav.doNotTrack === '1' || nav.doNotTrack === 'yes' || win.doNotTrack === '1' ||
      nav.globalPrivacyControl === true;
    var disabled = Boolean(opts.respectDoNotTrack && dnt);
    var consent = opts.consentMode ? (local.get(P + 'consent') || 'pending') : 'granted';

    var sessionId = local.get(P + 'sid');
    if (!sessionId) {
      sessionId = uuid7(now(), cryptoObj, random);
      if (consent === 'granted' && !disabled) local.set(P + 'sid', sessionId);
    }

    function debug(msg, extra) {
      if (opts.debug && logger.debug) logger.debug('[tracker] ' + msg, extra === undefined ? '' : extra);
    }

    function readStored() {
      var raw = local.get(QUEUE_KEY);
      if (!raw) return [];
      try {
        var parsed = JSON.parse(raw);
        return Array.isArray(parsed.events) ? parsed.events : [];
      } catch (e) {
        return [];
      }
    }

    function bound() {
      if (queue.length > opts.maxQueue) {
        var excess = queue.length - opts.maxQueue;
        queue.splice(0, excess).forEach(function (e) { gone[e.event_id] = true; });
        stats.dropped += excess;
      }
    }

    /** Write the queue to localStorage, adopting events another tab stored meanwhile (dedup makes this safe). */
    function persist() {
      if (consent !== 'granted' || disabled) return;
      var ids = {};
      queue.forEach(function (e) { ids[e.event_id] = true; });
      readStored().forEach(function (e) {
        if (e && e.event_id && !ids[e.event_id] && !gone[e.event_id]) {
          ids[e.event_id] = true;
          queue.push(e);
        }
      });
      queue.sort(function (a, b) { return a.timestamp < b.timestamp ? -1 : a.timestamp > b.timestamp ? 1 : 0; });
      bound();
      if (queue.length) local.set(QUEUE_KEY, JSON.stringify({ v: 1, events: queue }));
      else local.remove(QUEUE_KEY);
    }

    function attribution() {
      var raw = session.get(P + 'attr');
      if (raw) {
        try { return JSON.parse(raw); } catch (e) { /* fall through */ }
      }
      return null;
    }

    function schedule(ms) {
      if (retryTimer !== null) return;
      if (flushTimer !== null) {
        if (ms > 0) return;
        clearT(flushTimer);
      }
      flushTimer = setT(function () { flushTimer = null; flush(); }, ms);
    }

    function enqueue(event) {
      queue.push(event);
      bound();
      persist();
      schedule(queue.length >= opts.batchSize ? 0 : opts.flushInterval);
    }

    function sendGtag(event) {
      var gtag = opts.gtag && typeof win.gtag === 'function' ? win.gtag : null;
      if (!gtag || SEED_EVENTS.indexOf(event.event_type) < 0) return;
      var params = ga4Params(event.event_data);
      params.event_id = event.event_id;
      if (event.event_type === 'paid_upgrade_clicked') {
        params.value = event.event_data.price;
        params.currency = event.event_data.currency || 'USD';
      }
      try { gtag('event', event.event_type, params); } catch (e) { debug('gtag failed', e); }
    }

    /** Record one event; returns it, or null when tracking is off (DNT, consent denied). */
    function track(eventType, data) {
      if (disabled || consent === 'denied') return null;
      var eventData = {};
      var attr = attribution();
      if (attr) {
        eventData.source = attr.source;
        eventData.medium = attr.medium;
        eventData.campaign = attr.campaign;
      }
      Object.keys(data || {}).forEach(function (k) {
        if (data[k] !== undefined && data[k] !== null) eventData[k] = data[k];
      });
      var event = {
        event_id: uuid7(now(), cryptoObj, random),
        event_type: eventType,
        session_id: sessionId,
        timestamp: new Date(now()).toISOString(),
        event_data: eventData,
      };
      if (opts.userId) event.user_id = String(opts.userId);
      if (consent !== 'granted') {
        held.push(event);
        if (held.length > opts.maxQueue) held.shift();
        return event;
      }
      sendGtag(event);
      enqueue(event);
      return event;
    }

    function retryDelay(retryAfterSeconds) {
      var exp = Math.min(opts.backoffMax, opts.backoffBase * Math.pow(2, attempt));
      var delay = exp / 2 + random() * (exp / 2); // "equal jitter"
      if (retryAfterSeconds > 0) delay = Math.max(delay, retryAfterSeconds * 1000);
      return Math.min(delay, opts.backoffMax);
    }

    function scheduleRetry(retryAfterSeconds) {
      var delay = retryDelay(retryAfterSeconds);
      attempt += 1;
      stats.retries += 1;
      debug('retry in ' + Math.round(delay) + ' ms');
      if (flushTimer !== null) { clearT(flushTimer); flushTimer = null; }
      retryTimer = setT(function () { retryTimer = null; flush(); }, delay);
    }

    function forget(batch) {
      var ids = {};
      batch.forEach(function (e) { ids[e.event_id] = true; gone[e.event_id] = true; });
      queue = queue.filter(function (e) { return !ids[e.event_id]; });
      persist();
    }

    function body(batch) {
      return JSON.stringify({ batch: batch, sent_at: new Date(now()).toISOString() });
    }

    /** Send the oldest batch now (unless a request is in flight or a retry is pending); resolves when done. */
    function flush() {
      if (inFlight || retryTimer !== null || !queue.length || disabled || consent !== 'granted' || !fetchFn) {
        return Promise.resolve(false);
      }
      if (flushTimer !== null) { clearT(flushTimer); flushTimer = null; }
      var batch = queue.slice(0, sendSize);
      inFlight = true;
      stats.sent += batch.length;
      return Promise.resolve()
        .then(function () {
          return fetchFn(opts.endpoint, {
            method: 'POST',
            headers: { 'Content-Type': 'application/json' },
            body: body(batch),
            credentials: 'same-origin',
          });
        })
        .then(function (res) {
          inFlight = false;
          if (res.status >= 200 && res.status < 300) {
            attempt = 0;
            stats.acknowledged += batch.length;
            return Promise.resolve(res.json ? res.json().catch(function () { return {}; }) : {}).then(function (ack) {
              if (ack && Array.isArray(ack.rejected) && ack.rejected.length) {
                stats.rejected += ack.rejected.length;
                debug('sidecar rejected events', ack.rejected);
              }
              forget(batch);
              if (queue.length) schedule(0);
              return true;
            });
          }
          // 401/403 mean the sidecar's keys or allowed origins are misconfigured: keep the events (bounded)
          // and retry, so they arrive once the configuration is fixed.
          if (res.status === 401 || res.status === 403 || res.status === 408 || res.status === 429 ||
              res.status >= 500) {
            var ra = res.headers && res.headers.get ? parseFloat(res.headers.get('Retry-After')) : NaN;
            scheduleRetry(isFinite(ra) ? ra : 0);
            return false;
          }
          // 413: the batch is over the sidecar's limits (INGEST_MAX_BATCH, INGEST_MAX_BODY_BYTES); halve it and
          // send again at once. Only a single event too large for them is dropped.
          if (res.status === 413 && batch.length > 1) {
            sendSize = Math.ceil(batch.length / 2);
            debug('sidecar refused a batch of ' + batch.length + ' as too large; sending ' + sendSize + ' at a time');
            schedule(0);
            return false;
          }
          // Any other 4xx refuses the request as a whole: resending it cannot succeed.
          stats.dropped += batch.length;
          debug('sidecar refused a batch with HTTP ' + res.status);
          forget(batch);
          if (queue.length) schedule(0);
          return false;
        }, function (err) {
          inFlight = false;
          debug('send failed', err && err.message);
          scheduleRetry(0);
          return false;
        });
    }

    /** Page is going away: hand the whole queue to sendBeacon (chunked); events stay stored until acked. */
    function flushBeacon() {
      if (!beaconFn || !queue.length || disabled || consent !== 'granted') return 0;
      persist();
      var chunks = [];
      var current = [];
      queue.forEach(function (e) {
        current.push(e);
        if (current.length >= sendSize || utf8Bytes(body(current)) > opts.maxBeaconBytes) {
          if (current.length > 1 && utf8Bytes(body(current)) > opts.maxBeaconBytes) {
            current.pop();
            chunks.push(current);
            current = [e];
          } else {
            chunks.push(current);
            current = [];
          }
        }
      });
      if (current.length) chunks.push(current);
      var sent = 0;
      for (var i = 0; i < chunks.length; i++) {
        var ok = false;
        try { ok = beaconFn(opts.endpoint, body(chunks[i])); } catch (e) { ok = false; }
        if (!ok) break;
        sent += chunks[i].length;
        stats.beacons += 1;
      }
      return sent;
    }

    function setConsent(granted) {
      consent = granted ? 'granted' : 'denied';
      local.set(P + 'consent', consent);
      if (typeof win.gtag === 'function') {
        try { win.gtag('consent', 'update', { analytics_storage: consent }); } catch (e) { /* ignore */ }
      }
      var waiting = held;
      held = [];
      if (!granted) {
        local.remove(QUEUE_KEY);
        queue = [];
        return;
      }
      local.set(P + 'sid', sessionId);
      waiting.forEach(function (e) { sendGtag(e); queue.push(e); });
      bound();
      persist();
      schedule(0);
    }

    // --- the seed's functions and the timing / error helpers ---

    function trackCalculatorOpened(extra) {
      var loc = win.location || {};
      var doc = win.document || {};
      var attr = attributionFrom(loc.href || '', doc.referrer || '');
      var previous = attribution();
      // A landing with campaign or external-referrer information starts a new attribution; a plain reload
      // of the page keeps the one the tab landed with.
      if (!previous || attr.source !== '(direct)') {
        session.set(P + 'attr', JSON.stringify(attr));
      }
      var data = {
        referrer: doc.referrer ? clip(doc.referrer, 500) : null,
        landing_page: loc.href ? clip(loc.href, 500) : null,
        device: deviceFrom(nav.userAgent),
      };
      Object.keys(extra || {}).forEach(function (k) { data[k] = extra[k]; });
      return track('ai_calculator_opened', data);
    }

    function trackStepCompleted(step, seconds) {
      return track('calculator_step_completed', {
        step: Math.round(Number(step)),
        seconds_on_step: Math.max(0, Math.round(Number(seconds) * 1000) / 1000),
      });
    }

    function trackAssessmentSubmitted(jobTitle, industry, riskLevel, extra) {
      var data = { job_title: String(jobTitle), industry: String(industry), risk_level: String(riskLevel) };
      Object.keys(extra || {}).forEach(function (k) { data[k] = extra[k]; });
      return track('assessment_submitted', data);
    }

    function trackConversionOfferViewed(offer, extra) {
      var data = { offer: String(offer) };
      Object.keys(extra || {}).forEach(function (k) { data[k] = extra[k]; });
      return track('conversion_offer_viewed', data);
    }

    function trackPaidUpgradeClicked(plan, price, extra) {
      var data = { plan: String(plan), price: Number(price), currency: 'USD' };
      Object.keys(extra || {}).forEach(function (k) { data[k] = extra[k]; });
      return track('paid_upgrade_clicked', data);
    }

    function trackStepLoad(step, loadTimeMs) {
      return track('step_load_timing', {
        step: Math.round(Number(step)),
        load_time_ms: Math.max(0, Math.round(Number(loadTimeMs) * 10) / 10),
      });
    }

    function trackPageLoad(page) {
      var perf = env.performance || win.performance;
      var nav0 = perf && perf.getEntriesByType ? perf.getEntriesByType('navigation')[0] : null;
      var ms = nav0 && nav0.loadEventEnd > 0 ? nav0.loadEventEnd - nav0.startTime : null;
      if (ms === null && perf && perf.timing && perf.timing.loadEventEnd > 0) {
        ms = perf.timing.loadEventEnd - perf.timing.navigationStart;
      }
      if (ms === null) return null;
      return track('page_load_timing', { load_time_ms: Math.max(0, Math.round(ms * 10) / 10), page: page || null });
    }

    function trackError(message, source, lineno, colno, stack) {
      if (errorsSent >= opts.maxErrors) return null;
      errorsSent += 1;
      return track('client_error', {
        message: clip(message || 'unknown error', 1000),
        script: source ? clip(source, 500) : null,
        lineno: typeof lineno === 'number' ? lineno : null,
        colno: typeof colno === 'number' ? colno : null,
        stack: stack ? String(stack).slice(0, 4000) : null,
      });
    }

    queue = readStored().filter(function (e) { return e && e.event_id; });
    bound();
    if (queue.length && consent === 'granted' && !disabled) schedule(0);

    return {
      version: VERSION,
      options: opts,
      sessionId: function () { return sessionId; },
      isEnabled: function () { return !disabled && consent !== 'denied'; },
      consent: function () { return consent; },
      queued: function () { return queue.slice(); },
      held: function () { return held.slice(); },
      stats: function () { var s = {}; Object.keys(stats).forEach(function (k) { s[k] = stats[k]; }); return s; },
      track: track,
      flush: flush,
      flushBeacon: flushBeacon,
      setConsent: setConsent,
      setUserId: function (id) { opts.userId = id ? String(id) : null; },
      trackCalculatorOpened: trackCalculatorOpened,
      trackStepCompleted: trackStepCompleted,
      trackAssessmentSubmitted: trackAssessmentSubmitted,
      trackConversionOfferViewed: trackConversionOfferViewed,
      trackPaidUpgradeClicked: trackPaidUpgradeClicked,
      trackStepLoad: trackStepLoad,
      trackPageLoad: trackPageLoad,
      trackError: trackError,
    };
  }

  var instance = null;

  /** The page's tracker: created on first use from window.AICalcTrackerConfig, or explicitly by init(). */
  function init(options, win) {
    var w = win || (typeof window !== 'undefined' ? window : {});
    if (instance) return instance;
    instance = createTracker(options || w.AICalcTrackerConfig || {}, { window: w });
    if (typeof w.addEventListener === 'function') {
      var onHide = function () { instance.flushBeacon(); };
      w.addEventListener('pagehide', onHide);
      if (w.document && typeof w.document.addEventListener === 'function') {
        w.document.addEventListener('visibilitychange', function () {
          if (w.document.visibilityState === 'hidden') onHide();
        });
      }
      w.addEventListener('error', function (ev) {
        var err = ev && ev.error;
        instance.trackError(ev && ev.message, ev && ev.filename, ev && ev.lineno, ev && ev.colno, err && err.stack);
      });
      w.addEventListener('unhandledrejection', function (ev) {
        var r = ev && ev.reason;
        instance.trackError('Unhandled rejection: ' + (r && r.message ? r.message : String(r)), null, null, null,
          r && r.stack);
      });
      w.addEventListener('online', function () { instance.flush(); });
    }
    return instance;
  }

  function installGlobals(w) {
    var names = ['trackCalculatorOpened', 'trackStepCompleted', 'trackAssessmentSubmitted',
      'trackConversionOfferViewed', 'trackPaidUpgradeClicked', 'trackStepLoad', 'trackPageLoad'];
    names.forEach(function (name) {
      w[name] = function () { var t = init(null, w); return t[name].apply(t, arguments); };
    });
  }

  return {
    VERSION: VERSION,
    SEED_EVENTS: SEED_EVENTS,
    DEFAULTS: DEFAULTS,
    createTracker: createTracker,
    attributionFrom: attributionFrom,
    deviceFrom: deviceFrom,
    ga4Params: ga4Params,
    uuid4: uuid4,
    uuid7: uuid7,
    init: init,
    installGlobals: installGlobals,
    get: function () { return instance; },
  };
});
