"""Comparing a submitted array with the expected one, and saying where they differ.

Both arrays are plain ndarrays decoded by the grader (``kit/wire.py``), so
nothing here can be fooled by an object that claims to be equal. Shapes must
match. Then a value passes under one of two rules, whichever its case names,
each the course's own rule for that kind of value:

- elementwise, numpy's ``allclose``: ``|got - expected| <= atol + rtol * |expected|``;
- by norm, as the course checks gradients: ``||got - expected||_2 <= norm``.

A NaN passes only where the expected value is NaN too, and an infinity only
where the same infinity is expected. Figures are finite numbers or None, so a
result always serializes as strict JSON; the message says "nan" or "inf".
"""

import dataclasses

import numpy as np

DEFAULT_TOLERANCES = {  # (rtol, atol) by the expected value's dtype
    "float16": (1e-2, 1e-3),
    "float32": (1e-5, 1e-5),
    "float64": (1e-7, 1e-9),
}


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


def finite(value):
    """A float for JSON: None when it is NaN or infinite."""
    value = float(value)
    return value if np.isfinite(value) else None


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


def _norm_of(error):
    with np.errstate(over="ignore", invalid="ignore"):
        return float(np.sqrt(np.sum(np.square(error))))


def compare(expected, got, rtol=None, atol=None, exact_dtype=False, norm=None):
    """Whether ``got`` matches ``expected``; if not, a message naming shapes, errors and where."""
    if got.shape != expected.shape:
        return Comparison(False, f"shape {got.shape}, expected {expected.shape}",
                          {"expected_shape": list(expected.shape), "got_shape": list(got.shape)})
    if exact_dtype and got.dtype != expected.dtype:
        return Comparison(False, f"dtype {got.dtype}, expected {expected.dtype}",
                          {"expected_dtype": expected.dtype.name, "got_dtype": got.dtype.name})
    if expected.size == 0:
        return Comparison(True)
    rtol, atol = (0.0, 0.0) if norm is not None else tolerances(expected, rtol, atol)
    exp, val, error, bad = mismatches(expected, got, rtol, atol)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        relative = np.where(exp == 0, error, error / np.abs(exp))
    figures = {"max_abs_error": _largest(error), "max_rel_error": _largest(relative)}
    if norm is not None:
        distance = _norm_of(error)
        figures["error_norm"] = finite(distance)
        if distance <= norm:   # NaN never is
            return Comparison(True, "", figures)
    elif not bad.any():
        return Comparison(True, "", figures)
    nan_where = np.flatnonzero((np.isnan(val) & ~np.isnan(exp)).ravel())
    if nan_where.size:
        where = _index(nan_where[0], exp.shape)
        figures.update(index=list(where), mismatched=int(nan_where.size))
        return Comparison(False, f"NaN at index {where} where {_fmt(exp[where])} was expected "
                                 f"({nan_where.size} nan of {exp.size} elements)", figures)
    worst = int(np.argmax(np.where(bad | (norm is not None), error, -1.0).ravel()))
    where = _index(worst, exp.shape)
    figures.update(index=list(where), mismatched=int(np.count_nonzero(bad)))
    at = f"at index {where} (expected {_fmt(exp[where])}, got {_fmt(val[where])})"
    if norm is not None:
        message = (f"the difference from the expected value has norm {_fmt(distance)}, over the {norm:g} allowed; "
                   f"largest absolute error {_fmt(error[where])} {at}")
    else:
        message = (f"{figures['mismatched']} of {exp.size} elements differ beyond rtol={rtol:g}, atol={atol:g}; "
                   f"largest absolute error {_fmt(error[where])} {at}; "
                   f"largest relative error {_fmt(_worst(relative))}")
    return Comparison(False, message, figures)


def _worst(array):
    """The largest element, NaNs aside (NaN when there is nothing else)."""
    numbers = array[~np.isnan(array)]
    return float(numbers.max()) if numbers.size else float("nan")


def _largest(array):
    """The largest element as a JSON-safe figure: None when it is not finite."""
    return finite(_worst(array))


def compare_gradient(expected, got, numeric, rtol=None, atol=None, norm=None):
    """A gradient is judged against the reference's alone.

    ``numeric``, the numerical gradient of the submission's own forward, only
    explains a failure: a gradient that agrees with it comes from a forward
    that differs from the reference's.
    """
    result = compare(expected, got, rtol, atol, norm=norm)
    if result.ok or numeric is None or numeric.shape != got.shape:
        return result
    against_numeric = compare(numeric, got, rtol, atol, norm=norm)
    result.figures["numeric_max_abs_error"] = against_numeric.figures.get("max_abs_error")
    if against_numeric.ok:
        result.message += ("; it agrees with the numerical gradient of your own forward, "
                           "so the forward itself differs from the reference's")
    return result
