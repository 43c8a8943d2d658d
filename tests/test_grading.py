"""The sample submissions, graded end to end with exact per-case verdicts."""

import re

import pytest

from grader import reference, results, years

# bob's bugs (see submissions/bob/README.md) and the cases each one fails; every other case passes.
BOB = {
    "forward::transpose[2x3x4-axes01]": "error",          # 1: Transpose.compute
    "forward::transpose[2x3x4-axes02]": "error",
    "backward::matmul[6x6x5x4@4x3]": "failed",            # 3: MatMul.gradient
    "backward::matmul[5x4@6x6x4x3]": "failed",
    "backward::matmul[3x2x1@3x3x1x2]": "failed",
    "backward::matmul[2x4@2x4x4x2]": "failed",
    "backward::broadcast_to[3x1-3x3]": "failed",          # 2: BroadcastTo.gradient
    "backward::broadcast_to[1x3-3x3]": "failed",
    "backward::broadcast_to[1-3x3x3]": "failed",
    "backward::broadcast_to[5x4x1-5x4x3]": "failed",
    "backward::broadcast_to[4x1-3x4x5]": "failed",
    "backward::broadcast_to[1x1-3x3]": "failed",
    "backward::broadcast_to[1x4x1-3x4x5]": "failed",
    "backward::broadcast_to[2x1x1-2x3x4]": "failed",
    "topo_sort::deep_chain": "error",                     # 4: recursion (an advisory)
    "compute_gradient::product_of_sums": "failed",        # 5: compute_gradient_of_variables
    "compute_gradient::several_paths_to_one_node": "failed",
    "compute_gradient::shared_subexpression": "failed",
    "compute_gradient::one_node_as_both_inputs": "failed",
    "compute_gradient::default_out_grad": "failed",
    "compute_gradient::gradient_of_gradient_scalar": "failed",
    "compute_gradient::gradient_of_gradient_vector": "failed",
    "compute_gradient::gradient_of_gradient_through_other_ops": "failed",
    "softmax_loss::softmax_loss[zero]": "failed",         # 6: softmax_loss
    "softmax_loss::softmax_loss[random]": "failed",
    "softmax_loss::softmax_loss_backward": "failed",      # 5 and 6
    "nn_epoch::one_step_is_the_gradient": "failed",       # 5 and 6
    "nn_epoch::lr_and_batch[lr0.3-batch20]": "failed",
    "nn_epoch::lr_and_batch[lr0.05-batch60]": "failed",
    "nn_epoch::graph_does_not_grow": "failed",            # 7: nn_epoch
    "nn_epoch::returns_plain_weights": "failed",
    "nn_epoch::keeps_float32": "failed",
    "nn_epoch::full_epoch": "failed",
}
PARSE_MNIST = {"softmax_loss::parse_mnist_other_files[7]", "softmax_loss::parse_mnist_other_files[31]",
               "softmax_loss::parse_mnist_dataset"}
SIMPLE_ML = PARSE_MNIST | {"softmax_loss::softmax_loss[zero]", "softmax_loss::softmax_loss[random]",
                           "softmax_loss::softmax_loss_backward", "nn_epoch::one_step_is_the_gradient",
                           "nn_epoch::lr_and_batch[lr0.3-batch20]", "nn_epoch::lr_and_batch[lr0.05-batch60]",
                           "nn_epoch::graph_does_not_grow", "nn_epoch::returns_plain_weights",
                           "nn_epoch::keeps_float32", "nn_epoch::full_epoch"}


def grade(grading_session, path, data_dir=None, seed=0, year=None):
    session = grading_session(data_dir, seed)
    result = session.grade(session.stage(str(path), year))
    results.validate(result)
    cases = {f"{suite['name']}::{case['name']}": case for suite in result["suites"] for case in suite["cases"]}
    return result, cases


def statuses(cases):
    return {name: case["status"] for name, case in cases.items()}


def test_every_case_of_the_reference_is_graded(grading_session):
    cases = grading_session().reference("2022").cases
    assert len(cases) == 96
    suites = {name.split("::")[0] for name in cases}
    assert suites == {"forward", "backward", "topo_sort", "compute_gradient", "softmax_loss", "nn_epoch"}


def test_alice_written_differently_scores_full_marks(grading_session, unbalanced_sums):
    result, cases = grade(grading_session, "submissions/alice")
    assert set(statuses(cases).values()) == {"passed"}
    assert (result["score"], result["max_score"]) == (100.0, 100.0)
    assert [(s["name"], s["score"]) for s in result["suites"]] == [
        ("forward", 10), ("backward", 25), ("topo_sort", 20), ("compute_gradient", 25), ("softmax_loss", 10),
        ("nn_epoch", 10)]
    assert unbalanced_sums(result) == []
    assert result["files"] == {name: "submitted" for name in years.FLAT_LAYOUT.values()}
    assert result["environment"]["data"]["source"] == "generated"


