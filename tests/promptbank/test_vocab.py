import pytest

from promptbank.errors import VocabularyError
from promptbank.vocab import BUILTIN_VOCABULARIES, load_templates, load_vocabulary

SIZES = {
    "voc20": 20,
    "voc21": 21,
    "pc59": 59,
    "pc459": 459,
    "ade150": 150,
    "ade847": 847,
    "coco-stuff171": 171,
    "shapes": 13,
}


@pytest.mark.parametrize("name", sorted(BUILTIN_VOCABULARIES))
def test_builtin_vocabularies_load_with_unique_names(name):
    vocab = load_vocabulary(name)
    assert len(vocab.classes) == SIZES[name]
    assert len({c.lower() for c in vocab.classes}) == len(vocab.classes)
    assert all(a and a[0] for a in vocab.aliases)


def test_voc21_background_and_ade847_repeats():
    voc21 = load_vocabulary("voc21")
    assert voc21.classes[0] == "background" and "sky" in voc21.aliases[0]
    assert voc21.aliases[15][0] == "person" and len(voc21.aliases[15]) > 1
    ade = load_vocabulary("ade847")
    assert ade.classes[114] == "bag" and ade.classes[191] == "bag (traveling bag)"
    assert ade.classes[255] == "pier (2)" and ade.aliases[255] == ["pier"]
    assert load_vocabulary("ade150").classes[7] == "bed"  # trailing space trimmed


def test_text_file_aliases_comments_and_safe_names(tmp_path):
    f = tmp_path / "my.txt"
    f.write_text(
        "# my classes\nsky, clouds ,  heaven\n\n  cat  # a comment\n../etc/passwd\n"
        "a/b\n\"quoted\" 'name'\ncafé\n",
        encoding="utf-8",
    )
    vocab = load_vocabulary(f)
    assert vocab.name == "my"
    assert vocab.classes == ["sky", "cat", "../etc/passwd", "a/b", "\"quoted\" 'name'", "café"]
    assert vocab.aliases[0] == ["sky", "clouds", "heaven"]


@pytest.mark.parametrize(
    "text, match",
    [
        ("", "is empty"),
        ("# only a comment\n\n", "is empty"),
        ("cat\ndog\nCat\n", "duplicates entry 1"),
        ("cat\nbad\x07name\n", "control characters"),
        (" , ,\n", "no class name"),
    ],
)
def test_bad_vocabulary_files(tmp_path, text, match):
    f = tmp_path / "v.txt"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(VocabularyError, match=match):
        load_vocabulary(f)


def test_unknown_vocabulary_names():
    with pytest.raises(VocabularyError, match="unknown vocabulary 'voc99'.*ade150"):
        load_vocabulary("voc99")
    with pytest.raises(VocabularyError, match="does not exist"):
        load_vocabulary("missing/classes.txt")


def test_templates(tmp_path):
    assert len(load_templates(None)) == 80
    assert load_templates(2) == ["a bad photo of a {}.", "a photo of many {}."]
    assert load_templates("3") == load_templates(None)[:3]
    f = tmp_path / "t.txt"
    f.write_text("a {} here\nthe {}, again\n")
    assert load_templates(f) == ["a {} here", "the {}, again"]
    for bad, match in [
        (0, "from 1 to 80"),
        (81, "from 1 to 80"),
        (tmp_path / "no.txt", "does not exist"),
    ]:
        with pytest.raises(VocabularyError, match=match):
            load_templates(bad)
    f.write_text("a photo of a {}\na photo of nothing\n")
    with pytest.raises(VocabularyError, match=r"template 2 .* has no '\{\}'"):
        load_templates(f)
    f.write_text("a {}\na {}\n")
    with pytest.raises(VocabularyError, match="duplicate"):
        load_templates(f)
