"""``grader submit`` and the student kit's ``needle-check submit``: send a homework to a course's server.

Only what the grader reads is sent: the Python sources under ``python/`` and
``apps/`` of the homework (found at any depth, as ``grader run`` finds them),
zipped; the command says what it left out. The server checks the files
against the course's handout year, as for a page's upload: a homework in
another year's layout is refused (422) with what to do, and weaker
disagreement comes back as warnings, printed before anything else. With
``--wait`` it follows the grading and prints the feedback as ``needle-check``
does, then the score as it counts, after any late penalty. It speaks the
JSON API with the standard library and click alone, so the student kit
carries this module as it is (with this package's ``__init__``, which holds
only ``ServiceError``).
"""

import io
import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid
import zipfile

import click

from .. import results, submission
from . import ServiceError

POLL_SECONDS = 1.0
TOKEN_ENV = "NEEDLE_GRADER_TOKEN"


def pack(path):
    """``(name, zip bytes, {course path: why it was left out})`` of the sources the grader reads from the homework
    at ``path``."""
    sources, left_out = submission.read_sources(path)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for relative in sorted(sources):
            archive.writestr(relative, sources[relative])
    return f"{submission.submission_name(path) or 'hw1'}.zip", buffer.getvalue(), left_out


class Client:
    def __init__(self, server, token, timeout=60):
        self.server = server.rstrip("/")
        self.token = token
        self.timeout = timeout

    def _call(self, method, path, body=None, content_type=None):
        request = urllib.request.Request(self.server + path, data=body, method=method,
                                         headers={"Authorization": f"Bearer {self.token}",
                                                  "Accept": "application/json",
                                                  **({"Content-Type": content_type} if content_type else {})})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as reply:
                return json.loads(reply.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            raise ServiceError(f"{self.server} refused: {_error_text(exc)}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise ServiceError(f"cannot reach {self.server}: {getattr(exc, 'reason', exc)}") from None

    def submit(self, name, data):
        boundary = uuid.uuid4().hex
        body = (f'--{boundary}\r\nContent-Disposition: form-data; name="archive"; filename="{name}"\r\n'
                "Content-Type: application/zip\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
        return self._call("POST", "/api/submissions", body, f"multipart/form-data; boundary={boundary}")

    def submission(self, submission_id):
        return self._call("GET", f"/api/submissions/{submission_id}")


def _error_text(exc):
    try:
        text = json.loads(exc.read().decode("utf-8"))["error"]
    except (ValueError, KeyError, TypeError, OSError):
        text = exc.reason
    retry = exc.headers.get("Retry-After") if exc.headers else None
    return f"{exc.code}: {text}" + (f" (retry after {retry} s)" if retry and "again in" not in str(text) else "")


def beside_sources(path):
    """What a homework folder holds beside ``python/`` and ``apps/`` (which are all the grader reads), by name."""
    if not os.path.isdir(path):
        return []
    for folder, folders, names in os.walk(path):   # the folder holding the homework, at any depth
        folders[:] = sorted(name for name in folders if not name.startswith(".") and name != "__MACOSX")
        if any(name in folders for name in submission.SOURCE_FOLDERS):
            return sorted(name + ("/" if name in folders else "") for name in folders + names
                          if name not in submission.SOURCE_FOLDERS and not name.startswith(".")
                          and name not in ("__MACOSX", "__pycache__"))
    return []


def submit(path, server, token, wait=False, echo=print, progress=print):
    """Send the homework; with ``wait``, follow it and print its feedback. The submission's JSON."""
    client = Client(server, token)
    name, data, left_out = pack(path)
    beside = beside_sources(path)
    if beside:
        progress(f"not sent, as the grader reads only python/ and apps/: {', '.join(beside)}")
    for source, why in sorted(left_out.items()):
        progress(f"not sent: {source} {why}; the starter's version will be graded in its place")
    sent = client.submit(name, data)
    echo(f"submitted {name} as submission {sent['id']}: queued at position {sent['position']}")
    for warning in sent.get("warnings", []):     # what its files say against the course's handout year
        progress(f"warning: {warning}")
    if not wait:
        return sent
    shown = None
    while True:
        state = client.submission(sent["id"])
        if state["summary"] != shown:
            shown = state["summary"]
            progress(shown)
        if state["status"] not in ("queued", "running"):
            break
        time.sleep(POLL_SECONDS)
    if state["status"] == "graded":
        echo(results.render(state["result"], student=True))
        echo(f"score: {state['score_line']}")
    else:
        echo(f"could not grade: {state['error']}")
    return state


@click.command(name="submit")
@click.argument("path", type=click.Path())
@click.option("--server", required=True, help="The course's server, as its upload page shows it, e.g. "
                                              "https://grader.example.edu")
@click.option("--token", envvar=TOKEN_ENV, required=True, help=f"Your token [env: {TOKEN_ENV}].")
@click.option("--wait", is_flag=True, help="Wait for the grading and print its feedback and the score as it "
                                           "counts, after any late penalty.")
def command(path, server, token, wait):
    """Submit your homework at PATH to your course's server (only python/ and apps/ are sent)."""
    state = submit(path, server, token, wait, echo=click.echo, progress=lambda text: click.echo(text, err=True))
    if wait and state["status"] != "graded":
        sys.exit(1)
