"""``grader serve``: a course runs homework 1 on its own machines.

Students submit during the homework and see only their own feedback; the
sandbox grades each submission with the same grading session ``grader run``
uses; the instructor has a live gradebook. The pieces, one module each:

- ``models``: the course's records (SQLAlchemy 2), migrated by Alembic (``migrations/``);
- ``store``: opening a course's database from its folder or URL, and the course's settings;
- ``settings``: what an instructor may change, read from text and shown back;
- ``times``: the course's time zone: times in words, dates read as people mean them, sizes in MB;
- ``policy``: deadlines, late penalties, submission limits and which submission counts, as plain rules;
- ``jobs``: the queue (Huey) and the leases that make every job graded exactly once;
- ``worker``: what a worker process does with a job;
- ``uploads``: what an uploaded submission must be (against the course's handout year too), and storing it with
  its job;
- ``throttle``: how many wrong tokens one client address may send before it waits;
- ``dependencies``: what a route needs (a database session, who is asking, a checked form);
- ``pages``: rendering the pages in the site's layout, and the error page;
- ``feedback``: what a submission's page shows of its result, written for a browser;
- ``course_kit``: the student kit the course hands out, for its year with a public seed;
- ``routes``: the web app's routes, one router per area (sign-in, student, instructor, API, mugrade);
- ``app``: the web app (FastAPI), assembled from the routes with its middleware and error handlers;
- ``gradebook``: the instructor's gradebook, its CSV exports and the class report;
- ``client``: ``grader submit`` and the kit's ``needle-check submit``, a client of the API that needs nothing
  beyond the standard library and click;
- ``commands``: the ``grader course``, ``serve``, ``worker`` and ``submit`` commands.

Nothing in the grading core imports this package; it reaches grading only
through ``grading.Session``.
"""


class ServiceError(Exception):
    """A course or service request that cannot be carried out; the message says why in one line.

    The commands print it; the web app logs it and tells its client only that the service is unavailable
    (it may name a database's URL or a path).
    """
