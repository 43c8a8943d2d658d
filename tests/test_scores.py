"""Verdicts and points, decided from what came back - or did not."""

import numpy as np
import pytest

from grader import scores
from grader.supervise import CaseRun, Execution


class FakeReference:
    def __init__(self, cases, values):
        self.cases, self.values = cases, values

    def expected(self, case, name):
        return self.values[case, name]


EXPECTED = {"value": {"kind": "value", "rtol": None, "atol": None, "exact_dtype": False}}
GRADIENT = {"grad[0]": {"kind": "gradient", "rtol": None, "atol": None, "exact_dtype": False}}


def verdict(run, values=EXPECTED, hint=None, hint_on=None):
    reference = FakeReference({run.case: {}}, {(run.case, "value"): np.array([1.0, 2.0]),
                                              (run.case, "grad[0]"): np.array([0.5])})
    expected = {"values": values, "hint": hint, "hint_on": hint_on}
    return scores.verdict(expected, run, reference, "/nowhere")[:2]


def ended(case="forward::x", **values):
    run = CaseRun(case, ended=True)
    for name, value in values.items():
        run.values[name] = {"value": np.asarray(value)}
    return run


def test_matching_values_pass():
    assert verdict(ended(value=[1.0, 2.0])) == ("passed", "")


def test_a_missing_value_is_a_failure_never_a_pass():
    assert verdict(ended()) == ("failed", "value: not produced")


def test_a_case_that_never_ended_is_an_error():
    assert verdict(CaseRun("forward::x")) == ("error", "no result came back for this case")


def test_refused_frames_fail_the_case_even_with_right_values():
    run = ended(value=[1.0, 2.0])
    run.problems.append("value: malformed shape")
    assert verdict(run) == ("failed", "the grader refused what came back: value: malformed shape")


def test_timeouts_carry_the_hint_and_errors_only_when_named():
    run = CaseRun("nn_epoch::full_epoch", status="timeout", message="timed out after 5 s")
    assert verdict(run, hint="keep no graph") == ("timeout", "timed out after 5 s\nhint: keep no graph")
    crashed = CaseRun("x::y", status="error", message="the process exited with code 0")
    assert verdict(crashed, hint="recurse less", hint_on=["RecursionError"]) == ("error", crashed.message)


@pytest.mark.parametrize("crash, status, message", [
    ("needle_grader_kit.harness.CaseError: find_topo_sort returned None", "failed", "find_topo_sort returned None"),
    ("ZeroDivisionError: division by zero", "error", "ZeroDivisionError: division by zero"),
    ("numpy._core._exceptions._ArrayMemoryError: Unable to allocate", "error",
     "out of memory (ArrayMemoryError: Unable to allocate)"),
    ("NotImplementedError", "error", "not implemented (NotImplementedError)"),
    ("SystemExit: 3", "error", "the submission called sys.exit(3)"),
])
def test_exceptions_become_statuses_and_plain_messages(crash, status, message):
    run = ended(value=[1.0, 2.0])
    run.stages.append({"when": "call", "outcome": "failed", "crash": {"message": crash}, "traceback": []})
    assert verdict(run) == (status, message)


def test_a_gradient_is_judged_by_the_reference_alone():
    run = ended(**{"grad[0]": [0.5]})
    assert verdict(run, GRADIENT) == ("passed", "")
    run.values["grad[0]"]["numeric"] = np.array([0.7])
    assert verdict(run, GRADIENT) == ("passed", "")


def test_weights_share_a_suites_points_and_unselected_cases_are_left_out():
    cases = {"nn_epoch::a": {"weight": 1, "values": EXPECTED}, "nn_epoch::b": {"weight": 3, "values": EXPECTED},
             "forward::c": {"weight": 1, "values": EXPECTED}}
    reference = FakeReference(cases, {(case, "value"): np.array([1.0, 2.0]) for case in cases})
    execution = Execution(cases={"nn_epoch::a": ended("nn_epoch::a", value=[1.0, 2.0]),
                                 "nn_epoch::b": ended("nn_epoch::b", value=[0.0, 2.0])})
    suites, total, max_total = scores.score(reference, execution, "/nowhere", selected={"nn_epoch::a", "nn_epoch::b"})
    assert [(s["name"], s["score"], s["max_score"]) for s in suites] == [("nn_epoch", 2.5, 10.0)]
    assert [(c["name"], c["status"], c["max_score"]) for c in suites[0]["cases"]] == [("a", "passed", 2.5),
                                                                                   ("b", "failed", 7.5)]
    assert (total, max_total) == (2.5, 10.0)


@pytest.mark.parametrize("points, weights, shares", [
    (20, [1] * 7, [28572, 28572, 28572, 28571, 28571, 28571, 28571]),   # 20/7 each; the first three get the rest
    (10, [1, 1, 1], [33334, 33333, 33333]),
    (10, [1, 3], [25000, 75000]),
    (10, [1, 0, 2], [33333, 0, 66667]),                                  # 3.33333 loses less than 6.66667
    (10, [3, 1, 1, 1, 1, 1, 1], [33334, 11111, 11111, 11111, 11111, 11111, 11111]),
    (25, [0, 0], [0, 0]),                                                # advisories alone: nothing to share
])
def test_a_suites_points_are_shared_in_whole_units_that_add_up_exactly(points, weights, shares):
    assert scores.apportion(points, weights) == shares
    assert sum(shares) == (points * 10 ** scores.PLACES if any(weights) else 0)


