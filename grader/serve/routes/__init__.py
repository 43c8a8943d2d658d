"""The web app's routes, one router per area; ``app.create_app`` assembles them.

- ``signin``: the sign-in form and signing out, the only form anyone may post to;
- ``student``: a student's own pages: their submissions, uploading, each submission's feedback;
- ``instructor``: the gradebook, the queue, each student's history, the class report, regrading;
- ``api``: the JSON API for scripts and the pages' live updates;
- ``mugrade``: the course's own protocol, for its notebooks.

Each route declares what it needs (``dependencies``) and reads on its own.
"""
