"""Marketing mix model: ours (``crm_research.mmm``) beside pymc-marketing's MMM, same data, same process.

Run on demand in the reference environment (pymc-marketing is never a project dependency):
    .bench-venv/bin/python benchmarks/bench_mmm.py [--data synthetic example] [--seed 0]
        [--draws N --tune N --chains N --cores N]   (default: pymc-marketing's sampler defaults)
or as the ``mmm`` pair of ``benchmarks/side_by_side.py --only mmm``.

Data
----
* **synthetic** -- ``make_weekly(seed)``: 156 weeks (3 years, Mondays from 2023-01-02) x 6
  channels of flighted weekly spend (EUR): ``paid_search`` and ``affiliate`` always on,
  ``social``, ``display``, ``video`` in bursts of 3..8 weeks, ``tv`` in four-week bursts about
  four times a year. Revenue = baseline + linear trend + yearly seasonality (two Fourier
  orders) + two promotion weeks (Black Friday, Christmas; known lifts) + each channel's
  contribution + normal noise. A channel's contribution is planted in pymc-marketing's own
  parameterisation: geometric adstock (normalised weights ``alpha**k / sum``, lags 0..7),
  then logistic saturation ``(1 - exp(-lam x)) / (1 + exp(-lam x))`` of the adstocked spend
  divided by the channel's largest weekly spend, times ``beta``; ``beta`` is set so that each
  channel's ROAS over the 156 weeks (its contribution inside the window / its spend) is the
  planted one. Truth returned: ROAS, contribution per channel, adstock ``alpha``, ``lam``.
* **example** -- pymc-marketing's published example dataset ``data/mmm_example.csv`` (179
  weeks, channels ``x1``, ``x2``, controls ``event_1``, ``event_2``, ``t``). The wheel does not
  ship it (only a URL to GitHub, which this machine cannot reach), so ``example_data()``
  regenerates it with the simulation published in its example notebook (seed
  ``sum(map(ord, "mmm"))``, adstock 0.4 / 0.2, logistic ``lam`` 4 / 3, ``beta`` 3 / 2, y in
  thousands); the regenerated file equals the published one (checked against published rows
  in ``example_data``). Its planted contributions are known too.

Models
------
* pymc-marketing 0.19.2 ``pymc_marketing.mmm.multidimensional.MMM`` (the class its docs use;
  ``pymc_marketing.mmm.MMM`` is deprecated): ``GeometricAdstock(l_max=8)``,
  ``LogisticSaturation()``, ``yearly_seasonality=2``, the controls above. Priors: on the
  synthetic data the library defaults; on the example data the example notebook's
  ``model_config`` (spend-share ``saturation_beta``, tight control and Fourier priors).
  Sampler: its defaults (``pm.sample``: NUTS, 1,000 tuning + 1,000 draws per chain,
  ``chains = max(2, cores)``: 2 chains, sampled one after the other on this 2-core machine)
  unless ``--draws/--tune/--chains/--cores`` are given. Contributions and ROAS per posterior
  draw in the original scale (``channel_contribution * target_scale``), mean and 94 % HDI.
* ours: ``crm_research.mmm.MarketingMixModel`` with its bootstrap ranges, Hill (its default)
  and logistic saturation (see ``fit_ours``).

Timing: pymc-marketing one fit (no warm-up: a fit is minutes; its PyTensor compile cache in
``~/.pytensor`` is warm after the first run on a machine, and the sampling time alone is reported
as well); ours the median of 3 fits after one untimed fit. Wall seconds and CPU seconds of this
process plus its finished child processes (with ``--cores 2`` pymc's chains run in forked
processes; by default pymc samples both chains in this process because its ``_cpu_count``
halves ``os.cpu_count()``, assuming hyper-threads, i.e. 1 on this 2-core machine). The 1-minute
load average is recorded before and after each fit. Output: a JSON file in ``benchmarks/out`` and markdown on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).resolve().parent / "out"
HDI = 0.94
L_MAX = 8

# -- data ------------------------------------------------------------------------------------------
CHANNELS = ("paid_search", "social", "display", "video", "affiliate", "tv")
# planted: ROAS (EUR revenue per EUR spent, over the window), adstock alpha, logistic lam
TRUE_ROAS = {"paid_search": 2.6, "social": 1.8, "display": 0.7, "video": 1.3, "affiliate": 3.2, "tv": 1.1}
TRUE_ALPHA = {"paid_search": 0.1, "social": 0.4, "display": 0.3, "video": 0.55, "affiliate": 0.2, "tv": 0.7}
TRUE_LAM = {"paid_search": 1.5, "social": 2.5, "display": 3.0, "video": 2.0, "affiliate": 1.0, "tv": 2.5}


def geometric_adstock(x: np.ndarray, alpha: float, l_max: int = L_MAX, normalize: bool = True) -> np.ndarray:
    """Carry-over of a weekly series: ``sum_k w_k x[t-k]``, ``w_k = alpha**k`` (normalised), k < l_max."""
    w = alpha ** np.arange(l_max)
    if normalize:
        w = w / w.sum()
    out = np.zeros(len(x))
    for k in range(l_max):
        out[k:] += w[k] * x[: len(x) - k]
    return out


def logistic_saturation(x: np.ndarray, lam: float) -> np.ndarray:
    """pymc-marketing's logistic saturation ``(1 - exp(-lam x)) / (1 + exp(-lam x))``."""
    return (1 - np.exp(-lam * x)) / (1 + np.exp(-lam * x))


