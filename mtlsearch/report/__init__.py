"""mtlsearch.report."""
