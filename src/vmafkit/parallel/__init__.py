"""Parallel: the local and Dask executors and how work is grouped onto them."""
