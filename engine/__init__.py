"""SignStream's engine: landmarks -> features -> model -> decoder, free of Qt and torch."""

__version__ = "0.1.0"
