"""Solution blocks: finding, stripping and filling what a student writes.

The reference package `needle/` marks everything a student writes with a
pair of lines

    ### BEGIN YOUR SOLUTION
    ...
    ### END YOUR SOLUTION

inside a function body. A starter is the same file with each block's body
replaced by `raise NotImplementedError()`; ``grader/years.py`` lays the
files out as each year's course repository does.
"""
from __future__ import annotations

import ast
import functools
import re
import textwrap
import threading
import warnings
from dataclasses import dataclass
from typing import Callable, Dict, FrozenSet, List, Optional, Tuple

BEGIN_MARKER = "### BEGIN YOUR SOLUTION"
END_MARKER = "### END YOUR SOLUTION"
# CPython 3.11 and 3.12 keep ast's recursion depth per interpreter, not per thread: two threads parsing at once
# (a batch's jobs staging, a course's uploads) can fail with "SystemError: AST constructor recursion depth
# mismatch" (python/cpython#106905, seen under the deadline benchmark). Parsing takes turns.
_PARSING = threading.Lock()

_MARKER_RE = re.compile(r"^(?P<indent>[ \t]*)(?P<marker>### (?:BEGIN|END) YOUR SOLUTION)[ \t]*$")


@dataclass(frozen=True)
class SolutionBlock:
    """One student-written region of a file."""

    file: str  # course path, e.g. "python/needle/ops.py"
    function: str  # qualified name of the enclosing function, e.g. "EWiseDiv.compute"
    start: int  # 1-based line number of the BEGIN marker
    end: int  # 1-based line number of the END marker
    text: str  # the lines between the markers, each ending in a newline
    indent: str  # the markers' indentation


def _scan_markers(source_text: str, where: str) -> List[Tuple[int, int, str]]:
    """(begin index, end index, indent) of each block, 0-based line indices.

    Raises ValueError for nested, unbalanced or misaligned markers."""
    blocks = []
    open_at: Optional[Tuple[int, str]] = None
    for i, line in enumerate(source_text.splitlines()):
        match = _MARKER_RE.match(line)
        if match is None:
            if BEGIN_MARKER in line or END_MARKER in line:
                raise ValueError(
                    "%s:%d: solution marker must stand alone on its line: %r" % (where, i + 1, line.strip())
                )
            continue
        indent, marker = match.group("indent"), match.group("marker")
        if marker == BEGIN_MARKER:
            if open_at is not None:
                raise ValueError(
                    "%s:%d: nested %r (the block opened at line %d is not closed)"
                    % (where, i + 1, BEGIN_MARKER, open_at[0] + 1)
                )
            open_at = (i, indent)
        else:
            if open_at is None:
                raise ValueError("%s:%d: %r without a matching %r" % (where, i + 1, END_MARKER, BEGIN_MARKER))
            if indent != open_at[1]:
                raise ValueError(
                    "%s:%d: %r is indented differently from its %r at line %d"
                    % (where, i + 1, END_MARKER, BEGIN_MARKER, open_at[0] + 1)
                )
            blocks.append((open_at[0], i, indent))
            open_at = None
    if open_at is not None:
        raise ValueError("%s:%d: %r is never closed" % (where, open_at[0] + 1, BEGIN_MARKER))
    return blocks


def _function_spans(tree: ast.AST, lines: List[str]) -> List[Tuple[int, int, str]]:
    """(first line, last line, qualified name) of every function, outer ones first.

    ast ends a function at its last statement; a trailing END marker is a
    comment after it, so the span runs on over the blank lines and the lines
    indented deeper than the `def` that follow."""
    spans = []

    def last_line(func):
        end = func.end_lineno
        while end < len(lines):
            line = lines[end]  # the line after `end` (lines is 0-based)
            stripped = line.strip()
            if stripped and len(line) - len(line.lstrip()) <= func.col_offset:
                break
            end += 1
        return end

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = prefix + child.name
                spans.append((child.lineno, last_line(child), name))
                visit(child, name + ".<locals>.")
            elif isinstance(child, ast.ClassDef):
                visit(child, prefix + child.name + ".")
            else:
                visit(child, prefix)

    visit(tree, "")
    return spans


# Grading reads one file many times (its year, the student's own code, the function of each failing
# case's frames): what is computed from a file's text is kept for the last texts of a usual size. A tree
# takes about 40 bytes per character (the course's largest file, 12 kB, makes 0.5 MB).
KEPT_TEXTS = 16
KEPT_TEXT_CHARS = 64_000


def _kept_for_usual_files(compute):
    """``compute(source_text)``, remembered for the last ``KEPT_TEXTS`` texts of up to ``KEPT_TEXT_CHARS``."""
    remembered = functools.lru_cache(maxsize=KEPT_TEXTS)(compute)

    @functools.wraps(compute)
    def kept(source_text):
        return remembered(source_text) if len(source_text) <= KEPT_TEXT_CHARS else compute(source_text)

    return kept


