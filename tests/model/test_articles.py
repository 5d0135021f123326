"""Check that "a"/"an" agree with the word after them."""

from __future__ import annotations

from annotator.model.articles import fix_articles, needs_an


def test_a_becomes_an_before_a_vowel_sound_and_back() -> None:
    words = str.split("a elephant and a owl near an dog and a apple tree")
    assert fix_articles(words) == str.split("an elephant and an owl near a dog and an apple tree")


def test_words_that_start_with_another_sound() -> None:
    assert fix_articles(["a", "uniform"]) == ["a", "uniform"]
    assert fix_articles(["an", "european", "city"]) == ["a", "european", "city"]
    assert fix_articles(["a", "hour"]) == ["an", "hour"]
    assert fix_articles(["a", "one"]) == ["a", "one"]
    assert fix_articles(["a", "umbrella"]) == ["an", "umbrella"]


def test_phrases_count_by_their_first_word_and_a_last_article_stays() -> None:
    assert fix_articles(["a", "espresso machine"]) == ["an", "espresso machine"]
    assert fix_articles(["the", "a"]) == ["the", "a"]
    assert not needs_an("") and not needs_an("1990s")
