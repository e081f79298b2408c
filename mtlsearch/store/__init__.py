"""mtlsearch.store."""
