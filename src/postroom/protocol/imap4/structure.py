def describe(data: bytes | memoryview) -> str:
    return "{}"
