"""``nbformat``, imported without the IRI grammar ``jsonschema`` would compile.

``nbformat`` imports ``jsonschema``, whose format checkers import ``rfc3987_syntax`` when it is
installed (``jupyter-events`` asks for it), and that module compiles a Lark grammar of IRIs at
import: 1.1-1.9 CPU s, which every ``crm-research run`` paid before its data check. No notebook
schema uses the ``iri`` format, so the modules that read or write notebooks (the runner, its
parameters, the reports) import ``nbformat`` from here; ``jsonschema`` then has no ``iri``
checker in that process (the block is lifted once ``nbformat`` is imported). A process that
imported ``rfc3987_syntax`` already keeps it. Kernels never import this module.
"""

import sys

_blocked = "rfc3987_syntax" not in sys.modules
if _blocked:
    sys.modules["rfc3987_syntax"] = None  # jsonschema's ``from rfc3987_syntax import ...`` fails

import nbformat  # noqa: E402  (imports jsonschema and its format checkers now)

if _blocked:  # later imports of rfc3987_syntax (another library's) work as usual
    del sys.modules["rfc3987_syntax"]

__all__ = ["nbformat"]
