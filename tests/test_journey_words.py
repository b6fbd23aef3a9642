"""The journey's codes in a client's words: moves, paths and the groups of friction incidents."""

from __future__ import annotations

import pytest

from crm_research import journey as J
from crm_research import settings as S
from crm_research.journey.words import lower_first


def demo_label():
    """The demo engagement's labels (events: checkout_start → "Checkout started", mobile → "Mobile web")."""
    settings = S.from_dict({"labels": {"events": {"checkout_start": "Checkout started", "purchase": "Purchase"},
                                       "channels": {"mobile": "Mobile web", "paid_search": "Paid search",
                                                    "ps_brand": "Google Ads (brand)"}}})
    return settings.label


def test_a_move_reads_in_the_clients_event_names():
    assert J.move_words("checkout_start", "purchase", demo_label()) == "Checkout started → Purchase"
    assert J.move_words("add_to_cart", "checkout_start") == "Add to cart → Checkout start"


@pytest.mark.parametrize("col, value, words", [
    ("platform", "mobile", "on mobile web"),
    ("acquisition_channel", "paid_search", "for customers acquired through paid search"),
    ("acquisition_channel", "ps_brand", "for customers acquired through Google Ads (brand)"),
    ("channel", "paid_search", "from paid search"),
    ("region", "north", "in the North region"),
    ("(all)", "(all)", "for all visits"),
    ("region", "(missing)", "with no region recorded"),
    ("device_family", "tablet_pro", "for device family Tablet pro"),
])
def test_a_group_reads_as_plain_words(col, value, words):
    assert J.segment_words(col, value, demo_label()) == words


def test_a_group_never_shows_the_column_equals_value_code():
    for col, value in [("platform", "mobile"), ("region", "west"), ("acquisition_channel", "social")]:
        text = J.segment_words(col, value)
        assert "=" not in text and "_" not in text


def test_a_path_labels_each_event_and_keeps_the_cut_mark():
    assert (J.path_words("signup > checkout_start > purchase", demo_label())
            == "Signup → Checkout started → Purchase")
    assert J.path_words("signup > ad_click > …") == "Signup → Ad click → …"


@pytest.mark.parametrize("text, lowered", [
    ("Mobile web", "mobile web"), ("Paid search", "paid search"), ("Google Ads", "Google Ads"),
    ("SMS", "SMS"), ("EU shop", "EU shop"), ("", ""),
])
def test_lower_first_spares_names_and_acronyms(text, lowered):
    assert lower_first(text) == lowered
