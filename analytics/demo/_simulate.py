"""A deterministic simulator of the calculator's traffic with known ground truth (see :mod:`._config`).

Everything is drawn with NumPy's PCG64 from one seed, session-wise and vectorised, so a million events take
seconds. The model, per session: a source, a visitor's country/device; the calculator's steps with per-step
continue probabilities; an assessment (job title → industry → risk level, demographics); an offer view; an upgrade
click with probability ``click_rate[risk] × source × device × experience`` multipliers (normalised to mean 1);
payment (with failures and a retry); monthly renewals with per-plan churn; leads from the calculator and from other
sources with their own conversion; emails; load timings; client errors. A visitor is identified (gets a user id
on events) from the moment they leave a lead or pay; return visits of identified visitors carry the user id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from analytics.demo._config import DemoConfig
from analytics.errors import InvalidParameterError

__all__ = ["DemoData", "generate"]

_S = np.timedelta64(1, "s")


@dataclass
class DemoData:
    """Generated events (one row per event, ``event_data`` as dicts) and experiment rows."""

    events: pd.DataFrame
    start: datetime
    end: datetime
    seed: int
    config: DemoConfig
    sessions: pd.DataFrame
    ab_tests: list[dict[str, Any]] = field(default_factory=list)
    ab_assignments: list[dict[str, Any]] = field(default_factory=list)


def _pick(rng: np.random.Generator, n: int, probs) -> np.ndarray:
    p = np.asarray(probs, dtype=float)
    return rng.choice(len(p), size=n, p=p / p.sum())


def _normalised(mults, shares) -> np.ndarray:
    m, s = np.asarray(mults, float), np.asarray(shares, float)
    return m / float((m * s).sum() / s.sum())


def _frame(kind: str, sess: pd.DataFrame, ts, data: dict[str, Any] | None = None, user=None) -> pd.DataFrame:
    df = pd.DataFrame(
        {
            "event_type": kind,
            "session_id": sess["session_id"].to_numpy(),
            "user_id": sess["user_id"].to_numpy() if user is None else user,
            "timestamp": ts,
            "ident_time": sess["ident_time"].to_numpy() if "ident_time" in sess else pd.NaT,
        }
    )
    for k, v in (data or {}).items():
        df["d_" + k] = v
    return df


def _with_data(df: pd.DataFrame) -> pd.DataFrame:
    """Fold the frame's ``d_*`` columns into one ``event_data`` column of plain-Python dicts."""
    cols = [c for c in df.columns if c.startswith("d_")]
    names = [c[2:] for c in cols]
    values = [df[c].tolist() for c in cols]
    out = df.drop(columns=cols)
    out["event_data"] = [dict(zip(names, row, strict=True)) for row in zip(*values, strict=True)] if cols else [
        {} for _ in range(len(df))
    ]
    return out


def _session_times(rng, n, start, days) -> np.ndarray:
    # Weekday traffic 1.0, weekend 0.7, a 20 % upward trend over the period; hours follow a daytime bump.
    day_w = np.array(
        [(0.7 if (start + timedelta(days=d)).weekday() >= 5 else 1.0) * (1 + 0.2 * d / days) for d in range(days)]
    )
    d = _pick(rng, n, day_w)
    hours = rng.normal(14, 4.5, n) % 24
    secs = d * 86400 + hours * 3600
    return np.datetime64(start) + (secs * 1e6).astype("int64").astype("timedelta64[us]")


