"""Reference values: published, stale, recomputed, cached - never graded against when stale."""

import json

import numpy as np
import pytest

from grader import datasets, grading, isolation, reference, reference_run, years


@pytest.fixture(scope="module")
def sandbox():
    workspace = isolation.Workspace()
    yield grading.detect_sandbox(workspace, isolation.Limits())
    workspace.close()


@pytest.fixture(scope="module")
def generated(sandbox):
    return datasets.resolve(None, sandbox.workspace.data_dir)


CASES_BY_YEAR = {"2022": 96, "2023": 103, "2024": 106, "2025": 106}


@pytest.mark.parametrize("year", sorted(CASES_BY_YEAR))
def test_the_published_reference_matches_the_current_sources(generated, year):
    published = json.loads((reference.REFERENCE_DIR / year / reference.MANIFEST).read_text())
    assert published["fingerprint"] == reference.fingerprint(generated, 0, year), \
        f"reference/{year} is stale: run `grader publish` and commit reference/"
    assert len(published["cases"]) == CASES_BY_YEAR[year]
    assert published["cases"]["nn_epoch::full_epoch"]["weight"] == 3


def test_each_year_grades_its_own_cases():
    def cases(year):
        return set(json.loads((reference.REFERENCE_DIR / year / reference.MANIFEST).read_text())["cases"])

    assert cases("2023") - cases("2022") == {f"forward::broadcast_to[{ids}]" for ids in
                                             ("3-2x3", "4x1-3x4x5", "scalar-3x3x3", "1x3-4x3", "3x1-3x3",
                                              "2x1-2x2", "1x3x1-3x3x3")}
    log_exp = {"forward::log", "forward::exp", "backward::log", "backward::exp"}
    power = {"forward::power[3x4]", "forward::power[2x3x2]", "backward::power"}
    assert cases("2024") - cases("2023") == log_exp | power
    assert cases("2023") - cases("2024") == {f"softmax_loss::{op}_{way}" for op in ("log", "exp")
                                             for way in ("forward", "backward")}
    assert cases("2025") == cases("2024")


def test_stale_values_are_recomputed_in_a_separate_process_and_cached(sandbox, generated, monkeypatch):
    current = reference.fingerprint
    monkeypatch.setattr(reference, "fingerprint", lambda *args: dict(current(*args), needle="edited since publish"))
    recomputed = reference.load(sandbox, generated, 0, "2022")
    assert recomputed.origin == "computed"
    assert recomputed.note.startswith("reference/2022 is stale (the needle sources changed since `grader publish`)")
    assert recomputed.directory.parent == reference.cache_root()
    published = reference.Reference(None, {}, reference.REFERENCE_DIR / "2022", "published")
    np.testing.assert_array_equal(recomputed.expected("forward::negate", "out"),
                                  published.expected("forward::negate", "out"))
    again = reference.load(sandbox, generated, 0, "2022")
    assert again.origin == "cached" and again.directory == recomputed.directory


def test_publishing_writes_a_manifest_and_values(sandbox, generated, tmp_path):
    published = reference_run.publish(sandbox, generated, 3, "2022", directory=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json", "values.npz"]
    assert published.fingerprint["seed"] == 3
    assert published.cases["backward::divide"]["values"]["grad[0]"]["kind"] == "gradient"
    # the grader numbers nodes from the output down (x2500 is 0, a is 2500, b is 2501); a, b come first
    assert published.expected("topo_sort::deep_chain", "order").tolist() == [2500, 2501, *range(2499, -1, -1)]
    assert list(published.cases)[:2] == ["forward::power_scalar[3x4^2]", "forward::power_scalar[2x3x2^3]"]


def test_a_reference_that_fails_its_own_cases_is_refused(sandbox, generated, monkeypatch):
    original = years.write_handout
    monkeypatch.setattr(years, "write_handout",
                        lambda out, with_solutions=False, overwrite=False, year="2022": original(out, False, overwrite, year))
    with pytest.raises(reference.ReferenceError, match=r"the reference solution failed: forward::power_scalar\[3x4\^2\]: "
                                                       r"error NotImplementedError; .* and 91 more"):
        reference_run.compute(sandbox, generated, 0, "2022")


def test_the_reference_ignores_limits_tightened_for_a_submission(sandbox, generated):
    import dataclasses

    tight = dataclasses.replace(sandbox, limits=isolation.Limits(case_timeout=0.01, memory_bytes=256 << 20))
    cases, values = reference_run.compute(tight, generated, 0, "2022")
    assert len(cases) == 96 and len(values) > 96
