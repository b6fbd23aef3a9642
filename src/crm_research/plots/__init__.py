"""Figures shared by the notebooks, one submodule per analysis.

Every function takes ``ax=None`` (a new figure is made when None) and returns the Axes.
"""

__all__ = ["figure_text"]


def figure_text(text) -> str:
    r"""Text for a matplotlib title or label: a ``"$"`` (a currency symbol) would start mathtext.

    Examples
    --------
    >>> print(figure_text("Spend ($)"))
    Spend (\$)
    """
    return str(text).replace("$", r"\$")
