"""A full media volume: the upload is refused with a clear message and no file is left behind."""

import datetime as dt
import os
import subprocess

import pytest
from django.urls import reverse
from django.utils import timezone

from importer import runs
from importer.history import retention
from importer.models import ImportRun


@pytest.fixture
def full_volume(settings, tmp_path):
    """Point the media folder at a 64 KB tmpfs: the disk of a server that has run out of space."""
    mountpoint = tmp_path / "media"
    mountpoint.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mountpoint)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small volume here: {mounted.stderr.decode().strip()}")
    settings.MEDIA_ROOT = mountpoint
    yield mountpoint
    subprocess.run(["umount", str(mountpoint)], check=True)


def files_under(folder) -> list[str]:
    return [os.path.join(root, name) for root, _dirs, names in os.walk(folder) for name in names]


def test_a_paste_too_large_for_the_disk_is_refused_clearly_and_leaves_no_file(
    alice_client, full_volume
):
    text = "email,first_name\n" + "".join(f"p{n}@acme.example,Name{n}\n" for n in range(8000))
    assert len(text) > 64 * 1024

    response = alice_client.post(reverse("importer:create-preview"), {"text": text})

    assert response.status_code == 503
    assert "could not be stored" in response.content.decode()
    assert not ImportRun.objects.exists()
    assert files_under(full_volume) == []


def test_the_sweep_deletes_files_no_run_names_and_keeps_the_runs_inputs(
    acme, alice, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    run = runs.create_run(
        organization=acme,
        data=b"email\nana@acme.example\n",
        name="people.csv",
        source=ImportRun.Source.UPLOAD,
        acting_user=alice,
    )
    folder = tmp_path / "imports" / str(acme.pk)
    stray = folder / "0123456789abcdef.bin"
    partial = folder / ".tmpabc.part"
    fresh = folder / "fedcba9876543210.bin"
    for path in (stray, partial, fresh):
        path.write_bytes(b"email\n")
    two_days_ago = (timezone.now() - dt.timedelta(days=2)).timestamp()
    for path in (stray, partial, tmp_path / run.input_file.name):
        os.utime(path, (two_days_ago, two_days_ago))

    deleted = retention.delete_orphan_inputs(now=timezone.now(), older_than=dt.timedelta(days=1))

    assert deleted == 2
    assert not stray.exists() and not partial.exists()
    assert fresh.exists()  # Its run may be about to be saved.
    assert (tmp_path / run.input_file.name).exists()
