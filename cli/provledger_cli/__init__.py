"""The provledger command line: a thin skin over the library."""