def _flights(rng: np.random.Generator, n: int, on: tuple[int, int], off: tuple[int, int]) -> np.ndarray:
    """0/1 weeks: bursts of ``on`` weeks separated by gaps of ``off`` weeks (inclusive ranges)."""
    out = np.zeros(n)
    t = int(rng.integers(0, off[1] + 1))
    while t < n:
        k = int(rng.integers(on[0], on[1] + 1))
        out[t:t + k] = 1
        t += k + int(rng.integers(off[0], off[1] + 1))
    return out


def make_weekly(seed: int = 0, weeks: int = 156) -> tuple[pd.DataFrame, dict]:
    """Synthetic weekly revenue and spend of 6 channels with planted adstock, saturation and ROAS.

    Returns
    -------
    data : DataFrame
        ``week`` (Monday), ``revenue`` (EUR), one spend column per channel (EUR),
        ``black_friday`` and ``christmas`` (0/1 promotion weeks), ``trend`` (0..1).
    truth : dict
        ``roas``, ``contribution`` (EUR over the window), ``alpha``, ``lam``, ``beta`` per channel,
        ``baseline`` (EUR), ``noise_sd`` (EUR).
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, 16]))
    week = pd.date_range("2023-01-02", periods=weeks, freq="W-MON")
    n = weeks
    season = np.sin(2 * np.pi * np.arange(n) / 52.18)
    spend = {
        "paid_search": 18_000 * (1 + 0.25 * season) * rng.lognormal(0, 0.25, n),
        "social": 14_000 * _flights(rng, n, (3, 8), (2, 6)) * rng.lognormal(0, 0.3, n),
        "display": 9_000 * _flights(rng, n, (3, 6), (3, 8)) * rng.lognormal(0, 0.3, n),
        "video": 12_000 * _flights(rng, n, (3, 6), (4, 10)) * rng.lognormal(0, 0.3, n),
        "affiliate": 5_000 * rng.lognormal(0, 0.35, n),
        "tv": 40_000 * _flights(rng, n, (4, 4), (9, 14)) * rng.lognormal(0, 0.15, n),
    }
    sat = {c: logistic_saturation(geometric_adstock(spend[c] / spend[c].max(), TRUE_ALPHA[c]), TRUE_LAM[c])
           for c in CHANNELS}
    beta = {c: TRUE_ROAS[c] * spend[c].sum() / sat[c].sum() for c in CHANNELS}
    contrib = {c: beta[c] * sat[c] for c in CHANNELS}
    trend = np.arange(n) / (n - 1)
    doy = week.dayofyear.to_numpy()
    fourier = (0.08 * np.sin(2 * np.pi * doy / 365.25) + 0.06 * np.cos(2 * np.pi * doy / 365.25)
               + 0.03 * np.sin(4 * np.pi * doy / 365.25))
    bf = ((week.month == 11) & (week.day >= 22) & (week.day <= 28)).astype(float)  # week of Black Friday
    xmas = ((week.month == 12) & (week.day >= 18) & (week.day <= 24)).astype(float)
    baseline = 150_000.0
    noise_sd = 6_000.0
    revenue = (baseline * (1 + 0.15 * trend + fourier) + 35_000 * bf + 25_000 * xmas
               + sum(contrib.values()) + rng.normal(0, noise_sd, n))
    data = pd.DataFrame({"week": week, "revenue": revenue, **{c: np.round(spend[c], 2) for c in CHANNELS},
                         "black_friday": bf, "christmas": xmas, "trend": trend})
    truth = {"roas": dict(TRUE_ROAS), "contribution": {c: float(contrib[c].sum()) for c in CHANNELS},
             "spend": {c: float(data[c].sum()) for c in CHANNELS},
             "alpha": dict(TRUE_ALPHA), "lam": dict(TRUE_LAM), "beta": {c: float(beta[c]) for c in CHANNELS},
             "baseline": baseline, "noise_sd": noise_sd, "weeks": n, "seed": seed,
             "media_share": float(sum(contrib[c].sum() for c in CHANNELS) / revenue.sum())}
    return data, truth


# published rows of pymc-marketing's data/mmm_example.csv (date_week, y) checked by example_data()
_EXAMPLE_ROWS = {0: 3984.662237343649, 58: 6815.8201468315065, 128: 6496.500776816234,
                 178: 4675.973438674285}


def example_data() -> tuple[pd.DataFrame, dict]:
    """pymc-marketing's example dataset (``data/mmm_example.csv``), regenerated from its notebook.

    The simulation of pymc-marketing's "MMM Example Notebook" (data generation, seed
    ``sum(map(ord, "mmm"))``): weekly dates 2018-04-02..2021-08-30 (179 weeks), ``x1`` uniform
    halved below 0.9, ``x2`` uniform zeroed below 0.8, geometric adstock (0.4, 0.2, 8 lags,
    normalised), logistic saturation (``lam`` 4, 3), y = 2 + trend + seasonality + 1.5 event_1
    + 2.5 event_2 + 3 sat(x1) + 2 sat(x2) + N(0, 0.25), in thousands (as the published file).
    """
    rng = np.random.default_rng(sum(map(ord, "mmm")))
    date = pd.date_range("2018-04-01", "2021-09-01", freq="W-MON")
    n = len(date)
    doy = date.dayofyear.to_numpy()
    x1 = rng.uniform(0.0, 1.0, n)
    x1 = np.where(x1 > 0.9, x1, x1 / 2)
    x2 = rng.uniform(0.0, 1.0, n)
    x2 = np.where(x2 > 0.8, x2, 0)
    s1 = logistic_saturation(geometric_adstock(x1, 0.4), 4.0)
    s2 = logistic_saturation(geometric_adstock(x2, 0.2), 3.0)
    trend = (np.linspace(0.0, 50, n) + 10) ** (1 / 4) - 1
    seasonality = 0.5 * (-np.sin(2 * 2 * np.pi * doy / 365.5) + np.cos(2 * np.pi * doy / 365.5))
    e1 = (date == "2019-05-13").astype(float)
    e2 = (date == "2020-09-14").astype(float)
    eps = rng.normal(0.0, 0.25, n)
    y = 2.0 + trend + seasonality + 1.5 * e1 + 2.5 * e2 + 3.0 * s1 + 2.0 * s2 + eps
    data = pd.DataFrame({"date_week": date, "y": 1000 * y, "x1": x1, "x2": x2, "event_1": e1,
                         "event_2": e2, "dayofyear": doy, "t": np.arange(n)})
    for i, v in _EXAMPLE_ROWS.items():
        assert abs(data["y"].iloc[i] - v) < 1e-6, f"example data row {i}: {data['y'].iloc[i]} != {v}"
    contrib = {"x1": 1000 * 3.0 * s1, "x2": 1000 * 2.0 * s2}
    truth = {"roas": {c: float(contrib[c].sum() / data[c].sum()) for c in contrib},
             "contribution": {c: float(contrib[c].sum()) for c in contrib},
             "spend": {c: float(data[c].sum()) for c in contrib},
             "alpha": {"x1": 0.4, "x2": 0.2}, "lam": {"x1": 4.0, "x2": 3.0}, "beta": {"x1": 3000.0, "x2": 2000.0},
             "weeks": n, "media_share": float((contrib["x1"].sum() + contrib["x2"].sum()) / data["y"].sum())}
    return data, truth


def dataset(name: str, seed: int = 0) -> dict:
    """Data and column roles of a benchmark dataset (``synthetic`` or ``example``)."""
    if name == "synthetic":
        data, truth = make_weekly(seed)
        return {"name": name, "data": data, "truth": truth, "date": "week", "target": "revenue",
                "channels": list(CHANNELS), "controls": ["black_friday", "christmas", "trend"]}
    if name == "example":
        data, truth = example_data()
        return {"name": name, "data": data, "truth": truth, "date": "date_week", "target": "y",
                "channels": ["x1", "x2"], "controls": ["event_1", "event_2", "t"]}
    raise ValueError(f"unknown dataset {name!r}: use 'synthetic' or 'example'")


# -- timing ----------------------------------------------------------------------------------------
def timed(fn):
    """Run ``fn()``; wall s, CPU s of this process + finished children, load average before/after."""
    load0 = os.getloadavg()[0]
    ch0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    ch1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_children = (ch1.ru_utime - ch0.ru_utime) + (ch1.ru_stime - ch0.ru_stime)
    return out, {"wall": wall, "cpu": cpu + cpu_children, "cpu_self": cpu, "cpu_children": cpu_children,
                 "load": (load0, os.getloadavg()[0])}


def _hdi(draws: np.ndarray, prob: float = HDI) -> tuple[float, float]:
    """Narrowest interval holding ``prob`` of the draws (as arviz.hdi for a unimodal sample)."""
    s = np.sort(np.asarray(draws, dtype=float))
    k = int(np.floor(prob * len(s)))
    widths = s[k:] - s[: len(s) - k]
    i = int(np.argmin(widths))
    return float(s[i]), float(s[i + k])


# -- pymc-marketing --------------------------------------------------------------------------------
def pymc_model(ds: dict):
    """pymc-marketing's multidimensional ``MMM`` for a dataset (priors: see the module docstring)."""
    from pymc_marketing.mmm import GeometricAdstock, LogisticSaturation
    from pymc_marketing.mmm.multidimensional import MMM

    model_config = None
    if ds["name"] == "example":  # the published example notebook's configuration
        from pymc_extras.prior import Prior

        spend = ds["data"][ds["channels"]].sum(axis=0)
        prior_sigma = len(ds["channels"]) * (spend / spend.sum()).to_numpy()
        model_config = {
            "intercept": Prior("Normal", mu=0.5, sigma=0.2),
            "saturation_beta": Prior("HalfNormal", sigma=prior_sigma, dims="channel"),
            "gamma_control": Prior("Normal", mu=0, sigma=0.05, dims="control"),
            "gamma_fourier": Prior("Laplace", mu=0, b=0.2, dims="fourier_mode"),
            "likelihood": Prior("Normal", sigma=Prior("HalfNormal", sigma=6), dims="date"),
        }
    return MMM(date_column=ds["date"], target_column=ds["target"], channel_columns=ds["channels"],
               control_columns=ds["controls"], adstock=GeometricAdstock(l_max=L_MAX),
               saturation=LogisticSaturation(), yearly_seasonality=2, model_config=model_config)


