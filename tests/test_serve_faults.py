"""grader serve survives its workers and its own restarts: every submission is graded exactly once.

Real processes on loopback: ``grader serve`` with its worker processes, a
worker killed with SIGKILL in the middle of a job (one of its grading
processes, or the whole ``grader worker``), and nothing of it left running;
the whole service stopped and started again while ten submissions wait.
"""

import contextlib
import os
import signal

import pytest

pytest.importorskip("fastapi", reason="the course service's packages are not installed (pip install .[serve])")

from service import (Server, commands, database, make_course, process_tree, slowed, still_running,  # noqa: E402
                     wait_for, zipped)

EXPECTED = {"alice": 100.0, "bob": 54.8506}


def jobs(folder):
    from sqlalchemy import select

    from grader.serve.models import Job

    db = database(folder)
    with db.session() as session:
        found = [{"id": job.id, "submission": job.submission_id, "state": job.state, "attempts": job.attempts,
                  "owner": job.lease_owner, "done": job.cases_done, "started": job.started_at is not None,
                  "score": job.score} for job in session.scalars(select(Job).order_by(Job.id))]
    db.close()
    return found


def submit_all(server, tokens, samples, folder):
    """Each sample, slowed (``service.slowed``) so that a grading is surely caught midway; ``{id: sample}``."""
    from grader.serve.client import Client

    sent, slow = {}, {sample: slowed(sample, folder / "slow") for sample in set(samples)}
    for index, sample in enumerate(samples):
        name = sorted(tokens)[index % len(tokens)]
        reply = Client(server.url, tokens[name]).submit(f"{sample}.zip", zipped(slow[sample]))
        sent[reply["id"]] = sample
    return sent


def job_halfway(folder):
    """A running job past its fifth case, once there is one."""
    return wait_for(lambda: next((job for job in jobs(folder) if job["state"] == "running" and job["done"] >= 5),
                                 None), 60, every=0.05, what="a job halfway through")


def every_job_done(folder):
    wait_for(lambda: all(job["state"] == "done" for job in jobs(folder)), 120, what="every job graded")


def assert_graded_once(folder, sent):
    found = jobs(folder)
    assert sorted(job["submission"] for job in found) == sorted(sent)           # one job per submission
    assert {job["submission"]: (job["state"], job["score"]) for job in found} == {
        submission: ("done", EXPECTED[sample]) for submission, sample in sent.items()}
    return found


@contextlib.contextmanager
def a_job_halfway(tmp_path, workers, samples):
    """A course served with ``workers`` grading processes, ``samples`` submitted: ``(folder, server, sent, the
    job past its fifth case)``, the service closed afterwards."""
    folder = tmp_path / "course"
    tokens = make_course(folder, lease_seconds=6)
    server = Server(folder, workers=workers).start()
    try:
        sent = submit_all(server, tokens, samples, tmp_path)
        yield folder, server, sent, job_halfway(folder)
    finally:
        server.close()


def all_ended(processes, whose):
    wait_for(lambda: not still_running(processes), 10, every=0.1,
             what=f"the end of every process of {whose} ({commands(processes)})")


def test_a_worker_killed_mid_job_has_its_job_requeued_and_graded_once(tmp_path):
    with a_job_halfway(tmp_path, 2, ["alice", "bob"] * 3) as (folder, server, sent, victim):
        grading = process_tree(int(victim["owner"].split("/")[1]))   # the process, its template, its children
        os.kill(int(victim["owner"].split("/")[1]), signal.SIGKILL)
        assert len(grading) >= 2
        all_ended(grading, "the killed grading process")
        every_job_done(folder)
        found = assert_graded_once(folder, sent)
        attempts = {job["id"]: job["attempts"] for job in found}
        assert attempts.pop(victim["id"]) == 2            # killed once, then graded by a worker alive
        assert set(attempts.values()) == {1}


