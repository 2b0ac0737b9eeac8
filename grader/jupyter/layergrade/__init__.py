"""The name students load: ``%load_ext layergrade``, ``layergrade.check(...)``. Installed
as the top-level package ``layergrade``; the check itself is grader.jupyter."""

from grader.jupyter import Report, check, load_ipython_extension

__all__ = ["Report", "check", "load_ipython_extension"]
