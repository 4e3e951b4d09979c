"""A real text corpus that every machine has: the docstrings and comments of Python's own standard
library, chunked by the edge's chunker and embedded by the edge's local model, cached on disk.

Real embeddings matter for index benchmarks: their neighbourhoods are clustered and uneven, and
recall on uniform random vectors says little about recall on text. The corpus is extracted with
`ast` (docstrings) and `tokenize` (comment blocks) from the running interpreter's stdlib, so it
needs no download; its fingerprint names the cache files, so another Python gets its own cache.
"""

import ast
import asyncio
import hashlib
import io
import json
import sys
import sysconfig
import tokenize
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.config import BENCH_EMBEDDER, CORPUS_CHUNK_OVERLAP, CORPUS_CHUNK_SIZE
from knowledge_core.chunking import chunk_text
from knowledge_core.embeddings.base import LOCAL_MODEL as MODEL_NAME
from knowledge_core.embeddings.local import LocalEmbedder

EXTRACTOR_VERSION = 1
SEED = 20261126
EMBED_BATCH = 64
SAVE_EVERY = 2048
DIMENSIONS = 384

_DOCSTRING_OWNERS = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
_SKIP_COMMENTS = ("noqa", "type:", "pragma", "fmt:", "-*-", "!/", "copyright", "xxx")


@dataclass(frozen=True)
class Module:
    """One stdlib file's prose: its docstrings and comment blocks, separated by blank lines."""

    path: str
    text: str


@dataclass(frozen=True)
class Corpus:
    modules: tuple[Module, ...]
    passages: tuple[str, ...]  # distinct passages, in a fixed shuffled order
    fingerprint: str


def _docstrings(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, _DOCSTRING_OWNERS):
            text = ast.get_docstring(node)
            if text and len(text.split()) >= 5:
                found.append(text)
    return found


def _comment_blocks(source: str) -> list[str]:
    """Runs of consecutive comment lines, joined: the explanation a programmer wrote once."""
    blocks: list[str] = []
    current: list[str] = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.COMMENT:
                current.append(token.string.lstrip("#").strip())
            elif current and token.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT):
                blocks.append(" ".join(current))
                current = []
    except (tokenize.TokenError, SyntaxError):
        pass
    return [
        block
        for block in blocks
        if len(block.split()) >= 6 and not any(s in block.lower() for s in _SKIP_COMMENTS)
    ]


def _reference_topics(tree: ast.AST) -> list[str]:
    """pydoc_data/topics.py holds the language reference's text as string constants."""
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and len(node.value) > 200
    ]


def extract_modules(root: Path) -> list[Module]:
    modules = []
    for path in sorted(root.rglob("*.py")):
        if "site-packages" in path.parts or "dist-packages" in path.parts:
            continue
        try:
            source = path.read_text(encoding="utf-8")
            tree = ast.parse(source)
        except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
            continue  # a few test files are deliberately broken
        relative = path.relative_to(root).as_posix()
        pieces = _docstrings(tree) + _comment_blocks(source)
        if relative == "pydoc_data/topics.py":
            pieces += _reference_topics(tree)
        text = "\n\n".join(pieces).strip()
        if text:
            modules.append(Module(relative, text))
    return modules


def _passages(modules: list[Module]) -> list[str]:
    seen: set[str] = set()
    passages: list[str] = []
    for module in modules:
        for passage in chunk_text(
            module.text,
            size=CORPUS_CHUNK_SIZE,
            overlap=CORPUS_CHUNK_OVERLAP,
            max_chars=len(module.text) + 1,
        ):
            if passage not in seen and len(passage.split()) >= 4:
                seen.add(passage)
                passages.append(passage)
    order = np.random.default_rng(SEED).permutation(len(passages))
    return [passages[i] for i in order]


def load_corpus(cache_dir: Path) -> Corpus:
    """The corpus from the cache, or extracted from this interpreter's stdlib (~half a minute)."""
    root = Path(sysconfig.get_paths()["stdlib"])
    key = hashlib.sha256(
        f"{EXTRACTOR_VERSION}|{sys.version}|{root}|{CORPUS_CHUNK_SIZE}|{CORPUS_CHUNK_OVERLAP}".encode()
    ).hexdigest()[:16]
    cache = cache_dir / f"corpus-{key}.json"
    if cache.exists():
        data = json.loads(cache.read_text())
        modules = [Module(m["path"], m["text"]) for m in data["modules"]]
        passages = data["passages"]
    else:
        modules = extract_modules(root)
        passages = _passages(modules)
        cache_dir.mkdir(parents=True, exist_ok=True)
        cache.write_text(
            json.dumps(
                {"modules": [m.__dict__ for m in modules], "passages": passages},
                ensure_ascii=False,
            )
        )
    fingerprint = hashlib.sha256("\x00".join(passages).encode()).hexdigest()[:16]
    return Corpus(tuple(modules), tuple(passages), fingerprint)


def _embeddings_path(cache_dir: Path, corpus: Corpus) -> Path:
    precision = BENCH_EMBEDDER.local_embedding_precision
    return cache_dir / f"embeddings-{corpus.fingerprint}-{MODEL_NAME}-{precision}.npy"


def passage_embeddings(
    corpus: Corpus,
    count: int,
    cache_dir: Path,
    progress: Callable[[str], None],
) -> np.ndarray:
    """Unit vectors (float32) of the first `count` passages; computes only what the cache lacks.

    The cache holds a prefix of the shuffled passages, so a quick run's embeddings are reused by
    the full run, which only adds the rest. It is saved as it grows: an interrupted run keeps it.
    """
    path = _embeddings_path(cache_dir, corpus)
    have = np.load(path) if path.exists() else np.zeros((0, DIMENSIONS), dtype=np.float32)
    if len(have) >= count:
        return have[:count]
    progress(
        f"embedding passages {len(have):,}..{count:,} with {MODEL_NAME} "
        "(once; cached in bench/.cache/)"
    )
    done = [have]
    total = len(have)

    async def embed_missing() -> None:
        nonlocal total
        embedder = LocalEmbedder(BENCH_EMBEDDER)
        try:
            since_save = 0
            for start in range(total, count, EMBED_BATCH):
                batch = list(corpus.passages[start : min(start + EMBED_BATCH, count)])
                vectors = np.asarray(await embedder.embed(batch), dtype=np.float32)
                done.append(vectors)
                total += len(vectors)
                since_save += len(vectors)
                if since_save >= SAVE_EVERY or total >= count:
                    np.save(path, np.concatenate(done))
                    progress(f"embedded {total:,}/{count:,}")
                    since_save = 0
        finally:
            await embedder.aclose()

    cache_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(embed_missing())
    result: np.ndarray = np.concatenate(done)[:count]
    return result
