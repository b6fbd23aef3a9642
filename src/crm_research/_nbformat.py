"""``nbformat``, imported without the IRI grammar ``jsonschema`` would compile.

``nbformat`` imports ``jsonschema``, whose format checkers import ``rfc3987_syntax`` when it is
installed (``jupyter-events`` asks for it), and that module compiles a Lark grammar of IRIs at
import: 1.1-1.9 CPU s, which every ``crm-research run`` paid before its data check. No notebook
schema uses the ``iri`` format, so the modules that read or write notebooks (the runner, its
parameters, the reports) import ``nbformat`` from here; ``jsonschema`` then has no ``iri``
checker in that process. A process that imported ``rfc3987_syntax`` already keeps it. Kernels
never import this module.
"""

import sys

sys.modules.setdefault("rfc3987_syntax", None)

import nbformat  # noqa: E402

__all__ = ["nbformat"]
