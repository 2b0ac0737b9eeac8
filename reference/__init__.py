"""The correct layers, losses and numerical-gradient tools (staff only).

Grading never imports this package: it needs only the stored vectors and the rubric.
"""