def fit_pymc(ds: dict, seed: int = 0, draws: int | None = None, tune: int | None = None,
             chains: int | None = None, cores: int | None = None) -> dict:
    """Fit pymc-marketing's MMM; per-channel contribution and ROAS (mean, 94 % HDI), diagnostics."""
    import arviz as az

    data = ds["data"]
    X = data[[ds["date"], *ds["channels"], *ds["controls"]]]
    y = data[ds["target"]]
    kw = {k: v for k, v in {"draws": draws, "tune": tune, "chains": chains, "cores": cores}.items()
          if v is not None}
    mmm = pymc_model(ds)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata, t = timed(lambda: mmm.fit(X, y, progressbar=False, random_seed=seed, **kw))
    post = idata.posterior
    scale = float(idata.constant_data["target_scale"].values)
    contrib = (post["channel_contribution"] * scale).sum("date")  # (chain, draw, channel), EUR
    n_chains, n_draws = post.sizes["chain"], post.sizes["draw"]
    flat = contrib.stack(sample=("chain", "draw")).transpose("channel", "sample").values
    spend = data[ds["channels"]].sum().to_numpy()
    out = {}
    for i, c in enumerate(ds["channels"]):
        roas = flat[i] / spend[i]
        out[c] = {"contribution": float(flat[i].mean()), "contribution_hdi": _hdi(flat[i]),
                  "roas": float(roas.mean()), "roas_hdi": _hdi(roas)}
    params = [v for v in ("adstock_alpha", "saturation_lam", "saturation_beta", "intercept_contribution",
                          "gamma_control", "gamma_fourier") if v in post]
    summ = az.summary(idata, var_names=params, kind="diagnostics")
    tune_used = int(idata.sample_stats.attrs.get("tuning_steps", tune or -1))
    return {"tool": "pymc-marketing", "time": t, "channels": out,
            "sampling_time_s": float(post.attrs.get("sampling_time", float("nan"))),
            "sampler": {"chains": int(n_chains), "draws": int(n_draws), "tune": tune_used, "cores": cores,
                        "defaults": not kw, "divergences": int(idata.sample_stats["diverging"].sum()),
                        "r_hat_max": float(summ["r_hat"].max()), "ess_bulk_min": float(summ["ess_bulk"].min())},
            "adstock_alpha": post["adstock_alpha"].mean(("chain", "draw")).values.tolist(),
            "saturation_lam": post["saturation_lam"].mean(("chain", "draw")).values.tolist()}


