"""Routes, thin: they parse, call the engine, and shape the answer."""