def test_alice_scores_full_marks_on_the_real_mnist_test_set(grading_session, real_mnist_dir):
    result, cases = grade(grading_session, "submissions/alice", data_dir=real_mnist_dir)
    assert set(statuses(cases).values()) == {"passed"}
    assert result["score"] == 100.0
    data = result["environment"]["data"]
    assert (data["source"], data["examples"], data["images"]) == ("mnist", 10000, "t10k-images-idx3-ubyte.gz")
    assert result["environment"]["reference"]["origin"] in ("computed", "cached")


def test_a_new_seed_draws_fresh_cases_that_alice_still_passes_and_bob_still_fails(grading_session):
    alice, alice_cases = grade(grading_session, "submissions/alice", seed=7)
    assert alice["score"] == 100.0 and alice["environment"]["seed"] == 7
    assert "TIP" not in results.render(alice)   # her tips all pass: no legend for a mark not shown
    _, bob_cases = grade(grading_session, "submissions/bob", seed=7)
    assert {name for name, status in statuses(bob_cases).items() if status != "passed"} == set(BOB)


def test_the_with_solutions_handout_scores_full_marks(grading_session, tmp_path):
    years.write_handout(tmp_path / "solution", with_solutions=True)
    result, _ = grade(grading_session, tmp_path / "solution")
    assert result["score"] == 100.0


def test_bob_loses_exactly_the_cases_his_bugs_break(grading_session, unbalanced_sums):
    result, cases = grade(grading_session, "submissions/bob")
    assert statuses(cases) == {name: BOB.get(name, "passed") for name in cases}
    # backward's 25 points over 35 cases: 30 of 0.7143 and 5 of 0.7142; bob keeps 18 of the first and all 5 of the rest
    assert [(s["name"], s["score"]) for s in result["suites"]] == [
        ("forward", 9.2), ("backward", 16.4284), ("topo_sort", 20.0), ("compute_gradient", 0.0), ("softmax_loss", 7.0),
        ("nn_epoch", 2.2222)]
    assert (result["score"], result["max_score"]) == (54.8506, 100.0)
    assert unbalanced_sums(result) == []
    rendered = results.render(result).splitlines()
    assert ["total", "54.85", "/", "100"] in [line.split() for line in rendered]
    assert rendered[-1] == "  (TIP: a check beyond the homework, worth no points unless --strict)"
    assert cases["forward::transpose[2x3x4-axes01]"]["message"].startswith("ValueError: axes don't match array\n"
                                                                          "  python/needle/ops.py, line ")
    assert cases["backward::broadcast_to[4x1-3x4x5]"]["message"] == "grad[0]: shape (4, 5), expected (4, 1)"
    deep = cases["topo_sort::deep_chain"]
    assert deep["advisory"] and deep["max_score"] == 0
    # a thousand frames deep: the message names where the case entered bob's code and the innermost of his frames
    recursing = "  python/needle/autograd.py, line 422, in topo_sort_dfs: topo_sort_dfs(inp, visited, topo_order)\n"
    assert deep["message"].startswith(
        "RecursionError: maximum recursion depth exceeded\n"
        "  python/needle/autograd.py, line 407, in find_topo_sort: topo_sort_dfs(n, seen, order)\n  ...\n"
        + 3 * recursing + "hint: ")
    assert "hint: the homework's graphs are shallow" in deep["message"]
    assert cases["softmax_loss::softmax_loss[zero]"]["message"].startswith(
        "loss: 1 of 1 elements differ beyond rtol=1e-06, atol=1e-06; largest absolute error 2300.28")
    assert cases["nn_epoch::graph_does_not_grow"]["message"].startswith(
        "the returned weights hold a graph that grows with every batch: 10 nodes after 2 batches, 26 after 6\n"
        "hint: nn_epoch must not keep the graph of earlier batches alive")
    # a case broken by a bug graded elsewhere says where that bug is
    assert cases["softmax_loss::softmax_loss_backward"]["causes"] == [
        {"function": "compute_gradient_of_variables", "case": "compute_gradient::product_of_sums"}]
    assert cases["softmax_loss::softmax_loss_backward"]["message"].endswith(
        "(compute_gradient_of_variables also fails compute_gradient/product_of_sums: fix that first)")
    mismatch = cases["compute_gradient::gradient_of_gradient_scalar"]["first_mismatch"]
    assert (mismatch["value"], mismatch["max_abs_error"]) == ("dy_dx2", 12.0)


def test_carol_the_untouched_starter_is_not_implemented_everywhere(grading_session):
    result, cases = grade(grading_session, "submissions/carol")
    assert result["score"] == 0.0
    assert set(statuses(cases).values()) == {"error"}
    assert all(case["message"].startswith("not implemented: ") for case in cases.values())
    assert re.fullmatch(r"not implemented: python/needle/ops\.py, line \d+, in EWiseDiv\.compute: "
                        r"raise NotImplementedError\(\)", cases["forward::divide[3x4]"]["message"])
    assert re.fullmatch(r"not implemented: python/needle/autograd\.py, line \d+, in find_topo_sort: "
                        r"raise NotImplementedError\(\)", cases["topo_sort::deep_chain"]["message"])


