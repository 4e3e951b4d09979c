"""The embedding worker: documents written by any door get their passages embedded."""
