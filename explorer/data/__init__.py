"""Data sources shipped inside packages, and the derived datasets built on them."""
