"""mtlsearch.data."""
