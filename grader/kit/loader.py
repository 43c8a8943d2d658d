"""Importing a submission inside the child.

The submission's ``needle`` package and ``simple_ml`` module are loaded from
its own files by path, and its folders are appended to the end of
``sys.path``: the standard library and site-packages come first, so a
submission's ``numpy.py`` or ``pytest.py`` can never shadow the real ones.

When an import fails, a stand-in module takes its place whose every use
raises ``SubmissionImportError`` with the original problem; cases that do
not touch the broken module (``parse_mnist`` when ``ops.py`` has a syntax
error, say) still run.
"""

import importlib.util
import os
import sys
import traceback
import types


class SubmissionImportError(Exception):
    """The submission's module could not be imported; the message says where and why."""


def describe_import_failure(exc, root):
    """One line naming the submission's file and line, and the problem."""
    location = None
    if isinstance(exc, SyntaxError) and exc.filename:
        location = (exc.filename, exc.lineno)
    else:
        for frame in reversed(traceback.extract_tb(exc.__traceback__)):
            if os.path.abspath(frame.filename).startswith(root + os.sep):
                location = (frame.filename, frame.lineno)
                break
    problem = f"{type(exc).__name__}: {exc.msg if isinstance(exc, SyntaxError) else exc}"
    if isinstance(exc, ModuleNotFoundError):
        problem += " (not part of this homework, and not installed on the grader)"
    if location is None:
        return problem
    path = os.path.relpath(location[0], root) if location[0].startswith(root) else location[0]
    return f"{path}, line {location[1]}: {problem}"


class _BrokenModule(types.ModuleType):
    def __init__(self, name, message):
        super().__init__(name)
        self.__dict__["_message"] = message

    def __getattr__(self, attr):
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        raise SubmissionImportError(self.__dict__["_message"])


def _execute(name, path, package_dir=None):
    spec = importlib.util.spec_from_file_location(
        name, path, submodule_search_locations=[package_dir] if package_dir else None
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
            del sys.modules[key]
        raise
    return module


MODULES = {
    # name: (path inside the submission, package directory or None, description)
    "needle": ("python/needle/__init__.py", "python/needle", "python/needle"),
    "simple_ml": ("apps/simple_ml.py", None, "apps/simple_ml.py"),
}


def add_submission_paths(root):
    for sub in ("python", "apps", ""):
        path = os.path.join(root, sub) if sub else root
        if path not in sys.path:
            sys.path.append(path)


def load(name, root, blocked=None):
    """The submission's module ``name``, or a stand-in explaining why it is unusable.

    ``blocked`` is a message from the grader when an earlier attempt to import
    this module ended the process: the module is then not executed again.
    """
    relative, package, description = MODULES[name]
    add_submission_paths(root)
    if blocked:
        module = _BrokenModule(name, blocked)
    else:
        try:
            module = _execute(name, os.path.join(root, relative), package and os.path.join(root, package))
        except Exception as exc:
            where = describe_import_failure(exc, root)
            if where.startswith(description + ", line"):  # the module's own file: say it once
                where = where[len(description) + 2:]
            module = _BrokenModule(name, f"could not import {description}: {where}")
    sys.modules[name] = module
    if name == "simple_ml":
        sys.modules.setdefault("apps", types.ModuleType("apps")).simple_ml = module
        sys.modules["apps.simple_ml"] = module
    return module
