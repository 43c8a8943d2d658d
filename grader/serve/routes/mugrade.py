"""The course's own protocol under ``/mugrade/`` (``serve.mugrade``): its notebooks submit here unchanged.

The client names its caller by ``user_key`` (the person's token) in the
query, not by a header or a cookie, and reads ``{"error": ...}`` on a 4xx.
"""

import json
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select

from .. import mugrade
from ..access import Refused, check_rules, person_asking
from ..dependencies import Reader, RecordIdQuery
from ..models import INSTRUCTOR, MugradeProblem, MugradeSubmission, MugradeVerdict, Person, now

router = APIRouter(prefix="/mugrade")


async def body(request: Request):
    return await request.body()


Body = Annotated[bytes, Depends(body)]


def caller(request, session, user_key):
    person = person_asking(request, session, user_key)
    if person is None:
        raise Refused(401, "unknown user_key: use the token your instructor gave you")
    return person


def assignment_of(assignment):
    assignment = assignment or mugrade.ASSIGNMENT     # the 2022 notebook sends none
    if assignment != mugrade.ASSIGNMENT:
        raise Refused(404, f"this server grades {mugrade.ASSIGNMENT}, not {assignment!r}")
    return assignment


def published(session, assignment, problem):
    return session.scalars(select(MugradeProblem).where(MugradeProblem.assignment == assignment,
                                                        MugradeProblem.problem == problem)).first()


def decoded(body):
    try:
        return mugrade.decode(body)
    except mugrade.BadValue as exc:
        raise Refused(400, str(exc)) from None


@router.post("/submit")
def submit(request: Request, session: Reader, user_key: str = "", problem: str = "", assignment: str = ""):
    assignment = assignment_of(assignment)
    person = caller(request, session, user_key)     # read first: a wrong key never waits for the write lock
    if published(session, assignment, problem) is None:
        raise Refused(404, f"{problem or 'that problem'} is not published yet: your instructor publishes "
                           "its reference values before it can be checked")
    database = request.app.state.database
    with database.session() as writing:
        person = writing.get(Person, person.id, with_for_update=True)    # one request of this person's at a time
        moment = now()
        earlier = writing.scalars(select(MugradeSubmission.submitted_at).where(
            MugradeSubmission.person_id == person.id, MugradeSubmission.assignment == assignment,
            MugradeSubmission.problem == problem)).all()
        check_rules(database.course(writing), person, moment, earlier, what=f"submissions of {problem}")
        record = MugradeSubmission(person=person, assignment=assignment, problem=problem, submitted_at=moment)
        writing.add(record)
        writing.flush()
        return {"submission_id": record.id}


@router.post("/submit_test")
def submit_test(request: Request, body: Body, session: Reader, submission_id: RecordIdQuery, test_case_index: int,
                user_key: str = ""):
    person = caller(request, session, user_key)
    record = session.get(MugradeSubmission, submission_id)
    if record is None or record.person_id != person.id:
        raise Refused(404, f"no submission {submission_id} of yours")
    values = json.loads(published(session, record.assignment, record.problem).values)
    if not 0 <= test_case_index < len(values):
        raise Refused(400, f"test case index {test_case_index} is out of range: {record.problem} has "
                           f"{len(values)} published values, indexed from 0")
    correct = mugrade.matches(mugrade.arrays(values[test_case_index]), decoded(body))
    with request.app.state.database.session() as writing:
        verdict = writing.scalars(select(MugradeVerdict).where(
            MugradeVerdict.submission_id == record.id, MugradeVerdict.test_index == test_case_index)).first()
        if verdict is None:
            verdict = MugradeVerdict(submission_id=record.id, test_index=test_case_index)
            writing.add(verdict)
        verdict.correct, verdict.value, verdict.answered_at = correct, mugrade.stored(body), now()
    return {"correct": correct}


@router.post("/publish")
def publish(request: Request, body: Body, session: Reader, user_key: str = "", problem: str = "",
            assignment: str = ""):
    assignment = assignment_of(assignment)
    person = caller(request, session, user_key)
    if person.role != INSTRUCTOR:
        raise Refused(403, "only an instructor's key may publish reference values")
    decoded(body)
    values = json.loads(body)
    if not isinstance(values, list) or not problem:
        raise Refused(400, "publish takes a problem and the list of its values")
    with request.app.state.database.session() as writing:
        mugrade.save_published(writing, assignment, problem, values, person.id)
    return {"published": problem, "assignment": assignment, "values": len(values)}
