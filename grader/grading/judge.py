"""Judge one case: every output the rubric scores, by the kind of check the case needs."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from grader.config.choices import DropoutMeaning
from grader.grading.compare import Check, Credit, compare_array, usable
from grader.grading.dropout import dropout_backward, dropout_train
from grader.vectors import CaseVector


def judge_case(
    case: CaseVector,
    *,
    values: Mapping[str, np.ndarray],
    kinds: Mapping[str, str],
    rejected: Mapping[str, str],
    credit: Credit,
    p_means: DropoutMeaning,
) -> tuple[Check, ...]:
    """One check per scored output: of ``values`` (what came back, by output name), as
    ``kinds`` describes them and ``rejected`` refused them; ``credit`` turns a relative
    error into a fraction of the points."""
    reveal = case.split == "public"
    scored = ["dx"] if case.check == "dropout_backward" else [o.name for o in case.outputs]
    checks = []
    for name in scored:
        missing = usable(name, values.get(name), kinds.get(name), rejected.get(name))
        if missing is not None:
            checks.append(missing)
        elif case.check == "dropout_train":
            checks.append(dropout_train(case, values[name], p_means))
        elif case.check == "dropout_backward":
            if "out" not in values:
                checks.append(Check("dx", 0.0, "the forward's out is not a numeric array"))
            else:
                checks.append(dropout_backward(case, values, credit, p_means))
        else:
            checks.append(
                compare_array(name, values[name], case.expected[name], case, credit, reveal)
            )
    return tuple(checks)
