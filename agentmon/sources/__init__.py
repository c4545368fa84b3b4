"""Input formats: each a pure function from raw input to normalized events."""

BOM = b"\xef\xbb\xbf"  # an editor's mark before a file's first line: read without it
# msgspec and json raise RecursionError at Python's recursion limit less the stack in use (about 990 levels
# from an ingest; 100,000 levels fail the same way, quickly): no real log nests that deep, and catching it
# costs nothing per line, where a scan for depth would cost every long line.
DEEP = "nested too deeply to read"


def behind_bom(line: bytes) -> bytes | None:
    """The line behind its one BOM, or None if it has none (or several: that is no line of ours). Asked
    only of a line that failed to decode: the hot path never pays for it."""
    if line.startswith(BOM) and not line.startswith(BOM, len(BOM)):
        return line[len(BOM) :]
    return None