def worker_of(server):
    """The ``grader worker`` process that ``grader serve`` runs beside the web app."""
    return next(pid for pid in process_tree(server.process.pid)
                if b"worker" in open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0"))


def test_a_grader_worker_killed_with_sigkill_leaves_no_process_and_each_job_is_graded_once(tmp_path):
    with a_job_halfway(tmp_path, 1, ["alice", "bob"] * 2) as (folder, server, sent, victim):
        killed = worker_of(server)
        everything = process_tree(killed)   # Huey's processes, their templates, the grading processes
        os.kill(killed, signal.SIGKILL)     # the worker alone: what it started must follow it
        assert len(everything) >= 4, commands(everything)
        all_ended(everything, "the killed worker")
        every_job_done(folder)
        found = assert_graded_once(folder, sent)   # by the worker grader serve started in its place
        assert {job["id"]: job["attempts"] for job in found if job["attempts"] != 1} == {victim["id"]: 2}


def test_stopping_and_restarting_the_service_with_ten_queued_finishes_each_once(tmp_path):
    folder = tmp_path / "course"
    tokens = make_course(folder)
    server = Server(folder, workers=1).start()
    try:
        sent = submit_all(server, tokens, ["alice", "bob"] * 5, tmp_path)
        job_halfway(folder)
        assert server.stop() == 0
    finally:
        server.close()
    stopped = jobs(folder)
    assert not [job for job in stopped if job["state"] == "running"]
    given_back = [job for job in stopped if job["state"] == "queued" and job["started"]]
    assert given_back, stopped                            # it was running when the service stopped
    assert sum(job["state"] == "queued" for job in stopped) >= 8

    server = Server(folder, workers=1).start()
    try:
        every_job_done(folder)
        found = assert_graded_once(folder, sent)
        assert {job["attempts"] for job in found} == {1}   # a job given back on stopping used up no attempt
    finally:
        server.close()


def test_a_grading_that_dies_twice_for_no_fault_of_the_submission_is_tried_again_then_costs_nothing(tmp_path,
                                                                                                   monkeypatch):
    """Every grading process killed from outside before its first case: no score, two attempts, then
    could not grade, and the submission does not count towards the student's limits."""
    from fastapi.testclient import TestClient

    from grader import supervise
    from grader.serve.app import create_app
    from grader.serve.models import Job, Submission
    from grader.serve.store import Location
    from service import grade_queued

    started = supervise.Child.__init__

    def killed_at_once(child, *args, **kwargs):
        started(child, *args, **kwargs)
        if args[2]["mode"] == "grade":   # forked: the keeper, killed with all below it
            os.kill(child.process.pid, signal.SIGKILL)

    folder = tmp_path / "course"
    tokens = make_course(folder)
    monkeypatch.setattr(supervise.Child, "__init__", killed_at_once)
    with TestClient(create_app(Location.of_folder(folder), reaper=False)) as client:
        reply = client.post("/api/submissions", headers={"Authorization": f"Bearer {tokens['ann']}"},
                            files={"archive": ("hw1.zip", zipped("alice"))})
        assert reply.status_code == 202, reply.text
        assert grade_queued(folder) == [1, 1]          # tried, given back, tried again
        shown = client.get("/api/submissions/1", headers={"Authorization": f"Bearer {tokens['ann']}"}).json()
    db = database(folder)
    with db.session() as session:
        job, record = session.get(Job, 1), session.get(Submission, 1)
        assert (job.state, job.internal, job.attempts, job.result, record.counts_for_limits) == (
            "failed", True, 2, None, False)
        assert job.error == ("the service could not grade this (the grading process died twice, neither time the "
                             "submission's doing: the process was killed by signal SIGKILL (killed); then the process "
                             "was killed by signal SIGKILL (killed)); it was tried 2 times. This is not your fault, "
                             "and it uses up none of your submissions: your instructor sees it and can regrade it")
    db.close()
    assert shown["status"] == "could not grade"
