# Attacks: at import, monkeypatch numpy's comparison helpers (np.max, np.amax, np.abs,
# np.absolute, np.allclose, np.isclose, np.array_equal, np.linalg.norm and np.testing's
# assertions) so that any check made with them in this process reports a perfect match, then
# return wrong values from softmax_loss. This fools a grader that compares inside the
# student's own process.
# Must happen: softmax_loss scores 0 and the total is at most 45, because the grader compares
# in its own process. The other functions do not use the patched helpers and keep full marks.
import numpy as _np


def _zero(*args, **kwargs):
    return 0.0


def _zeros_like(x, *args, **kwargs):
    return _np.zeros(_np.shape(x))


def _true(*args, **kwargs):
    return True


def _same_shape_true(a, b, *args, **kwargs):
    return _np.ones(_np.broadcast_shapes(_np.shape(a), _np.shape(b)), dtype=bool)


def _nothing(*args, **kwargs):
    return None


_np.max = _np.amax = _zero
_np.abs = _np.absolute = _zeros_like
_np.allclose = _np.array_equal = _np.array_equiv = _true
_np.isclose = _same_shape_true
_np.linalg.norm = _zero
try:
    import numpy.testing as _testing
except ImportError:  # numpy.testing needs unittest, which a worker may not be able to import
    _testing = None
for _name in (
    "assert_allclose",
    "assert_array_almost_equal",
    "assert_array_equal",
    "assert_almost_equal",
    "assert_equal",
    "assert_array_less",
):
    if _testing is not None:
        setattr(_testing, _name, _nothing)


def softmax_loss(x, y):
    return 1.2345, _np.full(x.shape, 0.25)