def generate(
    days: int = 90,
    sessions: int = 50_000,
    seed: int = 7,
    end: datetime | None = None,
    config: DemoConfig | None = None,
    experiments: bool = True,
) -> DemoData:
    """Simulate ``sessions`` calculator sessions over the ``days`` days before ``end``.

    Parameters
    ----------
    days, sessions, seed:
        Period length, number of calculator sessions, random seed (same arguments → same data).
    end:
        End of the period (naive UTC); default: today's midnight UTC, so reruns on the same day are identical.
    config:
        The rates (:class:`DemoConfig`); default: the documented defaults.
    experiments:
        Run the demo A/B tests (:mod:`analytics.demo.experiments`), which tilt offers and click rates by their
        known effects; ``False`` leaves the base rates untouched.
    """
    if days < 1:
        raise InvalidParameterError("days", f"'days' must be at least 1 (got {days})")
    if sessions < 1:
        raise InvalidParameterError("sessions", f"'sessions' must be at least 1 (got {sessions})")
    cfg = config or DemoConfig()
    rng = np.random.default_rng(seed)
    end = end or datetime.now(UTC).replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0)
    start = end - timedelta(days=days)
    n = sessions

    # --- visitors and sessions -------------------------------------------------------------------------------
    is_return = rng.random(n) < cfg.return_visit_share
    is_return[0] = False  # somebody has to visit first
    first_idx = np.flatnonzero(~is_return)
    visitor = np.empty(n, dtype=np.int64)
    visitor[first_idx] = np.arange(len(first_idx))
    t0 = np.empty(n, dtype="datetime64[us]")
    t0[first_idx] = _session_times(rng, len(first_idx), start, days)
    ret_idx = np.flatnonzero(is_return)
    v_of_ret = rng.integers(0, len(first_idx), len(ret_idx))
    visitor[ret_idx] = v_of_ret
    base = t0[first_idx][v_of_ret]
    gap = rng.exponential(cfg.return_visit_mean_days * 86400, len(ret_idx))
    remaining = (np.datetime64(end) - base) / _S
    gap = np.where(gap < remaining, gap, rng.random(len(ret_idx)) * remaining)
    t0[ret_idx] = base + (gap * 1e6).astype("int64").astype("timedelta64[us]")
    n_visitors = len(first_idx)

    v_country = _pick(rng, n_visitors, [c[1] for c in cfg.countries])
    v_region_pick = rng.integers(0, 6, n_visitors)
    v_region = np.array(
        [cfg.countries[c][2][r % len(cfg.countries[c][2])] for c, r in zip(v_country, v_region_pick, strict=True)]
    )
    v_device = _pick(rng, n_visitors, [d[1] for d in cfg.devices])
    src = _pick(rng, n, [s.share for s in cfg.sources])
    camp_pick = rng.integers(0, 2, n)
    device = v_device[visitor]

    sess = pd.DataFrame(
        {
            "session_id": [f"s{seed}-{i:07d}" for i in range(n)],
            "visitor": visitor,
            "visitor_user_id": [f"u{seed}-{v:07d}" for v in visitor],
            "t0": t0,
            "is_return": is_return,
            "source": [cfg.sources[s].source for s in src],
            "medium": [cfg.sources[s].medium for s in src],
            "campaign": [cfg.sources[s].campaigns[c % len(cfg.sources[s].campaigns)] for s, c in zip(src, camp_pick, strict=True)],
            "country": np.array([cfg.countries[c][0] for c in v_country])[visitor],
            "region": v_region[visitor],
            "device": np.array([d[0] for d in cfg.devices])[device],
        }
    )

    # --- calculator steps --------------------------------------------------------------------------------------
    k = len(cfg.step_continue)
    p_cont = np.tile(np.asarray(cfg.step_continue), (n, 1))
    p_cont[sess["device"].to_numpy() == "mobile"] *= cfg.mobile_step_factor
    done = np.cumprod(rng.random((n, k)) < p_cont, axis=1).astype(bool)
    steps_done = done.sum(axis=1)
    step_secs = rng.lognormal(np.log(35), 0.6, (n, k))
    step_t = t0[:, None] + (np.cumsum(step_secs, axis=1) * 1e6).astype("int64").astype("timedelta64[us]")
    submitted = (steps_done == k) & (rng.random(n) < cfg.submit_prob)
    t_sub = step_t[:, -1] + np.timedelta64(3, "s")

    # --- assessment ----------------------------------------------------------------------------------------------
    frac = ((t0 - np.datetime64(start)) / _S) / (days * 86400)
    w = np.array([j.weight for j in cfg.jobs])[None, :] * (1 + np.array([j.growth for j in cfg.jobs])[None, :] * frac[:, None])
    cw = np.cumsum(w, axis=1)
    job = (rng.random(n)[:, None] * cw[:, -1:] > cw).sum(axis=1)
    risk_cum = np.cumsum(np.array([j.risk_probs for j in cfg.jobs]), axis=1)[job]
    risk = (rng.random(n)[:, None] > risk_cum[:, :-1]).sum(axis=1)
    exp_level = _pick(rng, n, [e[1] for e in cfg.experience_levels])
    sess["job_title"] = [cfg.jobs[j].title for j in job]
    sess["industry"] = [cfg.jobs[j].industry for j in job]
    sess["risk_level"] = np.array(cfg.risk_levels)[risk]
    sess["risk_score"] = np.round(np.clip(risk * 33.3 + rng.random(n) * 33.3, 0, 100), 1)
    sess["experience_level"] = np.array([e[0] for e in cfg.experience_levels])[exp_level]
    sess["age_range"] = np.array([a[0] for a in cfg.age_ranges])[_pick(rng, n, [a[1] for a in cfg.age_ranges])]
    sess["company_size"] = np.array([a[0] for a in cfg.company_sizes])[_pick(rng, n, [a[1] for a in cfg.company_sizes])]
    sess["education"] = np.array([a[0] for a in cfg.educations])[_pick(rng, n, [a[1] for a in cfg.educations])]
    sess["submitted"] = submitted
    sess["steps_done"] = steps_done
    sess["t_submit"] = t_sub

    # --- offer, click, plan ----------------------------------------------------------------------------------------
    viewed = submitted & (rng.random(n) < cfg.offer_view_prob)
    src_mult = _normalised([s.click_multiplier for s in cfg.sources], [s.share for s in cfg.sources])[src]
    dev_mult = _normalised(cfg.device_click_multiplier, [d[1] for d in cfg.devices])[device]
    exp_mult = _normalised([e[2] for e in cfg.experience_levels], [e[1] for e in cfg.experience_levels])[exp_level]
    p_click = np.asarray(cfg.click_rate)[risk] * src_mult * dev_mult * exp_mult
    plan_idx = _pick(rng, n, [p[2] for p in cfg.plans])
    sess["offer_viewed"] = viewed
    sess["plan"] = np.array([p[0] for p in cfg.plans])[plan_idx]
    sess["price"] = np.array([p[1] for p in cfg.plans])[plan_idx]
    sess["offer"] = "standard"
    sess["click_multiplier"] = 1.0
    ab_tests: list[dict[str, Any]] = []
    ab_assignments: list[dict[str, Any]] = []
    try:
        from analytics.demo import experiments as _experiments  # written with the A/B testing framework
    except ImportError:  # pragma: no cover - before that module exists
        _experiments = None
    if _experiments is not None and experiments:
        ab_tests, ab_assignments = _experiments.simulate(sess, np.random.default_rng([seed, 1]), start, end)
    u_click = rng.random(n)
    clicked = viewed & (u_click < p_click * sess["click_multiplier"].to_numpy())
    t_offer = t_sub + np.timedelta64(8, "s")
    t_click = t_offer + (rng.lognormal(np.log(30), 0.5, n) * 1e6).astype("int64").astype("timedelta64[us]")
    fail1 = rng.random(n) >= cfg.payment_success_prob
    retry = rng.random(n) < cfg.payment_retry_prob
    fail2 = rng.random(n) >= cfg.payment_success_prob
    paid = clicked & (~fail1 | (retry & ~fail2))
    # A visitor pays at most once: later sessions of a paying visitor do not click again.
    first_paid = pd.Series(np.where(paid, t0, np.datetime64("NaT")), index=visitor).groupby(level=0).min()
    later = paid & (t0 > first_paid.reindex(visitor).to_numpy())
    clicked &= ~(later | (paid & (t0 > first_paid.reindex(visitor).to_numpy())))
    paid &= ~later
    sess["clicked"], sess["paid"] = clicked, paid
    proc1 = rng.lognormal(np.log(1200), 0.4, n)
    proc2 = rng.lognormal(np.log(1200), 0.4, n)
    t_pay1 = t_click + np.timedelta64(45, "s")
    t_pay2 = t_pay1 + np.timedelta64(60, "s")
    t_paid = np.where(fail1, t_pay2, t_pay1)

    # --- leads and identification ----------------------------------------------------------------------------------
    lead = submitted & (rng.random(n) < cfg.calculator_lead_prob)
    consent = rng.random(n) < 0.8
    t_lead = t_sub + np.timedelta64(20, "s")
    ident_candidates = np.where(lead, t_lead, np.where(clicked, t_click, np.datetime64("NaT")))
    ident_candidates = np.where(clicked & (~lead | (t_click < t_lead)), t_click, ident_candidates)
    # The tracker attaches the user id from the identifying event on; return visits after it carry it throughout.
    v_ident = pd.Series(ident_candidates, index=visitor).groupby(level=0).min()
    vi = v_ident.reindex(visitor).to_numpy()
    sess["ident_time"] = np.where(np.isnat(vi) | (t0 < vi), ident_candidates, t0)
    sess["ident_time"] = np.where((~np.isnat(vi)) & (t0 > vi), t0, sess["ident_time"].to_numpy())
    sess["user_id"] = np.where(np.isnat(sess["ident_time"].to_numpy()), None, sess["visitor_user_id"].to_numpy())
    sess["t_paid"] = np.where(paid, t_paid, np.datetime64("NaT"))

    frames: list[pd.DataFrame] = []
    opened_data = {
        k: sess[k].to_numpy() for k in ("source", "medium", "campaign", "country", "region", "device")
    }
    opened_data["landing_page"] = "/ai-job-impact-calculator"
    frames.append(_frame("ai_calculator_opened", sess, t0, opened_data))
    load_med = np.asarray(cfg.page_load_median_ms)[device]
    frames.append(
        _frame("page_load_timing", sess, t0 + np.timedelta64(1, "s"),
               {"load_time_ms": np.round(rng.lognormal(np.log(load_med), cfg.page_load_sigma), 1),
                "page": "calculator"})
    )
    for s in range(k):
        attempted = steps_done >= s  # the step's screen was loaded
        prev_t = t0 if s == 0 else step_t[:, s - 1]
        sub = sess[attempted]
        frames.append(
            _frame("step_load_timing", sub, prev_t[attempted] + np.timedelta64(2, "s"),
                   {"step": s + 1,
                    "load_time_ms": np.round(rng.lognormal(np.log(cfg.step_load_median_ms), 0.5, n)[attempted], 1)})
        )
        m = done[:, s]
        frames.append(
            _frame("calculator_step_completed", sess[m], step_t[m, s],
                   {"step": s + 1, "seconds_on_step": np.round(step_secs[m, s], 1)})
        )
    sm = submitted
    frames.append(
        _frame("assessment_submitted", sess[sm], t_sub[sm], {
            **{k: sess.loc[sm, k].to_numpy() for k in ("job_title", "industry", "risk_level", "risk_score",
                                                        "age_range", "experience_level", "company_size",
                                                        "education", "country", "region")},
            "completion_time": np.round((t_sub[sm] - t0[sm]) / _S, 1),
        })
    )
    frames.append(
        _frame("conversion_offer_viewed", sess[viewed], t_offer[viewed],
               {"offer": sess.loc[viewed, "offer"].to_numpy(), "price": sess.loc[viewed, "price"].to_numpy()})
    )
    frames.append(
        _frame("paid_upgrade_clicked", sess[clicked], t_click[clicked],
               {"plan": sess.loc[clicked, "plan"].to_numpy(), "price": sess.loc[clicked, "price"].to_numpy(),
                "currency": "USD"})
    )
    f1 = clicked & fail1
    frames.append(
        _frame("payment_failed", sess[f1], t_pay1[f1],
               {"plan": sess.loc[f1, "plan"].to_numpy(), "amount": sess.loc[f1, "price"].to_numpy(),
                "reason": "card_declined", "processing_time_ms": np.round(proc1[f1], 1)})
    )
    f2 = clicked & fail1 & retry & fail2
    frames.append(
        _frame("payment_failed", sess[f2], t_pay2[f2],
               {"plan": sess.loc[f2, "plan"].to_numpy(), "amount": sess.loc[f2, "price"].to_numpy(),
                "reason": "card_declined", "processing_time_ms": np.round(proc2[f2], 1)})
    )
    frames.append(
        _frame("payment_succeeded", sess[paid], t_paid[paid],
               {"plan": sess.loc[paid, "plan"].to_numpy(), "amount": sess.loc[paid, "price"].to_numpy(),
                "currency": "USD", "processing_time_ms": np.round(np.where(fail1, proc2, proc1)[paid], 1),
                "order_id": [f"o{seed}-{i}" for i in np.flatnonzero(paid)]})
    )
    frames.append(
        _frame("lead_captured", sess[lead], t_lead[lead],
               {"lead_source": "calculator", "email_consent": consent[lead]})
    )
    err = rng.random(n) < cfg.client_error_prob
    frames.append(
        _frame("client_error", sess[err], t0[err] + np.timedelta64(5, "s"),
               {"message": "TypeError: Cannot read properties of undefined (reading 'score')",
                "script": "/static/calculator.js", "lineno": 212, "colno": 17})
    )

    # --- server-side events: subscriptions, late and other-source conversions, emails ------------------------------
    server = _server_events(rng, cfg, sess, lead, consent, t_lead, np.datetime64(end), seed, n)
    events = pd.concat([_with_data(f) for f in frames + server if len(f)], ignore_index=True)
    events = events[events["timestamp"] < np.datetime64(end)]
    # Events before the identifying moment of their session stay anonymous.
    anon = events["ident_time"].isna() | (events["timestamp"] < events["ident_time"])
    calculator_session = events["session_id"].str.match(r"^s\d")
    events.loc[anon & calculator_session, "user_id"] = None
    events = events.sort_values(["timestamp", "session_id"], kind="stable").reset_index(drop=True)
    out = pd.DataFrame(
        {
            "event_id": [f"demo{seed}-{i:08d}" for i in range(len(events))],
            "event_type": events["event_type"].to_numpy(),
            "user_id": [u if isinstance(u, str) else None for u in events["user_id"].tolist()],
            "session_id": events["session_id"].to_numpy(),
            "timestamp": events["timestamp"].to_numpy(),
            "event_data": events["event_data"].to_numpy(),
        }
    )
    return DemoData(out, start, end, seed, cfg, sess, ab_tests, ab_assignments)


