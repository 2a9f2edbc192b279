"""WordNet's synsets as a graph: words, hypernym/hyponym pointers, definition and examples.

Reads ``data.{noun,verb,adj,adv}`` (wndb(5) layout, latin-1) of the Debian package
``wordnet-base``. A synset's key is ``(file, offset)`` with file one of n, v, a, r: the
adjective satellites (type ``s``) live in data.adj, so they share the key space of ``a``.

A gloss is a definition followed by quoted example sentences. Examples are every non-empty
quoted string (``wordnet.read_query_texts`` reads them from here: WordNet 3.0 has 48,339
sentences in 32,923 synsets). The definition ends where the examples start: at the first
``;`` or ``:`` followed by a quote, else at the first quote. So a phrase a definition quotes
itself (`(especially in the phrase "make strides"); "they made big strides"`) stays in the
definition when examples follow it; with none after it (29 glosses of WordNet 3.0 hold a quote
but no ``;"`` or ``:"``, most of them examples after a comma) the cut falls at its quote.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from annbench.errors import UserError

WORDNET_DIR = Path("/usr/share/wordnet")
POS_FILES = ("data.noun", "data.verb", "data.adj", "data.adv")
INSTALL_WORDNET = "install it with `apt-get install wordnet-base`"

SynsetKey = tuple[str, int]

QUOTED = re.compile(r'"([^"]*)"')
EXAMPLES_START = re.compile(r'[;:]\s*"')
ADJECTIVE_MARKER = re.compile(r"\([a-z]+\)$")  # "(a)", "(p)", "(ip)" after an adjective
VERSION = re.compile(r"WordNet (\d+(?:\.\d+)+)")
FILE_OF_DATA = {"data.noun": "n", "data.verb": "v", "data.adj": "a", "data.adv": "r"}
FILE_OF_POS = {"n": "n", "v": "v", "a": "a", "s": "a", "r": "r"}
HYPERNYMS = ("@", "@i")
HYPONYMS = ("~", "~i")


@dataclass(frozen=True)
class Synset:
    key: SynsetKey  # (file pos n|v|a|r, byte offset in that file)
    lexname: int  # lexicographer file number
    words: tuple[str, ...]  # as written ("warm_up", "Aachen"), adjective markers dropped
    hypernyms: tuple[SynsetKey, ...]  # '@' and '@i' (instance) pointers
    hyponyms: tuple[SynsetKey, ...]  # '~' and '~i'
    definition: str
    examples: tuple[str, ...]

    @property
    def id(self) -> str:
        """The key as text, e.g. "n:00217593"."""
        return key_id(self.key)


def key_id(key: SynsetKey) -> str:
    return f"{key[0]}:{key[1]:08d}"


def split_gloss(gloss: str) -> tuple[str, list[str]]:
    """(definition without its quoted examples, every non-empty quoted string, stripped)."""
    examples = [e.strip() for e in QUOTED.findall(gloss) if e.strip()]
    match = EXAMPLES_START.search(gloss)
    cut = match.start() if match else gloss.find('"')
    definition = gloss if cut < 0 else gloss[:cut]
    return definition.strip().rstrip(";:, ").strip(), examples


def parse_line(line: str, file_pos: str) -> Synset:
    """One data line as a Synset; ValueError, IndexError or KeyError when it is malformed."""
    head, sep, gloss = line.partition(" | ")
    if not sep:
        raise ValueError("no ' | ' before the gloss")
    f = head.split()
    w_cnt = int(f[3], 16)
    words = tuple(ADJECTIVE_MARKER.sub("", w) for w in f[4 : 4 + 2 * w_cnt : 2])
    if len(words) != w_cnt or not w_cnt:
        raise ValueError("fewer words than its word count")
    i = 4 + 2 * w_cnt
    p_cnt = int(f[i])
    i += 1
    hypernyms, hyponyms = [], []
    for _ in range(p_cnt):
        symbol, offset, pos, _source_target = f[i : i + 4]
        i += 4
        target = (FILE_OF_POS[pos], int(offset))
        if symbol in HYPERNYMS:
            hypernyms.append(target)
        elif symbol in HYPONYMS:
            hyponyms.append(target)
    definition, examples = split_gloss(gloss.strip())
    return Synset(
        key=(file_pos, int(f[0])),
        lexname=int(f[1]),
        words=words,
        hypernyms=tuple(hypernyms),
        hyponyms=tuple(hyponyms),
        definition=definition,
        examples=tuple(examples),
    )


def _data_files(wordnet_dir: str | os.PathLike) -> list[Path]:
    wordnet_dir = Path(wordnet_dir)
    if not wordnet_dir.is_dir():
        raise UserError(f"WordNet folder {wordnet_dir} does not exist; {INSTALL_WORDNET}")
    paths = [wordnet_dir / name for name in POS_FILES]
    for path in paths:
        if not path.exists():
            raise UserError(f"{path} is missing; {INSTALL_WORDNET}")
    return paths


def read_synsets(wordnet_dir: str | os.PathLike = WORDNET_DIR) -> list[Synset]:
    """Every synset of the four data files: nouns, verbs, adjectives, adverbs, in file order."""
    synsets: list[Synset] = []
    for path in _data_files(wordnet_dir):
        file_pos = FILE_OF_DATA[path.name]
        with open(path, encoding="latin-1") as f:
            for number, line in enumerate(f, 1):
                if line.startswith("  ") or not line.strip():
                    continue  # the license header
                try:
                    synsets.append(parse_line(line, file_pos))
                except (ValueError, IndexError, KeyError):
                    raise UserError(
                        f"{path}:{number} is not a WordNet data line; reinstall wordnet-base"
                    ) from None
    return synsets


def wordnet_version(wordnet_dir: str | os.PathLike = WORDNET_DIR) -> str:
    """The version named in data.noun's license header ("3.0"), or "unknown"."""
    path = Path(wordnet_dir) / "data.noun"
    try:
        with open(path, encoding="latin-1") as f:
            for line in f:
                if not line.startswith("  "):
                    break
                match = VERSION.search(line)
                if match:
                    return match.group(1)
    except OSError:
        pass
    return "unknown"


def data_hash(wordnet_dir: str | os.PathLike = WORDNET_DIR) -> str:
    """sha256 over the four data files (a task made from other files is another task)."""
    digest = hashlib.sha256()
    for path in _data_files(wordnet_dir):
        digest.update(path.name.encode() + b"\0")
        with open(path, "rb") as f:
            digest.update(hashlib.sha256(f.read()).digest())
    return digest.hexdigest()
