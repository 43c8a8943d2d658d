"""Turning what a student handed in into a clean folder the child can run.

A submission is a folder in the course's layout (``python/needle/*.py``,
``apps/simple_ml.py``), or a ``.zip`` / ``.tar.gz`` of one, nested at any
depth as long as one folder alone holds it; what archive tools and notebooks
add (``__MACOSX/``, ``.DS_Store``, ``.ipynb_checkpoints/``, any hidden file or
folder) is skipped at every depth. Only Python sources under ``python/`` and
``apps/`` are staged: data, caches and anything else the student shipped never
reach the child. Course files the student left out, or that could not be used
(a link out of the submission, an unreadable file), are filled in from the
starter code of the submission's year, and the result says which and why.
Archives and folders are read defensively: absolute paths, ``..``, links out
of the submission, and size or count beyond the caps are refused or ignored,
with a clear message.
"""

import dataclasses
import hashlib
import os
import stat
import tarfile
import zipfile
import zlib

from . import handout, isolation, years

MAX_FILES = 2000
MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_TOTAL_BYTES = 50 * 1024 * 1024
SOURCE_FOLDERS = ("python", "apps")
ARCHIVE_SUFFIXES = (".zip", ".tar.gz", ".tgz", ".tar")


class SubmissionError(Exception):
    """The submission cannot be graded at all; the message says why."""


@dataclasses.dataclass
class Staged:
    name: str
    source: str
    directory: str
    files: dict          # course path -> "submitted" | "starter"
    notes: list
    digest: str          # of every staged file, for skipping unchanged submissions
    detection: years.Detection   # the handout it is built on, and why

    @property
    def year(self):
        return self.detection.year

    def own_code(self):
        """The student's own code, file by file (see ``handout.own_code``); the starter's files are left out."""
        code = {}
        for folder, _, names in os.walk(self.directory):
            for name in sorted(names):
                full = os.path.join(folder, name)
                relative = os.path.relpath(full, self.directory).replace(os.sep, "/")
                if relative.endswith(".py") and self.files.get(relative) != "starter":
                    with open(full, encoding="utf-8", errors="replace") as handle:
                        code[relative] = handout.own_code(handle.read(), relative)
        return dict(sorted(code.items()))


def submission_name(path):
    base = os.path.basename(os.path.normpath(path))
    for suffix in ARCHIVE_SUFFIXES:
        if base.endswith(suffix):
            return base[:-len(suffix)]
    return base


def _safe_relative(name):
    """A member name as a relative path, or ``None`` when it would escape the submission."""
    name = name.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return None
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        return None
    return "/".join(parts)


