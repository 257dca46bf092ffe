import pytest

from tests.conftest import FIXTURES


@pytest.fixture
def fixture_file():
    """Return a reader of tests/fixtures/NAME giving (bytes, NAME), the arguments of read_table."""

    def read(name: str) -> tuple[bytes, str]:
        return (FIXTURES / name).read_bytes(), name

    return read
