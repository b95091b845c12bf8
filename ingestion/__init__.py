"""File -> parsed document (pages, blocks with offsets) -> kind and metadata -> chunks."""
