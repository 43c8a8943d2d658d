"""tox plugin: let tox find every Python that pyenv installed, not only the active one.

With pyenv, ``python3.10`` on PATH is a shim that works only for the active
versions, so tox would report py310 missing although pyenv holds it. This
activates, for tox and what it starts, the active versions followed by the
newest installed release of each Python 3 minor version. Without pyenv it
does nothing.
"""

import os
import re

from tox.plugin import impl


def _pyenv_versions(root):
    newest = {}
    for name in os.listdir(os.path.join(root, "versions")):
        match = re.fullmatch(r"3\.(\d+)\.(\d+)", name)
        if match:
            minor, patch = int(match.group(1)), int(match.group(2))
            if patch >= newest.get(minor, (-1, ""))[0]:
                newest[minor] = (patch, name)
    return [name for _, name in newest.values()]


@impl
def tox_add_core_config(core_conf, state):
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    if not os.path.isdir(os.path.join(root, "versions")):
        return
    # `pyenv exec` (the python3 shim that started tox) exports the active versions
    active = [v for v in os.environ.get("PYENV_VERSION", "").split(":") if v]
    if not active:
        try:
            with open(os.path.join(root, "version")) as handle:
                active = handle.read().split()
        except OSError:
            active = []
    versions = active + [name for name in _pyenv_versions(root) if name not in active]
    os.environ["PYENV_VERSION"] = ":".join(versions)
