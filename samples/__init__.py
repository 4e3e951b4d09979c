"""Sample data that tests and the benchmark both make: synthetic vectors and small real
files. Development tooling, like local_stack: no product package imports it."""
