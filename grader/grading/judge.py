"""Judge one case: every output the rubric scores, by the kind of check the case needs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

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
        missing = not_stored(case, name, values, kinds, rejected) or usable(
            name, values.get(name), kinds.get(name), rejected.get(name)
        )
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
            check = compare_array(name, values[name], case.expected[name], case, credit, reveal)
            checks.append(unchanged(case, name, values[name], check))
    return tuple(checks)


def item_of(case: CaseVector, name: str) -> tuple[str, str] | None:
    """(dict, key) when the output ``name`` is read from a dict the function was given
    (bn_param['running_mean']), else None."""
    output = next((o for o in case.outputs if o.name == name), None)
    item = output.source.get("item") if output is not None else None
    if isinstance(item, list | tuple) and len(item) == 2:
        return str(item[0]), str(item[1])
    return None


def passed_in(case: CaseVector, bind: str, key: str) -> np.ndarray | None:
    """The input a case's calls put in the dict ``bind`` under ``key`` before the call,
    if any (running statistics given to a batchnorm)."""
    for call in case.calls:
        for arg in call.get("args", ()):
            if not isinstance(arg, Mapping) or arg.get("as") != bind:
                continue
            spec = arg.get("dict", {}).get(key)
            if isinstance(spec, Mapping) and "array" in spec:
                return case.inputs.get(spec["array"])
    return None


def not_stored(
    case: CaseVector,
    name: str,
    values: Mapping[str, np.ndarray],
    kinds: Mapping[str, str],
    rejected: Mapping[str, str],
) -> Check | None:
    """A failing check when an output read from a dict the function was given is not
    there after the call: the function did not store it, which a return statement cannot
    fix. Never a stub's mark (``none``): only returned values say that."""
    item = item_of(case, name)
    if item is None or name in values or name in rejected or kinds.get(name, "None") != "None":
        return None
    bind, key = item
    return Check(
        name,
        0.0,
        f"{bind} has no '{key}' after the call: store the updated {key.replace('_', ' ')} in "
        f"{bind}['{key}']",
    )


def unchanged(case: CaseVector, name: str, got: np.ndarray, check: Check) -> Check:
    """``check``, saying so when a failing output read from a dict is still the value the
    case put there: the function computed an update but never stored it back."""
    item = item_of(case, name)
    if check.credit >= 1.0 or item is None:
        return check
    bind, key = item
    before = passed_in(case, bind, key)
    if before is None or not np.array_equal(got, before):
        return check
    return replace(
        check, message=f"{key} in {bind} is unchanged: store the updated value back into {bind}"
    )
