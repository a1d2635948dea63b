"""coexplore.search: search spaces and strategies (hardware sweep now; DANCE + HDX next).

Importing this package stays light (no torch); strategies import heavy dependencies when run.
"""

from coexplore._bare import refuse_bare_import

refuse_bare_import(__name__, "search")
