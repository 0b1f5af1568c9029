"""One reading of a relation item's fields serves the end model's text, copies and pages."""

from loop.core.relations import entities, entity_key, relation_fields, relation_text


def test_every_reading_takes_the_same_fields_nested_and_in_any_case() -> None:
    fields = {"data.Entity1": "COX-1", "DATA.ENTITY2": "Aspirin", "data.span1": [15, 20],
              "data.Span2": [0, 7], "data.entity_type": "chem", "spans": [1, 2]}
    text = "Aspirin blocks COX-1 in cells."
    assert [f.key for f in relation_fields(fields)] == [
        "data.Entity1", "DATA.ENTITY2", "data.span1", "data.Span2"]
    assert relation_text(text, fields) == relation_text(text, {
        "entity1": "COX-1", "entity2": "Aspirin", "span1": [15, 20], "span2": [0, 7]})
    assert entities(fields) == {"entity1": "COX-1", "entity2": "Aspirin"}
    assert "entity_type" not in entity_key(fields) and "spans" not in entity_key(fields)
    # two pairs of one sentence are two questions, the same pair twice is one
    assert entity_key(fields) != entity_key({**fields, "DATA.ENTITY2": "cells"})
    assert entity_key(fields) == entity_key(dict(reversed(list(fields.items()))))


def test_an_item_without_a_pair_is_read_as_it_is() -> None:
    one_entity = {"entity1": "COX-1", "span1": [0, 5]}
    assert relation_text("COX-1 alone", one_entity) == "COX-1 alone"
    assert entities({"entity1": " ", "entity2": 7}) == {}
    assert entity_key({"text": "x"}) == "" and relation_fields(["entity1"]) == []


def test_the_words_between_a_pair_and_an_entitys_mention() -> None:
    from loop.core.relations import between, mention

    text = "Aspirin blocks COX-1 in cells."
    fields = {"data": {"entity1": "COX-1", "entity2": "Aspirin", "span1": [15, 20],
                       "span2": [0, 7]}}  # nested, as json.load reads WRENCH's rows
    assert [f.key for f in relation_fields(fields)][:2] == ["data.entity1", "data.entity2"]
    assert between(text, fields) == (7, 15) and mention(text, fields, "data.entity1") == (15, 20)
    # a span that does not hold the entity: its first occurrence; not in the text: no pair
    assert between(text, {"entity1": "Aspirin", "entity2": "cells", "span2": [0, 3]}) == (7, 24)
    assert between(text, {"entity1": "Aspirin", "entity2": "COX-2"}) is None
    assert between(text, {"entity1": "COX-1", "entity2": "COX-1"}) == (20, 20)
    assert mention(text, fields, "data.span1") is None
