"""``grade serve``: a resident grader, and the wire the ``grade`` command talks to it over."""
