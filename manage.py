#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "convonet_site.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:
        # Settings come from the environment: say which variable to fix, not a traceback.
        sys.exit(
            f"Configuration error: {exc}\nFor local development run with DEBUG=1 (make run does); see .env.example."
        )


if __name__ == "__main__":
    main()