@_kept_for_usual_files
def _tree(source_text):
    # A student's "\d" warns (SyntaxWarning from 3.12): theirs to see when they run it, not noise on the grader's
    # terminal. The filter is process-wide: it is changed for the parse alone, under the parsing lock.
    with _PARSING, warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        return ast.parse(source_text)


def parse(source_text: str, filename: str = "<unknown>") -> ast.Module:
    """``ast.parse``, one thread at a time (``_PARSING``), kept (``_kept_for_usual_files``): callers
    read a tree and never change it."""
    try:
        return _tree(source_text)
    except SyntaxError as exc:
        exc.filename = filename
        raise


@_kept_for_usual_files
def function_spans(source_text: str) -> Tuple[Tuple[int, int, str], ...]:
    """``_function_spans`` of a file's text; raises SyntaxError."""
    return tuple(_function_spans(parse(source_text), source_text.splitlines(keepends=True)))


def function_at(source_text: str, lineno: int) -> Optional[str]:
    """The qualified name of the innermost function holding line ``lineno``, if any."""
    try:
        spans = [s for s in function_spans(source_text) if s[0] <= lineno <= s[1]]
    except SyntaxError:
        return None
    return max(spans, key=lambda s: s[0])[2] if spans else None


def find_solution_blocks(source_text: str, course_path: str) -> List[SolutionBlock]:
    """The solution blocks of one file, in order.

    Raises ValueError if the markers are unbalanced, nested or misaligned,
    if the file does not parse, or if a block is not inside a function."""
    marker_blocks = _scan_markers(source_text, course_path)
    try:
        spans = function_spans(source_text)
    except SyntaxError as e:
        raise ValueError("%s:%s: does not parse: %s" % (course_path, e.lineno, e.msg)) from None
    lines = source_text.splitlines(keepends=True)
    blocks = []
    for begin, end, indent in marker_blocks:
        start, stop = begin + 1, end + 1  # 1-based, as ast counts
        # the innermost function containing both markers
        enclosing = [s for s in spans if s[0] < start and stop <= s[1]]
        if not enclosing:
            raise ValueError("%s:%d: solution block is not inside a function" % (course_path, start))
        function = max(enclosing, key=lambda s: s[0])[2]
        text = "".join(lines[begin + 1:end])
        if text and not text.endswith("\n"):
            text += "\n"
        blocks.append(SolutionBlock(course_path, function, start, stop, text, indent))
    return blocks


def render_block(block: SolutionBlock, lines: List[str], given: FrozenSet[str], with_solutions: bool) -> List[str]:
    """A block (its lines, markers included) as a handout shows it."""
    if block.function in given:
        return lines[1:-1]  # handed out complete: the body, without markers
    if with_solutions:
        return lines
    return [lines[0], block.indent + "raise NotImplementedError()\n", lines[-1]]


def strip_solutions(source_text: str, course_path: str = "<source>", given: FrozenSet[str] = frozenset()) -> str:
    """The starter version of a file: each block's body becomes a single
    `raise NotImplementedError()` and the markers stay; a block in ``given``
    keeps its body and loses its markers."""
    return rewrite_blocks(source_text, course_path, lambda block, lines: render_block(block, lines, given, False))


def rewrite_blocks(source_text: str, course_path: str,
                   rewrite: Callable[[SolutionBlock, List[str]], List[str]]) -> str:
    """The file with each solution block, markers included, replaced by
    ``rewrite(block, its lines)``."""
    lines = source_text.splitlines(keepends=True)
    out = []
    position = 0
    for block in find_solution_blocks(source_text, course_path):
        out.extend(lines[position:block.start - 1])
        out.extend(rewrite(block, lines[block.start - 1:block.end]))
        position = block.end
    out.extend(lines[position:])
    return "".join(out)


def fill_solutions(source_text: str, course_path: str, bodies: Dict[str, str]) -> str:
    """The file with the body of each block named in ``bodies`` (function ->
    code written at column 0) put in its place, indented as the markers are."""

    def fill(block, lines):
        if block.function not in bodies:
            return lines
        body = [(block.indent + line if line.strip() else line.lstrip(" \t"))
                for line in bodies[block.function].strip("\n").splitlines(keepends=True)]
        if body and not body[-1].endswith("\n"):
            body[-1] += "\n"
        return [lines[0], *body, lines[-1]]

    return rewrite_blocks(source_text, course_path, fill)


def own_code(source_text: str, course_path: str) -> Dict[str, object]:
    """What a student wrote in one course file: each solution block's body
    (function -> text at column 0), and the file's code outside the blocks.

    Telling what they added outside the blocks from the starter they were
    given needs the other submissions: the report treats what most of a class
    shares as the starter. A file that does not parse is all "outside"."""
    try:
        blocks = find_solution_blocks(source_text, course_path)
        outside = strip_solutions(source_text, course_path)
    except ValueError:
        return {"blocks": {}, "outside": source_text}
    return {"blocks": {block.function: textwrap.dedent(block.text) for block in blocks},
            "outside": "".join(line for line in outside.splitlines(keepends=True)
                               if line.strip() not in (BEGIN_MARKER, END_MARKER, "raise NotImplementedError()"))}