def test_dave_with_a_syntax_error_still_gets_his_parse_mnist(grading_session):
    result, cases = grade(grading_session, "submissions/dave")
    assert statuses(cases) == {name: "passed" if name in PARSE_MNIST else "error" for name in cases}
    for name, case in cases.items():
        if name not in PARSE_MNIST:
            assert case["message"].startswith("could not import python/needle: python/needle/ops.py, line 185: "
                                              "SyntaxError:"), (name, case["message"])
            assert "hint:" not in case["message"]
    assert result["files"]["python/needle/autograd.py"] == "starter"
    assert "python/needle/autograd.py was not submitted: the 2022 starter's version was used" in result["notes"]


def test_erin_importing_a_package_that_is_not_installed(grading_session):
    try:
        import wandb  # noqa: F401
        pytest.skip("wandb is installed here, so erin's import does not fail")
    except ImportError:
        pass
    result, cases = grade(grading_session, "submissions/erin", year="2022")  # only apps/: any year fits
    assert result["score"] == 0.0
    for name, case in cases.items():
        assert case["status"] == "error"
        if name in SIMPLE_ML:
            assert case["message"] == ("could not import apps/simple_ml.py: line 6: ModuleNotFoundError: No module "
                                       "named 'wandb' (not part of this homework, and not installed on the grader)")
        else:
            assert case["message"].startswith("not implemented")


def test_published_reference_is_fresh(grading_session):
    published = grading_session().reference("2022")
    assert published.origin == "published", published.note
    assert published.directory == reference.REFERENCE_DIR / "2022"


def test_a_full_epoch_that_overruns_its_timeout_says_what_usually_causes_it():
    from grader import grading, isolation

    limits = isolation.Limits(case_timeout=0.01)
    with grading.Session(limits=limits, cases=("full_epoch",)) as session:
        result = session.grade(session.stage("submissions/bob"))
    (case,) = result["suites"][0]["cases"]
    assert case["status"] == "timeout"
    assert case["message"] == ("timed out after 0.01 s\nhint: nn_epoch must not keep the graph of earlier batches "
                               "alive: make new Tensors from the updated numpy arrays (or .detach() them) after each "
                               "step")


def test_the_time_budget_ends_grading_within_a_case_that_has_time_left(tmp_path):
    import shutil

    from grader import grading, isolation

    submission = tmp_path / "slow"
    shutil.copytree("submissions/alice", submission)
    source = (submission / "apps" / "simple_ml.py").read_text()
    (submission / "apps" / "simple_ml.py").write_text(source.replace(
        "def nn_epoch(X, y, W1, W2, lr=0.1, batch=100):\n", "def nn_epoch(X, y, W1, W2, lr=0.1, batch=100):\n"
        "    import time\n    time.sleep(50)   # inside the case's 60 s\n"))
    with grading.Session(limits=isolation.Limits(submission_budget=4)) as session:
        result = session.grade(session.stage(str(submission)))
    statuses = [(case["status"], case["message"]) for suite in result["suites"] for case in suite["cases"]]
    passed = statuses.count(("passed", ""))
    stopped = statuses.count(("timeout", "stopped: the time budget was spent during this case "
                                         "(4 s for the whole submission)"))
    assert stopped == 1 and statuses[:passed] == [("passed", "")] * passed
    assert statuses[passed + 1:] == [("timeout", "not run: the time budget was spent (4 s for the whole submission)")] * (
        len(statuses) - passed - 1)
    assert result["suites"][-1]["name"] == "nn_epoch" and result["suites"][-1]["score"] < 10
    assert result["restarts"] == 0 and result["duration_s"] < 30


def test_a_module_that_hangs_on_import_costs_only_the_cases_that_need_it(tmp_path):
    import shutil

    from grader import grading, isolation

    submission = tmp_path / "hangs"
    shutil.copytree("submissions/alice", submission)
    source = (submission / "apps" / "simple_ml.py").read_text()
    (submission / "apps" / "simple_ml.py").write_text("while True:\n    pass\n" + source)
    limits = isolation.Limits(startup_timeout=2)
    with grading.Session(limits=limits, suites=("topo_sort", "softmax_loss")) as session:
        result = session.grade(session.stage(str(submission)))
    cases = {f"{s['name']}::{c['name']}": c for s in result["suites"] for c in s["cases"]}
    for name, case in cases.items():
        if name in SIMPLE_ML:
            assert (case["status"], case["message"]) == (
                "error", "importing simple_ml ended the process: timed out after 2 s"), name
        else:
            assert case["status"] == "passed", (name, case["message"])
    assert result["restarts"] == 1


def test_a_submission_may_import_its_own_helper_modules(tmp_path):
    import shutil

    from grader import grading

    submission = tmp_path / "helpers"
    shutil.copytree("submissions/alice", submission)
    (submission / "apps" / "mnist_helpers.py").write_text("SCALE = 255.0\n")
    source = (submission / "apps" / "simple_ml.py").read_text()
    (submission / "apps" / "simple_ml.py").write_text("import mnist_helpers  # a student's own module\n" + source)
    with grading.Session(suites=("softmax_loss",)) as session:
        result = session.grade(session.stage(str(submission)))
    assert result["score"] == result["max_score"] == 10.0
