"""coexplore.api: the ``search`` command line (and, later, the REST service and dashboards).

Importing it loads neither torch nor FastAPI; each subcommand imports what it needs.
"""

from coexplore._bare import refuse_bare_import

refuse_bare_import(__name__, "api")
