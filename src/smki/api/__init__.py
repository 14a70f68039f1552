"""HTTP: the FastAPI application. Thin: routes parse, call the packages below, and render JSON or files."""
