"""Hand-computed cases for the README figures in edge_runtime.evaluation.metrics (no models needed)."""

from __future__ import annotations

import pytest

from edge_runtime.evaluation import metrics


def box(x0: float, y0: float, x1: float, y1: float) -> tuple[tuple[float, float], ...]:
    return ((x0, y0), (x1, y0), (x1, y1), (x0, y1))


# ---- words ----------------------------------------------------------------------------------------------
def test_normalize_words_lowercases_and_strips_outer_punctuation_only():
    assert metrics.normalize_words('"Hello," she said -- it\'s $12.50!') == ["hello", "she", "said", "it's", "12.50"]


def test_normalize_words_strips_unicode_symbols_and_drops_empty_tokens():
    assert metrics.normalize_words("→ 5% «Café» …") == ["5", "café"]


def test_word_counts_are_multisets():
    # pred words: the, the, cat ; truth: the, cat, cat, sat -> matched: the×1 + cat×1 = 2
    counts = metrics.word_counts(["The the", "CAT."], ["the cat", "cat sat"])
    assert counts == metrics.WordCounts(matched=2, predicted=3, truth=4)
    assert counts.f1 == pytest.approx(2 * 2 / 7)
    assert counts.precision == pytest.approx(2 / 3)
    assert counts.recall == pytest.approx(2 / 4)


def test_word_f1_is_granularity_free():
    assert metrics.word_counts(["Genaxis Theatre"], ["Genaxis", "Theatre"]).f1 == 1.0


def test_word_counts_add_up_to_a_micro_average():
    total = metrics.word_counts(["a b"], ["a b"]) + metrics.word_counts(["x"], ["y z"])
    assert total == metrics.WordCounts(2, 3, 4)
    assert total.f1 == pytest.approx(4 / 7)


def test_f1_of_nothing_against_nothing_is_perfect_and_of_nothing_against_something_zero():
    assert metrics.f1(0, 0, 0) == 1.0
    assert metrics.f1(0, 0, 3) == 0.0


# ---- don't care -----------------------------------------------------------------------------------------
def test_lines_more_than_half_inside_dont_care_are_dropped():
    dont_care = [box(0, 0, 10, 10)]
    lines = [
        ("inside", box(1, 1, 9, 9)),  # all inside
        ("sixty", box(4, 0, 14, 10)),  # 60 % inside -> dropped
        ("half", box(5, 0, 15, 10)),  # exactly 50 % -> kept ("more than half" drops)
        ("outside", box(20, 0, 30, 10)),
    ]
    kept = metrics.drop_dont_care(lines, dont_care)
    assert [t for t, _ in kept] == ["half", "outside"]


def test_dont_care_regions_are_taken_together():
    # 40 % in each of two adjacent don't-care boxes: 80 % in don't-care overall -> dropped
    dont_care = [box(0, 0, 10, 10), box(10, 0, 20, 10)]
    lines = [("span", box(6, 0, 16, 10)), ("far", box(100, 0, 110, 10))]
    assert [t for t, _ in metrics.drop_dont_care(lines, dont_care)] == ["far"]


# ---- detection coverage ---------------------------------------------------------------------------------
def test_coverage_recall_counts_regions_at_least_half_covered_by_the_union_of_predictions():
    truth = [box(0, 0, 10, 10), box(20, 0, 30, 10), box(40, 0, 50, 10)]
    predicted = [
        box(0, 0, 3, 10),
        box(3, 0, 6, 10),  # together 60 % of the first region
        box(20, 0, 24, 10),  # 40 % of the second
        box(40, 0, 45, 10),  # exactly 50 % of the third -> found
    ]
    counts = metrics.coverage_counts(predicted, truth)
    assert (counts.found, counts.truth) == (2, 3)
    assert counts.recall == pytest.approx(2 / 3)


