"""Figures shared by the notebooks, one submodule per analysis.

Every function takes ``ax=None`` (a new figure is made when None) and returns the Axes.
"""
