"""What the run page's search looks in for a change (ImportChange.search_text)."""

from importer.store.changes import search_text


def test_the_search_text_is_the_email_then_the_old_and_new_names_in_lower_case():
    fields = {"first_name": ("Ann", "Anna"), "last_name": ("", "Łukasik"), "title": ("A", "B")}

    assert search_text("ann@x.com", fields) == "ann@x.com ann anna łukasik"


def test_a_change_without_names_is_found_by_its_email_alone():
    assert search_text("Ben@X.com", {"title": ("", "CTO")}) == "ben@x.com"
    assert search_text("ben@x.com", {"first_name": ("", "")}) == "ben@x.com"
