"""The web dashboard: a built single-page app served under ``/dashboard/``. It talks
only to the public API, with the token of whoever signs in."""
