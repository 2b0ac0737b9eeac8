"""The call interpreter: run a case's calls against a namespace and describe what came back.

Shared by the worker (on the submission's functions) and the staff-side vector builder
(on the reference's), so that both are called in exactly the same way.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import traceback
from collections.abc import Mapping
from typing import Any

import numpy as np

from .frames import npy_bytes

MAX_TRACEBACK = 4000


class CallError(Exception):
    """A submission's call went wrong in a way the student should hear about."""


class NotTested(Exception):
    """Another function that a case calls first (a backward case's forward, which makes
    its cache) failed: the graded function was never reached."""


def resolve(spec: Any, inputs: Mapping[str, np.ndarray], env: dict[str, Any]) -> Any:
    """Turn an argument spec into a fresh Python value.

    {"array": key} -> a copy of that input; {"value": v} -> v; {"var": name} -> a value
    returned by an earlier call; {"dict": {k: spec}, "as": name} -> a dict (bound to
    name so later outputs can read items the call wrote into it).
    """
    if "array" in spec:
        return np.array(inputs[spec["array"]], copy=True)
    if "value" in spec:
        return spec["value"]
    if "var" in spec:
        return env[spec["var"]]
    if "dict" in spec:
        d = {k: resolve(v, inputs, env) for k, v in spec["dict"].items()}
        if "as" in spec:
            env[spec["as"]] = d
        return d
    raise ValueError(f"unknown argument spec {spec!r}")


def fetch(spec: Any, env: Mapping[str, Any]) -> Any:
    """An output spec: {"var": name} or {"item": [dict_name, key]} (None when missing)."""
    if "var" in spec:
        return env[spec["var"]]
    name, key = spec["item"]
    return env[name].get(key) if isinstance(env.get(name), dict) else None


def run_calls(
    namespace: Mapping[str, Any],
    case: Mapping[str, Any],
    inputs: Mapping[str, np.ndarray],
    mutated: list[str] | None = None,
) -> dict[str, Any]:
    """Run a case's calls against ``namespace`` and return its named outputs (raw values).

    Each call is {"fn": name, "args": [spec...], "returns": [name...]}: a single name binds
    the whole return value, several names unpack a tuple of exactly that length. Array
    arguments are fresh copies; those a call changed in place are added to ``mutated``
    as "function:argument".
    """
    env: dict[str, Any] = {}
    graded = case.get("function")
    # A composite (a sandwich the grader chains from the layers) calls no function of its
    # own name: each of its calls is what is graded.
    composite = all(call["fn"] != graded for call in case["calls"])
    for call in case["calls"]:
        if call["fn"] == graded or graded is None or composite:
            run_call(namespace, call, inputs, env, mutated)
            continue
        first = f"not tested on this case: it calls your {call['fn']} first"
        if not callable(namespace.get(call["fn"])):
            raise NotTested(f"{first}, which is not defined")
        try:
            run_call(namespace, call, inputs, env, mutated)
        except CallError as exc:
            raise NotTested(f"{first}, which failed on it: {exc}") from None
        except Exception as exc:
            raise NotTested(f"{first}, which failed on it: {describe_exception(exc)}") from exc
    return {out["name"]: fetch(out["from"], env) for out in case["outputs"]}


def run_call(
    namespace: Mapping[str, Any],
    call: Mapping[str, Any],
    inputs: Mapping[str, np.ndarray],
    env: dict[str, Any],
    mutated: list[str] | None,
) -> None:
    """Run one call, binding what it returns in ``env``."""
    fn = namespace.get(call["fn"])
    if not callable(fn):
        raise CallError(f"{call['fn']} is not defined")
    args = [resolve(a, inputs, env) for a in call["args"]]
    value = fn(*args)
    if mutated is not None:
        for spec, arg in zip(call["args"], args, strict=True):
            key = spec.get("array")
            if key is not None and not np.array_equal(arg, inputs[key], equal_nan=True):
                mutated.append(f"{call['fn']}:{key}")
    names = call["returns"]
    if len(names) == 1:
        env[names[0]] = value
        return
    if type(value) is not tuple:
        raise CallError(
            f"{call['fn']} returned {describe(value)}; expected a tuple of {len(names)} "
            f"({', '.join(names)})"
        )
    if len(value) != len(names):
        raise CallError(
            f"{call['fn']} returned a tuple of {len(value)}; expected {len(names)} "
            f"({', '.join(names)})"
        )
    env.update(zip(names, value, strict=True))


