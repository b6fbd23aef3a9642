"""The survival section of a churn report: several populations, one set of tables.

A report describes customers (and, where the data has them, subscriptions) the same way: a
Kaplan-Meier summary by group, log-rank tests between the groups and a Cox model with its
held-out concordance. :class:`SurvivalStudy` runs those steps for each population it is given
and keeps every result, so the report saves one table of each kind with a ``population``
column; :func:`varying_covariates` and :func:`with_covariates` prepare a population's table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import pandas as pd

from crm_research import exprs
from crm_research.churn.survival import CoxModel, cox_with_holdout, km_summary, logrank_tests

__all__ = ["SurvivalStudy", "varying_covariates", "with_covariates"]


def with_covariates(durations: pd.DataFrame, covariates: pd.DataFrame, *, customer_col: str = "customer_id") -> pd.DataFrame:
    """``durations`` with each row's customer covariates (a left join: rows without any keep NaN).

    Parameters
    ----------
    durations : DataFrame
        One row per customer or subscription (e.g.
        :func:`~crm_research.churn.definitions.noncontractual_churn` output).
    covariates : DataFrame
        One row per customer (:func:`~crm_research.churn.survival.customer_covariates`).

    Returns
    -------
    DataFrame
        ``durations``' rows in their order, with the covariate columns added.

    Examples
    --------
    >>> d = pd.DataFrame({"customer_id": [1, 2], "duration_days": [30.0, 90.0], "event": [1, 0]})
    >>> with_covariates(d, pd.DataFrame({"customer_id": [2], "age": [41.0]}))
       customer_id  duration_days  event   age
    0            1           30.0      1   NaN
    1            2           90.0      0  41.0
    """
    exprs.require_columns(durations, "durations", {"customer_col": customer_col})
    exprs.require_columns(covariates, "covariates", {"customer_col": customer_col})
    return durations.merge(covariates, on=customer_col, how="left")


def varying_covariates(df: pd.DataFrame, candidates: Iterable[str]) -> list[str]:
    """The ``candidates`` that are columns of ``df`` with more than one distinct value.

    A covariate every row shares (or one the data lacks) cannot enter a Cox model.

    Examples
    --------
    >>> varying_covariates(pd.DataFrame({"age": [30, 40], "first_order_promo": [True, True]}),
    ...                    ("age", "first_order_promo", "region"))
    ['age']
    """
    return [c for c in candidates if c in df.columns and df[c].nunique() > 1]


class SurvivalStudy:
    """Kaplan-Meier summaries, log-rank tests and Cox models of several populations, collected.

    Parameters
    ----------
    at : sequence of float
        Days at which :func:`~crm_research.churn.survival.km_summary` reads the curves.
    per : mapping of str to float, optional
        Units of the Cox hazard ratios (``{"age": 10}``: per 10 years), as in
        :class:`~crm_research.churn.survival.CoxModel`.
    test_share : float
        Share of subjects held out for each Cox model's concordance (0-1).
    seed : int
        Seed of the held-out split.

    Attributes
    ----------
    km_summary_, logrank_, hazard_ratios_, fits_ : DataFrame or None
        Every population's Kaplan-Meier summary, log-rank tests, Cox table (hazard ratios with
        the PH check) and fit figures (``subjects``, ``events``, ``dropped_missing_covariates``,
        ``held_out_concordance``), each with a ``population`` column, in the order the
        populations were added; None until one was.
    models_ : dict
        Population -> fitted :class:`~crm_research.churn.survival.CoxModel`.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"customer_id": range(400), "group": rng.choice(["a", "b"], 400),
    ...                    "age": rng.normal(40, 10, 400)})
    >>> df["duration_days"] = rng.exponential(np.where(df["group"] == "a", 300.0, 150.0))
    >>> df["event"] = (df["duration_days"] < 365).astype(int)
    >>> df["duration_days"] = df["duration_days"].clip(upper=365)
    >>> study = SurvivalStudy(at=(90, 180), per={"age": 10}, seed=1)
    >>> km, tests = study.describe(df, "customers", group_col="group")
    >>> cox = study.fit_cox(df, "customers", ["group", "age"], {"group": "a"})
    >>> study
    SurvivalStudy(at=(90, 180), per={'age': 10}, seed=1); populations: customers
    >>> float(study.hazard_ratios_.set_index("covariate").loc["group_b", "hazard_ratio"]) > 1.5
    True
    """

    def __init__(self, at: Sequence[float] = (270, 365, 540), per: Mapping[str, float] | None = None,
                 test_share: float = 0.3, seed: int = 0):
        self.at = at
        self.per = per
        self.test_share = test_share
        self.seed = seed

    def __repr__(self) -> str:
        args = [f"at={self.at!r}", *([f"per={self.per!r}"] if self.per else []),
                *([f"test_share={self.test_share!r}"] if self.test_share != 0.3 else []),
                *([f"seed={self.seed!r}"] if self.seed else [])]
        names = list(dict.fromkeys([*getattr(self, "_populations", [])]))
        return f"{type(self).__name__}({', '.join(args)})" + (f"; populations: {', '.join(names)}" if names else "")

    def _add(self, name: str, table: pd.DataFrame | None, population: str) -> None:
        self._populations = [*getattr(self, "_populations", []), population]
        if table is None:
            return
        table = table.assign(population=population)
        old = getattr(self, name, None)
        setattr(self, name, table if old is None else pd.concat([old, table], ignore_index=True))

    km_summary_: pd.DataFrame | None = None
    logrank_: pd.DataFrame | None = None
    hazard_ratios_: pd.DataFrame | None = None
    fits_: pd.DataFrame | None = None

    def describe(self, df: pd.DataFrame, population: str, group_col: str | None = None
                 ) -> tuple[pd.DataFrame, pd.DataFrame | None]:
        """Kaplan-Meier summary (by ``group_col``, or pooled) and, with groups, the log-rank tests.

        Parameters
        ----------
        df : DataFrame
            One row per subject: ``duration_days`` (days), ``event`` (0/1), ``group_col``.
        population : str
            Its name in the collected tables (``"customers"``, ``"subscriptions"``).
        group_col : str, optional
            Groups to compare; None gives one pooled curve and no test.

        Returns
        -------
        (DataFrame, DataFrame or None)
            This population's rows of ``km_summary_`` and ``logrank_`` (with ``population``).
        """
        km = km_summary(df, group_col=group_col, at=tuple(self.at))
        tests = None if group_col is None else logrank_tests(df, group_col=group_col)
        self._add("km_summary_", km, population)
        self._add("logrank_", tests, population)
        return km.assign(population=population), None if tests is None else tests.assign(population=population)

    def fit_cox(self, df: pd.DataFrame, population: str, covariates: Sequence[str],
                categorical: Mapping[str, str] | None = None) -> CoxModel:
        """Fit a Cox model of one population with its held-out concordance and keep its tables.

        Parameters
        ----------
        df : DataFrame
            One row per subject: ``duration_days``, ``event`` and the covariates.
        population : str
            Its name in the collected tables.
        covariates, categorical
            As in :class:`~crm_research.churn.survival.CoxModel`.

        Returns
        -------
        CoxModel
            Fitted on every row (:func:`~crm_research.churn.survival.cox_with_holdout`); its
            table is added to ``hazard_ratios_`` and its figures to ``fits_``.
        """
        model, table, fit = cox_with_holdout(df, covariates, categorical, per=self.per, test_share=self.test_share,
                                             seed=self.seed)
        self._add("hazard_ratios_", table, population)
        row = pd.DataFrame([{"population": population, **fit}])
        self.fits_ = row if self.fits_ is None else pd.concat([self.fits_, row], ignore_index=True)
        self.models_ = {**getattr(self, "models_", {}), population: model}
        return model

    def fit_of(self, population: str) -> dict:
        """The fit figures of one population's Cox model (a row of ``fits_`` as a dict)."""
        if self.fits_ is None or population not in set(self.fits_["population"]):
            raise KeyError(f"no Cox model fitted for population {population!r}")
        row = self.fits_[self.fits_["population"] == population].iloc[-1].to_dict()
        return {k: v.item() if hasattr(v, "item") else v for k, v in row.items()}
