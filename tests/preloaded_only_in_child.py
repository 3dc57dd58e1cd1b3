"""A module nothing imports: a checking child preloads it in a test, which then sees it there and not here."""
