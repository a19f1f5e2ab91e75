"""Demo A/B tests with known true effects, called by the demo generator (:func:`analytics.demo.generate`).

Four running tests, one of each of the seed's types, assigned with the package's own GrowthBook-compatible
hashing. Each tilts the demo's upgrade-click probability by a known multiplier (independent tests multiply),
so the notebook must recover these relative effects on the ``conversion`` metric:

* ``demo-pricing-offers`` (unit user): control 1.00, premium 0.80, pro 0.65; also sets the offer's plan and
  price, so revenue per unit changes by price × clicks. Coverage 50 %. Primary metric revenue per unit (as
  :meth:`ABTesting.create_conversion_offer_test` sets), so the conversion drop alone does not stop it.
* ``demo-risk-algorithm`` (unit session): v1_rules 1.00, v2_ml 1.00 — no effect (an A/A-like test).
* ``demo-personalization`` (unit user): control 1.00, industry 1.30 (+30 %).
* ``demo-urgency-messaging`` (unit session): control 1.00, soft 1.15, strong 0.90; two phases, 80/10/10 for
  the first fifth of the period, then equal thirds.

Exposure: the pricing, personalization and urgency tests expose a unit at its first offer view; the risk
algorithm test at its first submitted assessment. The user unit is the visitor's stable id (the id its events
carry once identified).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from analytics.experiments._config import (
    ExperimentConfig,
    OfferConfig,
    PersonalizationConfig,
    Phase,
    RiskAlgorithmConfig,
    UrgencyMessagingConfig,
    Variant,
    iso,
)
from analytics.experiments._hashing import Assigner

__all__ = ["TRUE_EFFECTS", "simulate"]

#: Known relative effect of each variant on the ``conversion`` metric (multiplier − 1).
TRUE_EFFECTS: dict[str, dict[str, float]] = {
    "demo-pricing-offers": {"premium": -0.20, "pro": -0.35},
    "demo-risk-algorithm": {"v2_ml": 0.0},
    "demo-personalization": {"industry": 0.30},
    "demo-urgency-messaging": {"soft": 0.15, "strong": -0.10},
}
_MULT = {tid: {**{"control": 1.0, "v1_rules": 1.0}, **{k: 1 + v for k, v in eff.items()}}
         for tid, eff in TRUE_EFFECTS.items()}  # fmt: skip
_OFFERS = {"control": ("basic", 49.99), "premium": ("premium", 79.99), "pro": ("pro", 99.99)}


def _configs(start: datetime, end: datetime) -> list[ExperimentConfig]:
    s = iso(start)
    switch = iso(start + (end - start) / 5)

    def cfg(test_id, name, ttype, variants, unit, exposure, phases, guard=("revenue",), primary="conversion"):
        return ExperimentConfig(
            test_id=test_id, name=name, test_type=ttype, variants=tuple(variants), unit=unit,
            primary_metric=primary, guardrail_metrics=guard, exposure_event=exposure, seed=test_id,
            phases=phases, status="running", started_at=s,
        )  # fmt: skip

    third = (1 / 3, 1 / 3, 1 / 3)
    return [
        cfg("demo-pricing-offers", "Pricing Optimization Test", "conversion_offer",
            [Variant(n, 1 / 3, OfferConfig(p, f, plan)) for n, (plan, p), f in zip(
                _OFFERS, _OFFERS.values(),
                [("basic",), ("basic", "advanced"), ("basic", "advanced", "priority")], strict=True)],
            "user", "conversion_offer_viewed", (Phase(0, third, 0.5, s),),
            ("revenue_per_session",), "revenue"),
        cfg("demo-risk-algorithm", "Risk Algorithm v2", "risk_algorithm",
            [Variant("v1_rules", 0.5, RiskAlgorithmConfig("rules", "1")),
             Variant("v2_ml", 0.5, RiskAlgorithmConfig("gradient_boosting", "2"))],
            "session", "assessment_submitted", (Phase(0, (0.5, 0.5), 1.0, s),), ("lead",)),
        cfg("demo-personalization", "Industry Personalization", "personalization",
            [Variant("control", 0.5, PersonalizationConfig("none")),
             Variant("industry", 0.5, PersonalizationConfig("industry"))],
            "user", "conversion_offer_viewed", (Phase(0, (0.5, 0.5), 1.0, s),)),
        cfg("demo-urgency-messaging", "Urgency Messaging", "urgency_messaging",
            [Variant("control", 1 / 3, UrgencyMessagingConfig("", "none")),
             Variant("soft", 1 / 3, UrgencyMessagingConfig("Prices rise next month", "soft")),
             Variant("strong", 1 / 3, UrgencyMessagingConfig("Only 2 hours left at this price!", "strong"))],
            "session", "conversion_offer_viewed",
            (Phase(0, (0.8, 0.1, 0.1), 1.0, s), Phase(1, third, 1.0, switch))),
    ]  # fmt: skip


def simulate(
    sess: pd.DataFrame, rng: np.random.Generator, start: datetime, end: datetime
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Create the demo tests, assign the exposed units, and tilt ``sess`` by the true effects.

    Parameters
    ----------
    sess:
        The generator's per-session frame; reads ``session_id, visitor_user_id, offer_viewed, submitted,
        t_submit``, and updates ``click_multiplier`` (and ``offer, plan, price`` for the pricing test) in
        place.
    rng:
        Unused (assignment is deterministic hashing); kept for the generator's interface.
    start, end:
        The demo period.

    Returns
    -------
    (ab_tests rows, ab_assignments rows)
    """
    del rng
    tests: list[dict[str, Any]] = []
    assignments: list[dict[str, Any]] = []
    t_sub = pd.to_datetime(sess["t_submit"]).to_numpy()
    for cfg in _configs(start, end):
        tests.append({"test_id": cfg.test_id, "test_name": cfg.name, "test_type": cfg.test_type,
                      "status": "running", "config": cfg.to_json(), "created_at": start, "updated_at": start})
        at_offer = cfg.exposure_event == "conversion_offer_viewed"
        exposed = (sess["offer_viewed"] if at_offer else sess["submitted"]).to_numpy(dtype=bool)
        t_exp = t_sub + np.timedelta64(8 if at_offer else 0, "s")
        unit = (sess["visitor_user_id"] if cfg.unit == "user" else sess["session_id"]).to_numpy()
        first = (pd.DataFrame({"unit": unit[exposed], "t": t_exp[exposed]})
                 .groupby("unit", sort=True)["t"].min())
        names = cfg.variant_names
        variant_of: dict[str, str] = {}
        phase_starts = [np.datetime64(datetime.fromisoformat(p.started_at or iso(start))) for p in cfg.phases]
        phase_idx = np.searchsorted(np.array(phase_starts), first.to_numpy(), side="right") - 1
        for p in cfg.phases:
            in_phase = phase_idx == p.index
            ids = first.index[in_phase].tolist()
            if not ids:
                continue
            idx, buckets = Assigner(cfg.seed, names, weights=p.weights, coverage=p.coverage).assign_many(ids)
            for uid, i, b, t in zip(ids, idx, buckets, first.to_numpy()[in_phase], strict=True):
                if i < 0:
                    continue
                variant_of[uid] = names[i]
                assignments.append({
                    "test_id": cfg.test_id, "unit_id": uid, "variant": names[i], "phase": p.index,
                    "hash_value": float(b), "first_exposure_at": pd.Timestamp(t).to_pydatetime(),
                })  # fmt: skip
        # tilt every exposed session of an assigned unit from its first exposure on
        var = pd.Series(unit).map(variant_of)
        hit = exposed & var.notna().to_numpy() & (t_exp >= pd.Series(unit).map(first).to_numpy())
        mult = var.map(_MULT[cfg.test_id]).fillna(1.0).to_numpy()
        sess["click_multiplier"] = sess["click_multiplier"].to_numpy() * np.where(hit, mult, 1.0)
        if cfg.test_type == "conversion_offer":
            for name, (plan, price) in _OFFERS.items():
                m = hit & (var == name).to_numpy()
                sess.loc[m, "offer"] = name
                sess.loc[m, "plan"] = plan
                sess.loc[m, "price"] = price
    return tests, assignments
