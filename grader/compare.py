"""Comparing a submitted array with the expected one, and saying where they differ.

Both arrays are plain ndarrays decoded by the grader (``kit/wire.py``), so
nothing here can be fooled by an object that claims to be equal. The rule is
numpy's ``allclose`` rule, ``|got - expected| <= atol + rtol * |expected|``,
except that a NaN passes only where the expected value is NaN too.
"""

import dataclasses

import numpy as np

DEFAULT_TOLERANCES = {  # (rtol, atol) by the expected value's dtype
    "float16": (1e-2, 1e-3),
    "float32": (1e-5, 1e-5),
    "float64": (1e-7, 1e-9),
}
# A numerical gradient is itself approximate: compared more loosely.
NUMERIC_TOLERANCES = (1e-5, 1e-6)


def tolerances(expected, rtol=None, atol=None):
    default_rtol, default_atol = DEFAULT_TOLERANCES.get(expected.dtype.name, (0.0, 0.0))
    return (default_rtol if rtol is None else rtol), (default_atol if atol is None else atol)


@dataclasses.dataclass
class Comparison:
    ok: bool
    message: str = ""
    figures: dict = dataclasses.field(default_factory=dict)


def _fmt(x):
    if isinstance(x, (float, np.floating)):
        return f"{float(x):.7g}"
    return str(x.item() if hasattr(x, "item") else x)


def _index(flat_index, shape):
    return tuple(int(i) for i in np.unravel_index(flat_index, shape)) if shape else ()


def mismatches(expected, got, rtol, atol):
    """``(expected, got, |error|, bad)`` as float arrays of one shape; ``bad`` marks the elements out of tolerance."""
    exp = expected.astype(np.float64) if expected.dtype != np.bool_ else expected.astype(np.int64)
    val = got.astype(np.float64) if got.dtype != np.bool_ else got.astype(np.int64)
    with np.errstate(invalid="ignore", over="ignore"):
        error = np.abs(val - exp)
        both_nan = np.isnan(exp) & np.isnan(val)
        same_inf = np.isinf(exp) & (val == exp)
        error = np.where(both_nan | same_inf, 0.0, error)
        bad = ~(error <= atol + rtol * np.abs(exp)) & ~(both_nan | same_inf)   # other NaN errors are bad
        bad |= np.isinf(exp) & ~same_inf   # an infinite tolerance must not excuse the wrong infinity
    return exp, val, error, bad


def compare(expected, got, rtol=None, atol=None, exact_dtype=False):
    """Whether ``got`` matches ``expected``; if not, a message naming shapes, errors and where."""
    rtol, atol = tolerances(expected, rtol, atol)
    if got.shape != expected.shape:
        return Comparison(False, f"shape {got.shape}, expected {expected.shape}",
                          {"expected_shape": list(expected.shape), "got_shape": list(got.shape)})
    if exact_dtype and got.dtype != expected.dtype:
        return Comparison(False, f"dtype {got.dtype}, expected {expected.dtype}",
                          {"expected_dtype": expected.dtype.name, "got_dtype": got.dtype.name})
    if expected.size == 0:
        return Comparison(True)
    exp, val, error, bad = mismatches(expected, got, rtol, atol)
    with np.errstate(invalid="ignore", over="ignore"):
        relative = error / np.maximum(np.abs(exp), np.finfo(np.float64).tiny)
    figures = {"max_abs_error": _finite(error), "max_rel_error": _finite(np.where(exp == 0, error, relative))}
    if not bad.any():
        return Comparison(True, "", figures)
    flat_bad = np.flatnonzero(bad.ravel())
    nan_where = np.flatnonzero((np.isnan(val) & ~np.isnan(exp)).ravel())
    if nan_where.size:
        where = _index(nan_where[0], exp.shape)
        figures.update(index=list(where), mismatched=int(flat_bad.size))
        return Comparison(False, f"NaN at index {where} where {_fmt(exp[where])} was expected "
                                 f"({nan_where.size} NaN of {exp.size} elements)", figures)
    worst = int(np.nanargmax(np.where(bad, error, -1.0).ravel()))
    where = _index(worst, exp.shape)
    figures.update(index=list(where), mismatched=int(flat_bad.size))
    message = (f"{flat_bad.size} of {exp.size} elements differ beyond rtol={rtol:g}, atol={atol:g}; "
               f"largest absolute error {_fmt(figures['max_abs_error'])} at index {where} "
               f"(expected {_fmt(exp[where])}, got {_fmt(val[where])}); "
               f"largest relative error {_fmt(figures['max_rel_error'])}")
    return Comparison(False, message, figures)


def _finite(array):
    finite = array[np.isfinite(array)]
    return float(finite.max()) if finite.size else float("inf")


def compare_gradient(expected, got, numeric, rtol=None, atol=None):
    """A gradient must match the reference's and the numerical gradient of the submission's own forward."""
    against_reference = compare(expected, got, rtol, atol)
    against_numeric = None if numeric is None else compare(numeric, got, *NUMERIC_TOLERANCES)
    figures = dict(against_reference.figures)
    if against_numeric is not None:
        figures["numeric_max_abs_error"] = against_numeric.figures.get("max_abs_error")
    if numeric is None:
        return Comparison(False, "the numerical gradient of your forward was not computed", figures)
    if against_reference.ok and against_numeric.ok:
        return Comparison(True, "", figures)
    if not against_reference.ok and not against_numeric.ok:
        message = (f"disagrees with both the reference gradient ({against_reference.message}) and the "
                   f"numerical gradient of your own forward ({against_numeric.message})")
    elif not against_reference.ok:
        message = (f"disagrees with the reference gradient ({against_reference.message}) but agrees with the "
                   "numerical gradient of your own forward: check the forward (compute) as well")
    else:
        message = (f"agrees with the reference gradient but not with the numerical gradient of your own "
                   f"forward ({against_numeric.message}): your forward (compute) is probably wrong")
    return Comparison(False, message, figures)
