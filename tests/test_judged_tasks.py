"""Judged retrieval tasks: the task file, slices, TREC import, and the WordNet tasks.

The WordNet tasks are checked exactly on a hand-written WordNet folder; the real WordNet 3.0
(Debian package wordnet-base) is parsed once for its counts, skipped where it is absent
(failed under CI, which installs it).
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from annbench.datasets.judged import (
    JudgedTask,
    check_task,
    is_task_file,
    list_tasks,
    load_task,
    read_task_hash,
    slice_task,
    task_hash,
    task_path,
    write_task,
)
from annbench.datasets.judged_trec import import_trec
from annbench.datasets.judged_wordnet import (
    lemma_of,
    make_task,
    make_wordnet_examples,
    make_wordnet_lemmas,
)
from annbench.datasets.wordnet import STANDARD_LEXNAMES, WORDNET_DIR
from annbench.datasets.wordnet_graph import read_synsets, split_gloss
from annbench.errors import NewerFormat, UserError

from .conftest import absent

LICENSE = "  1 This software and database is being provided to you, the LICENSEE, by  \n"
TINY = {
    "data.noun": [
        '00000100 03 n 01 entity 0 002 ~ 00000200 n 0000 ~ 00000300 n 0000 | that which exists; "an entity of note"',  # noqa: E501
        '00000200 05 n 02 dog 0 domestic_dog 0 001 @ 00000100 n 0000 | a domesticated animal; "the dog barked"; "a loyal pet"',  # noqa: E501
        '00000300 05 n 01 Cat 0 001 @ 00000100 n 0000 | a domesticated animal; "the dog barked" - Anon',  # noqa: E501
        "00000900 04 n 01 run 0 000 | a score in baseball",
    ],
    "data.verb": [
        '00000400 38 v 01 run 0 001 ~ 00000500 v 0000 01 + 02 00 | move fast; "run home"',
        "00000500 38 v 01 sprint 0 001 @ 00000400 v 0000 01 + 02 00 | move fast",
    ],
    "data.adj": [
        '00000600 00 a 01 quick(a) 0 000 | moving fast; "a quick run"',
        '00000700 00 s 01 fast 0 000 | acting with speed (especially in the phrase "make haste"); "he made haste"',  # noqa: E501
    ],
    "data.adv": ['00000800 02 r 01 quickly 0 000 | with speed: "he ran quickly"'],
}
TINY_DOCS = [  # (id, text, lexicographer file): definitions, the shared one once
    ("n:00000100", "that which exists", 3),
    ("n:00000200", "a domesticated animal", 5),
    ("n:00000900", "a score in baseball", 4),
    ("v:00000400", "move fast", 38),
    ("a:00000600", "moving fast", 0),
    ("a:00000700", 'acting with speed (especially in the phrase "make haste")', 0),
    ("r:00000800", "with speed", 2),
]


def one_line(info) -> str:
    message = str(info.value)
    assert "\n" not in message
    return message


def judgements(task: JudgedTask) -> set[tuple[str, str, int]]:
    return {
        (task.query_texts[q], task.doc_ids[d], int(g))
        for q, d, g in zip(task.qrels_query, task.qrels_doc, task.qrels_grade)
    }


@pytest.fixture
def tiny_wordnet(tmp_path):
    folder = tmp_path / "wordnet"
    folder.mkdir()
    for name, lines in TINY.items():
        (folder / name).write_text(LICENSE + "".join(f"{line}  \n" for line in lines), "latin-1")
    return folder


def small_task(seed: int = 0, n_docs: int = 200, n_queries: int = 80) -> JudgedTask:
    """Random qrels: 1-5 relevant docs per query, a grade-0 judgement each, and one broad
    query with 150 relevant docs (too many for small slices)."""
    rng = np.random.default_rng(seed)
    rows = []
    for q in range(n_queries):
        size = 150 if q == 7 else int(rng.integers(1, 6))
        docs = rng.choice(n_docs, size=size + 1, replace=False)
        rows += [(q, int(d), int(rng.integers(1, 3))) for d in docs[:-1]] + [(q, int(docs[-1]), 0)]
    q, d, g = (np.array(column) for column in zip(*rows))
    return JudgedTask(
        doc_ids=[f"d{i}" for i in range(n_docs)],
        doc_texts=[f"document {i}" for i in range(n_docs)],
        query_ids=[f"q{i}" for i in range(n_queries)],
        query_texts=[f"query {i}" for i in range(n_queries)],
        qrels_query=q.astype(np.int64),
        qrels_doc=d.astype(np.int64),
        qrels_grade=g.astype(np.int8),
        doc_labels=np.arange(n_docs, dtype=np.int64) % 3,
        label_names=["a", "b", "c"],
        grades={"2": "very", "1": "somewhat", "0": "not"},
        source={"generator": "test"},
    )


# --- the real WordNet 3.0 -----------------------------------------------------------------


@pytest.fixture(scope="module")
def synsets():
    if not WORDNET_DIR.is_dir():
        absent(f"{WORDNET_DIR} is absent; apt-get install wordnet-base")
    return read_synsets()


def test_real_wordnet_counts(synsets):
    assert len(synsets) == 117_659
    with_examples = [s for s in synsets if s.examples]
    assert len(with_examples) == 32_923
    assert sum(len(s.examples) for s in with_examples) == 48_339
    assert len({s.definition for s in synsets}) == 116_697
    assert len({lemma_of(w) for s in synsets for w in s.words}) == 147_306
    assert {s.key[0] for s in synsets if s.hypernyms or s.hyponyms} == {"n", "v"}
    kill = next(s for s in synsets if s.key == ("n", 217593))
    assert kill.definition == "the destruction of an enemy plane or ship or tank or missile"
    assert kill.examples == ("the pilot reported two kills during the mission",)
    assert kill.hypernyms == (("n", 217014),) and kill.lexname == 4
    run = [s for s in synsets if "run" in s.words]
    assert len({s.definition for s in run}) == 57  # the lemma task's "run": 16 noun + 41 verb


def test_real_wordnet_examples_task(synsets):
    task = make_wordnet_examples()
    relevant = np.bincount(task.qrels_query[task.qrels_grade >= 1])
    assert len(task.doc_ids) == 116_697
    assert len(task.query_ids) == len({e for s in synsets for e in s.examples})
    assert relevant.mean() == pytest.approx(2.58, abs=0.01)
    assert int((task.qrels_grade == 2).sum()) >= len(task.query_ids)
    assert task.source["dropped_queries"] == 0 and task.source["wordnet"] == "3.0"


# --- splitting a gloss --------------------------------------------------------------------


@pytest.mark.parametrize(
    "gloss, definition, examples",
    [
        ('a kill; "two kills"; "one more"', "a kill", ["two kills", "one more"]),
        (
            'significant progress (especially in the phrase "make strides"); "they made big '
            'strides in productivity"',
            'significant progress (especially in the phrase "make strides")',
            ["make strides", "they made big strides in productivity"],
        ),
        (
            'a feeling; "a man is what he reads" - Henry Miller',
            "a feeling",
            ["a man is what he reads"],
        ),
        ('with speed: "he ran quickly"', "with speed", ["he ran quickly"]),
        ("a plain definition  ", "a plain definition", []),
        (
            'examples after a comma, "pleat the cloth"',
            "examples after a comma",
            ["pleat the cloth"],
        ),
        # no "; \"" at all: cut at the first quote, even a phrase of the definition's own
        (
            'a demand especially in the phrase "the call of duty"',
            "a demand especially in the phrase",
            ["the call of duty"],
        ),
        ('empty quotes; ""; " spaced "', "empty quotes", ["spaced"]),
    ],
)
def test_split_gloss(gloss, definition, examples):
    assert split_gloss(gloss) == (definition, examples)


# --- the WordNet tasks on a hand-written WordNet ------------------------------------------


def test_examples_task_on_a_tiny_wordnet(tiny_wordnet):
    task = make_wordnet_examples(tiny_wordnet)
    assert list(zip(task.doc_ids, task.doc_texts, task.doc_labels.tolist())) == TINY_DOCS
    assert task.label_names == list(STANDARD_LEXNAMES)
    assert task.query_ids == [
        "n:00000100#0", "n:00000200#0", "n:00000200#1", "v:00000400#0", "a:00000600#0",
        "a:00000700#0", "a:00000700#1", "r:00000800#0",
    ]  # fmt: skip
    assert judgements(task) == {
        ("an entity of note", "n:00000100", 2),
        ("an entity of note", "n:00000200", 1),  # both hyponyms share one definition
        ("the dog barked", "n:00000200", 2),  # dog and Cat merged into one query
        ("the dog barked", "n:00000100", 1),
        ("a loyal pet", "n:00000200", 2),
        ("a loyal pet", "n:00000100", 1),
        ("run home", "v:00000400", 2),  # its hyponym's equal definition: the higher grade
        ("a quick run", "a:00000600", 2),
        ("make haste", "a:00000700", 2),  # quoted inside a definition, still an example
        ("he made haste", "a:00000700", 2),
        ("he ran quickly", "r:00000800", 2),
    }
    check_task(task)


def test_lemmas_task_on_a_tiny_wordnet(tiny_wordnet):
    task = make_wordnet_lemmas(tiny_wordnet)
    assert task.doc_ids == [doc for doc, _, _ in TINY_DOCS]
    assert task.query_texts == [
        "entity", "dog", "domestic dog", "cat", "run", "sprint", "quick", "fast", "quickly",
    ]  # fmt: skip
    assert task.query_ids[2] == "domestic_dog"
    assert judgements(task) == {
        ("entity", "n:00000100", 1),
        ("dog", "n:00000200", 1),
        ("domestic dog", "n:00000200", 1),
        ("cat", "n:00000200", 1),
        ("run", "n:00000900", 1),
        ("run", "v:00000400", 1),
        ("sprint", "v:00000400", 1),
        ("quick", "a:00000600", 1),
        ("fast", "a:00000700", 1),
        ("quickly", "r:00000800", 1),
    }


def test_a_malformed_data_line_names_its_file_and_line(tiny_wordnet):
    path = tiny_wordnet / "data.verb"
    path.write_text(path.read_text("latin-1") + "00000999 38 v zz run 0 000 | oops\n", "latin-1")
    with pytest.raises(UserError, match=rf"{path}:4 is not a WordNet data line") as info:
        read_synsets(tiny_wordnet)
    one_line(info)


def test_missing_wordnet_says_how_to_install(tmp_path):
    with pytest.raises(UserError, match="apt-get install wordnet-base") as info:
        read_synsets(tmp_path / "none")
    one_line(info)


def test_make_task_writes_reuses_and_slices(tiny_wordnet, tmp_path):
    data = tmp_path / "data"
    path = make_task("wordnet-examples", data, wordnet_dir=tiny_wordnet)
    assert path == data / "tasks" / "wordnet-examples.hdf5"
    written = path.stat().st_mtime_ns
    assert make_task("wordnet-examples", data, wordnet_dir=tiny_wordnet) == path
    assert path.stat().st_mtime_ns == written  # reused
    sliced = make_task(
        "wordnet-examples", data, n_docs=3, n_queries=2, seed=1, wordnet_dir=tiny_wordnet
    )
    assert sliced.name == "wordnet-examples-3d-2q-s1.hdf5"
    small = load_task(sliced)
    assert len(small.doc_ids) == 3 and len(small.query_ids) == 2
    assert small.source["parent_task_hash"] == read_task_hash(path)
    assert [row["name"] for row in list_tasks(data)] == [
        "wordnet-examples", "wordnet-examples-3d-2q-s1"
    ]  # fmt: skip
    assert list_tasks(data)[0]["n_qrels"] == 11
    verbs = tiny_wordnet / "data.verb"  # WordNet changes: both are remade
    verbs.write_text(verbs.read_text("latin-1").replace("run home", "run away"), "latin-1")
    make_task("wordnet-examples", data, n_docs=3, n_queries=2, seed=1, wordnet_dir=tiny_wordnet)
    assert "run away" in load_task(path).query_texts
    assert load_task(sliced).source["parent_task_hash"] == read_task_hash(path)


def test_make_task_refuses_unknown_names_and_foreign_files(tiny_wordnet, tmp_path):
    with pytest.raises(UserError, match="wordnet-examples, wordnet-lemmas") as info:
        make_task("nope", tmp_path, wordnet_dir=tiny_wordnet)
    one_line(info)
    write_task(small_task(), task_path("wordnet-lemmas", tmp_path))
    with pytest.raises(UserError, match="pass --force"):
        make_task("wordnet-lemmas", tmp_path, wordnet_dir=tiny_wordnet)
    make_task("wordnet-lemmas", tmp_path, wordnet_dir=tiny_wordnet, overwrite=True)
    assert load_task(task_path("wordnet-lemmas", tmp_path)).source["generator"] == "wordnet-lemmas"


# --- the task file ------------------------------------------------------------------------


def test_round_trip_is_readable_with_plain_h5py(tmp_path):
    task = small_task()
    path = write_task(task, tmp_path / "t.hdf5")
    back = load_task(path)
    for name in ("doc_ids", "doc_texts", "query_ids", "query_texts", "label_names", "grades"):
        assert getattr(back, name) == getattr(task, name)
    for name in ("qrels_query", "qrels_doc", "qrels_grade", "doc_labels"):
        np.testing.assert_array_equal(getattr(back, name), getattr(task, name))
    assert back.source == task.source and back.qrels_grade.dtype == np.int8
    with h5py.File(path, "r") as f:
        assert f["docs/text"].asstr()[:].tolist() == task.doc_texts
        assert f["queries/id"].asstr()[:].tolist() == task.query_ids
        np.testing.assert_array_equal(f["qrels/doc"][:], task.qrels_doc)
        assert f.attrs["annbench_kind"] == "judged-task"
    assert is_task_file(path) and read_task_hash(path) == task_hash(task)


def test_writing_refuses_an_existing_file(tmp_path):
    path = write_task(small_task(), tmp_path / "t.hdf5")
    with pytest.raises(UserError, match="exists; pass --force") as info:
        write_task(small_task(), path)
    one_line(info)
    write_task(small_task(1), path, overwrite=True)


def test_task_hash_follows_every_qrel_and_survives_a_rewrite(tmp_path):
    task = small_task()
    digest = task_hash(task)
    write_task(task, tmp_path / "a.hdf5")
    write_task(load_task(tmp_path / "a.hdf5"), tmp_path / "b.hdf5")
    assert (
        read_task_hash(tmp_path / "b.hdf5") == digest == task_hash(load_task(tmp_path / "b.hdf5"))
    )
    for name in ("qrels_query", "qrels_doc", "qrels_grade"):
        changed = small_task()
        values = getattr(changed, name)
        values[-1] = values[-1] + 1 if name != "qrels_doc" else (values[-1] + 1) % 200
        assert task_hash(changed) != digest, name
    changed = small_task()
    changed.doc_texts[0] = "document 0 "
    assert task_hash(changed) != digest


def test_load_task_refuses_other_files(tmp_path, make_dataset):
    with pytest.raises(UserError, match="not a judged task file") as info:
        load_task(make_dataset())
    one_line(info)
    assert not is_task_file(make_dataset("other"))
    with pytest.raises(UserError, match="does not exist"):
        load_task(tmp_path / "missing.hdf5")
    (tmp_path / "text.hdf5").write_text("hello")
    with pytest.raises(UserError, match="not a readable HDF5 file") as info:
        load_task(tmp_path / "text.hdf5")
    one_line(info)
    path = write_task(small_task(), tmp_path / "t.hdf5")
    with h5py.File(path, "a") as f:
        f.attrs["annbench_format_version"] = 2
    with pytest.raises(NewerFormat, match="upgrade annbench"):
        load_task(path)


def test_a_task_changed_after_writing_is_refused(tmp_path):
    path = write_task(small_task(), tmp_path / "t.hdf5")
    with h5py.File(path, "a") as f:
        f["qrels/grade"][0] = 2 if f["qrels/grade"][0] != 2 else 1
    with pytest.raises(UserError, match="no longer matches its stored task hash") as info:
        load_task(path)
    one_line(info)


def test_list_tasks_leaves_other_files_out(tmp_path, make_dataset):
    data = tmp_path / "datasets"
    path = write_task(small_task(), task_path("mine", data))
    make_dataset("tasks/vectors")  # an ann-benchmarks file in the tasks folder
    (data / "tasks" / "junk.hdf5").write_text("junk")
    assert list_tasks(data) == [
        {
            "name": "mine",
            "path": str(path),
            "n_docs": 200,
            "n_queries": 80,
            "n_qrels": len(small_task().qrels_grade),
            "generator": "test",
            "hash": read_task_hash(path)[:12],
        }
    ]


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda t: t.doc_texts.__setitem__(3, " "), "doc row 3 has an empty text"),
        (lambda t: t.query_ids.__setitem__(1, "q0"), "query id 'q0' is used twice"),
        (lambda t: t.doc_ids.pop(), "199 doc ids but 200 doc texts"),
        (lambda t: setattr(t, "qrels_grade", t.qrels_grade + 0.5), "not whole numbers"),
        (lambda t: t.qrels_doc.__setitem__(0, 200), "outside the task's 200"),
        (lambda t: t.qrels_doc.__setitem__(1, t.qrels_doc[0]), "judges doc 'd"),
        (
            lambda t: t.qrels_grade.__setitem__(t.qrels_query == 3, 0),
            "1 queries have no relevant doc .*, the first 'q3'",
        ),
    ],
)
def test_check_task_refuses_in_one_line(change, message):
    task = small_task()
    change(task)
    with pytest.raises(UserError, match=message) as info:
        check_task(task)
    one_line(info)


# --- slices -------------------------------------------------------------------------------


def test_a_slice_is_seeded_and_holds_its_queries_relevant_docs():
    task = small_task()
    part = slice_task(task, 60, 15, seed=3)
    again = slice_task(task, 60, 15, seed=3)
    assert judgements(part) == judgements(again) and part.doc_ids == again.doc_ids
    assert slice_task(task, 60, 15, seed=4).query_ids != part.query_ids
    assert len(part.doc_ids) == 60 and len(part.query_ids) == 15
    assert part.doc_ids == sorted(part.doc_ids, key=task.doc_ids.index)  # original order
    assert part.query_ids == sorted(part.query_ids, key=task.query_ids.index)
    kept = {(task.query_ids[q], task.doc_ids[d], g) for q, d, g in zip(*qrels(task))}
    for q in range(15):  # every relevant doc of a kept query came along
        query = part.query_ids[q]
        wanted = {doc for name, doc, g in kept if name == query and g >= 1}
        assert wanted <= set(part.doc_ids)
    assert {(part.query_ids[q], part.doc_ids[d], g) for q, d, g in zip(*qrels(part))} <= kept
    assert "q7" not in part.query_ids  # 150 relevant docs do not fit in 60
    assert part.source["slice"]["skipped_queries"] >= 0 and part.source["generator"] == "test"
    assert part.source["parent_task_hash"] == task_hash(task)
    np.testing.assert_array_equal(part.doc_labels, [int(d[1:]) % 3 for d in part.doc_ids])
    check_task(part)


def qrels(task: JudgedTask):
    return task.qrels_query.tolist(), task.qrels_doc.tolist(), task.qrels_grade.tolist()


@pytest.mark.parametrize("n_docs, n_queries", [(0, 5), (201, 5), (50, 0), (50, 81), (3, 80)])
def test_a_slice_out_of_range_is_refused(n_docs, n_queries):
    with pytest.raises(UserError) as info:
        slice_task(small_task(), n_docs, n_queries, seed=0)
    one_line(info)


# --- TREC import --------------------------------------------------------------------------


@pytest.fixture
def trec(tmp_path):
    def write(qrels: str, docs: str = "d1\tapples\nd2\tpears\nd3\tplums\n"):
        files = {"docs.tsv": docs, "queries.tsv": "q1\tfruit\nq2\tred fruit\nq3\tnone\n"}
        files["qrels.txt"] = qrels
        for name, text in files.items():
            (tmp_path / name).write_text(text, "utf-8")
        return [tmp_path / name for name in ("docs.tsv", "queries.tsv", "qrels.txt")]

    return write


def test_import_trec(trec):
    task = import_trec(*trec("q1 0 d1 1\nq1 0 d2 2\n\nq2 Q0 d1 1\nq2 0 d3 0\n"))
    assert task.doc_ids == ["d1", "d2", "d3"] and task.query_ids == ["q1", "q2"]
    assert task.query_texts == ["fruit", "red fruit"]
    assert judgements(task) == {
        ("fruit", "d1", 1), ("fruit", "d2", 2), ("red fruit", "d1", 1), ("red fruit", "d3", 0)
    }  # fmt: skip
    assert task.source["dropped_queries"] == 1  # q3 has no judgements


@pytest.mark.parametrize(
    "qrels, docs, message",
    [
        ("q1 0 d1 1\nq1 0 d9 1\n", None, r"qrels.txt:2: doc id 'd9' is not in .*docs.tsv"),
        ("q9 0 d1 1\n", None, r"qrels.txt:1: query id 'q9' is not in"),
        ("q1 0 d1\n", None, r"qrels.txt:1: expected 'query_id 0 doc_id grade'"),
        ("q1 0 d1 -1\n", None, r"qrels.txt:1: grade -1 is outside"),
        ("q1 0 d1 high\n", None, r"qrels.txt:1: grade 'high' is not a whole number"),
        ("q1 0 d1 1\nq1 0 d1 2\n", None, r"qrels.txt:2: query 'q1' judges doc 'd1' again"),
        ("q1 0 d1 1\nq2 0 d2 0\n", None, r"qrels.txt:2: query 'q2' has no relevant doc"),
        ("q1 0 d1 1\n", "d1\tapples\nd1\tpears\n", r"docs.tsv:2: doc id 'd1' repeats line 1"),
        ("q1 0 d1 1\n", "d1 apples\n", r"docs.tsv:1: expected 'id<TAB>text'"),
        ("\n", None, "holds no judgements"),
    ],
)
def test_import_trec_refuses_bad_input_in_one_line(trec, qrels, docs, message):
    files = trec(qrels) if docs is None else trec(qrels, docs)
    with pytest.raises(UserError, match=message) as info:
        import_trec(*files)
    one_line(info)
