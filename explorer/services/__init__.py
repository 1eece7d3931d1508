"""The page services: one per page; each page makes one call and renders what comes back."""
