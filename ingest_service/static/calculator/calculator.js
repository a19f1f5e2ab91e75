/*
 * The calculator page's behaviour: three steps of questions, a risk result with its reasons, and the offer of
 * the A/B test's variant (price and urgency message from the sidecar's variant endpoint). Every step calls the
 * tracker's seed functions (tracker.js), so walking the page produces, in order:
 *   ai_calculator_opened, calculator_step_completed x3, assessment_submitted, conversion_offer_viewed,
 *   paid_upgrade_clicked
 * plus page_load_timing / step_load_timing and client_error events.
 */
(function () {
  'use strict';

  var ALGORITHM = 'task_mix_v1';
  var INDUSTRIES = {
    'Administrative Support': 0.85, 'Customer Service': 0.8, 'Finance': 0.7, 'Media & Publishing': 0.65,
    'Marketing': 0.6, 'Technology': 0.55, 'Legal': 0.55, 'Human Resources': 0.55, 'Retail': 0.5,
    'Manufacturing': 0.5, 'Transportation & Logistics': 0.45, 'Government': 0.45, 'Education': 0.35,
    'Hospitality': 0.3, 'Healthcare': 0.25, 'Construction & Trades': 0.15, 'Other': 0.45,
  };
  var TITLES = ['Software Engineer', 'Data Analyst', 'Accountant', 'Customer Support Agent', 'Marketing Manager',
    'Graphic Designer', 'Content Writer', 'Financial Analyst', 'Paralegal', 'HR Specialist', 'Teacher',
    'Registered Nurse', 'Electrician', 'Project Manager', 'Sales Representative', 'Translator'];
  var TITLE_RULES = [
    [/data entry|clerk|bookkeep|translat|transcri|proofread|telemarket|copywrit|content writ|support agent|call cent/i, 12,
      'Your job title is one where AI tools already do much of the core work.'],
    [/nurse|electric|plumb|therap|carpent|mechanic|surgeon|social work|chef|firefight/i, -12,
      'Your job title combines judgement with hands-on or caring work that AI does not do.'],
  ];
  var EXPERIENCE = { entry: 6, mid: 3, senior: 0, executive: -4 };
  var OFFERS = {
    control: { plan: 'basic', price: 49.99, title: 'Career Resilience Report',
      features: ['Your full task-by-task breakdown', 'Skills to build next'], urgency: '' },
    basic: { plan: 'basic', price: 49.99, title: 'Career Resilience Report',
      features: ['Your full task-by-task breakdown', 'Skills to build next'], urgency: '' },
    premium: { plan: 'premium', price: 79.99, title: 'Career Resilience Plan',
      features: ['Everything in the report', 'A 90-day reskilling plan', 'Monthly updates as AI changes'],
      urgency: 'Launch price ends this week.' },
    pro: { plan: 'pro', price: 99.99, title: 'Career Resilience Coaching',
      features: ['Everything in the plan', 'Two sessions with a career coach', 'Priority support'],
      urgency: 'Only 20 coaching places left this month.' },
  };

  var tracker = window.AICalcTracker.init(window.AICalcTrackerConfig || {});
  var form = document.getElementById('calculator');
  var app = document.getElementById('app');
  var offerTest = app.getAttribute('data-offer-test');
  var urgencyTest = app.getAttribute('data-urgency-test');
  var startedAt = performance.now();
  var stepShownAt = performance.now();
  var current = 1;
  var offer = null;

  function $(id) { return document.getElementById(id); }

  function fill() {
    var list = $('job_titles');
    TITLES.forEach(function (t) { var o = document.createElement('option'); o.value = t; list.appendChild(o); });
    var select = $('industry');
    Object.keys(INDUSTRIES).sort().forEach(function (name) {
      var o = document.createElement('option');
      o.value = name;
      o.textContent = name;
      select.appendChild(o);
    });
  }

  function panel(step) { return document.querySelector('.step[data-step="' + step + '"]'); }

  function showStep(step) {
    var t0 = performance.now();
    document.querySelectorAll('.step').forEach(function (el) { el.hidden = Number(el.dataset.step) !== step; });
    document.querySelectorAll('.progress li').forEach(function (li) {
      var n = Number(li.dataset.step);
      li.classList.toggle('active', n === step);
      li.classList.toggle('done', n < step);
    });
    current = step;
    stepShownAt = t0;
    document.body.dataset.step = String(step);
    // Measure until the step has been laid out and painted (two animation frames).
    requestAnimationFrame(function () {
      requestAnimationFrame(function () {
        tracker.trackStepLoad(step, performance.now() - t0);
        var focus = panel(step).querySelector('input, select, button');
        if (focus && step < 4) focus.focus();
      });
    });
  }

  function value(name) {
    var el = form.elements[name];
    if (!el) return '';
    return (el.value || '').trim();
  }

  function validate(step) {
    var missing = [];
    if (step === 1) {
      if (!value('job_title')) missing.push('your job title');
      if (!value('industry')) missing.push('your industry');
    } else if (step === 2) {
      ['routine', 'information', 'people'].forEach(function (n) { if (value(n) === '') missing.push('every question'); });
    } else if (step === 3) {
      if (value('physical') === '') missing.push('the question');
      if (!value('experience_level')) missing.push('your experience');
      if (!value('company_size')) missing.push('your company size');
    }
    var box = panel(step).querySelector('.error');
    var unique = missing.filter(function (m, i) { return missing.indexOf(m) === i; });
    box.hidden = unique.length === 0;
    box.textContent = unique.length ? 'Please answer ' + unique.join(', ') + '.' : '';
    return unique.length === 0;
  }

  function complete(step) {
    tracker.trackStepCompleted(step, (performance.now() - stepShownAt) / 1000);
  }

  /** The score: a transparent sum of points from the answers (see docs/tracker.md), clamped to 0-100. */
  function assess() {
    var industry = value('industry');
    var title = value('job_title');
    var parts = [
      [Math.round(30 * (INDUSTRIES[industry] || 0.45)), 'AI adoption in ' + industry + ' is ' +
        ((INDUSTRIES[industry] || 0.45) >= 0.6 ? 'high' : (INDUSTRIES[industry] || 0.45) >= 0.4 ? 'moderate' : 'low') + '.'],
      [10 * Number(value('routine')), 'Routine, repeatable tasks are the easiest to automate.'],
      [10 * Number(value('information')), 'Reading, writing and analysis on a computer is where AI tools are strongest.'],
      [-8 * Number(value('people')), 'Face-to-face work with people protects your role.'],
      [-8 * Number(value('physical')), 'Hands-on physical skill in changing places is hard to automate.'],
      [EXPERIENCE[value('experience_level')] || 0, 'Experience changes how much of your work is judgement.'],
    ];
    TITLE_RULES.forEach(function (rule) { if (rule[0].test(title)) parts.push([rule[1], rule[2]]); });
    var score = 20 + parts.reduce(function (s, p) { return s + p[0]; }, 0);
    score = Math.max(0, Math.min(100, score));
    var level = score < 35 ? 'low' : score < 65 ? 'medium' : 'high';
    var reasons = parts.slice(1).filter(function (p) { return p[0] !== 0; })
      .sort(function (a, b) { return Math.abs(b[0]) - Math.abs(a[0]); }).slice(0, 3);
    reasons.unshift(parts[0]);
    return { score: score, level: level, reasons: reasons.map(function (p) { return p[1]; }) };
  }

  var SUMMARY = {
    low: 'AI is likely to change some of your tools, not your job. Keep building on the parts machines cannot do.',
    medium: 'Parts of your job are likely to be automated in the next few years. Shifting your mix of tasks now pays off.',
    high: 'Much of what you do today can be done by AI tools. A plan to move toward less exposed work is worth making.',
  };

  function showResult(result) {
    $('risk-level').textContent = result.level;
    $('risk-level').className = 'badge ' + result.level;
    $('risk-score').textContent = result.score + ' / 100';
    $('risk-summary').textContent = SUMMARY[result.level];
    var fillBar = $('meter-fill');
    fillBar.className = result.level;
    fillBar.style.width = result.score + '%';
    var list = $('risk-reasons');
    list.textContent = '';
    result.reasons.forEach(function (r) { var li = document.createElement('li'); li.textContent = r; list.appendChild(li); });
    showStep(4);
  }

  /**
   * The offer for the variant the sidecar assigned (answer: {variant, in_test, payload, ...}); the variant's
   * payload (price, plan, features, as analytics.experiments' OfferConfig) overrides the page's defaults.
   */
  function offerFor(answer) {
    var name = answer && typeof answer.variant === 'string' ? answer.variant : 'control';
    var payload = answer && answer.payload && typeof answer.payload === 'object' ? answer.payload : {};
    var base = OFFERS[payload.plan] || OFFERS[name] || OFFERS.control;
    var price = Number(payload.price);
    return {
      testId: (answer && answer.test_id) || offerTest,
      variant: name,
      inTest: Boolean(answer && answer.in_test),
      plan: payload.plan || base.plan,
      price: isFinite(price) && price > 0 ? price : base.price,
      title: payload.title || base.title,
      features: Array.isArray(payload.features) && payload.features.length ? payload.features : base.features,
      urgency: base.urgency,
    };
  }

  /**
   * The test and variant an offer event carries: only for a unit in the test. A unit outside it (a test not
   * running, outside the coverage, or no answer from the sidecar) sees the control's offer but is no exposure,
   * so its events must not count as the control's in the ab.* metrics.
   */
  function testTags(o) {
    return o.inTest ? { test_id: o.testId, variant: o.variant } : {};
  }

  /** GET the unit's variant of a test; null when the sidecar cannot answer (the page then shows the control). */
  function fetchVariant(test) {
    if (!test) return Promise.resolve(null);
    var url = '/api/analytics/ab-testing/' + encodeURIComponent(test) + '/variant?session_id=' +
      encodeURIComponent(tracker.sessionId());
    var ctrl = typeof AbortController === 'function' ? new AbortController() : null;
    var timer = setTimeout(function () { if (ctrl) ctrl.abort(); }, 3000);
    return fetch(url, { signal: ctrl ? ctrl.signal : undefined, headers: { Accept: 'application/json' } })
      .then(function (res) { return res.ok ? res.json() : null; })
      .catch(function () { return null; })
      .then(function (answer) { clearTimeout(timer); return answer; });
  }

  function showOffer() {
    return Promise.all([fetchVariant(offerTest), fetchVariant(urgencyTest)]).then(function (answers) {
      offer = offerFor(answers[0]);
      var urgent = answers[1];
      if (urgent && urgent.in_test && urgent.payload && typeof urgent.payload.message === 'string') {
        offer.urgency = urgent.payload.message; // the urgency-messaging test's variant
        offer.urgencyVariant = urgent.variant;
      }
      $('offer-title').textContent = offer.title;
      $('offer-urgency').textContent = offer.urgency || '';
      $('offer-urgency').hidden = !offer.urgency;
      $('offer-price').textContent = '$' + offer.price.toFixed(2);
      var list = $('offer-features');
      list.textContent = '';
      offer.features.forEach(function (f) { var li = document.createElement('li'); li.textContent = f; list.appendChild(li); });
      var box = $('offer');
      box.dataset.variant = offer.variant;
      box.dataset.plan = offer.plan;
      box.dataset.inTest = String(offer.inTest);
      box.hidden = false;
      tracker.trackConversionOfferViewed(offer.plan, Object.assign({ price: offer.price }, testTags(offer)));
    });
  }

  document.querySelectorAll('button[data-next]').forEach(function (b) {
    b.addEventListener('click', function () {
      if (!validate(current)) return;
      complete(current);
      showStep(Number(b.dataset.next));
    });
  });
  document.querySelectorAll('button[data-back]').forEach(function (b) {
    b.addEventListener('click', function () { showStep(Number(b.dataset.back)); });
  });
  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    if (current !== 3 || !validate(3)) return;
    complete(3);
    var result = assess();
    tracker.trackAssessmentSubmitted(value('job_title'), value('industry'), result.level, {
      risk_score: result.score,
      algorithm: ALGORITHM,
      experience_level: value('experience_level'),
      company_size: value('company_size'),
      completion_time: Math.round((performance.now() - startedAt) / 100) / 10,
    });
    showResult(result);
    showOffer();
  });
  $('upgrade').addEventListener('click', function () {
    if (!offer) return;
    tracker.trackPaidUpgradeClicked(offer.plan, offer.price, testTags(offer));
    tracker.flush();
    $('upgrade').disabled = true;
    $('upgrade-thanks').hidden = false;
  });
  $('restart').addEventListener('click', function () {
    form.reset();
    $('offer').hidden = true;
    $('upgrade').disabled = false;
    $('upgrade-thanks').hidden = true;
    startedAt = performance.now();
    showStep(1);
  });

  fill();
  tracker.trackCalculatorOpened();
  showStep(1);
  if (document.readyState === 'complete') {
    tracker.trackPageLoad('ai-job-impact-calculator');
  } else {
    window.addEventListener('load', function () {
      setTimeout(function () { tracker.trackPageLoad('ai-job-impact-calculator'); }, 0);
    });
  }
}());
