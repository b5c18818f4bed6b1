"""``python -m haf``: the same as the ``haf`` command."""

from haf.cli import main

main()
