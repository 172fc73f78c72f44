"""``python -m shim.cli`` runs the ``waba-migrate`` command."""

from shim.cli import main

main()
