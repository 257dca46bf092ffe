"""Where stored input files live: the local media folder, written so that no partial file stays.

A file is written under a temporary name beside its final one, then linked into place: a full
disk or a crash mid-write leaves no file that looks stored, and the temporary one is removed on
the way out (importer.history.retention sweeps any left by a killed process).
"""

from __future__ import annotations

import errno
import os
import tempfile

from django.core.files.storage import FileSystemStorage

PARTIAL_SUFFIX = ".part"


class InputStorage(FileSystemStorage):
    """The file system, written atomically."""

    def _save(self, name, content):
        full_path = self.path(name)
        directory = os.path.dirname(full_path)
        os.makedirs(directory, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=".", suffix=PARTIAL_SUFFIX)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                for chunk in content.chunks():
                    handle.write(chunk)
            while True:
                try:
                    os.link(temporary, full_path)  # Unlike a rename, never replaces a file.
                    break
                except FileExistsError:
                    name = self.get_available_name(name)
                    full_path = self.path(name)
                except OSError as error:
                    if error.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP):
                        raise
                    # A volume without hard links (some network shares): a rename, after the
                    # name was found free. Names are random, so no other file takes it meanwhile.
                    if os.path.exists(full_path):
                        name = self.get_available_name(name)
                        full_path = self.path(name)
                        continue
                    os.rename(temporary, full_path)
                    break
            if self.file_permissions_mode is not None:
                os.chmod(full_path, self.file_permissions_mode)
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)
        return str(name).replace("\\", "/")
