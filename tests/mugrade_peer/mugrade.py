"""A mugrade client written from the protocol's facts (../shared/notes/mugrade-protocol.md), for the tests.

The course's real client is not on PyPI. This one speaks the same protocol
the same way: ``python -m mugrade submit KEY [hw1] -k EXPR`` (or ``publish``)
runs the ``submit_*`` functions of ``tests/`` with pytest; the server is
``$MUGRADE_SERVER``, read when the module is imported.
"""

import datetime
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

import numpy
import pytest

SERVER = os.environ.get("MUGRADE_SERVER", "https://mugrade.example.org/").rstrip("/") + "/"
MODE = KEY = ASSIGNMENT = None
STATE = {"submission": None, "index": 0, "values": [], "failed": False}


def encode(value):
    if isinstance(value, numpy.ndarray):
        return {"_encoded_type": "np.ndarray", "data": value.tolist()}
    if isinstance(value, numpy.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [encode(item) for item in value]
    if isinstance(value, dict):
        return {key: encode(item) for key, item in value.items()}
    if isinstance(value, datetime.datetime):
        return {"_encoded_type": "datetime", "data": value.isoformat()}
    if isinstance(value, (type, numpy.dtype)):
        return {"_encoded_type": "type", "data": repr(value)}
    return value


def post(call, query, body=None):
    """``(status, reply text)`` of a POST to the server."""
    data = None if body is None else json.dumps(body, allow_nan=False).encode()
    request = urllib.request.Request(SERVER + call + "?" + urllib.parse.urlencode(query), data=data, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def submit(value):
    """Submit one value of the running test: checked now (submit), or kept for the publish call."""
    encoded = encode(value)
    if MODE == "publish":
        STATE["values"].append(encoded)
        return
    index = STATE["index"]
    STATE["index"] += 1
    status, text = post("submit_test", {"user_key": KEY, "submission_id": STATE["submission"],
                                        "test_case_index": index}, encoded)
    if status != 200:
        print(f"Error : {text}")
    elif json.loads(text)["correct"]:
        print(f"Grader test {index + 1} passed")
    else:
        print(f"Grader test {index + 1} failed")
        STATE["failed"] = True


def _problem(item):
    return item.name[len("submit_"):]


def pytest_runtest_setup(item):
    STATE.update(submission=None, index=0, values=[], failed=False)
    if MODE == "submit":
        query = {"user_key": KEY, "problem": _problem(item), **({"assignment": ASSIGNMENT} if ASSIGNMENT else {})}
        status, text = post("submit", query)
        if status != 200:
            pytest.fail(text)
        STATE["submission"] = json.loads(text)["submission_id"]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    outcome = yield
    if MODE == "publish":
        query = {"user_key": KEY, "problem": _problem(item), **({"assignment": ASSIGNMENT} if ASSIGNMENT else {})}
        print(post("publish", query, STATE["values"])[1])
    elif STATE["failed"] and outcome.excinfo is None:
        outcome.force_exception(pytest.fail.Exception("a submitted value was not correct"))


def main(argv):
    mode, key, *rest = argv
    keyword = rest[rest.index("-k") + 1] if "-k" in rest else ""
    positional = [arg for index, arg in enumerate(rest) if arg != "-k" and (index == 0 or rest[index - 1] != "-k")]
    import mugrade   # this module as the tests import it, not __main__

    mugrade.MODE, mugrade.KEY, mugrade.ASSIGNMENT = mode, key, (positional[0] if positional else None)
    return pytest.main(["tests", "-q", "-s", "-p", "no:cacheprovider", "-o", "python_functions=submit_*",
                        "-o", "python_files=*.py", *(["-k", keyword] if keyword else [])], plugins=[mugrade])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
