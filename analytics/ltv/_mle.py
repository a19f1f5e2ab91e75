"""Maximum-likelihood machinery shared by the LTV models: bounded log-parameter optimisation and diagnostics.

Parameters are optimised on the log scale (every model parameter is strictly positive) with L-BFGS-B inside
box bounds on the log parameters; no penalty term is added to the likelihood, so the estimates are the plain
maximum-likelihood estimates of the papers. Standard errors come from the observed information, i.e. the
inverse of the numerically differentiated Hessian of the negative log-likelihood at the optimum (in
log-parameters), and the 95 % intervals are Wald intervals on the log scale mapped back with ``exp``
(so they stay positive).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy import optimize, stats

_LOG_BOUND = (-12.0, 12.0)  # parameters confined to [6e-6, 1.6e5]


@dataclass(frozen=True)
class FitDiagnostics:
    """How a maximum-likelihood fit went; inspect instead of relying on exceptions.

    Attributes
    ----------
    converged:
        True when the optimiser reported success, the gradient is small and no parameter sits on a bound.
    message:
        The optimiser's message plus any warning added here (parameter at bound, singular Hessian).
    log_likelihood:
        Maximised log-likelihood (weighted sum over customers).
    n_customers, n_unique:
        Customers fitted and distinct histories actually evaluated (identical histories are weighted).
    iterations, function_evals:
        Optimiser counters.
    gradient_norm:
        Max-norm of the numerical gradient of the log-likelihood in log-parameters at the optimum.
    hessian_condition:
        Condition number of the observed information matrix (large → weakly identified parameters).
    at_bound:
        Names of parameters whose log lies on the optimisation box.
    aic, bic:
        Information criteria ``2k - 2LL`` and ``k ln n - 2LL``.
    """

    converged: bool
    message: str
    log_likelihood: float
    n_customers: int
    n_unique: int
    iterations: int
    function_evals: int
    gradient_norm: float
    hessian_condition: float
    at_bound: tuple[str, ...] = field(default_factory=tuple)
    aic: float = float("nan")
    bic: float = float("nan")


@dataclass(frozen=True)
class _MLEResult:
    params: dict[str, float]
    std_errors: dict[str, float]
    conf_int: dict[str, tuple[float, float]]
    diagnostics: FitDiagnostics


def _numerical_hessian(
    f: Callable[[NDArray[np.float64]], float], x: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Central-difference Hessian of ``f`` at ``x`` (step 1e-4 on the log scale)."""
    k = x.size
    h = 1e-4
    hess = np.empty((k, k))
    f0 = f(x)
    for i in range(k):
        ei = np.zeros(k)
        ei[i] = h
        hess[i, i] = (f(x + ei) - 2 * f0 + f(x - ei)) / h**2
        for j in range(i + 1, k):
            ej = np.zeros(k)
            ej[j] = h
            val = (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej)) / (4 * h * h)
            hess[i, j] = hess[j, i] = val
    return hess


def _numerical_gradient(
    f: Callable[[NDArray[np.float64]], float], x: NDArray[np.float64]
) -> NDArray[np.float64]:
    h = 1e-6
    return np.array([(f(x + h * e) - f(x - h * e)) / (2 * h) for e in np.eye(x.size)])


def _fit_log_params(
    names: tuple[str, ...],
    negll: Callable[[NDArray[np.float64]], float],
    x0: NDArray[np.float64],
    n_customers: int,
    n_unique: int,
    level: float = 0.95,
) -> _MLEResult:
    """Minimise ``negll`` over log-parameters in a box; return estimates, SEs, CIs and diagnostics.

    ``negll`` takes log-parameters and returns the negative weighted log-likelihood (``inf`` where undefined).
    """
    bounds = [_LOG_BOUND] * len(names)
    res = optimize.minimize(
        negll, x0, method="L-BFGS-B", bounds=bounds, options={"maxiter": 2000, "ftol": 1e-13, "gtol": 1e-9}
    )
    # polish with Nelder-Mead from the L-BFGS-B point; keeps whichever is better
    nm = optimize.minimize(
        negll, res.x, method="Nelder-Mead", options={"xatol": 1e-9, "fatol": 1e-10, "maxiter": 4000}
    )
    x = np.clip(nm.x, *_LOG_BOUND) if nm.fun < res.fun else res.x
    ll = -float(negll(x))
    at_bound = tuple(
        n for n, v in zip(names, x, strict=True) if min(abs(v - _LOG_BOUND[0]), abs(v - _LOG_BOUND[1])) < 1e-6
    )
    grad = _numerical_gradient(negll, x)
    hess = _numerical_hessian(negll, x)
    message = str(res.message)
    try:
        cov = np.linalg.inv(hess)
        cond = float(np.linalg.cond(hess))
        se_log = np.sqrt(np.where(np.diag(cov) > 0, np.diag(cov), np.nan))
    except np.linalg.LinAlgError:
        se_log = np.full(len(names), np.nan)
        cond = float("inf")
        message += "; observed information is singular (standard errors unavailable)"
    if at_bound:
        message += f"; parameter(s) at the optimisation bound: {', '.join(at_bound)}"
    z = float(stats.norm.ppf(0.5 + level / 2))
    params = {n: float(np.exp(v)) for n, v in zip(names, x, strict=True)}
    std_errors = {n: float(np.exp(v) * s) for n, v, s in zip(names, x, se_log, strict=True)}
    conf_int = {
        n: (float(np.exp(v - z * s)), float(np.exp(v + z * s)))
        for n, v, s in zip(names, x, se_log, strict=True)
    }
    grad_norm = float(np.max(np.abs(grad)))
    converged = (
        bool(res.success or nm.success) and not at_bound and grad_norm < 1e-2 * max(1.0, abs(ll)) ** 0.5
    )
    k = len(names)
    diag = FitDiagnostics(
        converged=converged,
        message=message,
        log_likelihood=ll,
        n_customers=n_customers,
        n_unique=n_unique,
        iterations=int(res.nit) + int(nm.nit),
        function_evals=int(res.nfev) + int(nm.nfev),
        gradient_norm=grad_norm,
        hessian_condition=cond,
        at_bound=at_bound,
        aic=2 * k - 2 * ll,
        bic=float(k * np.log(max(n_customers, 1)) - 2 * ll),
    )
    return _MLEResult(params, std_errors, conf_int, diag)


def _compress(*columns: NDArray[np.float64]) -> tuple[list[NDArray[np.float64]], NDArray[np.float64]]:
    """Collapse identical rows of the given columns; return the unique columns and their counts as weights."""
    stacked = np.column_stack(columns)
    uniq, counts = np.unique(stacked, axis=0, return_counts=True)
    return [uniq[:, i] for i in range(uniq.shape[1])], counts.astype(float)
