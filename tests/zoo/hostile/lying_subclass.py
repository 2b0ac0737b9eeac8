# Attacks: affine_forward returns WRONG values (the right answer plus one) wrapped in an
# ndarray subclass whose arithmetic and comparisons lie: __sub__, __rsub__ and __abs__ give
# zeros, __eq__ gives all True, __ne__ all False, and __array_ufunc__ answers every ufunc with
# zeros (arithmetic) or "agree" (comparisons, reductions), so np.allclose, ==, abs(a - b) all
# report a perfect match.
# Must happen: affine_forward scores 0 (only the array's data counts). affine_backward is not
# disturbed: the cache is the honest (x, w, b).
import numpy as _np

_correct_affine_forward = affine_forward
_AGREE = {"equal", "less_equal", "greater_equal", "isfinite", "logical_and", "logical_or"}
_DISAGREE = {"not_equal", "less", "greater", "isnan", "isinf"}


def _shape_of(*inputs):
    return _np.broadcast_shapes(*(_np.shape(i) for i in inputs))


class _Agreeable(_np.ndarray):
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method != "__call__":
            return ufunc.__name__ not in _DISAGREE
        shape = _shape_of(*inputs)
        if ufunc.__name__ in _AGREE:
            return _np.ones(shape, dtype=bool)
        if ufunc.__name__ in _DISAGREE:
            return _np.zeros(shape, dtype=bool)
        return _np.zeros(shape)

    def __eq__(self, other):
        return _np.ones(_shape_of(self, other), dtype=bool)

    def __ne__(self, other):
        return _np.zeros(_shape_of(self, other), dtype=bool)

    def __sub__(self, other):
        return _np.zeros(_shape_of(self, other))

    __rsub__ = __sub__

    def __abs__(self):
        return _np.zeros(self.shape)

    __hash__ = None


def affine_forward(x, w, b):
    out, cache = _correct_affine_forward(x, w, b)
    return _np.asarray(out + 1.0).view(_Agreeable), cache
