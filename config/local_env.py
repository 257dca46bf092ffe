"""Write the checkout's development defaults (var/local.env) once; `make setup` runs this.

It sets DJANGO_DEBUG=true and a random DJANGO_SECRET_KEY, so that `manage.py` works from any
shell in the checkout, as the README shows, without exporting anything. config/settings.py reads
the file only for variables the environment leaves unset, and never when DJANGO_DEBUG=false.
It runs before Django is set up (plain Python: the settings need the file to load).
"""

import secrets
import sys
from pathlib import Path

LOCAL_ENV_FILE = Path(__file__).resolve().parent.parent / "var" / "local.env"

CONTENT = """\
# Development defaults of this checkout, written by `make setup` (config/local_env.py).
# Read by config/settings.py only for variables the environment leaves unset, and never when
# DJANGO_DEBUG=false. Not for production: a deployment sets its own variables (README).
DJANGO_DEBUG=true
DJANGO_SECRET_KEY={secret_key}
"""


def write(path: Path = LOCAL_ENV_FILE) -> bool:
    """Write the file unless it exists (its key stays the same across runs); True if written."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(CONTENT.format(secret_key=secrets.token_urlsafe(50)))
    path.chmod(0o600)
    return True


if __name__ == "__main__":
    if write():
        sys.stdout.write(f"Wrote the development defaults to {LOCAL_ENV_FILE}\n")