def _server_events(rng, cfg, sess, lead, consent, t_lead, end, seed, n) -> list[pd.DataFrame]:
    frames: list[pd.DataFrame] = []
    plans = {p[0]: (p[1], cfg.monthly_churn[i]) for i, p in enumerate(cfg.plans)}
    payers = sess[sess["paid"]][["visitor_user_id", "plan", "price", "t_paid"]].rename(
        columns={"visitor_user_id": "user_id", "t_paid": "t"}
    )
    # Calculator leads who did not pay in-session may buy later after the nurture emails.
    never_paid = lead & ~sess["paid"].to_numpy()
    late = never_paid & (rng.random(n) < cfg.calculator_lead_late_conversion)
    late_t = t_lead + (rng.exponential(10 * 86400, n) * 1e6).astype("int64").astype("timedelta64[us]")
    late_df = sess[late][["visitor_user_id", "plan", "price"]].rename(columns={"visitor_user_id": "user_id"})
    late_df["t"] = late_t[late]
    already = set(payers["user_id"])
    late_df = late_df[~late_df["user_id"].isin(already)].drop_duplicates("user_id")
    # Leads from other sources (not calculator users).
    m = int(round(n * cfg.other_leads_per_session))
    ls = _pick(rng, m, [s[1] for s in cfg.other_lead_sources])
    lead_t = np.datetime64(sess["t0"].min()) + (
        rng.random(m) * ((end - np.datetime64(sess["t0"].min())) / _S) * 1e6
    ).astype("int64").astype("timedelta64[us]")
    other = pd.DataFrame(
        {
            "user_id": [f"l{seed}-{i:06d}" for i in range(m)],
            "session_id": [f"lead{seed}-{i:06d}" for i in range(m)],
            "lead_source": [cfg.other_lead_sources[i][0] for i in ls],
            "t": lead_t,
            "consent": rng.random(m) < 0.9,
        }
    )
    src_of = {"newsletter": ("newsletter", "email"), "webinar": ("webinar", "referral"),
              "organic_signup": ("(direct)", "(none)")}
    frames.append(
        pd.DataFrame({"event_type": "lead_captured", "session_id": other["session_id"], "user_id": other["user_id"],
                      "timestamp": other["t"], "ident_time": pd.NaT, "d_lead_source": other["lead_source"],
                      "d_email_consent": other["consent"],
                      "d_source": [src_of[s][0] for s in other["lead_source"]],
                      "d_medium": [src_of[s][1] for s in other["lead_source"]]})
    )
    conv_p = np.array([cfg.other_lead_sources[i][2] for i in ls])
    conv = rng.random(m) < conv_p
    plan_idx = _pick(rng, m, [p[2] for p in cfg.plans])
    oth_pay = pd.DataFrame(
        {
            "user_id": other["user_id"],
            "plan": np.array([p[0] for p in cfg.plans])[plan_idx],
            "price": np.array([p[1] for p in cfg.plans])[plan_idx],
            "t": other["t"].to_numpy() + (rng.exponential(10 * 86400, m) * 1e6).astype("int64").astype("timedelta64[us]"),
        }
    )[conv]
    late_all = pd.concat([late_df, oth_pay], ignore_index=True)
    late_all = late_all[late_all["t"] < end]
    frames.append(
        pd.DataFrame({"event_type": "payment_succeeded", "session_id": "srv-" + late_all["user_id"],
                      "user_id": late_all["user_id"], "timestamp": late_all["t"], "ident_time": pd.NaT,
                      "d_plan": late_all["plan"], "d_amount": late_all["price"], "d_currency": "USD",
                      "d_processing_time_ms": np.round(rng.lognormal(np.log(1200), 0.4, len(late_all)), 1)})
    )
    subs = pd.concat([payers, late_all], ignore_index=True)
    churn = np.array([plans[p][1] for p in subs["plan"]])
    renewals = rng.geometric(churn) - 1  # renewals before the month in which the user cancels
    rows_t, rows_u, rows_p, rows_a, rows_k = [], [], [], [], []
    days = np.timedelta64(cfg.renewal_days * 86400 * 10**6, "us")
    for kk in range(1, int(renewals.max(initial=0)) + 1):
        m_k = renewals >= kk
        t_k = subs["t"].to_numpy()[m_k] + kk * days
        keep = t_k < end
        rows_t.append(t_k[keep])
        rows_u.append(subs["user_id"].to_numpy()[m_k][keep])
        rows_p.append(subs["plan"].to_numpy()[m_k][keep])
        rows_a.append(subs["price"].to_numpy()[m_k][keep])
        rows_k.append(np.full(keep.sum(), kk))
    if rows_t:
        u = np.concatenate(rows_u)
        frames.append(
            pd.DataFrame({"event_type": "subscription_renewed", "session_id": np.char.add("srv-", u.astype(str)),
                          "user_id": u, "timestamp": np.concatenate(rows_t), "ident_time": pd.NaT,
                          "d_plan": np.concatenate(rows_p), "d_amount": np.concatenate(rows_a),
                          "d_period": np.concatenate(rows_k)})
        )
    cancel_t = subs["t"].to_numpy() + renewals * days + (rng.random(len(subs)) * cfg.renewal_days * 86400 * 1e6).astype(
        "int64").astype("timedelta64[us]")
    c = cancel_t < end
    frames.append(
        pd.DataFrame({"event_type": "subscription_cancelled", "session_id": "srv-" + subs["user_id"][c],
                      "user_id": subs["user_id"][c], "timestamp": cancel_t[c], "ident_time": pd.NaT,
                      "d_plan": subs["plan"][c], "d_reason": "user_cancelled"})
    )
    # Emails: a welcome email per consenting lead, a receipt per first payment.
    calc_leads = sess[lead & consent][["visitor_user_id"]].rename(columns={"visitor_user_id": "user_id"})
    calc_leads["t"] = t_lead[lead & consent]
    mails = pd.concat(
        [
            calc_leads.assign(email_type="welcome"),
            other[other["consent"]][["user_id", "t"]].assign(email_type="welcome"),
            subs[["user_id", "t"]].assign(email_type="receipt"),
        ],
        ignore_index=True,
    )
    k = len(mails)
    sent_t = mails["t"].to_numpy() + np.timedelta64(60, "s")
    delivered = rng.random(k) < cfg.email_delivery_prob
    opened = delivered & (rng.random(k) < cfg.email_open_prob)
    open_t = sent_t + (rng.exponential(7200, k) * 1e6).astype("int64").astype("timedelta64[us]")
    mid = np.array([f"m{seed}-{i}" for i in range(k)])
    sid = ("srv-" + mails["user_id"]).to_numpy()
    for kind, mask, ts in (("email_sent", np.ones(k, bool), sent_t),
                           ("email_delivered", delivered, sent_t + np.timedelta64(5, "s")),
                           ("email_bounced", ~delivered, sent_t + np.timedelta64(5, "s")),
                           ("email_opened", opened, open_t)):
        frames.append(
            pd.DataFrame({"event_type": kind, "session_id": sid[mask], "user_id": mails["user_id"].to_numpy()[mask],
                          "timestamp": ts[mask], "ident_time": pd.NaT,
                          "d_email_type": mails["email_type"].to_numpy()[mask], "d_message_id": mid[mask]})
        )
    return frames
