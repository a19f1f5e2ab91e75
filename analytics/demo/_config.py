"""The demo simulator's configuration: every rate the generated data is built from, stated so tests can check
that analyses recover it.

Multipliers (source, device, experience) are normalised so that their mix-weighted mean is 1; because they are
drawn independently, the click rate among offer viewers of a risk level is, in expectation, exactly
``click_rate[risk_level]`` whatever the mix.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["DemoConfig", "Job", "Source"]


@dataclass(frozen=True)
class Source:
    source: str
    medium: str
    campaigns: tuple[str, ...]
    share: float
    click_multiplier: float


@dataclass(frozen=True)
class Job:
    title: str
    industry: str
    risk_probs: tuple[float, float, float]  # low, medium, high
    weight: float
    growth: float = 0.0  # relative change of weight over the simulated period (emerging titles > 0)


def _sources() -> tuple[Source, ...]:
    return (
        Source("google", "organic", ("(not set)",), 0.30, 1.0),
        Source("google", "cpc", ("ai_risk_search", "career_future"), 0.14, 1.2),
        Source("facebook", "social", ("ai_jobs_fb",), 0.10, 0.7),
        Source("linkedin", "social", ("ai_jobs_li", "career_pivot"), 0.12, 1.4),
        Source("newsletter", "email", ("weekly_digest",), 0.08, 1.5),
        Source("twitter", "social", ("(not set)",), 0.05, 0.6),
        Source("reddit", "referral", ("(not set)",), 0.06, 0.8),
        Source("(direct)", "(none)", ("(not set)",), 0.15, 0.9),
    )


def _jobs() -> tuple[Job, ...]:
    # (title, industry, P(low, medium, high), popularity weight[, growth])
    raw = [
        ("Software Engineer", "Technology", (0.55, 0.35, 0.10), 9.0),
        ("Data Scientist", "Technology", (0.45, 0.40, 0.15), 5.0),
        ("Product Manager", "Technology", (0.60, 0.30, 0.10), 4.0),
        ("Prompt Engineer", "Technology", (0.30, 0.40, 0.30), 1.0, 3.0),
        ("QA Tester", "Technology", (0.15, 0.35, 0.50), 2.5),
        ("Accountant", "Finance", (0.15, 0.35, 0.50), 5.0),
        ("Financial Analyst", "Finance", (0.20, 0.45, 0.35), 4.0),
        ("Bank Teller", "Finance", (0.05, 0.25, 0.70), 2.0),
        ("Registered Nurse", "Healthcare", (0.75, 0.20, 0.05), 5.0),
        ("Medical Coder", "Healthcare", (0.10, 0.30, 0.60), 2.0),
        ("Physician", "Healthcare", (0.80, 0.17, 0.03), 2.0),
        ("Teacher", "Education", (0.65, 0.28, 0.07), 5.0),
        ("Instructional Designer", "Education", (0.30, 0.45, 0.25), 1.5),
        ("Graphic Designer", "Creative", (0.20, 0.40, 0.40), 4.0),
        ("Copywriter", "Creative", (0.08, 0.32, 0.60), 3.5),
        ("Translator", "Creative", (0.05, 0.20, 0.75), 2.0),
        ("Customer Service Representative", "Retail", (0.05, 0.25, 0.70), 5.0),
        ("Sales Associate", "Retail", (0.30, 0.45, 0.25), 3.0),
        ("Marketing Manager", "Marketing", (0.40, 0.45, 0.15), 4.0),
        ("Social Media Manager", "Marketing", (0.25, 0.45, 0.30), 2.5),
        ("Paralegal", "Legal", (0.10, 0.35, 0.55), 2.0),
        ("Lawyer", "Legal", (0.50, 0.38, 0.12), 2.5),
        ("Truck Driver", "Transportation", (0.35, 0.35, 0.30), 3.0),
        ("Electrician", "Construction", (0.85, 0.12, 0.03), 2.0),
        ("Data Entry Clerk", "Administration", (0.02, 0.13, 0.85), 3.0),
        ("Administrative Assistant", "Administration", (0.08, 0.37, 0.55), 4.0),
        ("HR Specialist", "Human Resources", (0.30, 0.50, 0.20), 2.5),
        ("AI Ethics Consultant", "Consulting", (0.70, 0.25, 0.05), 0.5, 4.0),
    ]
    return tuple(Job(*r) for r in raw)


@dataclass(frozen=True)
class DemoConfig:
    """Rates of the simulated calculator traffic (see the module docstring)."""

    sources: tuple[Source, ...] = field(default_factory=_sources)
    countries: tuple[tuple[str, float, tuple[str, ...]], ...] = (
        ("US", 0.42, ("CA", "NY", "TX", "FL", "WA", "IL")),
        ("GB", 0.10, ("England", "Scotland")),
        ("CA", 0.08, ("ON", "BC", "QC")),
        ("IN", 0.10, ("MH", "KA", "DL")),
        ("DE", 0.07, ("BY", "BE", "NW")),
        ("AU", 0.05, ("NSW", "VIC")),
        ("FR", 0.05, ("IDF", "ARA")),
        ("BR", 0.05, ("SP", "RJ")),
        ("NG", 0.04, ("LA", "FC")),
        ("JP", 0.04, ("13", "27")),
    )
    devices: tuple[tuple[str, float], ...] = (("desktop", 0.55), ("mobile", 0.40), ("tablet", 0.05))
    device_click_multiplier: tuple[float, ...] = (1.2, 0.75, 0.8)
    #: Probability of completing step k given step k-1 was completed (step 1 given the calculator opened).
    step_continue: tuple[float, ...] = (0.88, 0.90, 0.92, 0.94, 0.96)
    #: Extra drop on mobile per step (multiplies the continue probability).
    mobile_step_factor: float = 0.97
    submit_prob: float = 0.95
    offer_view_prob: float = 0.80
    risk_levels: tuple[str, ...] = ("low", "medium", "high")
    #: P(upgrade click | offer viewed), by risk level, before multipliers.
    click_rate: tuple[float, ...] = (0.04, 0.08, 0.14)
    payment_success_prob: float = 0.92
    payment_retry_prob: float = 0.5
    plans: tuple[tuple[str, float, float], ...] = (("basic", 49.99, 0.5), ("premium", 79.99, 0.3), ("pro", 99.99, 0.2))
    #: Monthly churn probability by plan (same order as ``plans``); renewals every 30 days.
    monthly_churn: tuple[float, ...] = (0.20, 0.15, 0.10)
    renewal_days: int = 30
    return_visit_share: float = 0.25
    return_visit_mean_days: float = 12.0
    calculator_lead_prob: float = 0.35
    #: Leads from other sources per session, and their P(paid) within the period, by lead source.
    other_leads_per_session: float = 0.06
    other_lead_sources: tuple[tuple[str, float, float], ...] = (
        ("newsletter", 0.45, 0.05),
        ("webinar", 0.20, 0.12),
        ("organic_signup", 0.35, 0.08),
    )
    #: Calculator leads who did not buy in-session buy later (email nurture) with this probability.
    calculator_lead_late_conversion: float = 0.04
    email_delivery_prob: float = 0.97
    email_open_prob: float = 0.40
    page_load_median_ms: tuple[float, ...] = (1100.0, 1900.0, 1500.0)  # by device
    page_load_sigma: float = 0.5
    step_load_median_ms: float = 250.0
    client_error_prob: float = 0.02
    experience_levels: tuple[tuple[str, float, float], ...] = (
        ("entry", 0.25, 0.6),
        ("mid", 0.40, 1.0),
        ("senior", 0.25, 1.3),
        ("executive", 0.10, 1.5),
    )
    age_ranges: tuple[tuple[str, float], ...] = (
        ("18-24", 0.15), ("25-34", 0.35), ("35-44", 0.25), ("45-54", 0.15), ("55+", 0.10)
    )
    company_sizes: tuple[tuple[str, float], ...] = (
        ("1-10", 0.15), ("11-50", 0.20), ("51-200", 0.25), ("201-1000", 0.20), ("1000+", 0.20)
    )
    educations: tuple[tuple[str, float], ...] = (
        ("high_school", 0.20), ("bachelor", 0.50), ("master", 0.25), ("doctorate", 0.05)
    )
    jobs: tuple[Job, ...] = field(default_factory=_jobs)