def test_coverage_precision_counts_predictions_mostly_in_truth_or_dont_care():
    truth = [box(0, 0, 10, 10)]
    dont_care = [box(20, 0, 30, 10)]
    predicted = [
        box(0, 0, 10, 10),  # in truth: precise
        box(5, 0, 15, 10),  # 50 % in truth: precise
        box(8, 0, 18, 10),  # 20 % in truth: imprecise
        box(16, 0, 26, 10),  # 60 % in don't-care: dropped, counts neither way
        box(60, 0, 70, 10),  # nowhere: imprecise
    ]
    counts = metrics.coverage_counts(predicted, truth, dont_care)
    assert counts == metrics.CoverCounts(found=1, truth=1, precise=2, predicted=4)
    assert counts.precision == pytest.approx(0.5)


def test_coverage_precision_lets_a_prediction_straddle_truth_and_dont_care():
    truth = [box(0, 0, 10, 10)]
    dont_care = [box(10, 0, 14, 10)]
    # 40 % in truth, 40 % in don't-care (kept: not more than half), 80 % labelled overall -> precise
    counts = metrics.coverage_counts([box(6, 0, 16, 10)], truth, dont_care)
    assert (counts.precise, counts.predicted) == (1, 1)


def test_coverage_repairs_a_self_intersecting_quad():
    bow_tie = ((0, 0), (10, 10), (10, 0), (0, 10))
    counts = metrics.coverage_counts([box(0, 0, 10, 10)], [bow_tie])
    assert counts.found == 1


def test_coverage_of_nothing():
    assert metrics.coverage_counts([], []).recall == 0.0
    assert metrics.coverage_counts([], [box(0, 0, 1, 1)]) == metrics.CoverCounts(0, 1, 0, 0)


# ---- reading order and CER ------------------------------------------------------------------------------
def test_reading_order_rows_then_left_to_right():
    polygons = [
        box(100, 52, 150, 70),  # row 2, right
        box(60, 2, 90, 18),  # row 1, right; slightly higher than its row neighbour
        box(0, 50, 40, 70),  # row 2, left
        box(0, 5, 50, 20),  # row 1, left
    ]
    assert metrics.reading_order(polygons) == [3, 1, 2, 0]


def test_text_in_reading_order_collapses_white_space():
    lines = [("world  !", box(0, 40, 50, 60)), (" Hello\n", box(0, 0, 50, 20))]
    assert metrics.text_in_reading_order(lines) == "Hello world !"


def test_reading_order_keeps_given_order_without_polygons():
    assert metrics.reading_order([None, None]) == [0, 1]


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [
        ("", "", 0),
        ("abc", "", 3),
        ("", "abc", 3),
        ("kitten", "sitting", 3),
        ("flaw", "lawn", 2),
        ("intention", "execution", 5),
        ("abc", "abc", 0),
        ("ab", "ba", 2),
        ("Café", "Cafe", 1),
    ],
)
def test_levenshtein(a, b, distance):
    assert metrics.levenshtein(a, b) == distance
    assert metrics.levenshtein(b, a) == distance


def test_cer_divides_edits_by_truth_length_after_collapsing_spaces():
    counts = metrics.cer_counts("The  quick\nbrwn fox", "The quick brown fox")
    assert counts == metrics.EditCounts(edits=1, truth_chars=19)
    assert counts.cer == pytest.approx(1 / 19)


def test_cer_is_case_sensitive():
    assert metrics.cer_counts("abc", "ABC").edits == 3


# ---- crops and plates -----------------------------------------------------------------------------------
def test_exact_match_ignores_case_and_spaces_but_not_punctuation():
    assert metrics.exact_match("Hello World", "helloworld")
    assert metrics.exact_match(" 03/09/2009 ", "03/09/2009")
    assert not metrics.exact_match("03/09/2009", "03092009")
    assert not metrics.exact_match("Virgn", "Virgin")


def test_plate_found_contiguous_in_order_ignoring_case_spaces_punctuation():
    assert metrics.plate_found(["CALIFORNIA", "6xiu 641"], "6XIU641")
    assert metrics.plate_found(["ABC-", "123"], "ABC123")  # split over two lines in reading order
    assert not metrics.plate_found(["6XIU", "FEB", "641"], "6XIU641")  # not contiguous
    assert not metrics.plate_found(["641", "6XIU"], "6XIU641")  # wrong order
    assert not metrics.plate_found([], "6XIU641")
    assert not metrics.plate_found(["anything"], "")
