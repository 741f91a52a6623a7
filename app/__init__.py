"""SignStream's PySide6 desktop app. Talks to the engine only through its events."""
