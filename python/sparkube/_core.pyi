"""The native core of sparkube (Rust, via PyO3)."""

__version__: str