# -- ours ------------------------------------------------------------------------------------------
TREND_COLUMNS = ("trend", "t")  # ours has its own linear trend term


def fit_ours(ds: dict, seed: int = 0, saturation: str = "hill", repeats: int = 3) -> dict:
    """Fit ``crm_research.mmm.MarketingMixModel`` with its bootstrap ranges; contribution and ROAS.

    Its defaults (100 moving-block bootstrap replicates, 8 weeks held out for the out-of-time
    check, then the refit on every week) except: ``interval=0.94`` (same width as pymc's HDI),
    ``max_lag=7`` (lags 0..7: pymc's ``l_max=8`` window) and ``saturation``. The trend column
    among the controls is left out (ours fits a linear trend itself). Timed: median of
    ``repeats`` fits after one untimed fit (it is deterministic: every fit gives the same numbers).
    """
    from crm_research import mmm

    data = ds["data"]
    controls = [c for c in ds["controls"] if c not in TREND_COLUMNS]
    weekly = pd.DataFrame({"week": pd.to_datetime(data[ds["date"]]), ds["target"]: data[ds["target"]],
                           **{mmm.SPEND_PREFIX + c: data[c] for c in ds["channels"]},
                           **{c: data[c] for c in controls}})

    def fit():
        return mmm.MarketingMixModel(max_lag=L_MAX - 1, saturation=saturation, interval=HDI, seed=seed).fit(
            weekly, outcome=ds["target"], channels=ds["channels"], controls=controls)

    model = fit()
    runs = [timed(fit)[1] for _ in range(repeats)]
    mid = sorted(runs, key=lambda r: r["wall"])[len(runs) // 2]
    t = {"wall": float(np.median([r["wall"] for r in runs])), "cpu": float(np.median([r["cpu"] for r in runs])),
         "walls": [r["wall"] for r in runs], "cpus": [r["cpu"] for r in runs],
         "load": (runs[0]["load"][0], runs[-1]["load"][1]), "repeats": repeats, "median_run": mid}
    s = model.summary.set_index("channel")
    out = {c: {"contribution": float(s.at[c, "contribution"]),
               "contribution_range": (float(s.at[c, "contribution_low"]), float(s.at[c, "contribution_high"])),
               "roas": float(s.at[c, "roas"]), "roas_range": (float(s.at[c, "roas_low"]), float(s.at[c, "roas_high"])),
               "mroas": float(s.at[c, "mroas"])} for c in ds["channels"]}
    return {"tool": "crm-research", "label": f"{saturation}, {model.n_bootstrap_} bootstrap replicates",
            "time": t, "channels": out, "n_bootstrap": int(model.n_bootstrap_), "r2": float(model.r2_),
            "holdout_mape": float(model.holdout_mape_), "warnings": list(model.warnings_),
            "params": model.params_.to_dict(orient="list")}


# -- comparison ------------------------------------------------------------------------------------
def compare(ds: dict, ours: dict | None, theirs: dict) -> list[dict]:
    """Per channel: truth, pymc-marketing (mean, HDI), ours (estimate, range), ours inside HDI."""
    rows = []
    truth = ds["truth"]
    for c in ds["channels"]:
        th = theirs["channels"][c]
        r = {"channel": c, "spend": truth["spend"][c],
             "true_contribution": truth["contribution"][c], "true_roas": truth["roas"][c],
             "pymc_contribution": th["contribution"], "pymc_contribution_hdi": th["contribution_hdi"],
             "pymc_roas": th["roas"], "pymc_roas_hdi": th["roas_hdi"],
             "truth_in_pymc_hdi": th["roas_hdi"][0] <= truth["roas"][c] <= th["roas_hdi"][1]}
        if ours is not None:
            o = ours["channels"][c]
            lo, hi = th["contribution_hdi"]
            r.update({"ours_contribution": o["contribution"], "ours_contribution_range": o["contribution_range"],
                      "ours_roas": o["roas"], "ours_roas_range": o["roas_range"],
                      "ours_in_pymc_hdi": lo <= o["contribution"] <= hi,
                      "truth_in_ours_range": o["roas_range"][0] <= truth["roas"][c] <= o["roas_range"][1]})
        rows.append(r)
    return rows


def run(name: str, seed: int = 0, draws: int | None = None, tune: int | None = None,
        chains: int | None = None, ours: bool = True, cores: int | None = None) -> dict:
    """One dataset: both fits in this process, timings and the per-channel comparison."""
    ds = dataset(name, seed)
    res = {"dataset": name, "weeks": len(ds["data"]), "channels": ds["channels"], "truth": ds["truth"]}
    res["ours"] = fit_ours(ds, seed) if ours else None
    res["ours_logistic"] = fit_ours(ds, seed, saturation="logistic") if ours else None
    res["pymc"] = fit_pymc(ds, seed, draws=draws, tune=tune, chains=chains, cores=cores)
    res["rows"] = compare(ds, res["ours"], res["pymc"])
    res["rows_logistic"] = compare(ds, res["ours_logistic"], res["pymc"]) if ours else None
    if res["ours"] is not None:
        res["ratio_wall"] = res["pymc"]["time"]["wall"] / res["ours"]["time"]["wall"]
        res["ratio_cpu"] = res["pymc"]["time"]["cpu"] / res["ours"]["time"]["cpu"]
    return res


# -- report ----------------------------------------------------------------------------------------
def _rng(lo_hi) -> str:
    return f"{lo_hi[0]:,.2f} – {lo_hi[1]:,.2f}"


def markdown(res: dict) -> list[str]:
    """Timing table and per-channel tables (ROAS, contribution) of one dataset."""
    p, o, ol = res["pymc"], res["ours"], res.get("ours_logistic")
    s = p["sampler"]
    lines = [f"**{res['dataset']}** ({res['weeks']} weeks × {len(res['channels'])} channels)", "",
             "| tool | fit | wall s | CPU s | ratio (wall) | ratio (CPU) | load avg before → after |",
             "|---|---|---:|---:|---:|---:|---|"]
    for m in (o, ol):
        if m is not None:
            t = m["time"]
            rw, rc = p["time"]["wall"] / t["wall"], p["time"]["cpu"] / t["cpu"]
            lines.append(f"| crm-research | {m['label']}, 94 % ranges (median of {t['repeats']} fits) | "
                         f"{t['wall']:.2f} | {t['cpu']:.2f} | 1 | 1 | {t['load'][0]:.1f} → {t['load'][1]:.1f} |"
                         if m is o else
                         f"| crm-research | {m['label']}, 94 % ranges (median of {t['repeats']} fits) | "
                         f"{t['wall']:.2f} | {t['cpu']:.2f} | ({rw:.0f}) | ({rc:.0f}) | "
                         f"{t['load'][0]:.1f} → {t['load'][1]:.1f} |")
    rw = f"{res['ratio_wall']:.0f}" if o is not None else "–"
    rc = f"{res['ratio_cpu']:.0f}" if o is not None else "–"
    cores = "" if s.get("cores") is None else f", cores={s['cores']}"
    lines.append(f"| pymc-marketing | NUTS, {s['chains']} chains × ({s['tune']} tune + {s['draws']} draws)"
                 f"{' (defaults)' if s['defaults'] else ''}{cores}; sampling alone {p['sampling_time_s']:.0f} s | "
                 f"{p['time']['wall']:.1f} | {p['time']['cpu']:.1f} | {rw} | {rc} | "
                 f"{p['time']['load'][0]:.1f} → {p['time']['load'][1]:.1f} |")
    lines += ["", f"pymc-marketing diagnostics: {s['divergences']} divergences, max R-hat {s['r_hat_max']:.3f}, "
                  f"min bulk ESS {s['ess_bulk_min']:.0f}.", ""]
    variants = [(n, m, rows) for n, m, rows in (("ours (Hill)", o, res["rows"]),
                                                 ("ours (logistic)", ol, res.get("rows_logistic")))
                if m is not None]
    head = "| channel | spend | true ROAS | pymc-marketing ROAS (94 % HDI) |"
    sep = "|---|---:|---:|---|"
    for n, _, _ in variants:
        head += f" {n} ROAS (94 % range) |"
        sep += "---|"
    lines += [head, sep]
    for k, r in enumerate(res["rows"]):
        line = (f"| {r['channel']} | {r['spend']:,.0f} | {r['true_roas']:.2f} | {r['pymc_roas']:.2f} "
                f"({_rng(r['pymc_roas_hdi'])}) |")
        for _, _, rows in variants:
            v = rows[k]
            line += f" {v['ours_roas']:.2f} ({_rng(v['ours_roas_range'])}) |"
        lines.append(line)
    lines += ["", "| channel | true contribution | pymc-marketing (94 % HDI) |"
              + "".join(f" {n} (94 % range) | {n} in its HDI |" for n, _, _ in variants),
              "|---|---:|---|" + "---|---|" * len(variants)]
    for k, r in enumerate(res["rows"]):
        line = (f"| {r['channel']} | {r['true_contribution']:,.0f} | {r['pymc_contribution']:,.0f} "
                f"({r['pymc_contribution_hdi'][0]:,.0f} – {r['pymc_contribution_hdi'][1]:,.0f}) |")
        for _, _, rows in variants:
            v = rows[k]
            line += (f" {v['ours_contribution']:,.0f} ({v['ours_contribution_range'][0]:,.0f} – "
                     f"{v['ours_contribution_range'][1]:,.0f}) | {'yes' if v['ours_in_pymc_hdi'] else 'no'} |")
        lines.append(line)
    lines += ["", *coverage(res)]
    return lines


def coverage(res: dict) -> list[str]:
    """Counts: planted ROAS inside each tool's range; ours inside pymc's HDI; mean |error| of ROAS."""
    rows = res["rows"]
    n = len(rows)
    t = [r["true_roas"] for r in rows]
    err = np.mean([abs(r["pymc_roas"] - r["true_roas"]) / r["true_roas"] for r in rows])
    out = [f"- planted ROAS inside pymc-marketing's 94 % HDI: {sum(r['truth_in_pymc_hdi'] for r in rows)}/{n} "
           f"channels; mean |ROAS error| {err:.1%}"]
    for name, key in (("ours (Hill)", "rows"), ("ours (logistic)", "rows_logistic")):
        v = res.get(key)
        if not v or "ours_roas" not in v[0]:
            continue
        e = np.mean([abs(r["ours_roas"] - tt) / tt for r, tt in zip(v, t, strict=True)])
        out.append(f"- {name}: planted ROAS inside its 94 % range {sum(r['truth_in_ours_range'] for r in v)}/{n}; "
                   f"mean |ROAS error| {e:.1%}; contribution inside pymc-marketing's 94 % HDI "
                   f"{sum(r['ours_in_pymc_hdi'] for r in v)}/{n}")
    return out


def machine() -> dict:
    from importlib.metadata import version

    v = {}
    for p in ("crm-research", "pymc-marketing", "pymc", "pytensor", "numpy", "scipy", "pandas"):
        try:
            v[p] = version(p)
        except Exception:  # noqa: BLE001
            v[p] = "not installed"
    return {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "python": platform.python_version(),
            "date": time.strftime("%Y-%m-%d %H:%M %Z"), "versions": v, "mmm_source": mmm_source()}


def mmm_source() -> str:
    """The commit whose ``crm_research/mmm.py`` is the one imported (``+ local changes`` if none is)."""
    import hashlib
    import subprocess

    from crm_research import mmm

    root = Path(__file__).resolve().parents[1]
    path = "src/crm_research/mmm.py"
    data = Path(mmm.__file__).read_bytes()
    blob = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # git's object id of the file
    try:
        log = subprocess.run(["git", "log", "-20", "--format=%h", "--", path], cwd=root, capture_output=True,
                             text=True, check=True).stdout.split()
        for c in log:
            ids = subprocess.run(["git", "rev-parse", f"{c}:{path}"], cwd=root, capture_output=True, text=True,
                                 check=True).stdout.strip()
            if ids == blob:
                return c
    except (OSError, subprocess.CalledProcessError):
        return "unknown (no git)"
    return (log[0] if log else "?") + " + local changes"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", nargs="+", default=["synthetic", "example"], choices=["synthetic", "example"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--draws", type=int)
    ap.add_argument("--tune", type=int)
    ap.add_argument("--chains", type=int)
    ap.add_argument("--cores", type=int, help="pymc's processes (its default here: 1, it halves cpu_count)")
    ap.add_argument("--no-ours", action="store_true", help="pymc-marketing only")
    args = ap.parse_args()
    OUT.mkdir(exist_ok=True)
    results = {**machine(), "runs": []}
    for name in args.data:
        r = run(name, args.seed, args.draws, args.tune, args.chains, ours=not args.no_ours, cores=args.cores)
        results["runs"].append(r)
        (OUT / "bench_mmm.json").write_text(json.dumps(results, indent=1, default=str))
        print(json.dumps({"dataset": name, "pymc_time": r["pymc"]["time"],
                          "sampler": r["pymc"]["sampler"]}, default=str), file=sys.stderr)
    print(f"machine: {results['machine']}, python {results['python']}, date {results['date']}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in results["versions"].items()))
    print(f"crm_research/mmm.py: {results['mmm_source']}")
    for r in results["runs"]:
        print()
        print("\n".join(markdown(r)))


if __name__ == "__main__":
    main()
