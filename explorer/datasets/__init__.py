"""Each world's data splits: rendered from its SCM over packaged data, cached."""
