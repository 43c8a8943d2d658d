"""The course's own protocol under ``/mugrade/`` (``serve.mugrade``): its notebooks submit here unchanged.

The client names its caller by ``user_key`` (the person's token) in the
query, not by a header or a cookie, and reads ``{"error": ...}`` on a 4xx.
Each test case of a submission is answered once (``kept``): a new try is a
new submission, which the course's limits govern.
"""

import json
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select

from .. import mugrade
from ..access import Refused, check_rules, person_asking
from ..dependencies import Reader, RecordIdQuery
from ..models import INSTRUCTOR, MugradeProblem, MugradeSubmission, MugradeVerdict, Person, now
from ..times import megabytes

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


def too_large(cap, size=None):
    """The refusal of a body beyond the service's cap (``app._BodyLimit``): here it holds a value, not an archive."""
    what = f"the value sent is {megabytes(size)}, too large" if size else "the value sent is too large"
    return Refused(413, f"{what} to be an answer: this server takes values of up to {megabytes(cap)}")


def decoded(body):
    try:
        return mugrade.decode(body)
    except mugrade.BadValue as exc:
        raise Refused(400, str(exc)) from None


@router.post("/submit")
def submit(request: Request, session: Reader, user_key: str = "", problem: str = "", assignment: str = ""):
    assignment = assignment_of(assignment)
    if not problem:
        raise Refused(400, "the request names no problem: send problem=NAME, the test's name without submit_ "
                           "(forward for submit_forward)")
    person = caller(request, session, user_key)     # read first: a wrong key never waits for the write lock
    if published(session, assignment, problem) is None:
        raise Refused(404, f"{problem} is not published yet: your instructor publishes "
                           "its reference values before it can be checked")
    database = request.app.state.database
    with database.session() as writing:
        person = writing.get(Person, person.id, with_for_update=True)    # one request of this person's at a time
        moment = now()
        earlier = writing.scalars(select(MugradeSubmission.submitted_at).where(
            MugradeSubmission.person_id == person.id, MugradeSubmission.assignment == assignment,
            MugradeSubmission.problem == problem)).all()
        check_rules(database.course(writing), person, moment, earlier, of=f" of {problem}")
        record = MugradeSubmission(person=person, assignment=assignment, problem=problem, submitted_at=moment)
        writing.add(record)
        writing.flush()
        return {"submission_id": record.id}


@router.post("/submit_test")
def submit_test(request: Request, body: Body, session: Reader, submission_id: RecordIdQuery, test_case_index: int,
                user_key: str = ""):
    """The verdict on one value of a submission; each index is answered once (``kept``)."""
    person = caller(request, session, user_key)
    record = session.get(MugradeSubmission, submission_id)
    if record is None or record.person_id != person.id:
        raise Refused(404, f"no submission {submission_id} of yours")
    values = json.loads(published(session, record.assignment, record.problem).values)
    if not 0 <= test_case_index < len(values):
        raise Refused(400, f"test case index {test_case_index} is out of range: {record.problem} has "
                           f"{len(values)} published values, indexed from 0")
    earlier = answered(session, record.id, test_case_index)
    if earlier is not None:      # no comparison, no write: a repeated answer is refused before either
        return kept(earlier, record, body)
    correct = mugrade.matches(mugrade.arrays(values[test_case_index]), decoded(body))
    with request.app.state.database.session() as writing:
        writing.get(MugradeSubmission, record.id, with_for_update=True)    # one answer to a submission at a time
        earlier = answered(writing, record.id, test_case_index)
        if earlier is not None:
            return kept(earlier, record, body)
        writing.add(MugradeVerdict(submission_id=record.id, test_index=test_case_index, correct=correct,
                                   value=mugrade.stored(body), answered_at=now()))
    return {"correct": correct}


def answered(session, submission_id, index):
    return session.scalars(select(MugradeVerdict).where(MugradeVerdict.submission_id == submission_id,
                                                        MugradeVerdict.test_index == index)).first()


def kept(verdict, record, body):
    """The first answer to an index stands: the same value sent again gets the same verdict, any other a 409.

    The course's client sends each index once; answering a changed value again would make the server an oracle
    that no cool-off, daily limit or deadline governs. The same value again (a retry after a lost reply) learns
    nothing new, so it is answered as it was.
    """
    text = mugrade.stored(body)
    if text == verdict.value and len(text) <= mugrade.MAX_STORED_VALUE:
        return {"correct": verdict.correct}
    raise Refused(409, f"test case {verdict.test_index} of submission {record.id} ({record.problem}) was already "
                       "answered, and each is answered once: to try again, run the problem's test again, which "
                       "starts a new submission (the course's limits apply)")


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
