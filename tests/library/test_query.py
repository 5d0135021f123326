"""Parse search-box text into safe queries."""

from __future__ import annotations

import pytest

from annotator.library.fts import fts5_expression
from annotator.library.query import MAX_TERMS, Query, Term, parse


def test_plain_words_are_all_required() -> None:
    assert parse("dog beach") == Query(((Term(("dog",)),), (Term(("beach",)),)))


def test_phrase_prefix_or_and_exclusion() -> None:
    q = parse('"red kite" bic* dog OR cat -zebra NOT horse')
    assert q.groups == (
        (Term(("red", "kite")),),
        (Term(("bic",), prefix=True),),
        (Term(("dog",)), Term(("cat",))),
    )
    assert q.excluded == (Term(("zebra",)), Term(("horse",)))


def test_prefix_last_only_while_typing() -> None:
    assert parse("red bic", prefix_last=True).groups[-1] == (Term(("bic",), prefix=True),)
    assert parse("red bic ", prefix_last=True).groups[-1] == (Term(("bic",)),)
    assert parse('"red kite"', prefix_last=True).groups[-1] == (Term(("red", "kite")),)
    assert parse('"red ki', prefix_last=True).groups[-1] == (Term(("red", "ki"), prefix=True),)


@pytest.mark.parametrize("text", ["", "   ", "\t\n", "***", '""', "()", "🐶🐱", "AND OR NOT", "-"])
def test_nothing_to_match_is_an_empty_query(text: str) -> None:
    assert parse(text).is_empty


def test_operators_and_syntax_become_plain_words() -> None:
    assert parse("NEAR(a b)").groups == ((Term(("NEAR", "a")),), (Term(("b",)),))
    assert parse("^title:dog").groups == ((Term(("title", "dog")),),)
    assert parse("dog and cat or not").words == ("dog", "and", "cat", "or", "not")


def test_unicode_is_normalised_and_kept() -> None:
    assert parse("ｃａｆé").words == ("café",)  # fullwidth folded by NFKC
    assert parse("犬 と 猫").words == ("犬", "と", "猫")


def test_long_queries_are_cut() -> None:
    assert len(parse(" ".join(f"w{i}" for i in range(100))).groups) == MAX_TERMS


def test_fts5_expression_quotes_every_term() -> None:
    q = parse('dog OR "ca t"* -zebra')
    assert fts5_expression(q) == '(("dog" OR "ca t" *)) NOT "zebra"'
    assert fts5_expression(parse("-zebra")) is None