def test_each_case_keeps_its_share_whichever_cases_are_selected_and_the_parts_add_up():
    cases = {f"topo_sort::c{index}": {"values": EXPECTED} for index in range(7)}
    reference = FakeReference(cases, {(case, "value"): np.array([1.0, 2.0]) for case in cases})
    runs = {case: ended(case, value=[1.0, 2.0] if index % 2 else [0.0, 0.0]) for index, case in enumerate(cases)}
    suites, total, max_total = scores.score(reference, Execution(cases=runs), "/nowhere")
    assert [(c["score"], c["max_score"]) for c in suites[0]["cases"]] == [
        (0.0, 2.8572), (2.8572, 2.8572), (0.0, 2.8572), (2.8571, 2.8571), (0.0, 2.8571), (2.8571, 2.8571),
        (0.0, 2.8571)]
    assert (suites[0]["score"], suites[0]["max_score"], total, max_total) == (8.5714, 20.0, 8.5714, 20.0)
    chosen, total, max_total = scores.score(reference, Execution(cases=runs), "/nowhere",
                                            selected={"topo_sort::c1", "topo_sort::c4", "topo_sort::c5"})
    assert [(c["name"], c["score"], c["max_score"]) for c in chosen[0]["cases"]] == [
        ("c1", 2.8572, 2.8572), ("c4", 0.0, 2.8571), ("c5", 2.8571, 2.8571)]
    assert (total, max_total) == (5.7143, 8.5714)


@pytest.mark.parametrize("points, text", [(97.2759, "97.28"), (55.6636, "55.66"), (100.0, "100"), (12.5, "12.5"),
                                          (0.0, "0"), (2.8571, "2.86"), (99.9951, "100"), (0.004, "0")])
def test_people_read_scores_to_two_decimals(points, text):
    assert scores.shown(points) == text


def test_text_from_the_child_cannot_drive_the_terminal():
    assert scores.clean("ok\x1b[2J\x1b]0;title\x07 done\x00\ttab\nline") == "ok done\ttab\nline"
    assert scores.clean("x" * 10, limit=4) == "xxxx [...]"


def _class_of_three():
    """exp_forward (fails), loss (fails, ran Exp.compute) and a failing advisory deep (ran Exp.compute too)."""
    cases = {"softmax_loss::exp_forward": {"checks": ["Exp.compute"], "values": EXPECTED},
             "softmax_loss::loss": {"checks": ["softmax_loss"], "values": EXPECTED},
             "softmax_loss::deep": {"checks": ["Exp.compute"], "advisory": True, "values": EXPECTED}}
    reference = FakeReference(cases, {(case, "value"): np.array([1.0, 2.0]) for case in cases})
    runs = {case: ended(case, value=[0.0, 2.0]) for case in cases}
    runs["softmax_loss::loss"].used = ["softmax_loss", "Exp.compute", "Log.compute"]
    return reference, Execution(cases=runs)


def test_advisories_are_shown_but_worth_nothing_unless_strict():
    reference, execution = _class_of_three()
    suites, total, max_total = scores.score(reference, execution, "/nowhere")
    assert [(c["name"], c["advisory"], c["max_score"]) for c in suites[0]["cases"]] == [
        ("exp_forward", False, 5.0), ("loss", False, 5.0), ("deep", True, 0.0)]
    assert suites[0]["cases"][2]["status"] == "failed" and suites[0]["cases"][2]["message"]
    strict, _, strict_max = scores.score(reference, execution, "/nowhere", strict=True)
    assert [c["max_score"] for c in strict[0]["cases"]] == [3.3334, 3.3333, 3.3333]
    assert (max_total, strict_max) == (10.0, 10.0)


def test_a_failure_names_the_failing_cases_of_the_student_functions_it_ran():
    reference, execution = _class_of_three()
    suites, _, _ = scores.score(reference, execution, "/nowhere")
    exp_forward, loss, _ = suites[0]["cases"]
    assert loss["causes"] == [{"function": "Exp.compute", "case": "softmax_loss::exp_forward"}]
    assert loss["message"].endswith("\n(Exp.compute also fails softmax_loss/exp_forward: fix that first)")
    assert "causes" not in exp_forward   # its own function is no other cause


def test_a_students_compute_that_raised_leads_the_message_and_changes_no_status(tmp_path):
    ops = tmp_path / "python" / "needle" / "ops.py"
    ops.parent.mkdir(parents=True)
    ops.write_text("def negate(a):\n    return a * -1\n")
    raised = {"function": "Negate.compute", "exception": "OverflowError",
              "message": "Python integer -1 out of bounds for uint8",
              "traceback": [{"path": "/grader/kit/student.py", "lineno": 9}, {"path": str(ops), "lineno": 2}]}
    line = ("Negate.compute raised OverflowError: Python integer -1 out of bounds for uint8 at "
            "python/needle/ops.py:2; the grader used its own value and went on")
    reference = FakeReference({"nn_epoch::x": {}}, {("nn_epoch::x", "value"): np.array([1.0, 2.0])})
    expected = {"values": EXPECTED}
    for got, status, then in (([1.0, 2.0], "passed", ""), ([1.0, 9.0], "failed", "value: ")):
        run = ended("nn_epoch::x", value=got)
        run.raised.append(raised)
        found, message, _ = scores.verdict(expected, run, reference, str(tmp_path))
        assert found == status
        assert message.splitlines()[0] == line
        assert message[len(line) + 1:].startswith(then) and bool(then) == (status == "failed")
    assert scores.student_raised(run, str(tmp_path)) == [
        {"function": "Negate.compute", "exception": "OverflowError",
         "message": "Python integer -1 out of bounds for uint8", "where": "python/needle/ops.py:2"}]
