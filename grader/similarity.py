"""Which students' own code is alike, pair by pair (copydetect's winnowed fingerprints).

Only what a student wrote is compared: the bodies of their solution blocks,
and the lines they have outside the blocks that most of the class does not
(what most of a class shares outside the blocks is the starter it was given).
Tokens are normalised first, so renamed variables and moved functions still
match. A passage that most of the class writes the same way (a one-line
``return a / b``) is boilerplate too: it says nothing about who copied whom.
"""

import collections
import dataclasses
import io

# copydetect's noise threshold (tokens in a k-gram) and winnowing window; its defaults are 25 and 1.
K = 20
WINDOW = 1
THRESHOLD = 0.5
EMPTY = ("", "raise NotImplementedError()")


@dataclasses.dataclass
class Pair:
    first: str
    second: str
    share_first: float        # of the first student's own code, how much matches the second's
    share_second: float
    code_first: str
    code_second: str
    slices_first: list        # (start, end) character ranges that match
    slices_second: list

    @property
    def similarity(self):
        return max(self.share_first, self.share_second)


def own_text(result, shared_lines):
    """A student's own code as one text: block bodies, then added lines, file by file."""
    parts = []
    for path, code in sorted((result.get("code") or {}).items()):
        for function, body in code["blocks"].items():
            if body.strip() not in EMPTY:
                parts.append(f"# {path} {function}\n{body.rstrip()}\n")
        added = [line for line in code["outside"].splitlines()
                 if line.strip() and (path, line.strip()) not in shared_lines]
        if added:
            parts.append(f"# {path}, outside the solution blocks\n" + "\n".join(added) + "\n")
    return "\n".join(parts)


def _shared_lines(results):
    """``(path, line)`` outside the blocks that more than half of the class has: the starter."""
    counts = collections.Counter()
    for result in results:
        for path, code in (result.get("code") or {}).items():
            counts.update({(path, line.strip()) for line in code["outside"].splitlines() if line.strip()})
    return {key for key, count in counts.items() if count * 2 > len(results)}


def similar_pairs(results, threshold=THRESHOLD):
    """Pairs of students whose own code matches beyond ``threshold``, most similar first."""
    from copydetect import CodeFingerprint, compare_files

    shared = _shared_lines(results)
    texts = {result["name"]: own_text(result, shared) for result in results}
    texts = {name: text for name, text in texts.items() if text.strip()}

    def fingerprints(boilerplate):
        return {name: CodeFingerprint(f"{name}.py", K, WINDOW, boilerplate=boilerplate, fp=io.StringIO(text),
                                      language="python") for name, text in texts.items()}

    first_pass = fingerprints(None)
    common = collections.Counter(h for print_ in first_pass.values() for h in print_.hashes)
    boilerplate = [h for h, count in common.items() if count * 2 > len(first_pass) and count > 2]
    prints = fingerprints(boilerplate) if boilerplate else first_pass
    pairs = []
    names = sorted(prints)
    for index, first in enumerate(names):
        for second in names[index + 1:]:
            _, (share_first, share_second), (slices_first, slices_second) = compare_files(prints[first],
                                                                                          prints[second])
            pair = Pair(first, second, float(share_first), float(share_second), texts[first], texts[second],
                        _ranges(slices_first), _ranges(slices_second))
            if pair.similarity >= threshold:
                pairs.append(pair)
    return sorted(pairs, key=lambda pair: (-pair.similarity, pair.first, pair.second))


def _ranges(slices):
    if len(slices) != 2 or not len(slices[0]):
        return []
    return [(int(start), int(end)) for start, end in zip(slices[0], slices[1])]
