"""Judging and scoring: the grader's own comparison, the only thing that decides points.

judge.py     one case: each scored output, by the kind of check the case needs
compare.py   one output against its expected value (shape, finiteness, rel error)
dropout.py   dropout's statistical checks, its mask being random
score.py     checks to points with the rubric; the result of grading a submission
"""
