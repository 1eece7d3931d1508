"""Data sources shipped inside packages, and the derived datasets built on them."""


def file_size(n: int) -> str:
    """A file's size as the upload messages say it: "3.2 MB", "12.0 KB", "80 bytes"."""
    return f"{n / 2**20:.1f} MB" if n >= 2**20 else f"{n / 2**10:.1f} KB" if n >= 2**10 else f"{n} bytes"
