"""Safeguards: at, just under and just over each limit, with the numbers in the message."""

import pytest

from importer.pipeline.safeguards import MASS_CHANGE_FLOOR, safeguard_message
from importer.pipeline.types import Limits


def check(*, deactivations=0, active_users=1000, row_count=1000, last_row_count=1000, **limits):
    return safeguard_message(
        deactivations=deactivations,
        active_users=active_users,
        row_count=row_count,
        last_row_count=last_row_count,
        limits=Limits(**limits),
    )


# Deactivations as a share of active users (default 10 %) -------------------------------------


def test_it_allows_deactivating_exactly_the_share_limit():
    assert check(deactivations=100, active_users=1000) is None


def test_it_allows_deactivating_just_under_the_share_limit():
    assert check(deactivations=99, active_users=1000) is None


def test_it_trips_just_over_the_share_limit_and_says_so_in_numbers():
    assert check(deactivations=101, active_users=1000) == (
        "This import would deactivate 101 of 1,000 active users (10.1 %); the limit is 10 %."
    )


def test_it_reports_a_mass_deactivation_as_the_issue_describes_it():
    assert check(deactivations=412, active_users=1030) == (
        "This import would deactivate 412 of 1,030 active users (40 %); the limit is 10 %."
    )


def test_the_share_never_reads_as_equal_to_the_limit_it_crossed():
    message = check(deactivations=1001, active_users=10000)
    assert "(10.01 %)" in message


def test_the_share_limit_follows_the_configuration():
    assert check(deactivations=300, active_users=1000, max_deactivation_percent=30) is None
    assert "the limit is 30 %" in check(
        deactivations=301, active_users=1000, max_deactivation_percent=30
    )


def test_a_share_limit_of_100_percent_never_trips():
    assert check(deactivations=1000, active_users=1000, max_deactivation_percent=100) is None


@pytest.mark.parametrize("deactivations", range(1, MASS_CHANGE_FLOOR + 1))
def test_a_few_deactivations_in_a_small_company_do_not_trip_the_share(deactivations):
    assert check(deactivations=deactivations, active_users=4) is None


def test_one_more_than_the_floor_trips_the_share_in_a_small_company():
    message = check(deactivations=MASS_CHANGE_FLOOR + 1, active_users=10)
    assert message == "This import would deactivate 4 of 10 active users (40 %); the limit is 10 %."


# Deactivations as a count (no limit by default) ----------------------------------------------


def test_there_is_no_count_limit_unless_one_is_set():
    assert check(deactivations=100, active_users=1000) is None


def test_it_allows_deactivating_exactly_the_count_limit():
    assert check(deactivations=50, active_users=1000, max_deactivation_count=50) is None


def test_it_allows_just_under_the_count_limit():
    assert check(deactivations=49, active_users=1000, max_deactivation_count=50) is None


def test_it_trips_just_over_the_count_limit():
    assert check(deactivations=51, active_users=1000, max_deactivation_count=50) == (
        "This import would deactivate 51 users; the limit is 50 per import."
    )


def test_the_count_limit_applies_to_small_numbers_too():
    assert check(deactivations=1, active_users=1000, max_deactivation_count=0) == (
        "This import would deactivate 1 user; the limit is 0 per import."
    )


# Rows as a share of the last applied import's (default 80 %) ----------------------------------


def test_it_allows_a_file_with_exactly_the_minimum_share_of_rows():
    assert check(row_count=800, last_row_count=1000) is None


def test_it_allows_a_file_just_over_the_minimum_share_of_rows():
    assert check(row_count=801, last_row_count=1000) is None


def test_it_trips_on_a_file_just_under_the_minimum_share_of_rows():
    assert check(row_count=799, last_row_count=1000) == (
        "The file has 799 rows, 79.9 % of the 1,000 rows of the last import; the minimum is 80 %."
    )


def test_it_reports_a_truncated_file_as_the_issue_describes_it():
    assert check(row_count=150, last_row_count=1000) == (
        "The file has 150 rows, 15 % of the 1,000 rows of the last import; the minimum is 80 %."
    )


def test_it_trips_on_a_file_with_one_row_left():
    assert check(row_count=1, last_row_count=1000).startswith("The file has 1 row, 0.1 % of")


def test_there_is_no_row_check_before_the_first_applied_import():
    assert check(row_count=1, last_row_count=None) is None
    assert check(row_count=1, last_row_count=0) is None


def test_a_minimum_share_of_0_percent_never_trips():
    assert check(row_count=1, last_row_count=1000, min_row_ratio_percent=0) is None


def test_a_few_rows_fewer_in_a_small_file_do_not_trip():
    assert check(row_count=10 - MASS_CHANGE_FLOOR, last_row_count=10) is None
    assert check(row_count=10 - MASS_CHANGE_FLOOR - 1, last_row_count=10) is not None


# Both at once ---------------------------------------------------------------------------------


def test_it_names_every_safeguard_that_trips():
    message = check(deactivations=850, active_users=1000, row_count=150, last_row_count=1000)
    assert message == (
        "This import would deactivate 850 of 1,000 active users (85 %); the limit is 10 %. "
        "The file has 150 rows, 15 % of the 1,000 rows of the last import; the minimum is 80 %."
    )


def test_a_tiny_share_reads_as_less_than_a_hundredth_of_a_percent():
    assert "less than 0.01 % of the 1,000,000 rows" in check(row_count=1, last_row_count=1_000_000)
