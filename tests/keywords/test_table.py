"""Check the shipped keyword table: complete, in the weights' class order, sensible words."""

from __future__ import annotations

import pytest

from annotator.keywords.table import HEADER, NUM_CLASSES, TABLE_PATH, load_table, parse_table


def test_every_imagenet_class_has_one_entry_in_class_index_order() -> None:
    table = load_table()
    assert len(table) == NUM_CLASSES
    assert [e.index for e in table] == list(range(NUM_CLASSES))
    wnids = [e.wnid for e in table]
    assert wnids == sorted(wnids) and len(set(wnids)) == NUM_CLASSES  # ImageNet-1k order
    assert all(w.startswith("n") and len(w) == 9 and w[1:].isdigit() for w in wnids)


def test_labels_match_the_class_order_of_imagenet_weights() -> None:
    from torchvision.models._meta import _IMAGENET_CATEGORIES as categories

    renamed = {134: "crane bird", 639: "maillot tank suit"}  # torchvision disambiguates
    for e in load_table():
        assert renamed.get(e.index, e.label) == categories[e.index], e


@pytest.mark.parametrize(
    ("label", "keyword", "root"),
    [
        ("tabby", "cat", "Animals"),
        ("Persian cat", "cat", "Animals"),
        ("golden retriever", "dog", "Animals"),
        ("Chihuahua", "dog", "Animals"),
        ("espresso", "coffee", "Food"),
        ("space shuttle", "space shuttle", "Vehicles"),
        ("goldfinch", "bird", "Animals"),
        ("pizza", "pizza", "Food"),
        ("laptop", "laptop", "Electronics"),
        ("cheeseburger", "burger", "Food"),
        ("sports car", "car", "Vehicles"),
    ],
)
def test_everyday_keywords(label: str, keyword: str, root: str) -> None:
    entry = next(e for e in load_table() if e.label == label)
    assert entry.keyword == keyword
    assert entry.hierarchy[0] == root and entry.hierarchy[-1].lower() == keyword
    assert keyword in entry.synonyms


def test_synonyms_include_plural_and_everyday_forms() -> None:
    tabby = next(e for e in load_table() if e.label == "tabby")
    assert {"cat", "cats", "kitten", "tabby"} <= set(tabby.synonyms)
    assert tabby.hierarchy == ("Animals", "Mammal", "Cat")


def test_people_weapons_and_underwear_are_suppressed_with_a_reason() -> None:
    by_label = {e.label: e for e in load_table()}
    for label in ("groom", "ballplayer", "revolver", "assault rifle", "brassiere", "diaper"):
        assert by_label[label].suppressed and len(by_label[label].suppress) > 10
    assert not by_label["tabby"].suppressed


def test_malformed_tables_are_refused_with_the_line() -> None:
    good = "\t".join(HEADER) + "\n0\tn01440764\ttench\tfish\tAnimals|Fish\tfish\t\n"
    assert parse_table(good)[0].hierarchy == ("Animals", "Fish")
    with pytest.raises(ValueError, match=r":2: expected 7 columns"):
        parse_table("\t".join(HEADER) + "\n0\tn01440764\ttench\n")
    with pytest.raises(ValueError, match=r":2: class index 5"):
        parse_table(good.replace("\n0\t", "\n5\t"))
    with pytest.raises(ValueError, match="header"):
        parse_table("nope\n")


def test_the_table_ships_next_to_its_licence_note() -> None:
    assert TABLE_PATH.is_file() and TABLE_PATH.stat().st_size < 500_000
    licence = TABLE_PATH.with_name("WORDNET-LICENSE.txt").read_text(encoding="utf-8")
    assert "WordNet 3.0 Copyright 2006 by Princeton University" in licence
