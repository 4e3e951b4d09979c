"""What tests and the benchmark both use: synthetic vectors, small real files, and BM25 computed
independently of the database. Development tooling, like local_stack: no product package imports
it."""
