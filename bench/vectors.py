"""Vectors into Postgres fast, and back as literals for queries.

Loading 100k-1M 384-d vectors as text COPY means formatting hundreds of millions of floats in
Python; binary COPY writes each vector as pgvector's wire format (dimension, then big-endian
float4s) straight from numpy, an order of magnitude faster.
"""

import struct
import uuid
from collections.abc import Sequence

import numpy as np
import psycopg

_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
_TRAILER = struct.pack("!h", -1)
COPY_BLOCK = 2_000


def literal(vector: "np.ndarray | Sequence[float]") -> str:
    """pgvector's text form, `[0.1,0.2,...]`, as queries send it."""
    return "[" + ",".join(f"{float(x):.7f}" for x in vector) + "]"


def _vector_field(vector: np.ndarray) -> bytes:
    payload = struct.pack("!hh", len(vector), 0) + vector.astype(">f4").tobytes()
    return struct.pack("!i", len(payload)) + payload


def copy_chunks(
    db: psycopg.Connection,
    documents: Sequence[str],
    row_documents: np.ndarray,
    contents: Sequence[str],
    vectors: np.ndarray,
    *,
    first_index: int = 0,
) -> None:
    """Insert chunks with binary COPY: row i goes to documents[row_documents[i]] with chunk_index
    first_index + i (unique across the table, so a row's index also names its position here).
    The chunk triggers still copy each document's owner and scope onto its rows."""
    doc_fields = [struct.pack("!i", 16) + uuid.UUID(d).bytes for d in documents]
    with db.cursor().copy(
        "copy public.document_chunks (document_id, chunk_index, content, embedding) "
        "from stdin (format binary)"
    ) as copy:
        copy.write(_HEADER)
        block: list[bytes] = []
        for i in range(len(vectors)):
            text = contents[i].encode()
            block.append(
                b"\x00\x04"
                + doc_fields[int(row_documents[i])]
                + struct.pack("!ii", 4, first_index + i)
                + struct.pack("!i", len(text))
                + text
                + _vector_field(vectors[i])
            )
            if len(block) >= COPY_BLOCK:
                copy.write(b"".join(block))
                block = []
        copy.write(b"".join(block) + _TRAILER)