def _read_zip(path, ignored):
    """Files in a zip; members whose data cannot be read (a bad CRC, a truncated stream) go to ``ignored``."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise SubmissionError(f"{path}: not a readable zip archive ({exc})") from None
    files = {}
    with archive:
        members = archive.infolist()
        _check_count(path, len(members))
        total = 0
        for member in members:
            relative = _safe_relative(member.filename)
            if relative is None:
                raise SubmissionError(f"{path}: refused, it contains the unsafe path {member.filename!r}")
            mode = member.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise SubmissionError(f"{path}: refused, it contains a link ({member.filename})")
            if member.is_dir():
                continue
            total = _check_size(path, member.filename, member.file_size, total)
            try:
                data = archive.read(member)
            except (zipfile.BadZipFile, OSError, RuntimeError, EOFError, zlib.error) as exc:
                ignored[relative] = f"cannot be read from the archive ({exc})"
                continue
            if len(data) > MAX_FILE_BYTES:
                raise SubmissionError(f"{path}: refused, {member.filename} is larger than declared")
            files[relative] = data
    return files


def _read_tar(path, ignored):
    """Files in a tar; members whose data cannot be read go to ``ignored``."""
    try:
        archive = tarfile.open(path)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise SubmissionError(f"{path}: not a readable tar archive ({exc})") from None
    files = {}
    total = 0
    with archive:
        try:
            members = archive.getmembers()
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise SubmissionError(f"{path}: corrupt tar archive ({exc})") from None
        _check_count(path, len(members))
        for member in members:
            relative = _safe_relative(member.name)
            if relative is None:
                raise SubmissionError(f"{path}: refused, it contains the unsafe path {member.name!r}")
            if member.issym() or member.islnk():
                raise SubmissionError(f"{path}: refused, it contains a link ({member.name})")
            if member.isdir():
                continue
            if not member.isfile():
                raise SubmissionError(f"{path}: refused, {member.name} is not a regular file")
            total = _check_size(path, member.name, member.size, total)
            try:
                files[relative] = archive.extractfile(member).read(MAX_FILE_BYTES + 1)
            except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
                ignored[relative] = f"cannot be read from the archive ({exc})"
    return files


def _check_count(path, count):
    if count > MAX_FILES:
        raise SubmissionError(f"{path}: refused, {count} entries (the cap is {MAX_FILES})")


def _check_size(path, name, size, total):
    if size > MAX_FILE_BYTES:
        raise SubmissionError(f"{path}: refused, {name} is {size} bytes (the cap is {MAX_FILE_BYTES} per file)")
    total += size
    if total > MAX_TOTAL_BYTES:
        raise SubmissionError(f"{path}: refused, more than {MAX_TOTAL_BYTES} bytes unpacked")
    return total


def _junk(name):
    """What archive tools and notebooks add, at any depth: ``__MACOSX/``, ``.DS_Store``, ``.ipynb_checkpoints/``."""
    return any(part == "__MACOSX" or part.startswith(".") for part in name.split("/"))


def _read_folder(path, ignored):
    """Files under a folder; those that cannot be used (links out of it, unreadable) go to ``ignored``, with why."""
    root = os.path.realpath(path)
    files, total = {}, 0
    for folder, folders, names in os.walk(root):  # os.walk does not descend into links to folders
        folders[:] = sorted(name for name in folders if not _junk(name))
        for name in sorted(names):
            full = os.path.join(folder, name)
            relative = os.path.relpath(full, root).replace(os.sep, "/")
            if not relative.endswith(".py") or _junk(name):
                continue
            target = os.path.realpath(full)
            if not target.startswith(root + os.sep):
                ignored[relative] = "is a link out of the submission, which is ignored"
                continue
            if not os.path.isfile(target):
                ignored[relative] = "is not a regular file" if os.path.exists(target) else "is a link to nothing"
                continue
            if len(files) >= MAX_FILES:
                raise SubmissionError(f"{path}: refused, more than {MAX_FILES} source files")
            total = _check_size(path, relative, os.path.getsize(target), total)
            try:
                with open(target, "rb") as handle:
                    files[relative] = handle.read(MAX_FILE_BYTES + 1)
            except OSError as exc:
                ignored[relative] = f"cannot be read ({exc.strerror or exc})"
    return files


def _find_root(path, names):
    """The folder under which the course layout sits ('' for the top), at any depth.

    It is the part of a name before ``python/needle/`` or ``apps/simple_ml.py``;
    more than one such folder is refused, naming them."""
    roots = set()
    for name in names:
        parts = name.split("/")
        for i in range(len(parts)):
            if parts[i:i + 2] == ["python", "needle"] and len(parts) > i + 2 or parts[i:] == ["apps", "simple_ml.py"]:
                roots.add("".join(part + "/" for part in parts[:i]))
                break
    if len(roots) > 1:
        raise SubmissionError(f"{path}: several homework folders in one submission: "
                              f"{', '.join(root or './' for root in sorted(roots))}; hand in one")
    return roots.pop() if roots else None


def read_sources(path):
    """``({course path: bytes}, {course path: why it was ignored})`` of the Python sources of a submission."""
    if not os.path.exists(path):
        raise SubmissionError(f"{path}: no such file or folder")
    ignored = {}
    if os.path.isdir(path):
        files = _read_folder(path, ignored)
    elif path.endswith(".zip"):
        files = _read_zip(path, ignored)
    elif path.endswith((".tar.gz", ".tgz", ".tar")):
        files = _read_tar(path, ignored)
    else:
        raise SubmissionError(f"{path}: not a folder, .zip or .tar.gz")
    files = {name: data for name, data in files.items() if not _junk(name)}
    ignored = {name: why for name, why in ignored.items() if not _junk(name)}
    root = _find_root(path, [*files, *ignored])
    if root is None:
        raise SubmissionError(f"{path}: no python/needle/ or apps/simple_ml.py found; "
                              "is this a needle homework 1 submission?")

    def ours(found):
        """Python sources under the root's python/ and apps/, by course path."""
        within = {name[len(root):]: value for name, value in found.items() if name.startswith(root)}
        return {name: value for name, value in within.items()
                if name.endswith(".py") and name.split("/", 1)[0] in SOURCE_FOLDERS}

    return ours(files), ours(ignored)


def detect_year(path, sources):
    """The handout year a submission's sources (from ``read_sources``) are built on, and why (``years.Detection``)."""
    try:
        return years.detect({name: data.decode("utf-8", errors="replace") for name, data in sources.items()})
    except years.YearError as exc:
        raise SubmissionError(f"{path}: {exc}") from None


def stage(path, directory, year=None):
    """Write the submission's sources into ``directory``, filling gaps with its year's starter code.

    The handout year is read from the files unless ``year`` is given.
    """
    sources, ignored = read_sources(path)
    detection = years.Detection(year, given=True) if year else detect_year(path, sources)
    starters = years.course_sources(detection.year)
    files, notes = {}, []
    for course, starter in starters.items():
        if course in sources:
            files[course] = "submitted"
        else:
            sources[course] = starter.encode()
            files[course] = "starter"
            why = ignored.pop(course, "was not submitted")
            notes.append(f"{course} {why}: the {detection.year} starter's version was used")
    notes.extend(f"{name} {why}" for name, why in sorted(ignored.items()))
    digest = hashlib.sha256()
    for relative in sorted(sources):
        target = os.path.join(directory, *relative.split("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as handle:
            handle.write(sources[relative])
        digest.update(relative.encode() + b"\0" + hashlib.sha256(sources[relative]).digest())
    isolation.make_world_readable(directory)
    return Staged(submission_name(path), path, directory, files, notes, digest.hexdigest(), detection)