def describe(value: Any) -> str:
    t = type(value)
    if value is None:
        return "None"
    if t is tuple:
        return f"a tuple of {len(value)}"
    return f"a {t.__module__}.{t.__qualname__}" if t.__module__ != "builtins" else f"a {t.__name__}"


def encode(value: Any) -> tuple[str, bytes | None]:
    """Classify a returned value by its real type and serialise what may be numeric.

    Returns (kind, npy bytes or None). Subclasses of ndarray are sent as their base
    ndarray; the grader judges the kind and the data again.
    """
    t = type(value)
    if t is bool or isinstance(value, np.bool_):
        return "bool", None
    if t is int or t is float or (isinstance(value, np.generic) and isinstance(value, np.number)):
        # A numpy scalar keeps its own dtype (a float32 loss is named as such); read from
        # its real type, never from an attribute the value could override.
        generic = isinstance(value, np.generic)
        arr = np.array(value.item(), dtype=np.dtype(t)) if generic else np.array(value)
        if arr.dtype.kind not in "iuf":
            return describe(value), None
        kind = "number"
    elif isinstance(value, np.ndarray):
        arr = value.view(np.ndarray) if t is not np.ndarray else value
        kind = "ndarray" if t is np.ndarray else "ndarray subclass"
        if arr.dtype.hasobject or arr.dtype.kind not in "biuf":
            return f"array of dtype {arr.dtype}", None
    else:
        return describe(value), None
    return kind, npy_bytes(arr)


def result_message(outputs: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, bytes]]:
    kinds: dict[str, str] = {}
    arrays: dict[str, bytes] = {}
    for name, value in outputs.items():
        kind, data = encode(value)
        kinds[name] = kind
        if data is not None:
            arrays[name] = data
    return {"type": "result", "status": "ok", "kinds": kinds}, arrays


def describe_exception(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return f"called sys.exit({exc.code!r}); return values instead of exiting"
    if isinstance(exc, SyntaxError):
        return f"{type(exc).__name__}: {exc.msg}"
    return f"{type(exc).__name__}: {exc}{missing_module_hint(exc)}"


# The submission's folder, in a worker (main.py sets it): where its own modules are.
submission_dir: str | None = None


def missing_module_hint(exc: BaseException) -> str:
    """Where a missing module was looked for: in a package of the submission (a file it
    lacks), or neither in the submission nor among what the sandbox offers (a file left
    out, or a package such as torch). Nothing for a package that is there (numpy.foo)."""
    name = exc.name if isinstance(exc, ModuleNotFoundError) else None
    if submission_dir is None or not name or type(name) is not str:
        return ""
    top = name.split(".")[0]
    own = os.path.join(submission_dir, top)
    if os.path.isdir(own) or os.path.isfile(f"{own}.py"):
        return f" (the submission has no {name.replace('.', '/')})"
    try:  # the submission's code has run: its import hooks may do anything
        if top in sys.modules or importlib.util.find_spec(top) is not None:
            return ""
    except Exception:
        return ""
    return f" (neither the submission nor the sandbox has {top})"


def error_message(exc: BaseException, status: str = "error") -> dict[str, Any]:
    tb = exc.__traceback__
    frames = traceback.extract_tb(tb) if tb is not None else []
    # The submission's frames: not those of this file or of the other worker files beside it.
    ours = os.path.dirname(os.path.abspath(__file__))
    student = [f for f in frames if os.path.dirname(os.path.abspath(f.filename)) != ours]
    where = student[-1] if student else None
    return {
        "type": "result",
        "status": status,
        "error": describe_exception(exc)[:500],
        "line": where.lineno if where else None,
        "file": os.path.basename(where.filename) if where else None,
        "traceback": "".join(traceback.format_exception(exc))[-MAX_TRACEBACK:],
    }
